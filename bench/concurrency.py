"""Figure 3: 1, 4 and 16 concurrent streams: aggregate tokens/s and time to first token.

N greedy requests with distinct prompts are sent at once; aggregate speed is
all tokens over the time from the first request to the last token. The same
requests are also run one after another through the runtime (what serving
without batching gives), and through mlx-lm's own batch_generate in this
process (the raw baseline: mlx-lm batching with no protocol around it).

    .venv/bin/python bench/concurrency.py --model small
"""

from __future__ import annotations

import time

from common import BENCH_CONFIG, Raw, Runtime, median, parser, percentile, prompt_tokens, start


def batched(runtime: Runtime, prompts: list[list[int]], tokens: int) -> tuple[float, list[float]]:
    """(aggregate tok/s, each stream's TTFT in ms) with every request sent at once."""
    started = time.perf_counter()
    streams = [runtime.start(prompt, tokens) for prompt in prompts]
    for stream in streams:
        runtime.finish(stream)
    elapsed = max(stream.finished_at for stream in streams) - started
    return sum(len(s.tokens) for s in streams) / elapsed, [s.ttft * 1000 for s in streams]


def sequential(runtime: Runtime, prompts: list[list[int]], tokens: int) -> float:
    started = time.perf_counter()
    total = sum(len(runtime.generate(prompt, tokens).tokens) for prompt in prompts)
    return total / (time.perf_counter() - started)


def main() -> None:
    args_parser = parser(__doc__.splitlines()[0], model="small", tokens=64, runs=3)
    args_parser.add_argument("--streams", type=int, nargs="+", default=[1, 4, 16])
    args_parser.add_argument("--prompt-tokens", type=int, default=32)
    args, path, report = start("concurrency", args_parser)
    raw = Raw(path)
    aggregate: dict[int, float] = {}
    with Runtime(BENCH_CONFIG) as runtime:
        runtime.load(path)
        for count in args.streams:
            prompts = [prompt_tokens(raw.tokenizer, args.prompt_tokens, variant=i)
                       for i in range(count)]
            batched(runtime, prompts, 4)  # compile this batch size first
            raw.batch(prompts, 4)
            ours, one_by_one, theirs, ttfts = [], [], [], []
            for _ in range(args.runs):
                speed, ttft = batched(runtime, prompts, args.tokens)
                ours.append(speed)
                ttfts.extend(ttft)
                one_by_one.append(sequential(runtime, prompts, args.tokens))
                seconds, generated = raw.batch(prompts, args.tokens)
                theirs.append(generated / seconds)
            aggregate[count] = median(ours)
            vs_sequential = median(ours) / median(one_by_one)
            report.emit(f"aggregate_tok_s@{count}", median(ours), "tok/s",
                        baseline=median(theirs), baseline_of="mlx_lm.batch_generate",
                        ratio=median(ours) / median(theirs),
                        target=">= sequential" if count > 1 else None,
                        met=vs_sequential >= 1.0 if count > 1 else None,
                        streams=count, tokens=args.tokens, sequential_tok_s=median(one_by_one),
                        vs_sequential=vs_sequential, runs=ours, baseline_runs=theirs)
            report.emit(f"ttft_p50_ms@{count}", percentile(ttfts, 50), "ms", streams=count)
            report.emit(f"ttft_p99_ms@{count}", percentile(ttfts, 99), "ms", streams=count)
    if 1 in aggregate and len(aggregate) > 1:
        most = max(aggregate)
        scaling = aggregate[most] / aggregate[1]
        on_cpu = report.context["device"].startswith("cpu")
        report.emit(f"scaling@{most}_vs_1", scaling, "x", target=">= 4 (cpu, 16 streams)",
                    met=scaling >= 4 if on_cpu and most >= 16 else None)


if __name__ == "__main__":
    main()
