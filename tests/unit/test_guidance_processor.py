"""The per-stream logits processor: what it feeds the matcher, what it masks, how it fails."""

from __future__ import annotations

import math

import mlx.core as mx
import numpy as np

from mlx_serving.api.messages import TokenOut
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
        bits = words.view(np.uint32)
        for token in self._now():
            bits[token // 32] |= np.uint32(1 << (token % 32))

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


class RecordingSink:
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def accepted(self, stream_id: str) -> None: ...

    def rejected(self, error: Exception) -> None: ...

    def tokens(self, stream_id: str, tokens: list) -> None:
        self.events += [("token", token.text) for token in tokens]

    def end(self, stream_id: str, finish_reason: str, stats: object, guidance=None) -> None:
        self.events.append(("end", finish_reason, guidance.complete if guidance else None))

    def error(self, stream_id: str, error: Exception, stats: object) -> None:
        self.events.append(("error", error.code.name))


def _stream(matcher: ScriptedMatcher, stop_strings: list[str] | None = None):
    from mlx_serving.api.messages import RegexGuidance
    from mlx_serving.engine.sampling import SamplingSettings
    from mlx_serving.engine.stream import ActiveStream, GenerationRequest
    from mlx_serving.guidance.compiler import CompiledGuidance

    grammar = type("OneMatcher", (), {"matcher": lambda self: matcher})()
    sink = RecordingSink()
    request = GenerationRequest(
        stream_id="s", model_id="m", prompt=[0], max_tokens=8,
        sampling=SamplingSettings(0.0, 1.0, 0, 0.0, 0, 1.0, 0.0, 0.0, 20),
        stop_strings=stop_strings or [], stop_token_ids=[], logprobs=False, sink=sink,
        guidance=CompiledGuidance(grammar, vocab_size=16, eos_ids=frozenset({EOS}),
                                  spec=RegexGuidance(pattern="[a-p]*")))
    return ActiveStream(request, lambda ids: "".join(chr(ord("a") + i) for i in ids)), sink


def test_a_failed_grammar_ends_the_stream_with_an_error() -> None:
    stream, sink = _stream(ScriptedMatcher({2}, set()))
    stream.guide(mx.array([0]), mx.zeros((1, 16)))
    stream.guide(mx.array([0, 2]), mx.zeros((1, 16)))  # token 2, then a dead end
    assert stream.on_token(TokenOut(id=2, text=""), None) == "error"
    assert sink.events == [("token", "c"), ("error", "GUIDANCE_INVALID")]


def test_the_end_says_whether_the_output_is_complete() -> None:
    stream, sink = _stream(ScriptedMatcher({2}, accepts=True))
    assert stream.on_token(TokenOut(id=2, text=""), "length") == "length"
    assert sink.events[-1] == ("end", "length", True)
    cut, cut_sink = _stream(ScriptedMatcher({2}, accepts=True), stop_strings=["c"])
    assert cut.on_token(TokenOut(id=2, text=""), None) == "stop"
    assert cut_sink.events[-1] == ("end", "stop", False)  # a stop sequence cut it


THINK, THOUGHT = 6, 7  # a reasoning model's thinking markers


def test_the_grammar_starts_after_the_thinking() -> None:
    from mlx_serving.guidance.processor import Thinking

    matcher = ScriptedMatcher({3}, {4}, {EOS})
    guide = GuidedDecoding(matcher, vocab_size=16, stop_ids=frozenset({EOS}),
                           thinking=Thinking(THINK, THOUGHT))
    logits = mx.zeros((1, 16))
    # The output may open with its thinking, or go straight into the grammar.
    assert _allowed(guide(mx.array([0]), logits)) == {3, THINK}
    # Thinking: free text, up to and with its end marker; the matcher sees none of it.
    for context in ([0, THINK], [0, THINK, 9], [0, THINK, 9, 12]):
        assert len(_allowed(guide(mx.array(context), logits))) == 16
    assert _allowed(guide(mx.array([0, THINK, 9, 12, THOUGHT]), logits)) == {3}
    assert _allowed(guide(mx.array([0, THINK, 9, 12, THOUGHT, 3]), logits)) == {4}
    assert matcher.consumed == [3] and guide.failure is None


def test_without_thinking_first_the_grammar_holds_from_the_first_token() -> None:
    from mlx_serving.guidance.processor import Thinking

    matcher = ScriptedMatcher({3}, {4})
    guide = GuidedDecoding(matcher, vocab_size=16, stop_ids=frozenset(),
                           thinking=Thinking(THINK, THOUGHT))
    guide(mx.array([0]), mx.zeros((1, 16)))
    assert _allowed(guide(mx.array([0, 3]), mx.zeros((1, 16)))) == {4}  # no thinking now
    guide(mx.array([0, 3, THINK]), mx.zeros((1, 16)))
    assert guide.failure is not None and f"token {THINK}" in guide.failure.message


def test_a_prompt_that_opened_the_thinking() -> None:
    from mlx_serving.guidance.processor import Thinking

    thinking = Thinking(THINK, THOUGHT)
    assert thinking.open_in([0, THINK]) and not thinking.open_in([0, THINK, 9, THOUGHT])
    assert not thinking.open_in([0, 9])
    matcher = ScriptedMatcher({3})
    guide = GuidedDecoding(matcher, vocab_size=16, stop_ids=frozenset(), thinking=thinking,
                           thinking_now=True)
    assert len(_allowed(guide(mx.array([0, THINK]), mx.zeros((1, 16))))) == 16
    assert _allowed(guide(mx.array([0, THINK, THOUGHT]), mx.zeros((1, 16)))) == {3}
