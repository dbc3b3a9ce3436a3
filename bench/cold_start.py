"""Figure 5: cold start: process start to ready, and the first request with and without preload.

With `model_preload` in the config the runtime loads and warms the model up
(a stream alone, greedy and sampling; one joining the batch and leaving it;
every batch bucket) before it sends runtime/ready; the first request after
that should cost what a warm one does, alone and as a burst of concurrent
streams (a batch size seen for the first time compiles kernels on CUDA).
`--prompt-tokens 2000` asks whether a long first prompt meets prefill
kernels the warm-up did not compile; `--warmup-prompt-tokens 32 2000` is
the remedy to compare with.
Without preload, the first request pays for model/load and the first compile.
The raw baseline is a fresh Python process that imports mlx-lm, loads the
model and streams the same tokens.

    .venv/bin/python bench/cold_start.py --model small
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from common import BENCH_CONFIG, BenchError, Runtime, parser, prompt_tokens, start


def raw_child(path: str, tokens: int, prompt_length: int) -> None:
    """In a fresh process: import, load, stream; print the wall-clock times."""
    started = time.time()
    from mlx_lm import load, stream_generate

    from common import prompt_tokens

    imported = time.time()
    model, tokenizer = load(path)
    loaded = time.time()
    first = None
    prompt = prompt_tokens(tokenizer, prompt_length)
    for _ in stream_generate(model, tokenizer, prompt, max_tokens=tokens):
        first = first or time.time()
    print(json.dumps({"started": started, "imported": imported, "loaded": loaded,
                      "first_token": first, "done": time.time()}))


def raw_cold(path: Path, tokens: int, prompt_length: int) -> dict[str, float]:
    """Raw mlx-lm from process start: ms to the first token and to the end."""
    spawned = time.time()
    done = subprocess.run([sys.executable, __file__, "--raw-child", str(path), str(tokens),
                           str(prompt_length)],
                          capture_output=True, text=True, timeout=1800, check=True)
    times = json.loads(done.stdout.splitlines()[-1])
    return {"first_token_ms": (times["first_token"] - spawned) * 1000,
            "done_ms": (times["done"] - spawned) * 1000}


def burst(runtime: Runtime, prompts: list[list[int]], tokens: int) -> float:
    started = time.perf_counter()
    streams = [runtime.start(prompt, tokens) for prompt in prompts]
    for stream in streams:
        runtime.finish(stream)
    return sum(len(s.tokens) for s in streams) / (time.perf_counter() - started)


def main() -> None:
    args_parser = parser(__doc__.splitlines()[0], model="small", tokens=32, runs=1)
    args_parser.add_argument("--burst", type=int, default=8,
                             help="concurrent streams of the first burst after ready")
    args_parser.add_argument("--prompt-tokens", type=int, default=32,
                             help="prompt length of the first requests")
    args_parser.add_argument("--warmup-prompt-tokens", type=int, nargs="+",
                             help="model_preload warm-up prompt lengths (default: the runtime's)")
    args, path, report = start("cold_start", args_parser)
    raw = raw_cold(path, args.tokens, args.prompt_tokens)
    from mlx_lm.tokenizer_utils import load as load_tokenizer

    tokenizer = load_tokenizer(path)
    prompt = prompt_tokens(tokenizer, args.prompt_tokens)
    burst_prompts = [prompt_tokens(tokenizer, args.prompt_tokens, variant=i + 1)
                     for i in range(args.burst)]
    entry = {"path": str(path), "model_id": "m", "warmup_requests": 1, "max_tokens": 8}
    if args.warmup_prompt_tokens:
        entry["warmup_prompt_tokens"] = args.warmup_prompt_tokens
    preload = {**BENCH_CONFIG, "model_preload": {"models": [entry]}}

    with Runtime(preload) as runtime:
        if not runtime.ready.wait(1800):
            raise BenchError(f"no runtime/ready; stderr:\n{runtime.stderr()}")
        ready_ms = (runtime.notifications[0][0] - runtime.started_at) * 1000
        first = runtime.generate(prompt, args.tokens)
        first_ms = (first.finished_at - first.sent_at) * 1000
        warm = runtime.generate(prompt, args.tokens)
        warm_ms = (warm.finished_at - warm.sent_at) * 1000
        first_burst = burst(runtime, burst_prompts, args.tokens)
        warm_burst = burst(runtime, burst_prompts, args.tokens)
        cold_first_token_ms = ready_ms + first.ttft * 1000

    with Runtime(BENCH_CONFIG) as runtime:
        runtime.call("runtime/info")
        serving_ms = (time.perf_counter() - runtime.started_at) * 1000
        loaded_at = time.perf_counter()
        runtime.load(path)
        unloaded_first = runtime.generate(prompt, args.tokens)
        unloaded_ms = (unloaded_first.finished_at - loaded_at) * 1000
        unloaded_first_token_ms = (unloaded_first.times[0] - runtime.started_at) * 1000
        unloaded_warm = runtime.generate(prompt, args.tokens)
        unloaded_warm_ms = (unloaded_warm.finished_at - unloaded_warm.sent_at) * 1000

    report.emit("start_to_ready_ms", ready_ms, "ms", preload=True,
                warmup="single-stream path, joining and leaving the batch, every batch bucket",
                warmup_prompt_tokens=args.warmup_prompt_tokens or "default")
    report.emit("start_to_first_token_ms", cold_first_token_ms, "ms",
                baseline=raw["first_token_ms"],
                baseline_of="fresh python: import mlx_lm, load, stream_generate",
                ratio=cold_first_token_ms / raw["first_token_ms"], preload=True)
    report.emit("start_to_first_token_ms", unloaded_first_token_ms, "ms",
                baseline=raw["first_token_ms"],
                baseline_of="fresh python: import mlx_lm, load, stream_generate",
                ratio=unloaded_first_token_ms / raw["first_token_ms"], preload=False,
                start_to_serving_ms=serving_ms)
    report.emit("first_request_ms", first_ms, "ms", baseline=warm_ms,
                baseline_of="the second request (warm)", ratio=first_ms / warm_ms,
                target="about 1 (no load or compile cost)", preload=True, tokens=args.tokens,
                prompt_tokens=args.prompt_tokens)
    report.emit("first_request_ms", unloaded_ms, "ms", baseline=unloaded_warm_ms,
                baseline_of="the second request (warm)", ratio=unloaded_ms / unloaded_warm_ms,
                preload=False, includes="model/load", tokens=args.tokens)
    report.emit(f"first_burst_tok_s@{args.burst}", first_burst, "tok/s", baseline=warm_burst,
                baseline_of="the second burst (warm)", ratio=first_burst / warm_burst,
                target="about 1 (batch shapes compiled in warm-up)", preload=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--raw-child":
        sys.path.insert(0, str(Path(__file__).parent))
        raw_child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
