"""Adaptive prefill sizing: a long prompt joins without freezing running streams.

mlx-lm's BatchGenerator prefills a joining prompt in chunks of
`prefill_step_size` tokens, one chunk per step, and the streams already
decoding wait for each chunk. While streams decode, the pacer sizes the
chunk from the measured prefill speed so that a step (decode plus chunk)
takes about `target_step_ms`; when nothing decodes, prefill runs at full
size, so a lone request's time to first token does not change. Chunk sizes
are powers of two, which keeps the set of prefill shapes small.
"""

from __future__ import annotations

_SMOOTHING = 0.2  # weight of the newest measurement in the running averages


class PrefillPacer:
    def __init__(self, max_chunk: int, min_chunk: int, target_step_ms: float,
                 adaptive: bool) -> None:
        self._max = max_chunk
        self._min = min(min_chunk, max_chunk)
        self._target_s = target_step_ms / 1000
        self._adaptive = adaptive
        self._decode_s = 0.0
        self._prefill_rate = 0.0  # tokens per second
        self.chunk = max_chunk

    def plan(self, decoding: int, prefilling: int) -> int:
        """The chunk size for the next step."""
        if not self._adaptive or not decoding or not prefilling:
            self.chunk = self._max
        elif not self._prefill_rate:
            self.chunk = self._min  # no measurement yet: start small, learn
        else:
            budget = (self._target_s - self._decode_s) * self._prefill_rate / prefilling
            self.chunk = max(self._min, min(self._max, _power_of_two_below(budget)))
        return self.chunk

    def observe(self, seconds: float, prefill_tokens: int, decoded: bool) -> None:
        """Learn from a finished step: its duration and what it did."""
        if not prefill_tokens:
            if decoded:
                self._decode_s = _average(self._decode_s, seconds)
            return
        prefill_s = seconds - (self._decode_s if decoded else 0.0)
        if prefill_s > 0:
            self._prefill_rate = _average(self._prefill_rate, prefill_tokens / prefill_s)

    @property
    def decode_step_ms(self) -> float:
        """Running average of a decode step."""
        return round(self._decode_s * 1000, 3)

    @property
    def prefill_tokens_per_s(self) -> float:
        """Running average of prefill speed."""
        return round(self._prefill_rate, 1)


def _average(current: float, sample: float) -> float:
    return sample if not current else current + _SMOOTHING * (sample - current)


def _power_of_two_below(value: float) -> int:
    return 1 << max(int(value), 1).bit_length() - 1
