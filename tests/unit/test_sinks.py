"""The sinks' shared parts: AnsweringSink answers a front's call (the accepted
stream or the refusal, attributed to who serves it), ResultSink builds on it,
NullSink takes a whole stream and lets it go."""

from __future__ import annotations

from concurrent.futures import Future

import pytest

from mlx_serving.api.errors import ErrorCode, ServingError
from mlx_serving.api.messages import GenerateAccepted, GenerateResult, GenerationStats, TokenOut
from mlx_serving.engine.stream import NullSink, Served, StreamSink
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
