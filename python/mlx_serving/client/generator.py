"""A streaming generation, to read with `for` or `async for`.

The stream starts at once; chunks queue until the consumer takes them
(within the flow-control bound, flow.py); a consumer left waiting longer than
the time limit for a stream that had begun sending gets a TIMEOUT; leaving
the loop early (break, return, an exception) cancels the stream on the
runtime and waits for it to confirm. Prefill progress reaches its callback
on the consumer's side (the reading thread, or the event loop of `async for`)
as the consumer waits, so it always comes before the first token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from ..api.messages import (
    FinishReason,
    GenerateAccepted,
    GenerationStats,
    GuidanceOutcome,
    StreamEnd,
    StreamProgress,
)
from .chunks import (
    Chunk,
    ChunkParams,
    ErrorChunk,
    MetadataChunk,
    StreamFailure,
    error_chunk,
    metadata_chunk,
)
from .errors import EngineError
from .flow import FlowControl
from .launch import Session

if TYPE_CHECKING:
    from typing_extensions import Self


class GeneratorHost(Protocol):
    """What a generator needs of its engine."""

    flow: FlowControl

    # A ready runtime's session now, else None (the generator then waits for one on a thread).
    def session_now(self) -> Session | None: ...
    def connect(self, timeout: float | None) -> Session: ...
    # The generator will yield nothing more.
    def finished(self, generator: TokenGenerator) -> None: ...


class TokenGenerator:
    """One stream: `for chunk in generator` or `async for chunk in generator` (see the module)."""

    def __init__(self, host: GeneratorHost, params: dict[str, Any], timeout: float | None,
                 on_prefill_progress: Callable[[StreamProgress], None] | None = None) -> None:
        self.stream_id: str = params["stream_id"]
        self._host = host
        self._params = params
        self._timeout = timeout
        self._on_prefill_progress = on_prefill_progress
        self._progress: list[StreamProgress] = []  # reports the consumer has not been told yet
        self._cond = threading.Condition()
        self._buffer: deque[Chunk] = deque()
        self._async_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._session: Session | None = None
        self._finished = False
        self._left = False  # the consumer left the loop (or closed the generator)
        self._cancelling: Future[Any] | None = None
        self._end: MetadataChunk | None = None
        self._accepted: GenerateAccepted | None = None
        self._sending = False  # the stream produced its first token
        self._waiters = 0  # consumers waiting for a chunk now (see _begin_wait)
        self._wake_epoch = 0

    def start(self) -> None:
        """Sends the stream to a ready runtime now, or once one is (waiting on a thread of its own)."""
        session = self._host.session_now()
        if session is not None:
            self._start(session)
        else:
            threading.Thread(target=self._start_later, name=f"mlx-serving-start-{self.stream_id}",
                             daemon=True).start()

    # --- what the consumer sees --------------------------------------------

    @property
    def model(self) -> str | None:
        """The model id that serves the stream (the canary's when a canary does), once accepted."""
        return self._accepted.model if self._accepted else None

    @property
    def variant(self) -> str | None:
        return self._accepted.variant if self._accepted else None

    @property
    def finish_reason(self) -> FinishReason | None:
        return self._end.finish_reason if self._end else None

    @property
    def stats(self) -> GenerationStats | None:
        return self._end.stats if self._end else None

    @property
    def guidance(self) -> GuidanceOutcome | None:
        return self._end.guidance if self._end else None

    @property
    def buffered_tokens(self) -> int:
        """Tokens received and not yet taken by the consumer (what flow control bounds)."""
        return len(self._buffer)

    def __iter__(self) -> Iterator[Chunk]:
        try:
            while (chunk := self._next()) is not None:
                yield chunk
        finally:
            self.close()

    async def _aiter(self) -> AsyncIterator[Chunk]:
        try:
            while (chunk := await self._next_async()) is not None:
                yield chunk
        finally:
            await self._close_async()

    def __aiter__(self) -> AsyncIterator[Chunk]:
        return self._aiter()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, value: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self._close_async()

    async def _close_async(self) -> None:
        # Cancelling waits for the runtime: off the event loop. A finished stream has nothing to wait for.
        if self._finished:
            self.close()
        else:
            await asyncio.to_thread(self.close)

    def cancel(self) -> None:
        """Asks the runtime to end the stream and waits for it to confirm; the consumer still gets
        the last chunks and a metadata chunk with finish_reason "cancelled"."""
        future = self._cancel_on_runtime()
        if future is not None:
            # The stream may have just ended, or the runtime be gone: then nothing is left to cancel.
            with contextlib.suppress(EngineError, FutureTimeout):
                future.result(self._timeout)

    def close(self) -> None:
        """Leaves the stream: drops what is buffered and cancels it on the runtime (if it still runs)."""
        with self._cond:
            if self._left:
                return
            self._left = True
            self._buffer.clear()
            self._notify()
        self._host.flow.release(self)
        self.cancel()

    # --- taking chunks -----------------------------------------------------

    def _next(self) -> Chunk | None:
        with self._cond:
            while True:
                chunk = self._take()
                if chunk is not None or self._finished or self._left:
                    return chunk
                waits_idle = self._timeout is not None and self._sending
                started = time.monotonic()
                epoch = self._begin_wait()
                try:
                    self._cond.wait(self._timeout if waits_idle else None)
                finally:
                    self._end_wait(epoch)
                if waits_idle and not self._buffer and not self._finished and \
                        time.monotonic() - started >= (self._timeout or 0):
                    self._stalled()

    async def _next_async(self) -> Chunk | None:
        loop = asyncio.get_running_loop()
        while True:
            with self._cond:
                chunk = self._take()
                if chunk is not None or self._finished or self._left:
                    return chunk
                waits_idle = self._timeout is not None and self._sending
                woken: asyncio.Future[None] = loop.create_future()
                self._async_waiters.append((loop, woken))
                epoch = self._begin_wait()
            try:
                await asyncio.wait_for(woken, self._timeout if waits_idle else None)
            except asyncio.TimeoutError:
                with self._cond:
                    if not self._buffer and not self._finished:
                        self._stalled()
            finally:
                with self._cond:
                    self._end_wait(epoch)

    # A consumer waiting for a chunk keeps the reader going (flow.py). It stops
    # counting as waiting when it is woken, not when its thread next runs: the
    # reader must not read on meanwhile. Holds the lock.
    def _begin_wait(self) -> int:
        self._waiters += 1
        self._host.flow.waiting(True)
        return self._wake_epoch

    def _end_wait(self, epoch: int) -> None:
        if epoch == self._wake_epoch:  # not woken (a time limit ran out): it stops waiting itself
            self._waiters -= 1
            self._host.flow.waiting(False)

    def _take(self) -> Chunk | None:
        """The next chunk, if one came; tells the prefill progress reported before it first. Holds the lock."""
        self._tell_progress()
        if not self._buffer:
            return None
        chunk = self._buffer.popleft()
        if not self._finished:
            self._host.flow.report(self, len(self._buffer))
        return chunk

    def _tell_progress(self) -> None:
        reports, self._progress = self._progress, []
        callback = self._on_prefill_progress
        if callback is None:
            return
        for report in reports:
            try:
                callback(report)
            except Exception:
                logging.getLogger("mlx_serving.client").exception("an on_prefill_progress callback raised")

    def _stalled(self) -> None:
        """The consumer waited a whole time limit for a stream that had begun sending: a stuck
        runtime. The stream ends with TIMEOUT and is cancelled on the runtime."""
        self._cancel_on_runtime()
        self._finish(error_chunk(EngineError(
            "TIMEOUT",
            f"Stream {self.stream_id} sent nothing for {self._timeout} s while its consumer waited; the "
            "runtime may be busy or stuck. It was cancelled. Raise the `request_timeout` option, or pass "
            "`timeout=` to create_generator().",
            data={"method": "generate", "stream_id": self.stream_id, "timeout": self._timeout})))

    # --- the stream on the runtime -----------------------------------------

    def _start_later(self) -> None:
        try:
            session = self._host.connect(self._timeout)
        except EngineError as error:
            with self._cond:
                self._finish(error_chunk(error))
            return
        self._start(session)

    def _start(self, session: Session) -> None:
        with self._cond:
            if self._finished or self._left:
                self._finish(None)
                return
            self._session = session
        session.client.open_stream(self.stream_id, self)
        call = session.client.request("generate", self._params)
        if self._timeout is not None:
            # The time limit bounds the wait for the runtime to accept the stream.
            timer = threading.Timer(self._timeout, lambda: session.client.expire(call, self._timeout))
            timer.daemon = True
            timer.start()
            call.future.add_done_callback(lambda _done: timer.cancel())
        call.future.add_done_callback(self._accepted_or_refused)

    def _accepted_or_refused(self, answer: Future[Any]) -> None:
        error = answer.exception()
        if error is None:
            try:
                self._accepted = msgspec.convert(answer.result(), GenerateAccepted)
            except msgspec.ValidationError as exc:
                error = EngineError("PROTOCOL_ERROR", f"the runtime accepted a stream with a malformed answer: {exc}")
        if error is not None:
            with self._cond:
                self._finish(error_chunk(error if isinstance(error, EngineError) else
                                         EngineError("INTERNAL_ERROR", str(error))))
            # Timed out waiting to be accepted: nobody reads it, so it must not run on.
            if isinstance(error, EngineError) and error.code == "TIMEOUT":
                self._cancel_on_runtime(force=True)

    def _cancel_on_runtime(self, *, force: bool = False) -> Future[Any] | None:
        session = self._session
        if session is None or (self._finished and not force):
            return None
        if self._cancelling is None:
            self._cancelling = session.client.request("generate/cancel", {"stream_id": self.stream_id}).future
        return self._cancelling

    # StreamListener: the reader thread hands the stream's notifications here.
    def chunk(self, params: ChunkParams) -> None:
        with self._cond:
            if self._left or self._finished:
                return
            self._sending = self._sending or bool(params.tokens)
            self._buffer.extend(params.tokens)
            self._host.flow.report(self, len(self._buffer))
            self._notify()

    def progress(self, params: StreamProgress) -> None:
        # Told by the consumer (see _take): from here, a report handed to the
        # loop could run after a token the consumer takes first.
        with self._cond:
            if self._on_prefill_progress is not None and not (self._left or self._finished):
                self._progress.append(params)
                self._notify()

    def end(self, params: StreamEnd) -> None:
        with self._cond:
            self._end = metadata_chunk(params)
            self._finish(self._end)

    def error(self, error: EngineError, failed: StreamFailure | None) -> None:
        with self._cond:
            self._finish(error_chunk(error, failed))

    # FlowMember: pause the stream on the runtime while its consumer is behind,
    # resume it once caught up. No time limit: the answer may wait in the paused
    # pipe (nobody waits for it); a runtime that dies fails it.
    def behind(self, behind: bool, answered: Callable[[bool], None]) -> None:
        session = self._session
        if session is None or self._finished or self._left:
            answered(False)
            return
        call = session.client.request("generate/pause" if behind else "generate/resume",
                                      {"stream_id": self.stream_id}, awaited=False)

        def done(answer: Future[Any]) -> None:
            result = None if answer.exception() is not None else answer.result()
            answered(bool(result.get("paused")) if isinstance(result, dict) else False)

        call.future.add_done_callback(done)

    def _finish(self, last: Chunk | None) -> None:
        """The last chunk (metadata or error) is queued; nothing comes after it. Holds the lock."""
        if self._finished:
            return
        if last is not None and not self._left:
            self._buffer.append(last)
        self._finished = True
        if self._session is not None:
            self._session.client.close_stream(self.stream_id)
        self._host.flow.release(self)
        self._host.finished(self)
        self._notify()

    def _notify(self) -> None:
        if self._waiters:
            self._wake_epoch += 1
            for _ in range(self._waiters):
                self._host.flow.waiting(False)
            self._waiters = 0
        self._cond.notify_all()
        waiters, self._async_waiters = self._async_waiters, []
        for loop, woken in waiters:
            # A closed event loop raises RuntimeError: nobody waits there any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_wake, woken)


def _wake(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)


__all__ = ["Chunk", "ErrorChunk", "MetadataChunk", "TokenGenerator"]
