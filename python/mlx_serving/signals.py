"""Process signals, acted on by a thread of their own.

CPython runs a Python signal handler on the main thread, between two
bytecodes. The main thread is the engine, which waits for commands in a
lock; a signal the kernel delivers to another thread (reader, writer,
workers) sets a flag nobody looks at until the next command: SIGTERM at
idle was lost about one time in 30. So the Python handlers do nothing,
`signal.set_wakeup_fd` has the C handler write each signal's number to a
pipe from whichever thread took it, and a watcher thread reads that pipe
and acts: always, at once, whatever the main thread is doing.

A stop signal also arms a deadline: if the engine has not let the process
exit `grace_s` later (a load or a step stuck in C code), `on_overdue` ends
it anyway, so a stop always wins.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class SignalWatcher:
    def __init__(self, actions: dict[signal.Signals, Callable[[signal.Signals], None]],
                 stops: frozenset[signal.Signals], grace_s: float,
                 on_overdue: Callable[[], None]) -> None:
        self._actions = actions
        self._stops = stops
        self._grace_s = grace_s
        self._on_overdue = on_overdue
        self._deadline: threading.Timer | None = None

    def install(self) -> None:
        """Call on the main thread (set_wakeup_fd and signal() must be)."""
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)  # a full pipe drops a byte, never blocks a handler
        for signum in self._actions:
            signal.signal(signum, _seen_by_the_watcher)
        signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        threading.Thread(target=self._watch, args=(read_end,), name="signals",
                         daemon=True).start()

    def _watch(self, read_end: int) -> None:
        while True:
            try:
                received = os.read(read_end, 64)
            except InterruptedError:
                continue
            for number in received:
                self._act(signal.Signals(number))

    def _act(self, signum: signal.Signals) -> None:
        action = self._actions.get(signum)
        if action is None:
            return
        if signum in self._stops and self._deadline is None:
            self._deadline = threading.Timer(self._grace_s, self._overdue)
            self._deadline.daemon = True
            self._deadline.start()
        try:
            action(signum)
        except Exception:  # the watcher must live on for the next signal
            log.exception("handling %s failed", signum.name)

    def _overdue(self) -> None:
        log.error("still running %g s after the stop signal (stuck in a load or a step); "
                  "exiting anyway", self._grace_s)
        self._on_overdue()


def _seen_by_the_watcher(_signum: int, _frame: object) -> None:
    """The Python-level handler: the watcher thread has the work."""
