"""The logits mask: every path (a repeated mask, a forced token, everything
allowed, a new mask) must leave exactly the allowed columns as they were and
set every other one to -inf, whatever the vocabulary and logits widths."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest

from mlx_serving.guidance.mask import LogitsMasker
from mlx_serving.guidance.processor import GuidedDecoding


def _words(allowed: set[int], vocab_size: int) -> np.ndarray:
    words = np.zeros((vocab_size + 31) // 32, dtype=np.int32)
    bits = words.view(np.uint32)
    for token in allowed:
        bits[token // 32] |= np.uint32(1 << (token % 32))
    return words


def _logits(width: int, seed: int = 0, dtype: mx.Dtype = mx.float32) -> mx.array:
    values = np.random.default_rng(seed).normal(size=(1, width)).astype(np.float32)
    return mx.array(values).astype(dtype)


def _expected(logits: mx.array, allowed: set[int]) -> np.ndarray:
    values = np.array(logits.astype(mx.float32))
    keep = np.zeros(values.shape[-1], dtype=bool)
    keep[[token for token in allowed if token < values.shape[-1]]] = True
    return np.where(keep, values, -np.inf)


def _check(masker: LogitsMasker, logits: mx.array, allowed: set[int], vocab_size: int) -> None:
    masked = masker.apply(logits, _words(allowed, vocab_size))
    assert masked.shape == logits.shape and masked.dtype == logits.dtype
    np.testing.assert_array_equal(np.array(masked.astype(mx.float32)), _expected(logits, allowed))


@pytest.mark.parametrize("vocab_size, width", [(64, 64), (45, 45), (40, 70), (100, 128)])
def test_every_path_masks_exactly(vocab_size: int, width: int) -> None:
    """Widths that are not a multiple of 32, and logits wider than the
    tokenizer (the extra columns are never allowed)."""
    everything = set(range(vocab_size))
    steps = [
        {0, 31, 32, vocab_size - 1},  # new
        {vocab_size - 1},  # forced: the last token, in the last, partial word
        {0, 31, 32, vocab_size - 1},  # repeated
        everything,  # all allowed
        {0},  # forced: the first
        everything - {5},
        {33},
        everything,  # repeated
        {0, 31, 32, vocab_size - 1},
    ]
    masker = LogitsMasker()
    for step, allowed in enumerate(steps):
        _check(masker, _logits(width, seed=step), allowed, vocab_size)


def test_everything_allowed_passes_the_logits_untouched() -> None:
    logits = _logits(45)
    assert LogitsMasker().apply(logits, _words(set(range(45)), 45)) is logits


def test_a_cached_mask_is_not_changed_by_the_refilled_bitmask() -> None:
    """The processor refills one bitmask array in place every step."""
    masker = LogitsMasker()
    words = _words({1, 2, 3}, 96)
    first = masker.apply(_logits(96), words)
    words[:] = _words({50}, 96)
    masker.apply(_logits(96), words)
    words[:] = _words({1, 2, 3}, 96)
    again = masker.apply(_logits(96, seed=1), words)
    np.testing.assert_array_equal(np.array(first), _expected(_logits(96), {1, 2, 3}))
    np.testing.assert_array_equal(np.array(again), _expected(_logits(96, seed=1), {1, 2, 3}))


def test_masks_beyond_the_kept_ones_are_rebuilt_correctly() -> None:
    masker = LogitsMasker()
    sets = [{i, i + 1, 40} for i in range(20)]
    for allowed in sets + sets[::-1] + sets:
        _check(masker, _logits(64, seed=len(allowed)), allowed, 64)


def test_half_precision_logits_keep_their_dtype() -> None:
    masker = LogitsMasker()
    for allowed in ({3, 9}, {7}, {3, 9}):
        _check(masker, _logits(48, dtype=mx.bfloat16), allowed, 48)
    _check(masker, _logits(48, dtype=mx.float16), {3, 9}, 48)  # another dtype, same mask


def test_a_change_of_width_starts_over() -> None:
    masker = LogitsMasker()
    _check(masker, _logits(40), {2}, 40)
    _check(masker, _logits(64), {2}, 40)
    _check(masker, _logits(40), {2, 3}, 40)


class WalkMatcher:
    """Allows what `schedule(step)` says; records what it consumes."""

    def __init__(self, schedule) -> None:
        self.schedule = schedule
        self.consumed: list[int] = []

    def consume(self, token: int) -> bool:
        ok = token in self.schedule(len(self.consumed))
        self.consumed.append(token)
        return ok

    def fill_bitmask(self, words: np.ndarray) -> None:
        words[:] = _words(self.schedule(len(self.consumed)), 32 * words.size)

    def is_accepting(self) -> bool:
        return False

    def error(self) -> str:
        return ""


def _sample_seeded(schedule, masked: bool, steps: int = 24, vocab_size: int = 70,
                   width: int = 80) -> tuple[list[int], list[set[int]]]:
    """Tokens a seeded sampler draws from guided logits (through GuidedDecoding
    when `masked`, else through a plain -inf mask), and the sets allowed."""
    key = mx.random.key(7)
    tokens: list[int] = []
    allowed_sets: list[set[int]] = []
    guide = GuidedDecoding(WalkMatcher(schedule), vocab_size, frozenset()) if masked else None
    sampled = None

    def sample(logprobs: mx.array) -> mx.array:
        nonlocal key
        key, step_key = mx.random.split(key)
        return mx.random.categorical(logprobs, key=step_key)

    sampler = guide.watch(sample) if guide else sample
    for step in range(steps):
        logits = _logits(width, seed=100 + step)
        allowed = schedule(step)
        allowed_sets.append(allowed)
        logits = guide(mx.array([0, *tokens]), logits) if guide is not None else mx.array(_expected(logits, allowed))
        sampled = sampler(logits - mx.logsumexp(logits, axis=-1, keepdims=True))
        tokens.append(sampled.item())
    return tokens, allowed_sets


def test_seeded_sampling_is_the_same_through_every_fast_path() -> None:
    """Forced tokens, repeated masks and all-allowed steps give the sampler
    the same logits as a plain mask would, so it draws the same tokens."""
    vocab = set(range(70))

    def schedule(step: int) -> set[int]:
        return [{5, 6, 7, 50, 69}, {12}, {5, 6, 7, 50, 69}, vocab, {69}, vocab - {3}][step % 6]

    guided, allowed_sets = _sample_seeded(schedule, masked=True)
    plain, _ = _sample_seeded(schedule, masked=False)
    assert guided == plain
    assert all(token in allowed for token, allowed in zip(guided, allowed_sets, strict=False))
