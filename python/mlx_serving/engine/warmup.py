"""Warm-up: run a loaded model through every batch shape it will serve.

MLX compiles kernels the first time it meets a shape (on CUDA that takes
seconds); warm-up pays that before the runtime reports ready, so the first
real request does not. Each batch bucket gets `rounds` groups of that many
concurrent streams: greedy ones and a seeded sampling one, so both sampling
paths are compiled too. Runs on the engine thread; its output goes nowhere.
"""

from __future__ import annotations

import itertools
import time

from ..api.errors import RpcError
from ..api.messages import GenerationStats, GuidanceOutcome, TokenOut
from .models import LoadedModel
from .runner import Runner
from .sampling import SamplingSettings
from .stream import ActiveStream, Finish, GenerationRequest

_PROMPT = "Warm-up: the quick brown fox jumps over the lazy dog. " * 3


class _Discard:
    """A StreamSink that drops everything."""

    def accepted(self, stream_id: str) -> None: ...

    def rejected(self, error: RpcError) -> None: ...

    def tokens(self, stream_id: str, tokens: list[TokenOut]) -> None: ...

    def end(self, stream_id: str, finish_reason: Finish, stats: GenerationStats,
            guidance: GuidanceOutcome | None = None) -> None: ...

    def error(self, stream_id: str, error: RpcError, stats: GenerationStats) -> None:
        raise RuntimeError(f"warm-up stream failed: {error.message}")


def warm_up(runner: Runner, model: LoadedModel, batch_sizes: tuple[int, ...], rounds: int,
            max_tokens: int) -> float:
    """Run the warm-up; returns how long it took, in ms."""
    started = time.perf_counter()
    prompt = model.tokenizer.encode(_PROMPT)[: max(model.context_length - max_tokens - 2, 1)]
    variants = itertools.count()
    for size in batch_sizes:
        for _ in range(rounds):
            for index in range(size):
                request = _request(model, prompt, next(variants), index, max_tokens)
                runner.add(ActiveStream(request, model.decode))
            while len(runner):
                runner.step()
    return (time.perf_counter() - started) * 1000


def _request(model: LoadedModel, prompt: list[int], variant: int, index: int, max_tokens: int
             ) -> GenerationRequest:
    sampling = SamplingSettings(temperature=0.7 if index == 0 else 0.0, top_p=1.0, top_k=0,
                                min_p=0.0, seed=index, repetition_penalty=1.0,
                                presence_penalty=0.0, frequency_penalty=0.0,
                                penalty_context_size=20)
    # A distinct first token: the prompt cache must not turn the prefill into a copy.
    return GenerationRequest(
        stream_id=f"warm-up-{variant}", model_id=model.model_id,
        prompt=[(variant * 7 + 3) % model.vocab_size, *prompt],
        max_tokens=max_tokens, sampling=sampling, stop_strings=[], stop_token_ids=[],
        logprobs=False, sink=_Discard())
