"""Bounded line reader for stdin and a single coalescing writer for stdout."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from .codec import encode_line_into

log = logging.getLogger(__name__)

_DISCARD_CHUNK = 1 << 16


@dataclass(frozen=True)
class OversizedLine:
    """Stands for a line longer than the limit; its bytes were discarded."""

    size: int


def read_lines(stream: BinaryIO, max_bytes: int) -> Iterator[bytes | OversizedLine]:
    """Yield each non-blank line (without its newline) until EOF.

    A line longer than `max_bytes` is skipped without ever being held in
    memory whole, and reported as an OversizedLine.
    """
    while True:
        line = stream.readline(max_bytes + 1)
        if not line:
            return
        if len(line) > max_bytes and not line.endswith(b"\n"):
            size = len(line)
            while line and not line.endswith(b"\n"):
                line = stream.readline(_DISCARD_CHUNK)
                size += len(line)
            yield OversizedLine(size)
            continue
        line = line.rstrip(b"\r\n")
        if line.strip():
            yield line


Merge = Callable[[Any, Any], None]


class MessageWriter:
    """The only writer of the protocol stream.

    `send` queues a message and returns at once; one thread encodes and writes
    everything queued in a single write + flush. A message sent with a
    `merge_key` merges into the queued, not yet written message of the same key
    (several token chunks of one stream become one line when the reader is
    behind). A message sent with `hold` (a stream's later token chunks) waits
    until `hold_s` after the last write, unless a message without it comes
    first: a write and a wake-up of the reader per token cost a fast model
    several per cent of its speed where cores are few, and the tokens made
    meanwhile go out in the same line. Other messages go out as they come.
    """

    def __init__(self, out: BinaryIO, merge: Merge, on_broken: Callable[[], None],
                 hold_s: float = 0.0) -> None:
        self._out = out
        self._merge = merge
        self._on_broken = on_broken
        self._hold_s = hold_s
        self._cond = threading.Condition()
        self._queue: list[Any] = []
        self._open: dict[Hashable, Any] = {}
        self._urgent = 0  # queued messages sent without `hold`
        self._last_write = 0.0  # time.monotonic()
        self._pending_weight = 0
        self._closing = False
        self._broken = False
        self._idle = False  # the writer thread sleeps until notified
        self._thread = threading.Thread(target=self._run, name="writer", daemon=True)
        self._thread.start()

    def send(self, message: Any, merge_key: Hashable | None = None, weight: int = 0,
             hold: bool = False) -> None:
        with self._cond:
            if self._broken:
                return
            self._pending_weight += weight
            self._urgent += not hold
            if merge_key is not None:
                queued = self._open.get(merge_key)
                if queued is not None:
                    self._merge(queued, message)
                    return
                self._open[merge_key] = message
            self._queue.append(message)
            if self._idle:  # else it is awake and takes this message with the rest
                self._cond.notify_all()

    @property
    def pending_weight(self) -> int:
        """Weight (tokens) queued but not yet written: the slow-reader signal."""
        return self._pending_weight

    def wait_for_drain(self, below: int, timeout: float) -> None:
        with self._cond:
            self._cond.wait_for(
                lambda: self._pending_weight < below or self._broken, timeout=timeout
            )

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the thread."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._idle = True  # `send` wakes it, also while it holds messages back
                self._cond.wait_for(lambda: self._queue or self._closing)
                while not (self._urgent or self._closing):
                    left = self._last_write + self._hold_s - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                self._idle = False
                batch, self._queue = self._queue, []
                self._open = {}
                self._urgent = 0
                self._pending_weight = 0
                self._cond.notify_all()
                if not batch and self._closing:
                    return
            buffer = bytearray()
            for message in batch:
                encode_line_into(message, buffer)
            try:
                self._out.write(buffer)
                self._out.flush()
                self._last_write = time.monotonic()
            except (OSError, ValueError) as exc:
                self._break(exc)
                return

    def _break(self, exc: Exception) -> None:
        log.warning("stdout is gone (%s); stopping", exc)
        with self._cond:
            self._broken = True
            self._queue = []
            self._cond.notify_all()
        self._on_broken()
