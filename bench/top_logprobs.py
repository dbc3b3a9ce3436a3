"""What logprobs cost the engine: decode tok/s with top_logprobs, as a ratio to none.

No protocol here: one model, loaded once, decodes greedy tokens through the
runtime's batch (engine/batch.py, the solo path on) alone and as a batch of
`--streams`, with no logprobs, the sampled token's logprob, and 5 and 20
alternatives per token, in alternating runs. Each gives aggregate decode
tok/s (tokens after each stream's first over the time from the first token
to the last) and its ratio to the run without logprobs.

    .venv/bin/python bench/top_logprobs.py --model small --tokens 256 --runs 5
"""

from __future__ import annotations

import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from common import ROOT, interleave, median, parser, prompt_tokens, start

sys.path.insert(0, str(ROOT / "python"))

# (name, logprobs, top_logprobs)
VARIANTS = [("none", False, 0), ("logprobs", True, 0), ("top_logprobs 5", True, 5),
            ("top_logprobs 20", True, 20)]


class _Sink:
    """A StreamSink that notes when tokens came."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def accepted(self, stream_id: str) -> None: ...

    def rejected(self, error: Any) -> None: ...

    def tokens(self, stream_id: str, tokens: list[Any]) -> None:
        self.times.extend(time.perf_counter() for _ in tokens)

    def end(self, *args: Any) -> None: ...

    def error(self, stream_id: str, error: Any, stats: Any) -> None:
        raise RuntimeError(error.message)


def decoder(path: Path, streams: int, tokens: int, prompt: list[int]) -> Any:
    """A function of (logprobs, top_logprobs) -> aggregate decode tok/s."""
    from mlx_serving.config import BatchingConfig, PromptCacheConfig
    from mlx_serving.engine.batch import ModelBatch
    from mlx_serving.engine.models import load_text_model
    from mlx_serving.engine.sampling import SamplingSettings
    from mlx_serving.engine.stream import ActiveStream, GenerationRequest

    model = load_text_model(str(path), "m")
    batch = ModelBatch(model, BatchingConfig(solo=True), PromptCacheConfig(enabled=False))
    greedy = SamplingSettings(temperature=0.0, top_p=1.0, top_k=0, min_p=0.0, seed=0,
                              repetition_penalty=1.0, presence_penalty=0.0,
                              frequency_penalty=0.0, penalty_context_size=20)

    def run(logprobs: bool, top: int) -> float:
        sinks = [_Sink() for _ in range(streams)]
        for index, sink in enumerate(sinks):
            request = GenerationRequest(
                stream_id=f"s{index}", model_id="m", prompt=[5 + index, *prompt],
                max_tokens=tokens, sampling=greedy, stop_strings=[], stop_token_ids=[],
                logprobs=logprobs, top_logprobs=top, sink=sink)
            batch.add(ActiveStream(request, model.decode))
        while len(batch):
            batch.step()
        first = max(sink.times[0] for sink in sinks)  # every stream decoding
        last = max(sink.times[-1] for sink in sinks)
        counted = sum(sum(1 for t in sink.times if t > first) for sink in sinks)
        return counted / (last - first) if last > first else 0.0

    return run


def main() -> None:
    args_parser = parser(__doc__.splitlines()[0], model="small", tokens=256, runs=5)
    args_parser.add_argument("--streams", type=int, nargs="+", default=[1, 8])
    args, path, report = start("top_logprobs", args_parser)
    from mlx_lm import load

    _, tokenizer = load(str(path))
    prompt = prompt_tokens(tokenizer, 32)
    for streams in args.streams:
        run = decoder(path, streams, args.tokens, prompt)
        for _, logprobs, top in VARIANTS:  # compile every shape before timing
            run(logprobs, top)
        measures = [partial(run, logprobs, top) for _, logprobs, top in VARIANTS]
        rates = list(zip(*interleave(args.runs, *measures), strict=True))
        base = rates[0]
        for (name, _, top), variant in zip(VARIANTS, rates, strict=True):
            ratios = [a / b for a, b in zip(variant, base, strict=True) if b]
            report.emit("decode_tok_s", median(list(variant)), "tok/s", variant=name,
                        top_logprobs=top, streams=streams, baseline=median(list(base)),
                        baseline_of="none", ratio=median(ratios), tokens=args.tokens,
                        runs=list(variant))


if __name__ == "__main__":
    main()
