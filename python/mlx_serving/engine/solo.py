"""One sequence decoding on its own, the way mlx_lm.generate_step does it.

A batch of one row through mlx-lm's BatchGenerator is slower than
mlx_lm.stream_generate: its KV cache keeps per-row offsets as arrays (RoPE
and cache bookkeeping then run extra device ops every layer) and the batch
does per-step Python work for rows it does not have. On an H100 that cost a
fifth of a decode step. So a stream that has the model to itself runs here,
on the model's plain per-sequence caches, stepping as generate_step does:
the next token is queued on the device (mx.async_eval) before the current
one is read, so the device never waits on Python.

Its state is what the batch needs to take the sequence over, and what it
hands back: the caches, the tokens they hold, the prompt tokens still to
feed, and the token sampled but not yet emitted. So a stream moves between
here and the batch without a token of prefill repeated, and without a draw
of its sampler or a call of its logits processors repeated or skipped:
greedy and seeded streams give the same tokens on either path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .sampling import LogitsProcessor, Sampler

_CLEAR_EVERY = 256  # tokens between frees of MLX's buffer cache, as in generate_step


@dataclass
class Sampled:
    """A token sampled by the model but not emitted yet: device arrays."""

    token: Any  # shape (1,)
    logprobs: Any  # shape (vocabulary,)


@dataclass
class Handoff:
    """Where a sequence stands, for the batch to take it over."""

    cache: list[Any]
    tokens: list[int]  # the tokens `cache` holds
    rest: list[int]  # tokens to feed next (at least one)
    # While decoding: the token sampled last (its id and logprobs), which
    # the caller emits before the batch feeds it (it is `rest`).
    pending: tuple[int, Any] | None = None


class SoloDecoding:
    """Call on the engine thread only."""

    def __init__(self, model: Any, cache: list[Any], tokens: Sequence[int],
                 sampler: Sampler, processors: list[LogitsProcessor], prefill_step: int, *,
                 rest: Sequence[int] = (), sampled: Sampled | None = None) -> None:
        """Start from `cache`, which holds `tokens`, with either the prompt
        tokens still to feed (`rest`, at least one) or, when decoding, the
        token sampled last and not emitted yet (`sampled`)."""
        from mlx_lm.generate import generation_stream
        from mlx_lm.models.cache import TokenBuffer

        assert bool(rest) != (sampled is not None)
        self._model = model
        self._cache = cache
        self._tokens = list(tokens)
        self._rest = list(rest)
        self._prefill_total = len(self._rest)
        self._sampled = sampled
        self._sampler = sampler
        self._processors = processors
        self._prefill_step = prefill_step
        self._stream = generation_stream  # the device stream mlx-lm generates on
        # The processors' view of the sequence, as the batch keeps it.
        self._context = TokenBuffer(self._tokens) if processors else None
        self._steps = 0

    @property
    def prefilling(self) -> bool:
        return bool(self._rest)

    @property
    def prefill_progress(self) -> tuple[int, int]:
        """(prompt tokens prefilled, prompt tokens this decoding was given)."""
        return self._prefill_total - len(self._rest), self._prefill_total

    @property
    def cache(self) -> list[Any]:
        return self._cache

    @property
    def tokens(self) -> list[int]:
        """The tokens the cache holds."""
        return self._tokens

    def advance(self, more: bool) -> tuple[int, Any] | None:
        """One step. While prefilling: one chunk of the prompt (None). Then:
        queue the next token (unless `more` is False: the caller wants no
        more) and return the one sampled before: (token id, its logprobs)."""
        import mlx.core as mx

        with mx.stream(self._stream):
            if self._rest:
                self._prefill_chunk()
                return None
            sampled = self._sampled
            assert sampled is not None, "the sequence has ended"
            # Without more, the sequence ends here: it has nothing left to hand off.
            self._sampled = self._forward(sampled.token) if more else None
            if self._sampled is not None:
                mx.async_eval(self._sampled.token, self._sampled.logprobs)
            token = sampled.token.item()
            if more:
                self._tokens.append(token)  # its KV is being computed
            self._steps += 1
            if self._steps % _CLEAR_EVERY == 0:
                mx.clear_cache()
            return token, sampled.logprobs

    def handoff(self) -> Handoff:
        """The sequence as it stands, for the batch; not advanced afterwards."""
        if self._rest:
            return Handoff(self._cache, self._tokens, self._rest)
        assert self._sampled is not None, "the sequence has ended"
        token = self._sampled.token.item()
        return Handoff(self._cache, self._tokens, [token], (token, self._sampled.logprobs))

    def _prefill_chunk(self) -> None:
        """All prompt tokens but the last go through in chunks, as in
        generate_step; the last one gives the first token."""
        import mlx.core as mx

        if len(self._rest) == 1:
            self._sampled = self._forward(mx.array(self._rest))
            mx.async_eval(self._sampled.token, self._sampled.logprobs)
            self._tokens.extend(self._rest)
            self._rest = []
            return
        chunk = self._rest[: min(self._prefill_step, len(self._rest) - 1)]
        self._model(mx.array(chunk)[None], cache=self._cache)
        mx.eval([layer.state for layer in self._cache])
        if self._context is not None:
            self._context.update_and_fetch(mx.array(chunk))
        self._tokens.extend(chunk)
        self._rest = self._rest[len(chunk):]
        mx.clear_cache()

    def _forward(self, inputs: Any) -> Sampled:
        """Run `inputs` (shape (n,)) and sample the token after them, lazily."""
        import mlx.core as mx

        logits = self._model(inputs[None], cache=self._cache)[:, -1, :]
        if self._context is not None:
            context = self._context.update_and_fetch(inputs)
            for processor in self._processors:
                logits = processor(context, logits)
        logprobs = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
        return Sampled(self._sampler(logprobs), logprobs[0])
