"""An engine method's work apart from how it is waited for: the Op that each
EngineCore method returns, which Engine runs on the calling thread and
AsyncEngine awaits on its event loop."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .events import Listener

R = TypeVar("R")


@dataclass(frozen=True)
class Call(Generic[R]):
    """One request to a ready runtime, and what the method makes of its raw result."""

    method: str
    wire: dict[str, Any]  # the params, folded onto the wire's names already
    timeout: float | None  # the call's own `timeout=` (None: the engine's request_timeout)
    finish: Callable[[Any], R]  # typing and bookkeeping, once answered
    # A generation's stream_id: given up on (a time limit, Ctrl-C, a cancelled await), it is
    # cancelled on the runtime.
    generation: str | None = None
    listener: Listener | None = field(default=None)  # a `notification` listener for as long as the call runs


@dataclass(frozen=True)
class Blocking(Generic[R]):
    """Work that waits on the client's own threads (stopping the runtime): AsyncEngine runs it on a
    worker thread."""

    work: Callable[[], R]


Op = Call[R] | Blocking[R]  # what an EngineCore method returns

F = TypeVar("F", bound=Callable[..., Any])


def same_parameters(method: Callable[..., Any]) -> Callable[[F], F]:
    """functools.wraps for a method an engine derives from EngineCore's: its name, doc and
    parameters as help() and inspect show them, without the core's return type (an Op)."""
    def wrap(derived: F) -> F:
        functools.update_wrapper(derived, method)
        signature = inspect.signature(method).replace(return_annotation=inspect.Signature.empty)
        derived.__signature__ = signature  # type: ignore[attr-defined]
        del derived.__wrapped__  # type: ignore[attr-defined]
        return derived

    return wrap
