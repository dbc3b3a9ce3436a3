"""AsyncEngine on the real runtime and the tiny local model: awaiting never
blocks the loop, a cancelled await cancels the generation on the runtime,
errors keep their codes, and a runtime that dies fails what was awaited.

Each test runs one scenario under asyncio.run with an engine of its own (an
AsyncEngine serves the loop it started on)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from engine_helpers import FAKE_RUNTIME, LONG_SEEDS, PROMPT, end_of, text_of

from mlx_serving import AsyncEngine, EngineError, create_async_engine
from mlx_serving.api import messages as m
from mlx_serving.client import Chunk, ErrorChunk, ExitEvent, RestartEvent

T = TypeVar("T")


async def eventually(condition: Callable[[], Awaitable[bool]], what: str, tries: int = 3000) -> None:
    """Waits for `condition`, yielding to the loop between tries (the bound only stops a hang)."""
    for _ in range(tries):
        if await condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"gave up waiting for {what}")


async def active_streams(engine: AsyncEngine) -> int:
    return int((await engine.request("runtime/state")).active_streams)


async def cancelled(engine: AsyncEngine) -> int:
    """Generations of "tiny" the runtime ended as cancelled (not run to their end)."""
    return (await engine.get_metrics("tiny")).models["tiny"].lifetime.requests.cancelled


async def cancel_while_it_runs(engine: AsyncEngine, work: Awaitable[Any]) -> None:
    """Runs `work` as a task, cancels the task once its generation runs on the runtime, and
    waits for the runtime to drop it."""
    task = asyncio.ensure_future(work)
    await eventually(lambda: _is(active_streams(engine), 1), "the generation to run")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await eventually(lambda: _is(active_streams(engine), 0), "the runtime to drop the generation")


class Heartbeat:
    """A task that ticks each time the loop runs it: a call that blocked the loop would see no tick
    between its start and its end."""

    def __init__(self) -> None:
        self.ticks = 0
        self._task = asyncio.get_running_loop().create_task(self._beat())

    async def _beat(self) -> None:
        while True:
            self.ticks += 1
            await asyncio.sleep(0)

    async def across(self, call: Awaitable[T]) -> tuple[T, int]:
        """The call's result, and how often the heartbeat ticked while it was awaited."""
        before = self.ticks
        result = await call
        return result, self.ticks - before

    def stop(self) -> None:
        self._task.cancel()


def test_eight_generates_gathered_on_one_loop_never_block_it(models: Path) -> None:
    async def scenario() -> None:
        loop_thread = threading.get_ident()
        progress_threads: set[int] = set()
        ready_threads: set[int] = set()

        def progress(report: m.ModelProgress) -> None:
            progress_threads.add(threading.get_ident())

        async with AsyncEngine(on={"ready": lambda _event: ready_threads.add(threading.get_ident())}) as engine:
            heartbeat = Heartbeat()
            loaded, ticks = await heartbeat.across(engine.load_model(
                str(models / "tiny-gguf" / "model.gguf"), model_id="tiny", on_progress=progress))
            assert loaded.model_id == "tiny" and ticks > 0
            assert progress_threads == {loop_thread}, "on_progress runs on the loop, before the load returns"
            assert ready_threads == {loop_thread}, "listeners run on the loop"

            in_flight = peak = 0

            async def one(seed: int) -> tuple[str, int]:
                nonlocal in_flight, peak
                in_flight += 1
                peak = max(peak, in_flight)
                try:
                    return await heartbeat.across(engine.generate(
                        model="tiny", prompt=PROMPT, max_tokens=32, seed=seed, temperature=0.9))
                finally:
                    in_flight -= 1

            answers = await asyncio.gather(*(one(seed) for seed in range(8)))
            heartbeat.stop()
            assert peak == 8, "all eight were awaited at once"
            assert all(ticks > 0 for _text, ticks in answers), "the loop ran on while each call was awaited"
            assert all(isinstance(text, str) and text for text, _ticks in answers)

            # The same seed streamed gives the same text as awaited whole.
            chunks: list[Chunk] = [chunk async for chunk in engine.create_generator(
                model="tiny", prompt=PROMPT, max_tokens=32, seed=3, temperature=0.9)]
            assert text_of(chunks) == answers[3][0] and end_of(chunks).stats.generated_tokens == 32
            seen: list[tuple[str, int]] = []
            async for chunk in engine.create_generator(
                    model="tiny", prompt=PROMPT * 40, max_tokens=2,
                    on_prefill_progress=lambda _report: seen.append(("progress", threading.get_ident()))):
                seen.append((chunk.type, threading.get_ident()))
            assert seen[0][0] == "progress" and {thread for _kind, thread in seen} == {loop_thread}
            detailed = await engine.generate_detailed(model="tiny", prompt=PROMPT, max_tokens=32, seed=3,
                                                      temperature=0.9)
            assert (detailed.text, detailed.finish_reason) == (answers[3][0], "length")
            tokens = await engine.tokenize(model="tiny", text=PROMPT)
            assert await engine.detokenize(model="tiny", tokens=tokens, skip_special_tokens=True) == PROMPT
            assert [model.model_id for model in await engine.list_models()] == ["tiny"]
            metrics = await engine.get_metrics("tiny")
            assert metrics.models["tiny"].lifetime.requests.completed >= 10
            assert "mlx_serving" in await engine.get_prometheus_metrics()
            assert isinstance(await engine.get_flags(), m.FlagsResult)
            assert engine.get_info().models == ["tiny"]

    asyncio.run(scenario())


def test_prefill_progress_comes_before_the_first_token_even_from_a_busy_loop(models: Path) -> None:
    """The loop is busy (blocked) while the progress reports and the tokens arrive; the consumer
    then reads the stream in one go: it must still be told the progress first, on the loop."""
    async def scenario() -> None:
        loop_thread = threading.get_ident()
        seen: list[tuple[str, int]] = []
        async with AsyncEngine() as engine:
            await engine.load_model(str(models / "tiny"), model_id="tiny")
            generator = engine.create_generator(
                model="tiny", prompt=PROMPT * 40, max_tokens=2,
                on_prefill_progress=lambda _report: seen.append(("progress", threading.get_ident())))
            for _ in range(3000):  # blocks the loop until the runtime has sent a token
                if generator.buffered_tokens:
                    break
                time.sleep(0.02)
            async for chunk in generator:
                seen.append((chunk.type, threading.get_ident()))
        assert seen[0][0] == "progress" and [kind for kind, _ in seen][-3:] == ["token", "token", "metadata"]
        assert {thread for _kind, thread in seen} == {loop_thread}

    asyncio.run(scenario())


def test_a_cancelled_await_cancels_the_generation_on_the_runtime_and_the_engine_goes_on(models: Path) -> None:
    async def scenario() -> None:
        engine = await create_async_engine()
        try:
            await engine.load_model(str(models / "tiny"), model_id="tiny")
            long = {"model": "tiny", "prompt": PROMPT, "max_tokens": 500, "seed": LONG_SEEDS[0]}

            # asyncio.wait_for: its time limit runs out while the generation runs.
            assert await cancelled(engine) == 0
            task = asyncio.ensure_future(engine.generate(long))
            await eventually(lambda: _is(active_streams(engine), 1), "the generation to run")
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(task, 0.001)
            await eventually(lambda: _is(active_streams(engine), 0), "the runtime to drop the generation")
            assert await cancelled(engine) == 1

            # task.cancel() mid-generation.
            await cancel_while_it_runs(engine, engine.generate_detailed(long))
            assert await cancelled(engine) == 2

            # The call's own time limit: TIMEOUT, and cancelled on the runtime as well.
            with pytest.raises(EngineError) as timed_out:
                await engine.generate(long, timeout=0.01)
            assert timed_out.value.code == "TIMEOUT"
            await eventually(lambda: _is(active_streams(engine), 0), "the runtime to drop the generation")
            assert await cancelled(engine) == 3

            # A new request works, and no answer of a given-up call is left behind.
            text = await engine.generate(model="tiny", prompt=PROMPT, max_tokens=4, temperature=0)
            assert isinstance(text, str)
            await eventually(lambda: _now(engine.get_info().pending_requests == 0), "the late answers")
            info = engine.get_info()
            assert (info.open_streams, info.pending_requests) == (0, 0)

            # Leaving an `async for` early cancels its stream too.
            async for _chunk in engine.create_generator(long):
                break
            await eventually(lambda: _is(active_streams(engine), 0), "the runtime to drop the stream")
            assert await cancelled(engine) == 4

            # So does cancelling the task that reads it, while it waits for a chunk.
            async def read() -> None:
                async for _chunk in engine.create_generator(long):
                    pass

            await cancel_while_it_runs(engine, read())
            assert await cancelled(engine) == 5
            await eventually(lambda: _now(engine.get_info().open_streams == 0), "its end to come back")
        finally:
            await engine.close()

    asyncio.run(scenario())


def test_errors_are_engine_errors_with_the_codes_of_engine(models: Path) -> None:
    async def scenario() -> None:
        engine = AsyncEngine()
        # A stream opened first starts the engine, and is sent once the runtime is up.
        chunks = [chunk async for chunk in engine.create_generator(model="nope", prompt=PROMPT)]
        assert len(chunks) == 1 and isinstance(chunks[0], ErrorChunk)
        assert chunks[0].error.code == "MODEL_NOT_LOADED"
        async with engine:
            await engine.load_model(str(models / "tiny"), model_id="tiny")
            refused: list[tuple[str, Awaitable[Any]]] = [
                ("MODEL_NOT_LOADED", engine.generate(model="nope", prompt=PROMPT)),
                ("INVALID_PARAMS", engine.generate(model="tiny", prompt=PROMPT, max_tokens=0)),
                ("INVALID_OPTIONS", engine.generate(model="tiny", prompt=PROMPT, max_tokens=3, maxTokens=4)),
                ("INVALID_OPTIONS", engine.generate_json(model="tiny", prompt=PROMPT)),
                ("INVALID_OPTIONS", engine.request("generate", {"model": "tiny"})),
                ("METHOD_NOT_FOUND", engine.request("no/such-method")),
            ]
            for code, call in refused:
                with pytest.raises(EngineError) as error:
                    await call
                assert error.value.code == code, (code, error.value)
            assert await engine.tokenize(model="tiny", text=PROMPT), "still serving"

            # The model methods keep the engine's books as Engine's do.
            draft = str(models / "tiny-draft")
            assert (await engine.is_draft_model_compatible(model="tiny", draft_model=draft)).compatible
            assert (await engine.load_draft_model(model="tiny", draft_model=draft)).model_id == "tiny"
            assert engine.get_info().drafts == {"tiny": draft}
            await engine.unload_draft_model("tiny")
            with pytest.raises(EngineError) as no_draft:
                await engine.unload_draft_model("tiny")
            assert no_draft.value.code == "DRAFT_NOT_LOADED"
            assert (await engine.reload_config()).changed == []
            assert (await engine.unload_model("tiny")).model_id == "tiny"
            assert engine.get_info().models == [] and engine.get_info().drafts == {}
        with pytest.raises(EngineError) as disposed:
            await engine.tokenize(model="tiny", text=PROMPT)
        assert disposed.value.code == "ENGINE_DISPOSED"
        chunks = [chunk async for chunk in engine.create_generator(model="tiny", prompt=PROMPT)]
        assert len(chunks) == 1 and isinstance(chunks[0], ErrorChunk)
        assert chunks[0].error.code == "ENGINE_DISPOSED"

    asyncio.run(scenario())


def test_a_failed_start_fails_the_streams_and_calls_that_wait_for_it() -> None:
    engine = AsyncEngine(python_path=sys.executable, runtime_path=str(FAKE_RUNTIME),
                         env={"FAKE_RUNTIME_MODE": "exit-at-start"})
    with pytest.raises(EngineError) as no_loop:
        engine.create_generator(model="m", prompt=PROMPT)
    assert no_loop.value.code == "INVALID_OPTIONS" and "event loop" in no_loop.value.message

    async def scenario() -> None:
        chunks = [chunk async for chunk in engine.create_generator(model="m", prompt=PROMPT)]
        assert len(chunks) == 1 and isinstance(chunks[0], ErrorChunk)
        assert chunks[0].error.code == "RUNTIME_START_FAILED" and "on purpose" in chunks[0].error.message
        with pytest.raises(EngineError) as failed:
            await engine.tokenize(model="m", text=PROMPT)
        assert failed.value.code == "RUNTIME_START_FAILED"
        await engine.close()
        with pytest.raises(EngineError) as disposed:
            await engine.tokenize(model="m", text=PROMPT)
        assert disposed.value.code == "ENGINE_DISPOSED"

    asyncio.run(scenario())


def test_a_runtime_that_dies_fails_the_pending_awaits_then_the_restart_serves_them(models: Path) -> None:
    async def scenario() -> None:
        loop_thread = threading.get_ident()
        exits: list[ExitEvent] = []
        restarts: list[RestartEvent] = []
        threads: set[int] = set()

        def on_exit(event: ExitEvent) -> None:
            threads.add(threading.get_ident())
            exits.append(event)

        async with AsyncEngine(restart={"initial_delay": 0.05}) as engine:
            removed: list[ExitEvent] = []
            engine.on("exit", on_exit).on("restart", restarts.append).on("exit", removed.append)
            engine.off("exit", removed.append)
            await engine.load_model(str(models / "tiny"), model_id="tiny")
            pid = engine.get_info().pid
            assert pid is not None
            calls = [asyncio.ensure_future(engine.generate(model="tiny", prompt=PROMPT, max_tokens=500,
                                                           seed=LONG_SEEDS[1])) for _ in range(3)]
            await eventually(lambda: _now(engine.get_info().pending_requests == 3), "three calls in flight")
            os.kill(pid, signal.SIGKILL)
            failures = await asyncio.gather(*calls, return_exceptions=True)
            assert [getattr(error, "code", error) for error in failures] == ["RUNTIME_EXITED"] * 3
            # A call made while it restarts waits for the new runtime, off the loop; the model is back.
            assert await engine.generate(model="tiny", prompt=PROMPT, max_tokens=3, temperature=0)
            assert exits[0].expected is False and threads == {loop_thread}
            assert removed == [], "off() takes off what on() put on"
            await eventually(lambda: _now(bool(restarts)), "the restart event")
            assert restarts[0].reloaded == ["tiny"]
            assert engine.get_info().pid != pid

    asyncio.run(scenario())


async def _is(count: Awaitable[int], expected: int) -> bool:
    return await count == expected


async def _now(value: bool) -> bool:
    return value
