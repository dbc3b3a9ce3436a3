"""Where single-stream speed goes: each decode path in this process, as a ratio to stream_generate.

No protocol here: one model, loaded once, decodes the same greedy tokens
from the same prompt through
- `mlx_lm.stream_generate` (the baseline);
- `mlx_lm.generate.BatchGenerator` with one stream (mlx-lm's own batching);
- the runtime's batch (engine/batch.py) with the solo path off: a batch of one;
- the runtime's batch with the solo path on (engine/solo.py);
in alternating runs. Each gives decode tok/s (tokens after the first over
the time from the first to the last) and time to the first token. With a
long `--prompt-tokens` the TTFT figures compare the prefill paths too.

    .venv/bin/python bench/decode_paths.py --model small --tokens 512 --runs 5
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import ROOT, Raw, decode_rate, median, parser, prompt_tokens, start

sys.path.insert(0, str(ROOT / "python"))

Run = tuple[float, list[float], list[int]]  # (seconds to the first token, token times, ids)


class _Sink:
    """A StreamSink that notes when each token came."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.ids: list[int] = []

    def accepted(self, stream_id: str) -> None: ...

    def rejected(self, error: Any) -> None: ...

    def tokens(self, stream_id: str, tokens: list[Any]) -> None:
        now = time.perf_counter()
        for token in tokens:
            self.times.append(now)
            self.ids.append(token.id)

    def end(self, *args: Any) -> None: ...

    def error(self, stream_id: str, error: Any, stats: Any) -> None:
        raise RuntimeError(error.message)


def mlx_lm_batch(raw: Raw) -> Callable[[list[int], int], Run]:
    def run(prompt: list[int], tokens: int) -> Run:
        from mlx_lm.generate import BatchGenerator
        from mlx_lm.sample_utils import greedy_sampler

        started = time.perf_counter()
        generator = BatchGenerator(raw.model, sampler=greedy_sampler)
        generator.insert([prompt], max_tokens=[tokens])
        times, ids = [], []
        while len(ids) < tokens:
            for response in generator.next()[1]:
                times.append(time.perf_counter())
                ids.append(response.token)
                if response.finish_reason:
                    tokens = len(ids)
        generator.close()
        return times[0] - started, times, ids
    return run


def runtime_batch(path: Path, solo: bool) -> Callable[[list[int], int], Run]:
    from mlx_serving.config import BatchingConfig, PromptCacheConfig
    from mlx_serving.engine.batch import ModelBatch
    from mlx_serving.engine.models import load_text_model
    from mlx_serving.engine.sampling import SamplingSettings
    from mlx_serving.engine.stream import ActiveStream, GenerationRequest

    model = load_text_model(str(path), "m")
    batch = ModelBatch(model, BatchingConfig(solo=solo), PromptCacheConfig(enabled=False))
    greedy = SamplingSettings(temperature=0.0, top_p=1.0, top_k=0, min_p=0.0, seed=0,
                              repetition_penalty=1.0, presence_penalty=0.0,
                              frequency_penalty=0.0, penalty_context_size=20)

    def run(prompt: list[int], tokens: int) -> Run:
        sink = _Sink()
        request = GenerationRequest(stream_id="s", model_id="m", prompt=prompt,
                                    max_tokens=tokens, sampling=greedy, stop_strings=[],
                                    stop_token_ids=[], logprobs=False, sink=sink)
        started = time.perf_counter()
        batch.add(ActiveStream(request, model.decode))
        while len(batch):
            batch.step()
        return sink.times[0] - started, sink.times, sink.ids
    return run


def main() -> None:
    args_parser = parser(__doc__.splitlines()[0], model="small", tokens=256, runs=5)
    args_parser.add_argument("--prompt-tokens", type=int, default=32)
    args, path, report = start("decode_paths", args_parser)
    raw = Raw(path)
    prompt = prompt_tokens(raw.tokenizer, args.prompt_tokens)
    paths: dict[str, Callable[[list[int], int], Run]] = {
        "mlx_lm.stream_generate": raw.stream,
        "mlx_lm.BatchGenerator": mlx_lm_batch(raw),
        "runtime batch of one": runtime_batch(path, solo=False),
        "runtime solo": runtime_batch(path, solo=True),
    }
    for run in paths.values():  # compile every shape before timing
        run(prompt, args.tokens)
    rates: dict[str, list[float]] = {name: [] for name in paths}
    ttfts: dict[str, list[float]] = {name: [] for name in paths}
    tokens: dict[str, list[int]] = {}
    for _ in range(args.runs):
        for name, run in paths.items():
            ttft, times, ids = run(prompt, args.tokens)
            rates[name].append(decode_rate(times))
            ttfts[name].append(ttft * 1000)
            tokens[name] = ids
    baseline = "mlx_lm.stream_generate"
    for name in paths:
        ratios = [a / b for a, b in zip(rates[name], rates[baseline], strict=False)]
        report.emit("decode_tok_s", median(rates[name]), "tok/s", path=name,
                    baseline=median(rates[baseline]), baseline_of=baseline,
                    ratio=median(ratios), tokens=args.tokens, runs=rates[name],
                    same_tokens=tokens[name] == tokens[baseline])
        report.emit("ttft_ms", median(ttfts[name]), "ms", path=name,
                    baseline=median(ttfts[baseline]), baseline_of=baseline,
                    ratio=median(ttfts[name]) / median(ttfts[baseline]),
                    prompt_tokens=args.prompt_tokens, runs=ttfts[name])


if __name__ == "__main__":
    main()
