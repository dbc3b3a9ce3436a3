"""Progress of long engine work (a model load), reported while it runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal, Protocol

from ..api.messages import LoadPhase

UNITS: dict[LoadPhase, Literal["bytes", "tensors", "steps"]] = {
    "reading": "bytes", "converting": "tensors", "warming_up": "steps"}


class LoadProgress(Protocol):
    def __call__(self, phase: LoadPhase, done: int, total: int) -> None: ...


def no_progress(phase: LoadPhase, done: int, total: int) -> None:
    """For loads nobody watches."""


class ThrottledProgress:
    """Passes on the first and last report of each phase and, between them,
    at most one report per `interval_s`: a 300-tensor model is not 300
    notifications."""

    def __init__(self, report: Callable[[LoadPhase, int, int], None],
                 interval_s: float = 0.1) -> None:
        self._report = report
        self._interval_s = interval_s
        self._phase: LoadPhase | None = None
        self._last = 0.0

    def __call__(self, phase: LoadPhase, done: int, total: int) -> None:
        now = time.monotonic()
        if phase == self._phase and done < total and now - self._last < self._interval_s:
            return
        self._phase, self._last = phase, now
        self._report(phase, done, total)
