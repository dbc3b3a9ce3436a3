"""Starting one runtime process and shaking hands with it (runtime/info, and
runtime/state for its preload), so the supervisor only ever hands out
sessions with a runtime that answers."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from ..api.messages import PreloadedModel, RuntimeInfo, RuntimeReady, RuntimeState
from ..api.methods import PROTOCOL_VERSION
from .errors import EngineError
from .process import ExitInfo, LaunchSpec, RuntimeProcess
from .rpc import RpcClient

_STDERR_LINES_IN_ERRORS = 12


@dataclass(frozen=True)
class Preload:
    """The runtime's own preload (config model_preload): the models, warm now, and how long it took."""

    models: list[PreloadedModel]
    ms: float


class PreloadWatch:
    """The runtime answers at once, says status "starting" while its preload runs, then sends
    runtime/ready (only when it preloads something, and before runtime/state can say "ready")."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._heard: Preload | None = None
        self._starting: bool | None = None
        self.done: Preload | None = None
        self._settled = threading.Event()
        self._failure: str | None = None
        self._waiters: list[Callable[[Preload], None]] = []

    def heard(self, params: Any) -> bool:
        """runtime/ready's params; False when they are not what the protocol says."""
        try:
            ready = msgspec.convert(params, RuntimeReady)
        except msgspec.ValidationError:
            return False
        with self._lock:
            self._heard = Preload(ready.models, ready.preload_ms)
            if self._starting is not None:
                self._finish(self._heard)
        return True

    def saw_status(self, status: str) -> None:
        with self._lock:
            self._starting = status == "starting"
            if self._heard is not None or not self._starting:
                self._finish(self._heard or Preload([], 0.0))

    def then(self, callback: Callable[[Preload], None]) -> None:
        """Calls back once the preload finished (at once when it has)."""
        with self._lock:
            if self.done is None:
                self._waiters.append(callback)
                return
        callback(self.done)

    def abort(self, reason: str) -> None:
        """The runtime died: a wait for the preload ends."""
        self._failure = reason
        self._settled.set()

    def wait(self, timeout: float) -> Preload:
        if not self._settled.wait(timeout):
            raise _PreloadFailure(f"did not finish preloading its models (config model_preload) within "
                                  f"{timeout:g} s (raise the `start_timeout` option, or pass "
                                  "`wait_for_preload=False`)")
        if self.done is None:
            raise _PreloadFailure(f"{self._failure} while it preloaded its models")
        return self.done

    def _finish(self, preload: Preload) -> None:
        if self.done is not None:
            return
        self.done = preload
        self._settled.set()
        waiters, self._waiters = self._waiters, []
        for callback in waiters:
            callback(preload)


class _PreloadFailure(Exception):
    pass


@dataclass
class Session:
    process: RuntimeProcess
    client: RpcClient
    preload: PreloadWatch
    info: RuntimeInfo | None = None
    ready_at: float | None = None  # time.monotonic() of the handshake's end
    exited: threading.Event = field(default_factory=threading.Event)


class LaunchHooks(Protocol):
    def spawned(self, session: Session) -> None: ...
    def stderr(self, line: str) -> None: ...
    def exited(self, session: Session, info: ExitInfo) -> None: ...
    def protocol_error(self, error: EngineError) -> None: ...
    def notification(self, method: str, params: Any) -> None: ...


@dataclass(frozen=True)
class LaunchOptions:
    spec: LaunchSpec
    start_timeout: float
    wait_for_preload: bool
    max_line_bytes: int
    log: Callable[[str], None] | None


class _SessionHandlers:
    """Routes one process's output to its session (process -> client, hooks)."""

    def __init__(self, hooks: LaunchHooks) -> None:
        self._hooks = hooks
        self.session: Session | None = None

    def line(self, line: bytes) -> None:
        if self.session is not None:
            self.session.client.handle_line(line)

    def oversized(self, size: int) -> None:
        if self.session is not None:
            self.session.client.handle_oversized(size)

    def stderr(self, line: str) -> None:
        self._hooks.stderr(line)

    def exited(self, info: ExitInfo) -> None:
        if self.session is not None:
            self.session.preload.abort(describe_exit(info))
            self.session.exited.set()
            self._hooks.exited(self.session, info)

    def protocol_error(self, error: EngineError) -> None:
        self._hooks.protocol_error(error)

    def notification(self, method: str, params: Any) -> None:
        # runtime/ready belongs to this runtime's start: the session's preload watch takes it.
        if method == "runtime/ready" and self.session is not None and not self.session.preload.heard(params):
            self._hooks.protocol_error(EngineError("PROTOCOL_ERROR", "the runtime wrote a malformed runtime/ready",
                                                   data={"params": params}))
        self._hooks.notification(method, params)


def launch(options: LaunchOptions, hooks: LaunchHooks) -> Session:
    """Spawns the runtime and waits for its runtime/info (and, with wait_for_preload, its
    preload); raises RUNTIME_START_FAILED."""
    handlers = _SessionHandlers(hooks)
    process = RuntimeProcess(options.spec, handlers, max_line_bytes=options.max_line_bytes, log=options.log)
    if options.log is not None:
        options.log(f"started the runtime (pid {process.pid}): {' '.join(process.args)}")
    session = Session(process, RpcClient(process, handlers), PreloadWatch())
    handlers.session = session
    hooks.spawned(session)
    process.start()
    try:
        _handshake(session, options)
    except Exception as exc:
        process.kill(signal.SIGKILL)
        raise _start_failure(session, exc, options.start_timeout) from exc
    session.ready_at = time.monotonic()
    return session


def _handshake(session: Session, options: LaunchOptions) -> None:
    """runtime/info, then runtime/state: "starting" while the runtime preloads models."""
    deadline = time.monotonic() + options.start_timeout
    client = session.client
    info = client.wait(client.request("runtime/info", {}), options.start_timeout)
    session.info = msgspec.convert(info, RuntimeInfo)
    _check_protocol(session.info)
    left = max(0.001, deadline - time.monotonic())
    state = msgspec.convert(client.wait(client.request("runtime/state", {}), left), RuntimeState)
    session.preload.saw_status(state.status)
    if options.wait_for_preload and session.preload.done is None:
        session.preload.wait(max(0.001, deadline - time.monotonic()))


def _check_protocol(info: RuntimeInfo) -> None:
    def major(version: str) -> str:
        return version.split(".")[0]

    if major(info.protocol_version) != major(PROTOCOL_VERSION):
        raise EngineError(
            "RUNTIME_START_FAILED",
            f"The runtime speaks protocol {info.protocol_version}, this client {PROTOCOL_VERSION}: "
            "install matching versions.",
            data={"runtime_protocol": info.protocol_version, "client_protocol": PROTOCOL_VERSION})


def _start_failure(session: Session, error: Exception, start_timeout: float) -> EngineError:
    if isinstance(error, EngineError) and error.code == "RUNTIME_START_FAILED":
        return error
    pid = session.process.pid
    exit_info = session.process.exit_info
    stderr = list(session.process.stderr_tail)[-_STDERR_LINES_IN_ERRORS:]
    if isinstance(error, _PreloadFailure):
        why = str(error)
    elif isinstance(error, EngineError) and error.code == "TIMEOUT":
        why = (f"did not answer {error.data.get('method')} within {start_timeout:g} s (raise the "
               "`start_timeout` option if it is only slow)")
    elif exit_info is not None:  # it died first: the exit report came with its whole stderr
        why = f"{describe_exit(exit_info)} before it was ready"
    else:
        why = f"failed during start-up: {error}"
    return EngineError("RUNTIME_START_FAILED", f"The runtime (pid {pid}) {why}{_stderr_note(stderr)}",
                       data={"pid": pid, "stderr": stderr})


def exit_error(session: Session, info: ExitInfo, restarting: bool) -> EngineError:
    """The error every call and stream in flight gets when the runtime dies."""
    pid = session.process.pid
    then = (" The engine restarts it and loads its models again; calls made from now on wait for it."
            if restarting else "")
    stderr = list(session.process.stderr_tail)[-_STDERR_LINES_IN_ERRORS:]
    return EngineError("RUNTIME_EXITED", f"The runtime (pid {pid}) {describe_exit(info)}.{then}{_stderr_note(stderr)}",
                       data={"pid": pid, "exit_code": info.code, "signal": info.signal, "stderr": stderr})


def describe_exit(info: ExitInfo) -> str:
    if info.signal is not None:
        return f"was killed by {info.signal}{' (out of memory, or kill -9)' if info.signal == 'SIGKILL' else ''}"
    return f"exited with code {info.code}"


def _stderr_note(lines: list[str]) -> str:
    return "" if not lines else "\nLast lines of its stderr:\n  " + "\n  ".join(lines)
