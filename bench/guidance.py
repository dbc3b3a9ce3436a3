"""Structured output: what guidance costs per token, and what compiling costs.

    .venv/bin/python bench/guidance.py --model small [--batch 1 8] [--only compile] [--quick]

Figures, one JSON line each in the format of bench/README.md (`value` the
guided figure, `baseline` the unconstrained one, `ratio` guided / baseline):

- decode_raw: mlx-lm's BatchGenerator alone, the same model, prompt, seeds
  and token count, without and with the guidance logits processor
  (llguidance, a JSON Schema that cannot complete within the budget, so
  every step is masked); ms per token and the ratio guided / unconstrained.
  Unconstrained streams share one sampler, so the batch samples in one
  call. Two floors beside it: per-stream samplers (each stream its own
  sampler, sampled row by row: what the runtime does for every request
  with a temperature, since each has its own PRNG key), and a pass-through
  processor on top (what mlx-lm's per-stream processor path costs any
  processor, a repetition penalty too). Ratios guided / each: the last
  one is what the mask itself costs.
- mask_step: the guided processor alone on the model's real vocabulary,
  driven along a seeded random walk through the same grammar with fixed
  logits (no model): microseconds per step on the host (the call) and
  until the masked logits are evaluated, against one `where` with a
  device-resident mask (the least any mask costs).
- decode_runtime: guided / unconstrained through the runtime itself (stdio,
  batch, detokenizer), from each response's decode rate, on seeds whose
  unconstrained output runs the whole budget (no early EOS).
- compile: per backend (llguidance, outlines-core) and mode (json_schema,
  regex, xml): six lines, each a cold compile (`value`, ms), a cached one and
  the tokenizer view (built once per model and backend).

Runs alternate unconstrained and guided and report medians, since timings on
a shared machine are noisy. Ratios, not absolute times, are the claim.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from common import ROOT, Reporter, Runtime, parser, start

sys.path.insert(0, str(ROOT / "python"))
# decode_raw and decode_runtime: what guidance may add to a decode step.
OVERHEAD_TARGET = 1.10

# A grammar that stays open: an array of objects with unbounded strings.
OPEN_SCHEMA = {"type": "array", "items": {
    "type": "object", "properties": {"name": {"type": "string"}, "note": {"type": "string"},
                                     "age": {"type": "integer", "minimum": 0, "maximum": 150}},
    "required": ["name", "note", "age"], "additionalProperties": False},
    "minItems": 10000}
COMPILE_CASES = {
    "json_schema": {"mode": "json_schema", "schema": {
        "type": "object", "additionalProperties": False, "required": ["name", "age", "email"],
        "properties": {"name": {"type": "string", "maxLength": 40},
                       "age": {"type": "integer"},
                       "email": {"type": "string", "format": "email"},
                       "born": {"type": "string", "format": "date"},
                       "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]},
                                "maxItems": 5}}}},
    "regex": {"mode": "regex", "pattern": r"\+1-\d{3}-\d{3}-\d{4}"},
    "xml": {"mode": "xml", "schema": """
<!ELEMENT note (to+, from, heading?, body)>
<!ELEMENT to (#PCDATA)> <!ELEMENT from (#PCDATA)>
<!ELEMENT heading (#PCDATA)> <!ELEMENT body (#PCDATA | b | i)*>
<!ELEMENT b (#PCDATA)> <!ELEMENT i (#PCDATA)>
<!ATTLIST note lang (en|fr|de) #REQUIRED priority CDATA #IMPLIED>"""},
}
PROMPT = "Write the records as JSON:"


def _loaded(model_path: Path) -> tuple[Any, Any, Any]:
    import mlx_lm

    model, tokenizer, config = mlx_lm.load(str(model_path), return_config=True)
    vocab_size = int(config.get("vocab_size") or len(tokenizer))
    fake = SimpleNamespace(model_id="bench", path=str(model_path),
                           vocab_size=vocab_size, tokenizer=tokenizer, require_text=lambda feature: None)
    return model, tokenizer, fake


def _compiled(loaded_model: Any, backend: str, guidance: dict[str, Any]) -> Any:
    import msgspec

    from mlx_serving.api.messages import Guidance
    from mlx_serving.config import GuidanceConfig
    from mlx_serving.guidance.compiler import GuidanceCompiler

    compiler = GuidanceCompiler(GuidanceConfig(backend=backend))
    return compiler, compiler.compile(loaded_model, msgspec.convert(guidance, Guidance))


class PerStreamSamplers:
    """No processor; each stream's sampler a distinct object, as in the runtime."""

    eos_ids: frozenset[int] = frozenset()

    def start(self, _stop_token_ids: list[int]) -> PerStreamSamplers:
        return self

    def watch(self, sampler: Any) -> Any:
        return lambda logprobs: sampler(logprobs)


class PassThrough(PerStreamSamplers):
    """A processor and sampler wrapper that change nothing: mlx-lm's cost of any processor."""

    def __call__(self, _tokens: Any, logits: Any) -> Any:
        return logits


def decode_once(model: Any, prompt: list[int], tokens: int, batch: int, guided: Any,
                seed: int) -> tuple[float, int, int]:
    """(decode seconds after every stream's first token, decoded tokens, EOS tokens
    sampled: after one, a guided stream's grammar is done and no longer masks)."""
    import mlx.core as mx
    from mlx_lm.generate import BatchGenerator
    from mlx_lm.sample_utils import make_sampler

    mx.random.seed(seed)
    generator = BatchGenerator(model, completion_batch_size=batch, prefill_batch_size=batch)
    guides = [guided.start([]) for _ in range(batch)] if guided is not None else []
    sampler = make_sampler(temp=1.0)
    samplers = [guide.watch(sampler) for guide in guides] or [sampler] * batch
    uids = generator.insert([prompt] * batch, max_tokens=[tokens] * batch, samplers=samplers,
                            logits_processors=[[guide] if callable(guide) else []
                                               for guide in guides] or [[]] * batch)
    seen: dict[int, int] = {uid: 0 for uid in uids}
    eos = set(guided.eos_ids) if guided is not None else set()
    ended_on_eos = 0
    first_all = None
    while True:
        responses = generator.next_generated()
        if not responses:
            break
        for response in responses:
            seen[response.uid] += 1
            ended_on_eos += response.token in eos
        if first_all is None and all(seen.values()):
            first_all = time.perf_counter()
            decoded_from = sum(seen.values())
    generator.close()
    assert first_all is not None
    return time.perf_counter() - first_all, sum(seen.values()) - decoded_from, ended_on_eos


def bench_decode_raw(args: argparse.Namespace, path: Path, report: Reporter) -> None:
    model, tokenizer, loaded = _loaded(path)
    _, guided = _compiled(loaded, "llguidance", {"mode": "json_schema", "schema": OPEN_SCHEMA})
    prompt = tokenizer.encode(PROMPT)
    for batch in args.batch:
        decode_once(model, prompt, 16, batch, guided, seed=0)  # warm-up: compile kernels
        variants = {"unconstrained": None, "per_stream_samplers": PerStreamSamplers(),
                    "pass_through": PassThrough(), "guided": guided}
        per_token: dict[str, list[float]] = {name: [] for name in variants}
        eos_tokens = 0
        for repeat in range(args.runs):
            for name, processor in variants.items():
                seconds, decoded, eos = decode_once(model, prompt, args.tokens, batch,
                                                    processor, seed=repeat)
                per_token[name].append(seconds / decoded * 1000)
                eos_tokens += eos if processor is guided else 0
        plain, samplers, floor, masked = (statistics.median(per_token[name])
                                          for name in variants)
        report.emit("decode_raw", masked, "ms/token", baseline=plain,
                    baseline_of="mlx_lm BatchGenerator, unconstrained",
                    ratio=masked / plain, target=f"< {OVERHEAD_TARGET:.2f}",
                    met=masked / plain < OVERHEAD_TARGET, batch=batch, tokens=args.tokens,
                    unconstrained_ms_per_token=plain,
                    per_stream_samplers_ms_per_token=samplers,
                    pass_through_ms_per_token=floor, guided_ms_per_token=masked,
                    over_per_stream_samplers_ratio=masked / samplers,
                    mask_over_pass_through_ratio=masked / floor, guided_eos_tokens=eos_tokens)


def bench_mask_step(args: argparse.Namespace, path: Path, report: Reporter) -> None:
    import mlx.core as mx
    import numpy as np

    model, tokenizer, loaded = _loaded(path)
    _, guided = _compiled(loaded, "llguidance", {"mode": "json_schema", "schema": OPEN_SCHEMA})
    logits = model(mx.array([tokenizer.encode(PROMPT)]))[:, -1, :]  # the model's width and dtype
    everything = mx.ones(logits.shape, dtype=mx.bool_)
    mx.eval(logits, everything)
    rng = np.random.default_rng(0)

    def pick(masked: Any) -> Any:
        """A random-weights model's choice: any allowed token."""
        allowed = np.flatnonzero(np.isfinite(np.array(masked[0].astype(mx.float32))))
        return mx.array([int(rng.choice(allowed))])

    guide = guided.start([])
    sample = guide.watch(pick)
    context = mx.array(tokenizer.encode(PROMPT))
    timed: dict[str, list[float]] = {"call": [], "call_eval": [], "where_eval": []}
    for step in range(args.tokens * args.runs + 8):
        started = time.perf_counter()
        masked = guide(context, logits)
        called = time.perf_counter()
        mx.eval(masked)
        done = time.perf_counter()
        token = sample(masked).item()
        reference = time.perf_counter()
        mx.eval(mx.where(everything, logits, -mx.inf))
        if step >= 8:  # the first steps compile kernels
            timed["call"].append(called - started)
            timed["call_eval"].append(done - started)
            timed["where_eval"].append(time.perf_counter() - reference)
        assert guide.failure is None and token not in guided.eos_ids
    us = {name: statistics.median(values) * 1e6 for name, values in timed.items()}
    report.emit("mask_step", us["call_eval"], "us", baseline=us["where_eval"],
                baseline_of="one where with a device-resident mask",
                ratio=us["call_eval"] / us["where_eval"], steps=len(timed["call"]),
                vocab=logits.shape[-1], dtype=str(logits.dtype), call_us=us["call"],
                call_eval_us=us["call_eval"],
                call_eval_mean_us=statistics.mean(timed["call_eval"]) * 1e6,
                where_eval_us=us["where_eval"])


def _results(runtime: Runtime, waiters: list[Any]) -> list[dict[str, Any]]:
    """The results of requests sent with `runtime.send`, in the order sent."""
    results = []
    for event, box in waiters:
        if not event.wait(1800):
            raise TimeoutError(f"no answer in 1800 s; stderr:\n{runtime.stderr()}")
        if "error" in box[0]:
            raise RuntimeError(box[0]["error"])
        results.append(box[0]["result"])
    return results


def bench_decode_runtime(args: argparse.Namespace, path: Path, report: Reporter) -> None:
    with Runtime({"logging": {"level": "warning"}}) as runtime:
        runtime.load(path)
        guidance = {"mode": "json_schema", "schema": OPEN_SCHEMA}
        seeds = _full_length_seeds(runtime, args.tokens, max(args.batch) * (args.runs + 1))
        for batch in args.batch:
            per_token: dict[str, list[float]] = {"unconstrained": [], "guided": []}
            counts = {"unconstrained": 0, "guided": 0}
            for repeat in range(args.runs + 1):  # the first round warms up
                for name in ("unconstrained", "guided"):
                    extra = {"guidance": guidance} if name == "guided" else {}
                    results = _results(runtime, [runtime.send("generate", {
                        "model": "m", "prompt": PROMPT, "max_tokens": args.tokens,
                        "temperature": 1.0, "seed": seed, "stream": False, **extra})
                        for seed in seeds[repeat * batch:(repeat + 1) * batch]])
                    if repeat == 0:
                        continue
                    # Each stream's decode rate (a token per batch step), averaged.
                    rates = [r["stats"]["tokens_per_second"] for r in results
                             if r["stats"]["tokens_per_second"] > 0]
                    per_token[name].append(1000 / statistics.mean(rates))
                    counts[name] += sum(r["stats"]["generated_tokens"] for r in results)
            plain = statistics.median(per_token["unconstrained"])
            masked = statistics.median(per_token["guided"])
            report.emit("decode_runtime", masked, "ms/token", baseline=plain,
                        baseline_of="the runtime, unconstrained", ratio=masked / plain,
                        target=f"< {OVERHEAD_TARGET:.2f}", met=masked / plain < OVERHEAD_TARGET,
                        batch=batch, max_tokens=args.tokens,
                        unconstrained_stream_ms_per_token=plain,
                        guided_stream_ms_per_token=masked,
                        unconstrained_tokens=counts["unconstrained"],
                        guided_tokens=counts["guided"])


def _full_length_seeds(runtime: Runtime, tokens: int, wanted: int) -> list[int]:
    """Seeds whose unconstrained output runs `tokens` long: same token count both ways."""
    found: list[int] = []
    for first in range(0, 100 * wanted, wanted):
        seeds = range(first, first + wanted)
        results = _results(runtime, [runtime.send("generate", {
            "model": "m", "prompt": PROMPT, "max_tokens": tokens, "temperature": 1.0,
            "seed": seed, "stream": False}) for seed in seeds])
        found += [seed for seed, r in zip(seeds, results, strict=False)
                  if r["stats"]["generated_tokens"] == tokens]
        if len(found) >= wanted:
            return sorted(found)[:wanted]
    raise RuntimeError(f"too few seeds run {tokens} tokens without an EOS; pass fewer --tokens")


def bench_compile(args: argparse.Namespace, path: Path, report: Reporter) -> None:
    import msgspec

    from mlx_serving.api.messages import Guidance
    from mlx_serving.config import GuidanceConfig
    from mlx_serving.guidance.compiler import GuidanceCompiler

    _, _, loaded = _loaded(path)
    for backend in ("llguidance", "outlines-core"):
        compiler = GuidanceCompiler(GuidanceConfig(backend=backend))
        started = time.perf_counter()
        compiler.vocabulary(loaded)  # once per model
        tokenizer_ms = (time.perf_counter() - started) * 1000
        for mode, raw in COMPILE_CASES.items():
            guidance = msgspec.convert(raw, Guidance)
            started = time.perf_counter()
            compiler.compile(loaded, guidance)
            cold_ms = (time.perf_counter() - started) * 1000
            cached = []
            for _ in range(100):
                started = time.perf_counter()
                compiler.compile(loaded, guidance)
                cached.append((time.perf_counter() - started) * 1000)
            report.emit("compile", cold_ms, "ms", backend=backend, mode=mode,
                        cold_ms=cold_ms, cached_ms=statistics.median(cached),
                        tokenizer_view_ms=tokenizer_ms)


def main() -> int:
    args_parser = parser(__doc__.splitlines()[0], model="small", tokens=128, runs=3)
    args_parser.add_argument("--batch", type=int, nargs="+", default=[1, 8],
                             help="concurrent streams (one figure each)")
    args_parser.add_argument("--only", nargs="+", choices=list(FIGURES), default=list(FIGURES))
    args, path, report = start("guidance", args_parser)
    for name in args.only:
        FIGURES[name](args, path, report)
    return 0


FIGURES = {"decode_raw": bench_decode_raw, "mask_step": bench_mask_step,
           "decode_runtime": bench_decode_runtime, "compile": bench_compile}

if __name__ == "__main__":
    sys.exit(main())
