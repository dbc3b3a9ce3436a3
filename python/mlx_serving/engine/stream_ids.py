"""Stream ids: reserved before a stream is accepted, remembered after it ends."""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict

from ..api.errors import ErrorCode, ServingError


class StreamIds:
    """Thread-safe: the reader reserves ids, the engine releases them.

    Recently finished ids are remembered, so that a cancel racing with the
    natural end of its stream is answered `cancelled: false`, not an error.
    """

    def __init__(self, remember: int = 4096) -> None:
        self._lock = threading.Lock()
        self._active: set[str] = set()
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._remember = remember
        self._counter = itertools.count(1)

    def reserve(self, stream_id: str | None) -> str:
        with self._lock:
            if stream_id is None:
                stream_id = next(f"auto-{n}" for n in self._counter
                                 if f"auto-{n}" not in self._active)
            elif stream_id in self._active:
                raise ServingError(ErrorCode.STREAM_EXISTS,
                                   f"stream {stream_id!r} is already active; pick another stream_id",
                                   stream_id=stream_id)
            self._active.add(stream_id)
            self._finished.pop(stream_id, None)
            return stream_id

    def release(self, stream_id: str) -> None:
        with self._lock:
            self._active.discard(stream_id)
            self._finished[stream_id] = None
            while len(self._finished) > self._remember:
                self._finished.popitem(last=False)

    def finished_recently(self, stream_id: str) -> bool:
        with self._lock:
            return stream_id in self._finished

    def __len__(self) -> int:
        return len(self._active)
