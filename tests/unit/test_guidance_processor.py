"""The per-stream logits processor: what it feeds the matcher, what it masks, how it fails."""

from __future__ import annotations

import math

import mlx.core as mx
import numpy as np

from mlx_serving.guidance.processor import GuidedDecoding

EOS = 1


class ScriptedMatcher:
    """Allows the tokens of `allowed` (a set per step, the last one repeats)."""

    def __init__(self, *allowed: set[int], accepts: bool = False) -> None:
        self.allowed = list(allowed)
        self.consumed: list[int] = []
        self.accepts = accepts

    def consume(self, token: int) -> bool:
        ok = token in self._now()
        self.consumed.append(token)
        return ok

    def fill_bitmask(self, words: np.ndarray) -> None:
        words.fill(0)
        for token in self._now():
            words[token // 32] |= np.int32(1 << (token % 32)) if token % 32 < 31 else np.int32(-2**31)

    def is_accepting(self) -> bool:
        return self.accepts

    def error(self) -> str:
        return ""

    def _now(self) -> set[int]:
        return self.allowed[min(len(self.consumed), len(self.allowed) - 1)]


def _allowed(logits: mx.array) -> set[int]:
    return {i for i, value in enumerate(logits[0].tolist()) if not math.isinf(value)}


def test_masks_and_feeds_the_sampled_token() -> None:
    matcher = ScriptedMatcher({3, 31, 40}, {5}, {EOS})
    guide = GuidedDecoding(matcher, vocab_size=48, stop_ids=frozenset({EOS}))
    logits = mx.zeros((1, 48))
    # First call: the context ends with the prompt's last token, never fed.
    assert _allowed(guide(mx.array([7, 8]), logits)) == {3, 31, 40}
    assert matcher.consumed == []
    assert _allowed(guide(mx.array([7, 8, 31]), logits)) == {5}
    assert _allowed(guide(mx.array([7, 8, 31, 5]), logits)) == {EOS}
    assert matcher.consumed == [31, 5]
    # A stop id ends the stream: the matcher never sees it, the logits pass.
    assert len(_allowed(guide(mx.array([7, 8, 31, 5, EOS]), logits))) == 48
    assert matcher.consumed == [31, 5]
    assert guide.failure is None


def test_logits_past_the_vocabulary_are_masked() -> None:
    guide = GuidedDecoding(ScriptedMatcher({2}), vocab_size=40, stop_ids=frozenset())
    assert _allowed(guide(mx.array([0]), mx.zeros((1, 70)))) == {2}


def test_a_dead_end_fails_the_stream() -> None:
    matcher = ScriptedMatcher({4}, set())
    guide = GuidedDecoding(matcher, vocab_size=16, stop_ids=frozenset({EOS}))
    guide(mx.array([0]), mx.zeros((1, 16)))
    logits = guide(mx.array([0, 4]), mx.zeros((1, 16)))
    assert guide.failure is not None and guide.failure.code.name == "GUIDANCE_INVALID"
    assert "after 1 tokens" in guide.failure.message and "dead end" in guide.failure.message
    assert len(_allowed(logits)) == 16  # left alone: what is sampled from them is dropped
    assert not guide.complete


def test_a_rejected_token_fails_the_stream() -> None:
    guide = GuidedDecoding(ScriptedMatcher({4}), vocab_size=16, stop_ids=frozenset())
    guide(mx.array([0]), mx.zeros((1, 16)))
    guide(mx.array([0, 9]), mx.zeros((1, 16)))
    assert guide.failure is not None and "does not allow token 9" in guide.failure.message


def test_complete_follows_the_matcher() -> None:
    assert GuidedDecoding(ScriptedMatcher({1}, accepts=True), 8, frozenset()).complete
    assert not GuidedDecoding(ScriptedMatcher({1}, accepts=False), 8, frozenset()).complete
