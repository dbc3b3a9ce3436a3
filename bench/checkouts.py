"""Before and after: single-stream decode speed and 16-stream aggregate speed
through stdio, of this checkout and another one, in alternating runs.

Both runtimes run as child processes over stdio on the same model, prompts
and token counts; each measure alternates between them (interleave), so
noise from other work on the machine falls on both alike. The figures are
this checkout's, with the other's as the baseline and their ratio. The
other checkout is a folder holding its python/runtime.py, for instance:

    git archive <commit> | tar -x -C /tmp/before
    .venv/bin/python bench/checkouts.py --before /tmp/before --model demo
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import BENCH_CONFIG, RUNTIME, Raw, Runtime, decode_rate, interleave, median, parser, prompt_tokens, start
from concurrency import batched


def main() -> None:
    args_parser: argparse.ArgumentParser = parser(__doc__.splitlines()[0], model="small", tokens=128)
    args_parser.add_argument("--before", type=Path, required=True,
                             help="the other checkout's folder (with python/runtime.py)")
    args_parser.add_argument("--streams", type=int, default=16)
    args_parser.add_argument("--stream-tokens", type=int, default=64,
                             help="tokens per stream of the concurrent figure")
    args_parser.add_argument("--prompt-tokens", type=int, default=32)
    args, path, report = start("checkouts", args_parser)
    before = args.before / "python" / "runtime.py"
    tokenizer = Raw(path).tokenizer
    prompt = prompt_tokens(tokenizer, args.prompt_tokens)
    prompts = [prompt_tokens(tokenizer, args.prompt_tokens, variant=i) for i in range(args.streams)]
    with Runtime(BENCH_CONFIG, runtime=before) as old, Runtime(BENCH_CONFIG, runtime=RUNTIME) as new:
        for runtime in (old, new):
            runtime.load(path)
            runtime.generate(prompt, args.tokens)  # compile every shape before timing
            batched(runtime, prompts, 4)

        def single(runtime: Runtime) -> float:
            return decode_rate(runtime.generate(prompt, args.tokens).times)

        def concurrent(runtime: Runtime) -> float:
            return batched(runtime, prompts, args.stream_tokens)[0]

        runs = list(interleave(args.runs, lambda: single(old), lambda: single(new),
                               lambda: concurrent(old), lambda: concurrent(new)))
    for figure, (base, ours), extra in (
            ("decode_tok_s", (0, 1), {"tokens": args.tokens}),
            (f"aggregate_tok_s@{args.streams}", (2, 3),
             {"streams": args.streams, "tokens": args.stream_tokens})):
        theirs, mine = [run[base] for run in runs], [run[ours] for run in runs]
        report.emit(figure, median(mine), "tok/s", baseline=median(theirs),
                    baseline_of=f"{args.before} (the other checkout)",
                    ratio=median([a / b for a, b in zip(mine, theirs, strict=True)]),
                    runs=mine, baseline_runs=theirs, **extra)


if __name__ == "__main__":
    main()
