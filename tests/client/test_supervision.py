"""Supervision with the real runtime: a runtime killed mid-stream fails what
was in flight at once, is restarted, and gets its models and drafts back;
close() and shutdown() leave no process behind."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import threading
from pathlib import Path

import pytest
from engine_helpers import LONG_SEEDS, PROMPT, end_of, eventually, tokens_of

from mlx_serving import EngineError, create_engine
from mlx_serving.client import ErrorChunk, ExitEvent, MetadataChunk, ReadyEvent, RestartEvent, TokenChunk


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_kill_9_mid_stream_fails_the_stream_at_once_then_the_restart_reloads_models_and_drafts(models: Path) -> None:
    restarts: list[RestartEvent] = []
    exits: list[ExitEvent] = []
    readies: list[ReadyEvent] = []
    stderr: list[str] = []
    listeners = {"restart": restarts.append, "exit": exits.append, "ready": readies.append, "stderr": stderr.append}
    with create_engine(restart={"initial_delay": 0.05}, on=listeners) as engine:
        assert [event.restarts for event in readies] == [0], "`on` listeners see the first start"
        engine.load_model(str(models / "tiny"), model_id="tiny")
        # stderr has a reader of its own: its line may come after the load's answer on stdout.
        eventually(lambda: any("tiny" in line for line in stderr), "the runtime's log as stderr events")
        engine.load_draft_model(model="tiny", draft_model=str(models / "tiny-draft"))
        pid = engine.get_info().pid
        assert pid is not None
        chunks = []
        for chunk in engine.create_generator(model="tiny", prompt=PROMPT, max_tokens=500, seed=LONG_SEEDS[0]):
            chunks.append(chunk)
            if len(chunks) == 1:
                os.kill(pid, signal.SIGKILL)
        last = chunks[-1]
        assert isinstance(last, ErrorChunk) and last.error.code == "RUNTIME_EXITED"
        assert "SIGKILL" in last.error.message and last.error.data["signal"] == "SIGKILL"
        assert all(isinstance(chunk, TokenChunk) for chunk in chunks[:-1])
        # A call made while it restarts waits for the new runtime.
        assert engine.tokenize(model="tiny", text=PROMPT)
        eventually(lambda: restarts, "the restart event")
        assert [event.restarts for event in readies] == [0, 1]
        assert restarts[0].reloaded == ["tiny"] and restarts[0].reloaded_drafts == ["tiny"]
        assert restarts[0].failed == [] and restarts[0].attempt == 1
        assert exits[0].expected is False and exits[0].error is not None
        info = engine.get_info()
        assert (info.restarts, info.status, info.models, list(info.drafts)) == (1, "ready", ["tiny"], ["tiny"])
        assert info.pid != pid
        again = list(engine.create_generator(model="tiny", prompt=PROMPT, max_tokens=5, temperature=0))
        assert isinstance(end_of(again).stats.draft_tokens_proposed, int), "the draft is attached again"
    assert info.pid is not None and _gone(info.pid)


def test_every_call_in_flight_fails_at_once_when_the_runtime_dies(models: Path) -> None:
    with create_engine(restart=False) as engine:
        engine.load_model(str(models / "tiny"), model_id="tiny")
        pid = engine.get_info().pid
        assert pid is not None
        failures: list[EngineError] = []

        def call() -> None:
            try:
                engine.generate(model="tiny", prompt=PROMPT, max_tokens=500, seed=LONG_SEEDS[1])
            except EngineError as error:
                failures.append(error)

        callers = [threading.Thread(target=call) for _ in range(3)]
        for caller in callers:
            caller.start()
        eventually(lambda: engine.get_info().pending_requests == 3, "three calls in flight")
        os.kill(pid, signal.SIGKILL)
        for caller in callers:
            caller.join()
        assert [error.code for error in failures] == ["RUNTIME_EXITED"] * 3
        # Restarts are off: the engine gave up, and says so at once.
        eventually(lambda: engine.get_info().status == "failed", "the engine to give up")
        with pytest.raises(EngineError) as later:
            engine.tokenize(model="tiny", text=PROMPT)
        assert later.value.code == "RUNTIME_EXITED" and "restarts are off" in later.value.message


def test_close_stops_the_runtime_and_later_calls_fail_with_engine_disposed(models: Path) -> None:
    engine = create_engine()
    engine.load_model(str(models / "tiny"), model_id="tiny")
    pid = engine.get_info().pid
    assert pid is not None
    generator = engine.create_generator(model="tiny", prompt=PROMPT, max_tokens=500, seed=LONG_SEEDS[2])
    engine.close()
    assert _gone(pid) and engine.get_info().status == "stopped"
    last = list(generator)[-1]
    # Cancelled by the runtime as it stopped, or failed by the engine that closed.
    assert (isinstance(last, MetadataChunk) and last.finish_reason == "cancelled") or (
        isinstance(last, ErrorChunk) and last.error.code == "ENGINE_DISPOSED"), last
    with pytest.raises(EngineError) as later:
        engine.tokenize(model="tiny", text=PROMPT)
    assert later.value.code == "ENGINE_DISPOSED"
    engine.close()  # twice is fine


def test_async_with_closes_the_engine(models: Path) -> None:
    async def run() -> int | None:
        async with create_engine() as engine:
            engine.load_model(str(models / "tiny"), model_id="tiny")
            texts = [chunk async for chunk in engine.create_generator(model="tiny", prompt=PROMPT, max_tokens=3)]
            assert end_of(texts).stats.generated_tokens == 3
            return engine.get_info().pid

    pid = asyncio.run(run())
    assert pid is not None and _gone(pid)


def test_shutdown_lets_the_streams_in_flight_finish(models: Path) -> None:
    engine = create_engine()
    engine.load_model(str(models / "tiny"), model_id="tiny")
    generator = engine.create_generator(model="tiny", prompt=PROMPT, max_tokens=30, seed=LONG_SEEDS[0])
    reading = iter(generator)
    assert isinstance(next(reading), TokenChunk)
    engine.shutdown(drain=True)
    chunks = list(reading)
    assert end_of(chunks).finish_reason == "length" and len(tokens_of(chunks)) == 29


def test_a_model_that_cannot_be_loaded_again_is_reported_by_the_restart_and_dropped(models: Path,
                                                                                   tmp_path: Path) -> None:
    copy = tmp_path / "tiny-copy"
    shutil.copytree(models / "tiny", copy)
    restarts: list[RestartEvent] = []
    with create_engine(restart={"initial_delay": 0.05}, on={"restart": restarts.append}) as engine:
        engine.load_model(str(models / "tiny"), model_id="tiny")
        engine.load_model(str(copy), model_id="copy")
        shutil.rmtree(copy)
        pid = engine.get_info().pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        eventually(lambda: restarts, "the restart event")
        assert restarts[0].reloaded == ["tiny"]
        assert [(failure.model, failure.draft, failure.error.code) for failure in restarts[0].failed] == [
            ("copy", False, "MODEL_NOT_FOUND")]
        assert engine.get_info().models == ["tiny"]
