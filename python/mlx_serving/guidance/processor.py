"""One stream's grammar, applied as an mlx-lm logits processor.

mlx-lm's BatchGenerator calls each stream's processors once per step with
the stream's tokens so far and the next-token logits, then its sampler.
Before the mask for this step, the matcher must learn the token sampled at
the previous one. The stream's sampler is wrapped (`watch`) to keep that
token's array: it was queued on the device before this step's forward pass,
so reading it waits for nothing else. The forward pass is queued first, and
the device runs it while the CPU computes the mask. (Without the wrapped
sampler the token is read from the context, which is correct but waits for
the forward pass.) The mask is a bitmask (one bit per token) from the
backend; mask.py turns it into -inf on the disallowed logits with portable
ops, keeping the stream's recent masks on the device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..api.errors import ErrorCode, ServingError
from .backend import Matcher
from .mask import LogitsMasker


@dataclass(frozen=True)
class Thinking:
    """A reasoning model's thinking markers (single tokens): the grammar
    applies after its thinking, not to it."""

    start: int
    end: int

    def open_in(self, prompt: list[int]) -> bool:
        """Whether the prompt ends inside a thinking block its template opened."""
        starts = [i for i, token in enumerate(prompt) if token == self.start]
        ends = [i for i, token in enumerate(prompt) if token == self.end]
        return bool(starts) and (not ends or starts[-1] > ends[-1])


class GuidedDecoding:
    """Call on the engine thread only (it runs MLX ops).

    With `thinking`, the output may open with one thinking block (its start
    token is allowed beside the grammar's first tokens; `thinking_now`: the
    prompt opened it already), which is left free; the grammar starts after
    its end token."""

    def __init__(self, matcher: Matcher, vocab_size: int, stop_ids: frozenset[int],
                 thinking: Thinking | None = None, thinking_now: bool = False) -> None:
        self._matcher = matcher
        self._stop_ids = stop_ids  # the stream ends on these: the grammar never sees them
        self._words = np.zeros((vocab_size + 31) // 32, dtype=np.int32)
        self._masker = LogitsMasker()
        self._started = False
        self._sampled: Any = None  # the array of the token sampled last step
        self._ended = False
        self._consumed = 0
        self._thinking = thinking
        self._in_thought = thinking is not None and thinking_now
        self.failure: ServingError | None = None

    def __call__(self, tokens: Any, logits: Any) -> Any:
        import mlx.core as mx

        if self._ended or self.failure is not None:
            return logits
        mx.async_eval(logits)
        if self._started or self._in_thought:
            token = (tokens[-1] if self._sampled is None else self._sampled).item()
            if token in self._stop_ids:
                self._ended = True
                return logits
            if self._in_thought:
                if token != self._thinking.end:  # type: ignore[union-attr]
                    return logits
                self._in_thought, self._thinking = False, None  # the grammar starts now
            elif self._thinking is not None and token == self._thinking.start:
                self._in_thought, self._started = True, False
                return logits
            elif not self._matcher.consume(token):
                self._fail(f"the grammar does not allow token {token} ({self._matcher.error()})")
                return logits
            else:
                self._consumed += 1
                self._thinking = None  # past the grammar's first token: no thinking now
        self._started = True
        self._matcher.fill_bitmask(self._words)
        if not self._words.any():
            reason = self._matcher.error() or "no token of this model's vocabulary can continue it"
            self._fail(f"the grammar reached a dead end: {reason}")
            return logits
        if self._thinking is not None:  # the output may open with its thinking
            start = self._thinking.start
            self._words.view(np.uint32)[start >> 5] |= np.uint32(1 << (start & 31))
        return self._masker.apply(logits, self._words)

    def watch(self, sampler: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """`sampler`, keeping what it samples for the next call."""

        def sample(logprobs: Any) -> Any:
            self._sampled = sampler(logprobs)
            return self._sampled

        return sample

    @property
    def complete(self) -> bool:
        """Whether the tokens consumed so far make a whole valid output."""
        return self.failure is None and self._matcher.is_accepting()

    def _fail(self, reason: str) -> None:
        # The stream ends with this error right after the token just consumed;
        # its logits stay as they are, since what is sampled from them is dropped.
        self.failure = ServingError(ErrorCode.GUIDANCE_INVALID,
                                    f"guidance failed after {self._consumed} tokens: {reason}")

