"""The public API: one engine per runtime process, kept alive by the supervisor.

Engine blocks the calling thread for each call; AsyncEngine (async_engine.py)
is its asyncio twin. Both take their options and their methods' parameters
from one place: the options here (EngineFront), the methods in core.py
(EngineCore), each method derived from its definition there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

from .core import EngineCore, EngineInfo, FlowInfo
from .events import Listener
from .ops import Op, same_parameters
from .options import resolve_options
from .supervisor import RestartPolicy

if TYPE_CHECKING:
    from typing_extensions import Self

P = ParamSpec("P")
R = TypeVar("R")


def _direct(method: Callable[Concatenate[EngineCore, P], R]) -> Callable[Concatenate[EngineFront, P], R]:
    """A core method that never waits, as it is."""
    @same_parameters(method)
    def direct(self: EngineFront, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return method(self._core, *args, **kwargs)

    return direct


class EngineFront:
    """What Engine and AsyncEngine share: the options, and the methods that never wait (streams
    start at once and are read with `for` or `async for`; events; the state now)."""

    # Whether callbacks and listeners run on the event loop that the engine serves.
    _ON_LOOP = False

    def __init__(self, *, python_path: str | None = None, runtime_path: str | None = None,
                 config_path: str | None = None, flags_path: str | None = None, cwd: str | None = None,
                 env: Mapping[str, str] | None = None, verbose: bool = False,
                 request_timeout: float | None = None, start_timeout: float = 120.0,
                 wait_for_preload: bool = True, force_kill_after: float = 5.0,
                 restart: bool | RestartPolicy | Mapping[str, float] = True, high_water_mark: int = 1024,
                 on: Mapping[str, Listener] | None = None) -> None:
        self._core = EngineCore(resolve_options(
            python_path=python_path, runtime_path=runtime_path, config_path=config_path, flags_path=flags_path,
            cwd=cwd, env=env, verbose=verbose, request_timeout=request_timeout, start_timeout=start_timeout,
            wait_for_preload=wait_for_preload, force_kill_after=force_kill_after, restart=restart,
            high_water_mark=high_water_mark, on=on), on_loop=self._ON_LOOP)
        self._begin()

    def _begin(self) -> None:
        """What the constructor does once the engine exists (Engine: start the runtime)."""

    create_generator = _direct(EngineCore.create_generator)
    create_vision_generator = _direct(EngineCore.create_vision_generator)
    get_info = _direct(EngineCore.get_info)

    def on(self, event: str, listener: Listener) -> Self:
        """Calls `listener(payload)` at each `event` (ready, exit, restart, stderr, protocol_error, qos,
        canary, notification): on a thread of the client (Engine), on the event loop (AsyncEngine)."""
        self._core.events.on(event, self._core.here(listener))
        return self

    def once(self, event: str, listener: Listener) -> Self:
        self._core.events.on(event, self._core.here(listener), once=True)
        return self

    def off(self, event: str, listener: Listener) -> Self:
        self._core.events.off(event, self._core.here(listener))
        return self


def _blocking(plan: Callable[Concatenate[EngineCore, P], Op[R]]) -> Callable[Concatenate[EngineFront, P], R]:
    """A core method's Op, run on the calling thread."""
    @same_parameters(plan)
    def blocking(self: EngineFront, /, *args: P.args, **kwargs: P.kwargs) -> R:
        core = self._core
        return core.run(plan(core, *args, **kwargs))

    return blocking


class Engine(EngineFront):
    """Starts the runtime (python/runtime.py, with this interpreter by default) and returns once it
    can serve: it answers, and the models its config preloads are warm (unless
    wait_for_preload=False). Raises RUNTIME_START_FAILED or INVALID_OPTIONS. Times are seconds.
    Each call blocks its thread (any thread: the engine is thread-safe); generators also read
    with `async for`."""

    def _begin(self) -> None:
        self._core.start()

    load_model = _blocking(EngineCore.load_model)
    load_vision_model = _blocking(EngineCore.load_vision_model)
    unload_model = _blocking(EngineCore.unload_model)
    list_models = _blocking(EngineCore.list_models)
    load_draft_model = _blocking(EngineCore.load_draft_model)
    unload_draft_model = _blocking(EngineCore.unload_draft_model)
    is_draft_model_compatible = _blocking(EngineCore.is_draft_model_compatible)
    tokenize = _blocking(EngineCore.tokenize)
    detokenize = _blocking(EngineCore.detokenize)
    generate = _blocking(EngineCore.generate)
    generate_detailed = _blocking(EngineCore.generate_detailed)
    generate_json = _blocking(EngineCore.generate_json)
    get_metrics = _blocking(EngineCore.get_metrics)
    get_prometheus_metrics = _blocking(EngineCore.get_prometheus_metrics)
    reload_config = _blocking(EngineCore.reload_config)
    get_flags = _blocking(EngineCore.get_flags)
    request = _blocking(EngineCore.request)
    shutdown = _blocking(EngineCore.shutdown)
    close = _blocking(EngineCore.close)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, value: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await asyncio.to_thread(self.close)


# The bridge's entry point by its snake_case name: Engine(**options) itself, keyword for keyword.
create_engine = Engine

__all__ = ["Engine", "EngineFront", "EngineInfo", "FlowInfo", "create_engine"]
