"""Run the benchmark suite: one JSON line per figure on stdout, also saved to bench/out/.

    .venv/bin/python bench/run.py                 # the plan for this device
    .venv/bin/python bench/run.py --quick         # smoke test: small models, short runs
    python3 bench/run.py --only single_stream --model llama-8b

Builds the models a plan needs (scripts/make_models.py, no download), then
runs each bench as its own process, so that one failing does not stop the
rest. bench/README.md lists the figures and the plans.
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, device, log, preflight

BENCH = Path(__file__).resolve().parent
# (bench, model, extra arguments). CPU runs use llama-1b-f32: MLX's CPU
# backend runs half-precision types 10-40x slower than float32.
PLANS: dict[str, list[tuple[str, str, list[str]]]] = {
    "cpu": [
        ("single_stream", "small", []),
        ("single_stream", "small", ["--client", "bridge"]),
        ("single_stream", "llama-1b-f32", ["--tokens", "16"]),
        ("decode_paths", "small", []),
        ("ttft", "small", []),
        ("concurrency", "small", []),
        ("prefix_cache", "small", []),
        ("cold_start", "small", []),
        ("token_path", "small", []),
        ("guidance", "small", []),
        ("speculative", "demo-deep", ["--draft", "demo"]),
        ("speculative", "demo", ["--draft", "demo-draft", "--runs", "6"]),  # short answers
        ("http_front", "small", []),
    ],
    # No speculative pair on a GPU: the GPU models have random weights, so a
    # draft among them agrees on next to nothing (see bench/README.md).
    "gpu": [
        ("single_stream", "llama-1b", []),
        ("single_stream", "llama-8b", []),
        ("decode_paths", "llama-1b", []),
        ("decode_paths", "llama-8b", []),
        ("decode_paths", "llama-1b", ["--prompt-tokens", "2000", "--tokens", "16"]),
        ("ttft", "llama-1b", []),
        ("concurrency", "llama-1b", ["--streams", "1", "4", "16", "32"]),
        ("prefix_cache", "llama-1b", []),
        ("prefix_cache", "llama-8b", []),
        ("cold_start", "llama-1b", []),
        ("token_path", "llama-1b", ["--tokens", "1000"]),
        ("guidance", "llama-1b", []),
        ("http_front", "llama-1b", []),
        ("decode_step", "llama-8b", ["--dense"]),
        ("vs_server", "llama-8b", ["--streams", "1", "8", "32"]),
        ("vs_server", "llama-1b-bf16", ["--streams", "1", "8", "32", "64"]),
    ],
}
QUICK_MODELS = {"cpu": "small", "gpu": "llama-1b"}


FIGURE_OPTIONS = ("--client", "--prompt-tokens")  # these change what a bench measures


def _figure_options(extra: list[str]) -> list[str]:
    return [f"{option}={value}" for option, value in itertools.pairwise(extra)
            if option in FIGURE_OPTIONS]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto",
                        help="whose plan to run (default: the device MLX uses)")
    parser.add_argument("--only", nargs="+", metavar="BENCH", help="run just these benches")
    parser.add_argument("--model", help="run every bench of the plan on this model instead")
    parser.add_argument("--quick", action="store_true", help="smoke test: short runs")
    parser.add_argument("--no-build", action="store_true", help="do not build missing models")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per bench")
    args = parser.parse_args()
    preflight()
    kind = device().split(":")[0] if args.device == "auto" else args.device
    plan = [step for step in PLANS[kind] if not args.only or step[0] in args.only]
    if args.model:  # each figure once, on that model (a draft pair is a pair: left out)
        plan = list({(bench, *_figure_options(extra)): (bench, args.model, extra)
                     for bench, _, extra in plan if "--draft" not in extra}.values())
    elif args.quick:
        plan = [step for step in plan if step[1] == QUICK_MODELS[kind]]
    if not args.no_build:
        names = sorted({model for _, model, _ in plan if not Path(model).is_dir()})
        log(f"building models (once): {' '.join(names)}")
        subprocess.run([sys.executable, str(ROOT / "scripts" / "make_models.py"), "--out",
                        str(ROOT / "models"), *names], check=True)
    out = BENCH / "out"
    out.mkdir(exist_ok=True)
    results = out / f"results-{kind}-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    failed = []
    with results.open("w") as saved:
        for bench, model, extra in plan:
            command = [sys.executable, str(BENCH / f"{bench}.py"), "--model", model, *extra]
            if args.quick:
                command.append("--quick")
            log(f"{bench} on {model}")
            started = time.perf_counter()
            try:
                done = subprocess.run(command, stdout=subprocess.PIPE, text=True,
                                      timeout=args.timeout)
            except subprocess.TimeoutExpired:
                failed.append(f"{bench} ({model}): timed out after {args.timeout} s")
                continue
            for line in done.stdout.splitlines():
                print(line, flush=True)
                saved.write(line + "\n")
            if done.returncode:
                failed.append(f"{bench} ({model}): exit status {done.returncode}")
            log(f"{bench} on {model}: {time.perf_counter() - started:.0f} s")
    log(f"figures saved to {results.relative_to(ROOT)}")
    for failure in failed:
        log(f"FAILED {failure}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
