"""Once Engine.run() has returned (or preload failed), work handed to the
engine thread is answered with SHUTTING_DOWN instead of waiting forever."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlx_serving.api.errors import ErrorCode, ServingError
from mlx_serving.config import load_config
from mlx_serving.engine.engine import Engine, PreloadError
from mlx_serving.engine.sampling import SamplingSettings
from mlx_serving.engine.stream import GenerationRequest

WAIT_S = 30.0  # only bounds a regression: a hang fails instead of blocking the suite


def _engine(tmp_path: Path, config: dict[str, Any] | None = None) -> Engine:
    path = tmp_path / "runtime.yaml"
    path.write_text(yaml.safe_dump(config or {}))
    writer: Any = None  # nothing here writes: no stream ever runs
    return Engine(load_config(path), writer)


def _stopped(tmp_path: Path) -> Engine:
    engine = _engine(tmp_path)
    loop = threading.Thread(target=engine.run, daemon=True)
    loop.start()
    assert engine.shutdown(drain=False).result(timeout=WAIT_S) == 0
    loop.join(WAIT_S)
    assert not loop.is_alive()
    return engine


def _shutting_down(error: BaseException | None) -> bool:
    return isinstance(error, ServingError) and error.code is ErrorCode.SHUTTING_DOWN


def test_a_call_after_the_engine_stopped_fails_instead_of_hanging(tmp_path: Path) -> None:
    engine = _stopped(tmp_path)
    ran: list[int] = []
    with pytest.raises(ServingError) as raised:
        engine.call(lambda: ran.append(1)).result(timeout=WAIT_S)
    assert raised.value.code is ErrorCode.SHUTTING_DOWN and ran == []
    assert _shutting_down(engine.load("nowhere", "m").exception(timeout=WAIT_S))
    # A late shutdown (a signal, EOF on stdin) is answered, not failed.
    assert engine.shutdown(drain=True).result(timeout=WAIT_S) == 0


def test_a_request_submitted_after_the_stop_is_rejected(tmp_path: Path) -> None:
    engine = _stopped(tmp_path)
    rejected: list[ServingError] = []

    class Sink:
        def rejected(self, error: ServingError) -> None:
            rejected.append(error)

    stream_id = engine.stream_ids.reserve("late")
    sampling = SamplingSettings(temperature=0.0, top_p=1.0, top_k=0, min_p=0.0, seed=0,
                                repetition_penalty=1.0, presence_penalty=0.0,
                                frequency_penalty=0.0, penalty_context_size=20)
    sink: Any = Sink()
    engine.submit(GenerationRequest(stream_id=stream_id, model_id="m", prompt=[1], max_tokens=1,
                                    sampling=sampling, stop_strings=[], stop_token_ids=[],
                                    logprobs=False, sink=sink))
    assert [error.code for error in rejected] == [ErrorCode.SHUTTING_DOWN]
    assert len(engine.stream_ids) == 0


def test_calls_queued_before_a_failed_preload_are_answered(tmp_path: Path) -> None:
    engine = _engine(tmp_path, {"model_preload": {"models": [
        {"path": str(tmp_path / "missing"), "model_id": "gone"}]}})
    queued = engine.call(lambda: 1)  # waits for run(), which never comes
    with pytest.raises(PreloadError):
        engine.preload(announce=lambda _: None)
    assert _shutting_down(queued.exception(timeout=WAIT_S))
