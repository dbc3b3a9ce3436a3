"""Speculative decoding: decode tok/s with and without a draft, through the runtime and through raw mlx-lm, in the same run.

    .venv/bin/python bench/speculative.py                  # demo-deep, drafted by demo
    .venv/bin/python bench/speculative.py --model demo --draft demo-draft --num-draft 2,4

For each number of draft tokens k it measures four paths, greedy, on the same
prompts (token ids), interleaved prompt by prompt (so a busy machine slows
all of them alike):

    mlx-lm            mlx_lm.stream_generate(model, ...)
    mlx-lm+draft      mlx_lm.stream_generate(model, ..., draft_model=draft)
    runtime           generate over stdio, num_draft_tokens: 0 (the batch lane)
    runtime+draft     generate over stdio with the draft attached (the speculative lane)

and prints two figures per k (median decode rates: tokens after the first,
per second, as they arrive): `decode_tok_s_with_draft` (runtime+draft
against mlx-lm+draft) and `draft_speedup` (runtime+draft over runtime,
against mlx-lm's own speed-up), with the runtime's acceptance rate. What a
draft can win follows from what one pass of each model costs, measured here
in process: a round of k proposals costs k draft passes and one target pass
over k+1 tokens, and emits 1 + acceptance * k tokens, so

    predicted_speedup = (1 + acceptance * k) * target_pass / (k * draft_pass + target_check)

The pairs scripts/make_models.py builds (when missing):
    demo-deep + demo      the draft is the target truncated to its first two
                          layers: it agrees on most proposals, and a check of
                          k+1 tokens costs about one pass of the deep target
    demo + demo-draft     both trained briefly on the same text (about half
                          agree); on a CPU both are bound by per-pass overhead
                          (embedding, output layer, op launches), so the
                          1-layer draft costs over half a 2-layer target pass
                          and a draft barely pays (see bench/RESULTS.md)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import BENCH_CONFIG, MODELS, ROOT, Raw, Reporter, Runtime, decode_rate, median, model_path, parse, parser

PROMPTS = ["The old man", "A small bird looks at", "My sister remembers the blue sea.",
           "<|im_start|>user\nWhere is the fox going?<|im_end|>\n<|im_start|>assistant\n"]
PATHS = ["mlx-lm", "mlx-lm+draft", "runtime", "runtime+draft"]


def pass_costs(target: Any, draft: Any, k: int, repeats: int = 100) -> dict[str, float]:
    """Median milliseconds of one forward pass: the target over 1 token and
    over k+1 (a round's check), the draft over 1; alternated, so that noise
    from other work falls on all three alike."""
    import mlx.core as mx
    from mlx_lm.models.cache import make_prompt_cache, trim_prompt_cache

    models = {"target": target, "draft": draft}
    caches = {role: make_prompt_cache(model) for role, model in models.items()}
    for role, model in models.items():  # a short context to attend to
        mx.eval(model(mx.array([[5] * 16]), cache=caches[role]))
    passes = {"target_pass_ms": ("target", 1), "target_check_ms": ("target", k + 1),
              "draft_pass_ms": ("draft", 1)}
    times: dict[str, list[float]] = {name: [] for name in passes}
    for _ in range(repeats):
        for name, (role, tokens) in passes.items():
            started = time.perf_counter()
            logits = models[role](mx.array([[5] * tokens]), cache=caches[role])
            mx.eval(mx.argmax(logits[0, -1], axis=-1))
            times[name].append((time.perf_counter() - started) * 1000)
            trim_prompt_cache(caches[role], tokens)
    return {name: statistics.median(values) for name, values in times.items()}


def build_missing(names: list[str]) -> None:
    """Build the project's own models among `names` that are not there yet."""
    missing = [name for name in names if not Path(name).is_dir() and not (MODELS / name).is_dir()]
    if missing:
        subprocess.run([sys.executable, str(ROOT / "scripts" / "make_models.py"),
                        "--out", str(MODELS), *missing], check=True)


def main() -> None:
    args_parser = parser(__doc__.splitlines()[0], model="demo-deep", tokens=160, runs=2)
    args_parser.add_argument("--draft", default="demo",
                             help="the draft: a name under models/ or a folder (default: demo)")
    args_parser.add_argument("--num-draft", default="2,4",
                             help="draft tokens per round, comma-separated (default: 2,4)")
    args = parse(args_parser)
    build_missing([args.model, args.draft])
    path, draft_path = model_path(args.model), model_path(args.draft)
    report = Reporter("speculative", args.model, args.quick)
    num_draft = [int(k) for k in args.num_draft.split(",")][:1 if args.quick else None]
    raw, draft = Raw(path), Raw(draft_path)
    prompts = [raw.tokenizer.encode(text) for text in PROMPTS]
    with Runtime(BENCH_CONFIG) as runtime:
        runtime.load(path)
        runtime.call("model/loadDraft", {"model": "m", "draft_model": str(draft_path)})
        for k in num_draft:
            rates, acceptance, same_tokens, generated = measure(
                raw, draft, runtime, prompts, k, args.tokens, args.runs)
            report_k(report, k, args, rates, acceptance, same_tokens, generated,
                     pass_costs(raw.model, draft.model, k))


def measure(raw: Raw, draft: Raw, runtime: Runtime, prompts: list[list[int]], k: int,
            tokens: int, runs: int) -> tuple[dict[str, list[float]], float, bool, float]:
    """(decode rates of the four paths, the runtime's mean acceptance rate,
    whether all paths wrote the same tokens, the mean tokens per generation:
    a stop token may end one before `tokens`) over `runs` passes of the
    prompts, after a warm-up generation on each path."""
    rates: dict[str, list[float]] = {name: [] for name in PATHS}
    acceptance, generated, same_tokens = [], [], True
    for index, prompt in enumerate([prompts[0], *prompts * runs]):
        _, plain, plain_tokens = raw.stream(prompt, tokens)
        _, drafted, drafted_tokens = raw.stream(prompt, tokens, draft_model=draft.model,
                                                num_draft_tokens=k)
        ours = runtime.generate(prompt, tokens, num_draft_tokens=0)
        ours_drafted = runtime.generate(prompt, tokens, num_draft_tokens=k)
        if index == 0:
            continue  # the warm-up
        for name, times in zip(PATHS, (plain, drafted, ours.times, ours_drafted.times), strict=False):
            rates[name].append(decode_rate(times))
        acceptance.append(ours_drafted.end["stats"]["draft_acceptance_rate"])
        generated.append(len(ours_drafted.tokens))
        same_tokens &= (plain_tokens == drafted_tokens == ours.tokens == ours_drafted.tokens)
    return rates, statistics.mean(acceptance), same_tokens, statistics.mean(generated)


def report_k(report: Reporter, k: int, args: Any, rates: dict[str, list[float]],
             acceptance: float, same_tokens: bool, generated: float,
             costs: dict[str, float]) -> None:
    rate = {name: median(values) for name, values in rates.items()}
    common = {"draft": args.draft, "num_draft_tokens": k, "max_tokens": args.tokens,
              "generated_tokens": generated,
              "runs": len(rates["runtime"]), "acceptance_rate": acceptance,
              "same_tokens": same_tokens,
              **{f"{name}_tok_s": value for name, value in rate.items()}}
    report.emit("decode_tok_s_with_draft", rate["runtime+draft"], "tok/s",
                baseline=rate["mlx-lm+draft"],
                baseline_of="mlx_lm.stream_generate(draft_model=...)",
                ratio=rate["runtime+draft"] / rate["mlx-lm+draft"], **common)
    predicted = (1 + acceptance * k) * costs["target_pass_ms"] / (
        k * costs["draft_pass_ms"] + costs["target_check_ms"])
    report.emit("draft_speedup", rate["runtime+draft"] / rate["runtime"], "x",
                baseline=rate["mlx-lm+draft"] / rate["mlx-lm"],
                baseline_of="mlx_lm.stream_generate with / without draft_model",
                ratio=(rate["runtime+draft"] / rate["runtime"])
                / (rate["mlx-lm+draft"] / rate["mlx-lm"]),
                predicted_speedup=predicted, **costs, **common)


if __name__ == "__main__":
    main()
