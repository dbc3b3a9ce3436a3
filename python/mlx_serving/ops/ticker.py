"""The ops clock: a daemon thread that evaluates SLOs and advances canaries."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Ticker:
    """A daemon thread calling `tick(now)` every `interval()` seconds until stopped."""

    def __init__(self, tick: Callable[[float], None], interval: Callable[[], float]) -> None:
        self._tick = tick
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ops-ticker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self._interval()):
            try:
                self._tick(time.monotonic())
            except Exception:
                log.exception("ops tick failed")
