"""The sinks' shared parts: AnsweringSink answers a front's call (the accepted
stream or the refusal, attributed to who serves it), ResultSink builds on it,
NullSink takes a whole stream and lets it go, SinkWrapper passes events on."""

from __future__ import annotations

from concurrent.futures import Future

import pytest

from mlx_serving.api.errors import ErrorCode, ServingError
from mlx_serving.api.messages import (
    GenerateAccepted,
    GenerateResult,
    GenerationStats,
    GuidanceOutcome,
    TokenOut,
)
from mlx_serving.engine.stream import NullSink, Served, StreamSink
from mlx_serving.ops.sink_wrapper import SinkWrapper
from mlx_serving.service.generation import AnsweringSink, GenerateAnswer, ResultSink

CANARY = Served("tiny-2", "canary")
STATS = GenerationStats(prompt_tokens=1, cached_tokens=0, generated_tokens=2, ttft_ms=1.0,
                        tokens_per_second=1.0, total_ms=2.0)


def test_accepted_answers_with_the_stream_and_who_serves_it() -> None:
    future: Future[GenerateAnswer] = Future()
    AnsweringSink(future, CANARY).accepted("s1")
    assert future.result() == GenerateAccepted(stream_id="s1", model="tiny-2", variant="canary")


def test_rejected_fails_the_call_with_the_error_attributed() -> None:
    future: Future[GenerateAnswer] = Future()
    AnsweringSink(future, CANARY).rejected(ServingError(ErrorCode.OVERLOADED, "busy", slo="x"))
    error = future.exception()
    assert isinstance(error, ServingError) and error.message == "busy"
    assert error.data() == {"code": "OVERLOADED", "slo": "x", "model": "tiny-2",
                            "variant": "canary"}


def test_a_result_sink_answers_at_the_end_with_the_whole_text() -> None:
    future: Future[GenerateAnswer] = Future()
    sink = ResultSink(future, CANARY)
    sink.accepted("s1")
    assert not future.done()  # accepted is not the answer of a non-streaming call
    sink.tokens("s1", [TokenOut(id=1, text="he"), TokenOut(id=2, text="llo")])
    sink.end("s1", "length", STATS)
    result = future.result()
    assert isinstance(result, GenerateResult)
    assert (result.text, result.finish_reason, result.model, result.variant) == (
        "hello", "length", "tiny-2", "canary")


def test_a_result_sink_fails_the_call_when_the_stream_fails() -> None:
    future: Future[GenerateAnswer] = Future()
    sink = ResultSink(future, CANARY)
    sink.accepted("s1")
    sink.error("s1", ServingError(ErrorCode.GENERATION_FAILED, "boom"), STATS)
    with pytest.raises(ServingError) as raised:
        future.result()
    assert raised.value.data()["variant"] == "canary"


def test_a_null_sink_takes_every_event() -> None:
    sink: StreamSink = NullSink()
    sink.accepted("s1")
    sink.rejected(ServingError(ErrorCode.INTERNAL_ERROR, "x"))
    sink.tokens("s1", [TokenOut(id=1, text="a")])
    sink.end("s1", "stop", STATS)
    sink.error("s1", ServingError(ErrorCode.INTERNAL_ERROR, "x"), STATS)


class _Recorder(NullSink):
    """A front's sink that notes each event, with both optional hooks."""

    def __init__(self) -> None:
        self.events: list[tuple[object, ...]] = []

    def accepted(self, stream_id: str) -> None:
        self.events.append(("accepted", stream_id))

    def rejected(self, error: ServingError) -> None:
        self.events.append(("rejected", error.message))

    def end(self, stream_id: str, finish_reason: str, stats: GenerationStats,
            guidance: object = None) -> None:
        self.events.append(("end", stream_id, finish_reason, guidance))

    def error(self, stream_id: str, error: ServingError, stats: GenerationStats) -> None:
        self.events.append(("error", stream_id, error.message))

    def resumed(self, stream_id: str) -> None:
        self.events.append(("resumed", stream_id))

    def prefill_progress(self, stream_id: str, processed: int, total: int) -> None:
        self.events.append(("prefill", stream_id, processed, total))


def test_a_sink_wrapper_passes_every_event_and_hook_on() -> None:
    inner = _Recorder()
    wrapper = SinkWrapper(inner)
    wrapper.accepted("s1")
    wrapper.rejected(ServingError(ErrorCode.OVERLOADED, "busy"))
    wrapper.prefill_progress("s1", 3, 8)
    wrapper.resumed("s1")
    wrapper.end("s1", "stop", STATS, GuidanceOutcome(complete=True))
    wrapper.error("s1", ServingError(ErrorCode.GENERATION_FAILED, "boom"), STATS)
    assert inner.events == [("accepted", "s1"), ("rejected", "busy"), ("prefill", "s1", 3, 8),
                            ("resumed", "s1"), ("end", "s1", "stop", GuidanceOutcome(complete=True)),
                            ("error", "s1", "boom")]


def test_a_sink_wrapper_skips_the_hooks_its_sink_has_not() -> None:
    wrapper = SinkWrapper(NullSink())  # no resumed, no prefill_progress
    wrapper.resumed("s1")
    wrapper.prefill_progress("s1", 1, 2)
