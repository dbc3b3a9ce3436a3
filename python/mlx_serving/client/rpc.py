"""JSON-RPC over one runtime process: request ids, pending calls, routing of
responses and stream notifications, and protocol errors for anything else
the runtime writes.

Calls are futures: the reader thread settles them, the caller waits on them
(a thread with a time limit, or an event loop through asyncio.wrap_future).
A call whose waiter gave up is expired: its late answer is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from concurrent.futures import Future, InvalidStateError
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import msgspec

from ..api.messages import StreamEnd, StreamProgress
from .chunks import ChunkParams, StreamFailure
from .errors import EngineError
from .incoming import Error, Invalid, Notification, Result, is_error_object, parse_line

_encoder = msgspec.json.Encoder()


class _ChunkLine(msgspec.Struct, gc=False):
    """The line the runtime writes most: decoded in one typed pass (other lines fail it and
    take the general path)."""

    jsonrpc: Literal["2.0"]
    method: Literal["stream/chunk"]
    params: ChunkParams


_decode_chunk_line = msgspec.json.Decoder(_ChunkLine).decode
STREAM_METHODS = ("stream/chunk", "stream/progress", "stream/end", "stream/error")


class Wire(Protocol):
    """What the client needs of the process: a way to write, and to stop reading."""

    def send(self, data: bytes) -> bool: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...


class ClientHandlers(Protocol):
    def protocol_error(self, error: EngineError) -> None: ...
    # A notification that is not for a stream.
    def notification(self, method: str, params: Any) -> None: ...


class StreamListener(Protocol):
    def chunk(self, params: ChunkParams) -> None: ...
    # Prefill progress, for a stream that asked for it (on_prefill_progress).
    def progress(self, params: StreamProgress) -> None: ...
    def end(self, params: StreamEnd) -> None: ...
    # A stream/error (`failed`: its params), or the client's own failure (the runtime died, ...).
    def error(self, error: EngineError, failed: StreamFailure | None) -> None: ...


@dataclass
class Call:
    id: int
    method: str
    future: Future[Any] = field(default_factory=lambda: Future[Any]())
    # Someone waits for the answer, so reading must go on until it comes (see set_backpressure).
    awaited: bool = True


class RpcClient:
    def __init__(self, wire: Wire, handlers: ClientHandlers) -> None:
        self._wire = wire
        self._handlers = handlers
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pending: dict[int, Call] = {}
        self._expired: set[int] = set()
        self._streams: dict[str, StreamListener] = {}
        self._closed: EngineError | None = None
        self._wants_pause = False
        self._paused = False
        self._pauses = 0
        self._awaited = 0

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    @property
    def flow(self) -> tuple[bool, int]:
        """Whether reading is paused now, and how often it was."""
        return self._paused, self._pauses

    def request(self, method: str, params: dict[str, Any], *, awaited: bool = True) -> Call:
        """Sends a request; its future settles with the raw result, an EngineError, or the closing error."""
        with self._lock:
            call = Call(next(self._ids), method, awaited=awaited)
            if self._closed is not None:
                call.future.set_exception(self._closed)
                return call
            self._pending[call.id] = call
            if awaited:
                self._awaited += 1
            self._apply_flow()
        self._wire.send(_encoder.encode({"jsonrpc": "2.0", "id": call.id, "method": method, "params": params})
                        + b"\n")
        return call

    def wait(self, call: Call, timeout: float | None) -> Any:
        """The call's result, within `timeout` seconds (None: no limit)."""
        try:
            return call.future.result(timeout)
        except FutureTimeout:
            self.expire(call, timeout)
            return call.future.result()  # TIMEOUT, or the answer that came meanwhile

    async def wait_async(self, call: Call, timeout: float | None) -> Any:
        answer = asyncio.wrap_future(call.future)
        try:
            # Shielded: giving up on the wait must not cancel the call's future.
            return await asyncio.wait_for(asyncio.shield(answer), timeout)
        except asyncio.TimeoutError:
            self.expire(call, timeout)
            return await answer

    def open_stream(self, stream_id: str, listener: StreamListener) -> None:
        with self._lock:
            self._streams[stream_id] = listener

    def close_stream(self, stream_id: str) -> None:
        with self._lock:
            self._streams.pop(stream_id, None)

    def handle_line(self, line: bytes) -> None:
        try:
            chunk = _decode_chunk_line(line).params
        except (msgspec.DecodeError, msgspec.ValidationError):
            pass
        else:
            listener = self._streams.get(chunk.stream_id)  # one dict read: atomic, no lock
            if listener is not None:
                listener.chunk(chunk)
            return
        for message in parse_line(line):
            self._route(message, line)

    def handle_oversized(self, size: int) -> None:
        self._protocol_error(f"the runtime wrote a line of {size} bytes, over the client's limit; it was dropped")

    def close(self, error: EngineError) -> None:
        """Fails every pending call and open stream with `error`; later requests too."""
        with self._lock:
            if self._closed is not None:
                return
            self._closed = error
            pending = list(self._pending.values())
            self._pending.clear()
            self._awaited = 0
            streams = list(self._streams.values())
            self._streams.clear()
        for call in pending:
            _settle(call.future, error=error)
        for listener in streams:
            listener.error(error, None)

    def set_backpressure(self, wants_pause: bool) -> None:
        """Generators ask for a pause when a consumer is behind. Reading goes on while any call
        waits for its answer, which may sit behind the tokens in the pipe."""
        with self._lock:
            self._wants_pause = wants_pause
            self._apply_flow()

    def _apply_flow(self) -> None:
        pause = self._wants_pause and self._awaited == 0 and self._closed is None
        if pause == self._paused:
            return
        self._paused = pause
        if pause:
            self._pauses += 1
            self._wire.pause()
        else:
            self._wire.resume()

    def _route(self, message: Result | Error | Notification | Invalid, line: bytes) -> None:
        if isinstance(message, Notification):
            self._notification(message.method, message.params, line)
        elif isinstance(message, Invalid):
            error = EngineError("PROTOCOL_ERROR", f"the runtime wrote a line that is not a JSON-RPC message: "
                                f"{message.reason}", data={"line": _text(line)})
            call = self._take(message.id)
            if call is not None:  # a broken answer fails its call instead of leaving it hanging
                _settle(call.future, error=error)
            else:
                self._handlers.protocol_error(error)
        else:
            call = self._take(message.id)
            if call is None:
                self._stray(message, line)
            elif isinstance(message, Result):
                _settle(call.future, result=message.result)
            else:
                _settle(call.future, error=EngineError.from_wire(message.code, message.message, message.data))

    def _take(self, request_id: int | str | None) -> Call | None:
        """Takes a pending call off the books, if `request_id` names one."""
        if not isinstance(request_id, int):
            return None
        with self._lock:
            call = self._pending.pop(request_id, None)
            if call is not None:
                self._forget(call)
        return call

    def _forget(self, call: Call) -> None:
        if call.awaited:
            self._awaited -= 1
        self._apply_flow()

    def expire(self, call: Call, timeout: float | None) -> None:
        with self._lock:
            if self._pending.pop(call.id, None) is not None:
                self._expired.add(call.id)
                self._forget(call)
        _settle(call.future, error=EngineError(
            "TIMEOUT",
            f"`{call.method}` got no answer within {timeout} s; the runtime may be busy or stuck. "
            "Raise the `request_timeout` option, or pass `timeout=` to this call.",
            data={"method": call.method, "timeout": timeout}))

    def _notification(self, method: str, params: Any, line: bytes) -> None:
        if method not in STREAM_METHODS:
            self._handlers.notification(method, params)
            return
        stream_id = params.get("stream_id") if isinstance(params, dict) else None
        if not isinstance(stream_id, str):
            self._protocol_error(f"the runtime wrote a {method} without a stream_id", line)
            return
        with self._lock:
            listener = self._streams.get(stream_id)
        try:
            if method == "stream/chunk":
                chunk = msgspec.convert(params, ChunkParams)
                if listener is not None:
                    listener.chunk(chunk)
            elif method == "stream/progress":
                progress = msgspec.convert(params, StreamProgress)
                if listener is not None:
                    listener.progress(progress)
            elif method == "stream/end":
                end = msgspec.convert(params, StreamEnd)
                if listener is not None:
                    listener.end(end)
            else:
                failure, error = _stream_failure(stream_id, params)
                if listener is not None:
                    listener.error(error, failure)
        except (msgspec.ValidationError, ValueError):
            self._protocol_error(f"the runtime wrote a malformed {method} for stream {stream_id}", line)

    def _stray(self, message: Result | Error, line: bytes) -> None:
        with self._lock:
            if isinstance(message.id, int) and message.id in self._expired:
                self._expired.discard(message.id)
                return
        if isinstance(message, Error) and message.id is None:
            cause = EngineError.from_wire(message.code, message.message, message.data)
            self._protocol_error(f"the runtime reported an error for no request: {cause.message}", line,
                                 runtime_error=cause.to_dict())
            return
        self._protocol_error(f"the runtime answered request {message.id!r}, which is not pending", line)

    def _protocol_error(self, message: str, line: bytes | None = None, **data: Any) -> None:
        if line is not None:
            data["line"] = _text(line)
        self._handlers.protocol_error(EngineError("PROTOCOL_ERROR", message, data=data))


def _stream_failure(stream_id: str, params: dict[str, Any]) -> tuple[StreamFailure, EngineError]:
    error = params.get("error")
    if not is_error_object(error):
        raise ValueError("malformed error")
    assert isinstance(error, dict)
    model, variant = params.get("model"), params.get("variant")
    failure = StreamFailure(stream_id, model if isinstance(model, str) else None,
                            variant if isinstance(variant, str) else None)
    return failure, EngineError.from_wire(error["code"], error["message"], error.get("data"))


def _settle(future: Future[Any], *, result: Any = None, error: EngineError | None = None) -> None:
    """Settles a future once; a second answer (late, or after an expiry) changes nothing."""
    with contextlib.suppress(InvalidStateError):
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


def _text(line: bytes) -> str:
    return line.decode("utf-8", "replace")
