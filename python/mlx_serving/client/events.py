"""The events an engine emits, and the listeners they go to.

Listeners run on the client's own threads (the reader's, the supervisor's);
one that raises is logged and never takes those threads down.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..api.messages import PreloadedModel
from .errors import EngineError

log = logging.getLogger("mlx_serving.client")

# ready, restart, exit: the runtime's life; stderr: one log line of it; protocol_error:
# it wrote something that is not the protocol; qos, canary: its ops notifications
# (api.messages QosViolation / QosRecovered, CanaryState); notification: every
# notification that is not for a stream, as sent.
EVENT_NAMES = ("ready", "exit", "restart", "stderr", "protocol_error", "qos", "canary", "notification")

Listener = Callable[[Any], None]


@dataclass(frozen=True)
class ReadyEvent:
    pid: int
    version: str
    protocol_version: str
    restarts: int  # 0 for the first start
    preloaded: list[PreloadedModel]  # the models the runtime preloaded from its config, warm now
    preload_ms: float


@dataclass(frozen=True)
class ExitEvent:
    pid: int
    code: int | None
    signal: str | None
    expected: bool  # True when the engine stopped it (close, shutdown); False when it died
    error: EngineError | None  # what calls in flight were failed with (RUNTIME_EXITED), when it died


@dataclass(frozen=True)
class ReloadFailure:
    model: str
    draft: bool  # True: the model's draft could not be attached again
    error: EngineError


@dataclass(frozen=True)
class RestartEvent:
    pid: int
    restarts: int  # restarts so far, this one included
    attempt: int  # which restart in a row this was (1 after a runtime that had stayed up)
    reloaded: list[str] = field(default_factory=list[str])  # models loaded again (text and vision)
    reloaded_drafts: list[str] = field(default_factory=list[str])  # models whose draft was attached again
    failed: list[ReloadFailure] = field(default_factory=list[ReloadFailure])


@dataclass(frozen=True)
class NotificationEvent:
    method: str
    params: Any


class Emitter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: dict[str, list[tuple[Listener, bool]]] = {name: [] for name in EVENT_NAMES}

    def on(self, event: str, listener: Listener, *, once: bool = False) -> None:
        check_event(event)
        if not callable(listener):
            raise EngineError.invalid_options(f"The listener for `{event}` must be callable.")
        with self._lock:
            self._listeners[event].append((listener, once))

    def off(self, event: str, listener: Listener) -> None:
        check_event(event)
        with self._lock:
            self._listeners[event] = [entry for entry in self._listeners[event] if entry[0] != listener]

    def emit(self, event: str, payload: Any) -> bool:
        """False when nobody listens."""
        with self._lock:
            entries = list(self._listeners[event])
            self._listeners[event] = [entry for entry in entries if not entry[1]]
        for listener, _once in entries:
            try:
                listener(payload)
            except Exception:
                log.exception("an mlx-serving `%s` listener raised", event)
        return bool(entries)


def check_event(event: str) -> None:
    if event not in EVENT_NAMES:
        names = ", ".join(f"`{name}`" for name in EVENT_NAMES)
        raise EngineError.invalid_options(f"Unknown event `{event}`; expected one of {names}.")
