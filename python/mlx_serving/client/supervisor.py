"""Keeps one runtime alive: starts it, hands out its session to callers,
restarts it with exponential backoff when it dies (failing whatever was in
flight with RUNTIME_EXITED first), reloads its models, and stops it."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from ..api.messages import CanaryState, QosRecovered, QosViolation
from .errors import EngineError
from .events import Emitter, ExitEvent, NotificationEvent, ReadyEvent, RestartEvent
from .launch import LaunchOptions, Preload, Session, exit_error, launch
from .process import ExitInfo
from .replay import ReplayLog

Status = Literal["starting", "ready", "restarting", "stopping", "stopped", "failed"]

# The ops notifications that are also typed events.
_NOTICES: dict[str, tuple[str, type[msgspec.Struct]]] = {
    "qos/violation": ("qos", QosViolation),
    "qos/recovered": ("qos", QosRecovered),
    "canary/update": ("canary", CanaryState),
}


@dataclass(frozen=True)
class RestartPolicy:
    """How often, and how soon, a runtime that died is started again."""

    max_restarts: int = 5  # restarts allowed in a row; 0 disables restarts
    initial_delay: float = 0.2  # seconds before the first restart
    factor: float = 2.0  # each further restart in a row waits this much longer...
    max_delay: float = 10.0  # ...up to this bound
    reset_after: float = 60.0  # a runtime that ran this long counts as healthy: the next restart is the first

    def delay(self, attempt: int) -> float:
        """Exponential backoff: the delay before restart number `attempt` (1-based) in a row."""
        return min(self.initial_delay * self.factor ** max(0, attempt - 1), self.max_delay)


def disposed_error() -> EngineError:
    return EngineError("ENGINE_DISPOSED", "The engine was closed; create a new one with create_engine().")


class Supervisor:
    def __init__(self, options: LaunchOptions, restart: RestartPolicy, force_kill_after: float,
                 events: Emitter) -> None:
        self.events = events
        self.models = ReplayLog()  # models (text, vision) and drafts to load again after a restart
        self._options = options
        self._restart = restart
        self._force_kill_after = force_kill_after
        self._cond = threading.Condition()
        self._status: Status = "starting"
        self._session: Session | None = None
        self._ready: Session | None = None
        self._failure: EngineError | None = None
        self._attempt = 0
        self._restarts = 0
        self._timer: threading.Timer | None = None
        self._backpressure = False
        self._stopping = threading.Lock()
        self._stopped = threading.Event()

    @property
    def status(self) -> Status:
        return self._status

    @property
    def restarts(self) -> int:
        return self._restarts

    @property
    def ready_session(self) -> Session | None:
        """The session of a ready runtime now (calls use it at once, so they reach the wire in call order)."""
        return self._ready

    def start(self) -> None:
        """The first start; raises RUNTIME_START_FAILED (no restarts for a runtime that never came up),
        and so do connect() calls waiting for it (a stream opened before it, on AsyncEngine)."""
        try:
            session = launch(self._options, self)
        except EngineError as error:
            with self._cond:
                if self._status == "starting":
                    self._status, self._failure = "failed", error
                self._cond.notify_all()
            raise
        self._become_ready(session)

    def connect(self, timeout: float | None) -> Session:
        """The session to send a call on: at once, after a restart in progress, or an error when the
        engine gave up or was closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if self._ready is not None:
                    return self._ready
                if self._status == "failed" and self._failure is not None:
                    raise self._failure
                if self._status in ("stopping", "stopped"):
                    raise disposed_error()
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise EngineError("TIMEOUT", f"No runtime came up within {timeout} s (it is restarting).",
                                      data={"timeout": timeout})
                self._cond.wait(left)

    def set_backpressure(self, wants_pause: bool) -> None:
        self._backpressure = wants_pause
        session = self._session
        if session is not None:
            session.client.set_backpressure(wants_pause)

    def stop(self, drain: bool, grace: float) -> None:
        """Stops for good (close, shutdown); idempotent, and a second caller waits for the first."""
        if not self._stopping.acquire(blocking=False):
            self._stopped.wait()
            return
        with self._cond:
            self._status = "stopping"
            self._ready = None
            if self._timer is not None:
                self._timer.cancel()
            session = self._session
            self._cond.notify_all()
        if session is not None:
            _stop_session(session, drain, grace, self._force_kill_after)
            session.client.close(disposed_error())
        with self._cond:
            self._session = None
            self._status = "stopped"
        self._stopped.set()

    # --- launch hooks (called from the process's threads) --------------------

    def spawned(self, session: Session) -> None:
        self._session = session
        session.client.set_backpressure(self._backpressure)

    def stderr(self, line: str) -> None:
        self.events.emit("stderr", line)

    def protocol_error(self, error: EngineError) -> None:
        # Never silent: without a listener, a protocol error becomes a warning.
        if not self.events.emit("protocol_error", error):
            warnings.warn(f"mlx-serving: {error.message}", RuntimeWarning, stacklevel=2)

    def notification(self, method: str, params: Any) -> None:
        self.events.emit("notification", NotificationEvent(method, params))
        notice = _NOTICES.get(method)
        if notice is None:
            return
        event, struct = notice
        try:
            payload = msgspec.convert(params, struct)
        except msgspec.ValidationError as exc:
            self.protocol_error(EngineError("PROTOCOL_ERROR", f"the runtime wrote a malformed {method}: {exc}",
                                            data={"method": method, "params": params}))
            return
        self.events.emit(event, payload)

    def exited(self, session: Session, info: ExitInfo) -> None:
        with self._cond:
            if self._session is session:
                self._session = None
            expected = self._status in ("stopping", "stopped")
            was_ready = self._status == "ready" and self._ready is session
            ran = 0.0 if session.ready_at is None else time.monotonic() - session.ready_at
            restart_in = self._plan_restart(ran) if was_ready else None
            if was_ready:
                self._ready = None
        error = None if expected else exit_error(session, info, restart_in is not None)
        session.client.close(error or disposed_error())
        if self._options.log is not None:
            self._options.log(f"the runtime (pid {session.process.pid}) exited: code {info.code}, "
                              f"signal {info.signal}")
        self.events.emit("exit", ExitEvent(session.process.pid, info.code, info.signal, expected, error))
        # Start-up and restart launches see their own failures; stop() sees its exits.
        if not was_ready or error is None:
            return
        if restart_in is None:
            self._give_up(error)
        else:
            self._schedule_restart(restart_in)

    # --- restarts ----------------------------------------------------------

    def _plan_restart(self, ran: float) -> float | None:
        """Counts one more restart in a row; the backoff delay, or None past the limit."""
        if ran >= self._restart.reset_after:
            self._attempt = 0
        self._attempt += 1
        return self._restart.delay(self._attempt) if self._attempt <= self._restart.max_restarts else None

    def _schedule_restart(self, delay: float) -> None:
        with self._cond:
            if self._status in ("stopping", "stopped"):
                return
            self._status = "restarting"
            if self._options.log is not None:
                self._options.log(f"restarting the runtime in {delay:g} s (restart {self._attempt} in a row)")
            self._timer = threading.Timer(delay, self._restart_now)
            self._timer.daemon = True
            self._timer.start()

    def _restart_now(self) -> None:
        try:
            session = launch(self._options, self)
            outcome = self.models.replay_into(session.client, self._options.start_timeout)
        except EngineError as error:
            if self._status != "restarting":
                return
            current = self._session
            if current is not None:
                current.process.kill(signal.SIGKILL)
            delay = self._plan_restart(0.0)
            if delay is None:
                self._give_up(error)
            else:
                self._schedule_restart(delay)
            return
        if self._status != "restarting":  # closed meanwhile
            session.process.kill(signal.SIGKILL)
            return
        self._restarts += 1
        self._become_ready(session)
        self.events.emit("restart", RestartEvent(session.process.pid, self._restarts, self._attempt,
                                                 outcome.reloaded, outcome.reloaded_drafts, outcome.failed))

    def _give_up(self, cause: EngineError) -> None:
        max_restarts = self._restart.max_restarts
        why = ("The runtime died and restarts are off (the `restart` option)." if max_restarts == 0 else
               f"The runtime died {max_restarts + 1} times in a row; the engine gave up restarting it.")
        with self._cond:
            self._failure = EngineError(
                "RUNTIME_EXITED",
                f"{why} Fix the cause (see below and the 'stderr' events), then create a new engine.\n{cause.message}",
                data=cause.data)
            self._status = "failed"
            self._cond.notify_all()

    def _become_ready(self, session: Session) -> None:
        """Hands the session out; `ready` is emitted once its preload is done too."""
        with self._cond:
            self._status = "ready"
            self._ready = session
            self._cond.notify_all()
        session.preload.then(lambda preload: self._announce(session, preload))

    def _announce(self, session: Session, preload: Preload) -> None:
        if self._ready is not session:
            return
        info = session.info
        self.events.emit("ready", ReadyEvent(
            session.process.pid, info.version if info else "", info.protocol_version if info else "",
            self._restarts, preload.models, preload.ms))


def _stop_session(session: Session, drain: bool, grace: float, force_kill_after: float) -> None:
    """Graceful stop: ask (runtime/shutdown, then EOF on stdin), wait, then SIGTERM, wait, then SIGKILL."""
    process, client = session.process, session.client
    if process.alive:
        # The answer comes at once (the runtime drains in the background); a
        # dead or stuck runtime is caught by the waits below.
        with contextlib.suppress(EngineError):
            client.wait(client.request("runtime/shutdown", {"drain": drain}), max(force_kill_after, 0.001))
        process.close_input()
    if process.wait_exit(grace):
        return
    process.kill(signal.SIGTERM)
    if process.wait_exit(force_kill_after):
        return
    process.kill(signal.SIGKILL)
    process.wait_exit(None)
