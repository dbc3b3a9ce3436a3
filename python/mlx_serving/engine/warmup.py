"""Warm-up: run a loaded model through every path the first requests will take.

MLX compiles kernels the first time it meets an operation, a dtype and
often a shape (on CUDA that takes a while); warm-up pays that before the
runtime reports ready, so the first real request does not. It runs, all
with output that goes nowhere:
- a stream alone (the single-stream path, solo.py) for each warm-up prompt
  length: a greedy one, and a seeded sampling one with every sampling
  filter, the penalties and logprobs;
- a stream that gets company mid-way: it moves into the batch, the two
  decode together, and the one left goes back to decoding alone;
- each batch bucket (buckets.py), `rounds` times: that many concurrent
  streams, greedy ones and a sampling one.
Runs on the engine thread.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

from ..api.errors import ServingError
from ..api.messages import GenerationStats, TokenOut
from .models import LoadedModel
from .runner import Runner
from .sampling import SamplingSettings
from .stream import ActiveStream, GenerationRequest, NullSink

_TEXT = "Warm-up: the quick brown fox jumps over the lazy dog. "
_GREEDY = SamplingSettings(temperature=0.0, top_p=1.0, top_k=0, min_p=0.0, seed=0,
                           repetition_penalty=1.0, presence_penalty=0.0, frequency_penalty=0.0,
                           penalty_context_size=20)
# Every filter and penalty at once: each compiles its own kernels.
_SAMPLING = SamplingSettings(temperature=0.7, top_p=0.9, top_k=40, min_p=0.02, seed=0,
                             repetition_penalty=1.1, presence_penalty=0.1,
                             frequency_penalty=0.1, penalty_context_size=20)


class _Discard(NullSink):
    """Drops everything but the count of tokens; a failure is the warm-up's."""

    def __init__(self) -> None:
        self.tokens_seen = 0

    def tokens(self, stream_id: str, tokens: list[TokenOut]) -> None:
        self.tokens_seen += len(tokens)

    def error(self, stream_id: str, error: ServingError, stats: GenerationStats) -> None:
        raise RuntimeError(f"warm-up stream failed: {error.message}")


def warm_up(runner: Runner, model: LoadedModel, *, prompt_lengths: list[int],
            bucket_sizes: tuple[int, ...], rounds: int, max_tokens: int, batched: bool
            ) -> tuple[float, list[int]]:
    """Run the warm-up; returns how long it took (ms) and the decode batch
    sizes it ran. `batched`: the runner may run two streams or more at once."""
    started = time.perf_counter()
    streams = _Streams(model, max_tokens)
    for _ in range(rounds):
        for length in prompt_lengths:
            for sampling in (_GREEDY, _SAMPLING):
                _run(runner, [streams.new(length, sampling)])
    if not batched:
        return (time.perf_counter() - started) * 1000, [1]
    first = streams.new(prompt_lengths[0], _GREEDY)
    runner.add(first)
    while not first.request.sink.tokens_seen:  # type: ignore[attr-defined]
        runner.step()
    _run(runner, [streams.new(prompt_lengths[0], _SAMPLING)])  # joins, one of them leaves
    groups = [size for size in bucket_sizes if size > 1]  # one stream is the solo run
    for size in groups:
        for _ in range(rounds):
            _run(runner, [streams.new(prompt_lengths[0], _SAMPLING if index == 0 else _GREEDY)
                          for index in range(size)])
    return (time.perf_counter() - started) * 1000, sorted({1, 2, *groups})


def _run(runner: Runner, streams: list[ActiveStream]) -> None:
    """Add `streams` at once and step until the runner is idle."""
    for stream in streams:
        runner.add(stream)
    while len(runner):
        runner.step()


class _Streams:
    """Warm-up streams, each with its own first token: the prompt cache must
    not turn a prefill into a copy."""

    def __init__(self, model: LoadedModel, max_tokens: int) -> None:
        self._model = model
        self._max_tokens = max_tokens
        self._variants: Iterator[int] = itertools.count()
        self._text = model.tokenizer.encode(_TEXT)

    def new(self, length: int, sampling: SamplingSettings) -> ActiveStream:
        model = self._model
        variant = next(self._variants)
        length = max(1, min(length, model.context_length - self._max_tokens - 1))
        body = (self._text * (length // max(len(self._text), 1) + 1))[: length - 1]
        request = GenerationRequest(
            stream_id=f"warm-up-{variant}", model_id=model.model_id,
            prompt=[(variant * 7 + 3) % model.vocab_size, *body], max_tokens=self._max_tokens,
            sampling=sampling, stop_strings=[], stop_token_ids=[],
            logprobs=sampling is _SAMPLING, sink=_Discard())
        return ActiveStream(request, model.decode)
