"""JSON-RPC 2.0 dispatch: envelopes, the method table, replies and batches.

The dispatcher turns one input line into calls of handlers and sends the
responses. Handlers get typed params and return a result, or a Future that
another thread (the engine) resolves later; they raise ServingError for the
client's mistakes. Anything else they raise is logged and answered with
INTERNAL_ERROR: the runtime never dies from a request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import msgspec

from ..api.envelope import SAFE_INTEGER, ErrorObject, Request, RequestId, Response
from ..api.errors import ErrorCode, ServingError
from ..api.methods import METHODS, resolve
from ..transport.codec import ParseError, TooDeep, decode_line
from ..transport.stdio import OversizedLine
from .params import decode_params

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallContext:
    method: str
    request_id: RequestId | None
    received_at: float


Handler = Callable[[Any, CallContext], Any]
Send = Callable[[Any], None]


def error_object(error: ServingError) -> ErrorObject:
    return ErrorObject(code=error.code.number, message=error.message, data=error.data())


def _internal(exc: BaseException) -> ServingError:
    return ServingError(ErrorCode.INTERNAL_ERROR, f"internal error: {type(exc).__name__}: {exc}")


class _Batch:
    """Collects the responses of one batch array and sends them as one array."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._lock = threading.Lock()
        self._responses: list[Response] = []
        self._waiting = 1  # held until every member has been dispatched

    def expect(self) -> Send:
        with self._lock:
            self._waiting += 1
        return self._add

    def sealed(self) -> None:
        self._add(None)

    def _add(self, response: Response | None) -> None:
        with self._lock:
            if response is not None:
                self._responses.append(response)
            self._waiting -= 1
            done = self._waiting == 0
        if done and self._responses:
            self._send(self._responses)


class Dispatcher:
    def __init__(self, handlers: dict[str, Handler], send: Send,
                 on_error: Callable[[ServingError], None] | None = None) -> None:
        missing = set(METHODS) - set(handlers)
        if missing:
            raise ValueError(f"no handler for {sorted(missing)}")
        self._handlers = handlers
        self._send = send
        self._on_error = on_error  # sees every error answered (metrics)

    def handle_line(self, line: bytes | OversizedLine) -> None:
        try:
            self._handle_line(line)
        except Exception as exc:  # every fault is answered; the reader must live on
            log.exception("unhandled error while dispatching a line")
            self._reply_error(self._send, None, _internal(exc))

    def _handle_line(self, line: bytes | OversizedLine) -> None:
        received_at = time.perf_counter()
        if isinstance(line, OversizedLine):
            self._reply_error(self._send, None, ServingError(
                ErrorCode.REQUEST_TOO_LARGE,
                f"message of {line.size} bytes is over the limit "
                "(transport.max_message_bytes in config/runtime.yaml)",
                size=line.size,
            ))
            return
        try:
            message = decode_line(line)
        except ParseError as exc:
            self._reply_error(self._send, None, ServingError(ErrorCode.PARSE_ERROR, f"parse error: {exc}"))
            return
        except TooDeep as exc:
            self._reply_error(self._send, _usable_id(exc.request_id), ServingError(
                ErrorCode.INVALID_REQUEST,
                "invalid request: arrays and objects nested too deeply (about 1000 levels "
                "is the most the runtime decodes)"))
            return
        if isinstance(message, list):
            if not message:
                self._reply_error(self._send, None, ServingError(
                    ErrorCode.INVALID_REQUEST, "invalid request: empty batch array"))
                return
            batch = _Batch(self._send)
            for member in message:
                self._handle_message(member, received_at, batch.expect)
            batch.sealed()
        else:
            self._handle_message(message, received_at, lambda: self._send)

    def _handle_message(self, message: Any, received_at: float,
                        reply_to: Callable[[], Send]) -> None:
        if not isinstance(message, dict):
            self._reply_error(reply_to(), None, ServingError(
                ErrorCode.INVALID_REQUEST,
                f"invalid request: expected a JSON object, got {type(message).__name__}"))
            return
        try:
            request = msgspec.convert(message, Request)
        except msgspec.ValidationError as exc:
            self._reply_error(reply_to(), _salvage_id(message),
                              ServingError(ErrorCode.INVALID_REQUEST, f"invalid request: {exc}"))
            return
        send = None if request.is_notification else reply_to()
        request_id = _request_id(request)
        try:
            result = self._call(request, received_at)
        except ServingError as exc:
            self._reply_error(send, request_id, exc)
            return
        except Exception as exc:  # a bug: answer, log, keep serving
            log.exception("%s failed", request.method)
            self._reply_error(send, request_id, _internal(exc))
            return
        if isinstance(result, Future):
            result.add_done_callback(lambda done: self._reply_future(send, request_id, done))
        elif send is not None:
            send(Response(id=request_id, result=result))

    def _call(self, request: Request, received_at: float) -> Any:
        spec = resolve(request.method)
        if spec is None:
            raise ServingError(ErrorCode.METHOD_NOT_FOUND, f"method not found: {request.method!r}",
                               method=request.method)
        log.debug("<- %s id=%r", spec.name, request.id)
        params = decode_params(spec, None if request.params is msgspec.UNSET else request.params)
        context = CallContext(spec.name, _request_id(request), received_at)
        return self._handlers[spec.name](params, context)

    def _reply_future(self, send: Send | None, request_id: RequestId, done: Future[Any]) -> None:
        exc = done.exception()
        if exc is None:
            if send is not None:
                send(Response(id=request_id, result=done.result()))
            return
        if not isinstance(exc, ServingError):
            log.error("request %r failed", request_id, exc_info=exc)
            exc = _internal(exc)
        self._reply_error(send, request_id, exc)

    def _reply_error(self, send: Send | None, request_id: RequestId, error: ServingError) -> None:
        if self._on_error is not None:
            self._on_error(error)
        if send is None:  # a notification: JSON-RPC forbids answering it
            log.warning("notification failed: %s", error.message)
            return
        send(Response(id=request_id, error=error_object(error)))


def _request_id(request: Request) -> RequestId:
    """The id to answer (None for a notification, which gets no answer)."""
    return None if isinstance(request.id, msgspec.UnsetType) else request.id


def _salvage_id(message: dict[str, Any]) -> RequestId:
    """The id of an invalid request, where it has a usable one."""
    return _usable_id(message.get("id"))


def _usable_id(request_id: Any) -> RequestId:
    """`request_id` if it is one a reply may carry (an integer beyond what
    JavaScript holds exactly is never echoed: it would come back as another)."""
    if isinstance(request_id, bool) or not isinstance(request_id, (int, str)):
        return None
    return request_id if isinstance(request_id, str) or abs(request_id) <= SAFE_INTEGER else None
