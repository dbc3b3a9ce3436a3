"""Faults the real runtime never shows, played by fake_runtime.py: garbage on
stdout, a slow or failed start, a call never answered, a stream faster than
any consumer from a runtime that cannot pause it; and options refused up front."""

from __future__ import annotations

import os
import signal
import sys
import warnings
from pathlib import Path

import pytest
from engine_helpers import eventually, fake_engine

from mlx_serving import EngineError, create_engine
from mlx_serving.api.messages import QosViolation
from mlx_serving.client import ExitEvent, MetadataChunk, NotificationEvent, TokenChunk


def test_garbage_on_stdout_is_reported_as_protocol_errors_and_the_engine_goes_on() -> None:
    errors: list[EngineError] = []
    qos: list[QosViolation] = []
    notices: list[NotificationEvent] = []
    with fake_engine("garbage", on={"protocol_error": errors.append, "qos": qos.append,
                                    "notification": notices.append}) as engine:
        assert engine.tokenize(model="m", text="x") == [1, 2, 3]
        # The well-formed notices among the garbage come as typed events; any notice as it was sent.
        assert [(event.slo, event.action, event.observed) for event in qos] == [("max_queue_depth", "shed", 3)]
        assert NotificationEvent("some/newNotice", {"x": 1}) in notices
        assert errors and all(error.code == "PROTOCOL_ERROR" for error in errors)
        messages = " | ".join(error.message for error in errors)
        for expected in ("not JSON", "not pending", "an empty array", "jsonrpc", "malformed stream/chunk",
                         "error for no request", "malformed qos/violation"):
            assert expected in messages
        assert engine.tokenize(model="m", text="x") == [1, 2, 3], "still serving"


def test_a_protocol_error_nobody_listens_to_is_a_warning() -> None:
    with fake_engine("garbage") as engine, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        engine.tokenize(model="m", text="x")
    assert any("not JSON" in str(warning.message) for warning in caught)


def test_a_runtime_that_does_not_answer_in_time_fails_to_start() -> None:
    with pytest.raises(EngineError) as failed:
        fake_engine("slow-start", start_timeout=0.5)
    assert failed.value.code == "RUNTIME_START_FAILED" and "start_timeout" in failed.value.message


def test_a_runtime_that_exits_at_start_fails_to_start_quoting_its_stderr() -> None:
    with pytest.raises(EngineError) as failed:
        fake_engine("exit-at-start")
    assert failed.value.code == "RUNTIME_START_FAILED"
    assert "exited with code 3" in failed.value.message and "on purpose" in failed.value.message


def test_a_runtime_of_another_protocol_version_is_refused() -> None:
    with pytest.raises(EngineError) as failed:
        fake_engine("garbage", env={"FAKE_PROTOCOL": "2.0"})
    assert failed.value.code == "RUNTIME_START_FAILED" and "protocol 2.0" in failed.value.message


def test_a_call_never_answered_times_out_and_the_engine_goes_on() -> None:
    with fake_engine("silent", request_timeout=0.3) as engine:
        with pytest.raises(EngineError) as late:
            engine.get_metrics()
        assert late.value.code == "TIMEOUT" and late.value.data["method"] == "metrics/get"
        with pytest.raises(EngineError) as other:
            engine.tokenize(model="m", text="x", timeout=5)
        assert other.value.code == "METHOD_NOT_FOUND", "answered: the engine goes on"
        assert engine.get_info().pending_requests == 0


def test_a_consumer_slower_than_a_runtime_that_cannot_pause_keeps_the_buffer_bounded() -> None:
    high_water_mark, total = 64, 20_000
    with fake_engine("flood", high_water_mark=high_water_mark, env={"FAKE_TOKENS": str(total)}) as engine:
        generator = engine.create_generator(model="m", prompt="x")
        expected, max_buffered, finish = 0, 0, None
        for chunk in generator:
            max_buffered = max(max_buffered, generator.buffered_tokens)
            if isinstance(chunk, TokenChunk):
                assert chunk.token_id == expected
                expected += 1
            else:
                assert isinstance(chunk, MetadataChunk)
                finish = chunk.finish_reason
        assert (finish, expected) == ("length", total)
        # One read of the pipe (64 KiB, about a thousand one-token lines) may land beyond the mark, no more.
        assert max_buffered < high_water_mark + 2_000
        assert engine.get_info().flow.pauses > 0


@pytest.mark.parametrize(("options", "names"), [
    ({"high_water_mark": 0}, "high_water_mark"),
    ({"request_timeout": -1}, "request_timeout"),
    ({"restart": {"bogus": 1}}, "bogus"),
    ({"restart": {"initial_delay": 5, "max_delay": 1}}, "restart.max_delay"),
    ({"on": {"nope": print}}, "nope"),
    ({"env": {"A": 1}}, "env"),
])
def test_options_are_checked_before_anything_starts(options: dict[str, object], names: str) -> None:
    with pytest.raises(EngineError) as refused:
        create_engine(**options)
    assert refused.value.code == "INVALID_OPTIONS" and names in refused.value.message


def test_a_missing_python_or_runtime_is_a_start_failure_that_says_what_to_fix() -> None:
    with pytest.raises(EngineError) as no_python:
        create_engine(python_path="/nowhere/python")
    assert no_python.value.code == "RUNTIME_START_FAILED" and "python_path" in no_python.value.message
    with pytest.raises(EngineError) as no_runtime:
        create_engine(python_path=sys.executable, runtime_path="/nowhere/runtime.py")
    assert no_runtime.value.code == "RUNTIME_START_FAILED" and "runtime_path" in no_runtime.value.message


def test_a_runtime_that_cannot_start_again_is_given_up_after_the_restarts_in_a_row(tmp_path: Path) -> None:
    exits: list[ExitEvent] = []
    with fake_engine("dies-after-first-start", env={"FAKE_STARTED_MARKER": str(tmp_path / "started")},
                     restart={"max_restarts": 2, "initial_delay": 0.01, "max_delay": 0.02},
                     on={"exit": exits.append}) as engine:
        pid = engine.get_info().pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        eventually(lambda: engine.get_info().status == "failed", "the engine to give up")
        with pytest.raises(EngineError) as gave_up:
            engine.tokenize(model="m", text="x")
        assert gave_up.value.code == "RUNTIME_EXITED" and "3 times in a row" in gave_up.value.message
        assert [event.expected for event in exits] == [False, False, False]
