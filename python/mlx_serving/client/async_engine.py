"""The asyncio twin of Engine: every method that waits for the runtime is a
coroutine of the same name and signature, derived from its one definition
(core.py), and awaiting it never blocks the event loop.

A call is sent from the loop and its future is settled by the client's one
reader thread, which wakes the loop for it (asyncio.wrap_future). A cancelled
await (task.cancel(), asyncio.wait_for, asyncio.timeout) drops the call's
answer and cancels a generation on the runtime. Only what waits on the
client's own threads runs on a worker thread: the start, a wait for a
runtime that is restarting, and stopping. Callbacks (`on_progress`,
`on_prefill_progress`) and event listeners run on the loop.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from .core import EngineCore
from .engine import EngineFront
from .errors import EngineError
from .generator import TokenGenerator
from .ops import Op, same_parameters
from .supervisor import disposed_error

if TYPE_CHECKING:
    from typing_extensions import Self

P = ParamSpec("P")
R = TypeVar("R")


def _awaiting(plan: Callable[Concatenate[EngineCore, P], Op[R]], *, starts: bool = True,
              ) -> Callable[Concatenate[AsyncEngine, P], Coroutine[Any, Any, R]]:
    """A core method's Op as a coroutine. The engine starts on the first call if need be; a
    stop (`starts=False`) lets a start under way finish first, so that its runtime is the one
    stopped, and stops an engine that never started for good."""
    @same_parameters(plan)
    async def awaiting(self: AsyncEngine, /, *args: P.args, **kwargs: P.kwargs) -> R:
        core = self._core
        op = plan(core, *args, **kwargs)  # bad params are refused before anything starts
        if starts:
            await self._started()
        elif self._starting is not None:
            await asyncio.wait([self._starting])
        return await core.run_async(op)

    return awaiting


def _streaming(method: Callable[Concatenate[EngineCore, P], TokenGenerator],
               ) -> Callable[Concatenate[AsyncEngine, P], TokenGenerator]:
    """A stream opens at once, also on an engine that is still starting (it is sent once the
    runtime is up); such a call starts an engine that was not started yet."""
    @same_parameters(method)
    def streaming(self: AsyncEngine, /, *args: P.args, **kwargs: P.kwargs) -> TokenGenerator:
        if self._starting is None and self._core.supervisor.status == "starting":
            self._start_soon()
        return method(self._core, *args, **kwargs)  # on a closed engine, it ends with ENGINE_DISPOSED

    return streaming


class AsyncEngine(EngineFront):
    """Engine for asyncio programs: `async with AsyncEngine(**options) as engine:` or
    `engine = await create_async_engine(**options)` start the runtime and return once it can
    serve (Engine's options); the constructor itself starts nothing and never blocks, and the
    first call starts an engine that was not started yet. `create_generator` returns the
    generator at once, to read with `async for`."""

    _ON_LOOP = True

    def _begin(self) -> None:
        self._starting: asyncio.Future[None] | None = None

    def _start_soon(self) -> asyncio.Future[None]:
        """Starts the runtime once (on a worker thread, as the start waits), whoever asks first."""
        if self._core.supervisor.status in ("stopping", "stopped"):
            raise disposed_error()
        if self._starting is None:
            try:
                self._core.loop = asyncio.get_running_loop()
            except RuntimeError:
                raise EngineError.invalid_options(
                    "An AsyncEngine starts on a running event loop (async with, create_async_engine(), or a "
                    "first call awaited there); use Engine outside asyncio.") from None
            self._starting = asyncio.ensure_future(asyncio.to_thread(self._core.start))
            # A start that fails after its first caller gave up is still seen by the next one.
            self._starting.add_done_callback(lambda done: done.cancelled() or done.exception())
        return self._starting

    async def _started(self) -> None:
        await asyncio.shield(self._start_soon())

    create_generator = _streaming(EngineCore.create_generator)
    create_vision_generator = _streaming(EngineCore.create_vision_generator)
    load_model = _awaiting(EngineCore.load_model)
    load_vision_model = _awaiting(EngineCore.load_vision_model)
    unload_model = _awaiting(EngineCore.unload_model)
    list_models = _awaiting(EngineCore.list_models)
    load_draft_model = _awaiting(EngineCore.load_draft_model)
    unload_draft_model = _awaiting(EngineCore.unload_draft_model)
    is_draft_model_compatible = _awaiting(EngineCore.is_draft_model_compatible)
    tokenize = _awaiting(EngineCore.tokenize)
    detokenize = _awaiting(EngineCore.detokenize)
    generate = _awaiting(EngineCore.generate)
    generate_detailed = _awaiting(EngineCore.generate_detailed)
    generate_json = _awaiting(EngineCore.generate_json)
    get_metrics = _awaiting(EngineCore.get_metrics)
    get_prometheus_metrics = _awaiting(EngineCore.get_prometheus_metrics)
    reload_config = _awaiting(EngineCore.reload_config)
    get_flags = _awaiting(EngineCore.get_flags)
    request = _awaiting(EngineCore.request)

    shutdown = _awaiting(EngineCore.shutdown, starts=False)
    close = _awaiting(EngineCore.close, starts=False)

    async def __aenter__(self) -> Self:
        await self._started()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, value: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.close()


def _starting(make: Callable[P, AsyncEngine]) -> Callable[P, Coroutine[Any, Any, AsyncEngine]]:
    async def create_async_engine(*args: P.args, **kwargs: P.kwargs) -> AsyncEngine:
        """`await create_async_engine(**options)`: AsyncEngine(**options), started (Engine's options)."""
        engine = make(*args, **kwargs)
        await engine._started()
        return engine

    # help() shows the options.
    create_async_engine.__signature__ = inspect.signature(make).replace(  # type: ignore[attr-defined]
        return_annotation="AsyncEngine")
    return create_async_engine


create_async_engine = _starting(AsyncEngine)

__all__ = ["AsyncEngine", "create_async_engine"]
