"""A generation seen from the event loop: the StreamSink that hands the
engine thread's events to the request's loop, and the flow control that
pauses the stream while its HTTP reader is behind."""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from ..api.errors import ServingError
from ..api.messages import GenerationStats, GuidanceOutcome, TokenOut
from ..engine.stream import Finish, Served
from ..service.generation import AnsweringSink, GenerateAnswer
from .backend import Backend

log = logging.getLogger(__name__)


@dataclass
class Ended:
    finish_reason: Finish
    stats: GenerationStats


@dataclass
class Failed:
    error: ServingError
    stats: GenerationStats


Event = list[TokenOut] | Ended | Failed


class LoopSink(AnsweringSink):
    """StreamSink whose events land in the Flow on the request's loop. The
    engine thread never waits on the reader, and wakes the loop at most once
    per batch of events: tokens made while a wake-up is pending join it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, future: Future[GenerateAnswer],
                 served: Served, flow: Flow) -> None:
        super().__init__(future, served)
        self._loop = loop
        self._flow = flow
        self._lock = threading.Lock()
        self._pending: list[Event] = []

    def tokens(self, stream_id: str, tokens: list[TokenOut]) -> None:
        self._hand_over(tokens)

    def end(self, stream_id: str, finish_reason: Finish, stats: GenerationStats,
            guidance: GuidanceOutcome | None = None) -> None:
        self._hand_over(Ended(finish_reason, stats))

    def error(self, stream_id: str, error: ServingError, stats: GenerationStats) -> None:
        self._hand_over(Failed(self.served.attribute(error), stats))

    def _hand_over(self, event: Event) -> None:
        with self._lock:
            wake = not self._pending
            if isinstance(event, list) and self._pending and isinstance(self._pending[-1], list):
                self._pending[-1].extend(event)
            else:
                self._pending.append(list(event) if isinstance(event, list) else event)
        if wake:
            self._loop.call_soon_threadsafe(self._deliver)

    def _deliver(self) -> None:
        with self._lock:
            events, self._pending = self._pending, []
        for event in events:
            self._flow.put(event)


class Flow:
    """The events of one stream, on the loop thread. While more than
    `high_water` tokens wait for the reader the stream is paused
    (generate/pause), and resumed once the reader drained them: memory stays
    bounded however slowly a client reads."""

    def __init__(self, backend: Backend, stream_id: str, high_water: int) -> None:
        self._backend = backend
        self.stream_id = stream_id
        self._high = high_water
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._waiting_tokens = 0
        self.paused = False
        self.done = False  # the terminal event was taken

    def put(self, event: Event) -> None:
        self._queue.put_nowait(event)
        if isinstance(event, list):
            self._waiting_tokens += len(event)
            if not self.paused and self._waiting_tokens > self._high:
                self.paused = True
                _quietly(self._backend.pause(self.stream_id), "pause")

    async def take(self) -> list[Event]:
        """Everything queued (at least one event): a slow reader gets the tokens
        made meanwhile together."""
        events = [await self._queue.get()]
        while not self._queue.empty():
            events.append(self._queue.get_nowait())
        self._waiting_tokens -= sum(len(e) for e in events if isinstance(e, list))
        self.done = not isinstance(events[-1], list)
        if self.paused and not self.done and self._waiting_tokens <= self._high // 2:
            self.paused = False
            _quietly(self._backend.resume(self.stream_id), "resume")
        return events

    def cancel(self) -> None:
        """The reader is gone: free the batch slot at once."""
        if not self.done:
            self.done = True
            _quietly(self._backend.cancel(self.stream_id), "cancel")


def _quietly(future: Future[Any], what: str) -> None:
    # A stream that ended meanwhile answers STREAM_NOT_FOUND: nothing to do then.
    def settled(done: Future[Any]) -> None:
        error = done.exception()
        if error is not None and not isinstance(error, ServingError):
            log.warning("%s of an HTTP stream failed: %r", what, error)

    future.add_done_callback(settled)
