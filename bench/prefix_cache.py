"""Figure 4: a repeated 2,000-token prefix: time to first token with prompt-cache reuse vs without.

Two requests share a long prefix (a document, a system prompt) and differ in
a short question. With the prompt cache the second one starts from the first
one's KV cache and prefills only the question; without it (same runtime
otherwise) it prefills everything. The raw baseline is mlx-lm's
stream_generate on the second prompt, from nothing. Each run uses a fresh
prefix; greedy tokens with and without reuse must be the same.

    .venv/bin/python bench/prefix_cache.py --model small
"""

from __future__ import annotations

from typing import Any

from common import BENCH_CONFIG, Raw, Runtime, median, parser, prompt_tokens, start


def second_ttft(runtime: Runtime, prefix: list[int], questions: list[list[int]], tokens: int
                ) -> tuple[float, list[int], dict[str, Any]]:
    """Ask two questions about the prefix; the second one's TTFT (ms), tokens and stats."""
    runtime.generate(prefix + questions[0], tokens)
    second = runtime.generate(prefix + questions[1], tokens)
    assert second.end is not None
    return second.ttft * 1000, second.tokens, second.end["stats"]


def main() -> None:
    args_parser = parser(__doc__.splitlines()[0], model="small", tokens=8, runs=3)
    args_parser.add_argument("--prefix-tokens", type=int, default=2000)
    args, path, report = start("prefix_cache", args_parser)
    raw = Raw(path)
    prefix_length = min(args.prefix_tokens, 256) if args.quick else args.prefix_tokens
    cached = {**BENCH_CONFIG, "prompt_cache": {"enabled": True}}
    reuse, fresh, baseline, reused_tokens, same_tokens = [], [], [], [], True
    with Runtime(cached) as with_cache, Runtime(BENCH_CONFIG) as without:
        for runtime in (with_cache, without):
            runtime.load(path)
            runtime.generate(prompt_tokens(raw.tokenizer, prefix_length, variant=400), 2)
        for run in range(args.runs):
            prefix = prompt_tokens(raw.tokenizer, prefix_length, variant=run + 1)
            questions = [prompt_tokens(raw.tokenizer, 16, variant=200 + run * 2 + i)
                         for i in range(2)]
            ttft, tokens, stats = second_ttft(with_cache, prefix, questions, args.tokens)
            reuse.append(ttft)
            reused_tokens.append(stats["cached_tokens"])
            ttft, plain_tokens, _ = second_ttft(without, prefix, questions, args.tokens)
            fresh.append(ttft)
            same_tokens &= tokens == plain_tokens
            baseline.append(raw.stream(prefix + questions[1], args.tokens)[0] * 1000)
    speedup = median(fresh) / median(reuse)
    report.emit("ttft_reuse_speedup", speedup, "x", target=">= 5", met=speedup >= 5,
                ttft_with_reuse_ms=median(reuse), ttft_without_ms=median(fresh),
                prefix_tokens=prefix_length, cached_tokens=median(reused_tokens),
                same_tokens=same_tokens, runs=reuse, runs_without=fresh)
    report.emit("ttft_with_reuse_ms", median(reuse), "ms", baseline=median(baseline),
                baseline_of="mlx_lm.stream_generate time to first token, no cache",
                ratio=median(reuse) / median(baseline), prefix_tokens=prefix_length,
                baseline_runs=baseline)


if __name__ == "__main__":
    main()
