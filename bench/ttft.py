"""Figure 2: time to first token through stdio, minus raw mlx-lm's: the runtime's overhead.

The runtime's TTFT runs from writing the generate request to reading the
first stream/chunk; raw mlx-lm's from calling stream_generate to its first
token. Same prompt (as token ids, so neither side tokenizes), greedy, one
token; the prompt cache is off; runs alternate between the two.

    .venv/bin/python bench/ttft.py --model small
"""

from __future__ import annotations

from common import BENCH_CONFIG, Raw, Runtime, median, parser, prompt_tokens, start


def main() -> None:
    args_parser = parser(__doc__.splitlines()[0], model="small", tokens=1, runs=15)
    args_parser.add_argument("--prompt-tokens", type=int, default=128)
    args, path, report = start("ttft", args_parser)
    raw = Raw(path)
    ours, theirs = [], []
    with Runtime(BENCH_CONFIG) as runtime:
        runtime.load(path)
        warm = prompt_tokens(raw.tokenizer, args.prompt_tokens, variant=99)
        runtime.generate(warm, 2)
        raw.stream(warm, 2)
        for run in range(max(args.runs, 2)):
            prompt = prompt_tokens(raw.tokenizer, args.prompt_tokens, variant=run)
            ours.append(runtime.generate(prompt, args.tokens).ttft * 1000)
            theirs.append(raw.stream(prompt, args.tokens)[0] * 1000)
    added = median([a - b for a, b in zip(ours, theirs, strict=False)])
    on_cpu = report.context["device"].startswith("cpu")
    report.emit("ttft_overhead_ms", added, "ms", baseline=median(theirs),
                baseline_of="mlx_lm.stream_generate time to first token",
                ratio=median(ours) / median(theirs), target="<= 5 ms added (cpu)",
                met=added <= 5 if on_cpu else None, ttft_ms=median(ours),
                prompt_tokens=args.prompt_tokens, runs=ours, baseline_runs=theirs)


if __name__ == "__main__":
    main()
