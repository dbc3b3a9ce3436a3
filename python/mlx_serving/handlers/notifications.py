"""Events as JSON-RPC notifications queued on the stdio writer: a stream's
(the generate response, then stream/chunk and stream/progress, and one
stream/end or stream/error) and the ops layer's (qos/*, canary/update)."""

from __future__ import annotations

from collections.abc import Hashable
from concurrent.futures import Future
from typing import Any, Protocol

from msgspec import UNSET

from ..api.envelope import Notification
from ..api.errors import ServingError
from ..api.messages import (
    GenerationStats,
    GuidanceOutcome,
    Result,
    StreamChunk,
    StreamEnd,
    StreamError,
    StreamErrorInfo,
    StreamProgress,
    TokenOut,
)
from ..engine.stream import Finish, Served
from ..ops.notify import Notify
from ..service.generation import AnsweringSink, GenerateAnswer


class Send(Protocol):
    """MessageWriter.send: queue a message; a stream's chunks merge while queued."""

    def __call__(self, message: Any, merge_key: Hashable | None = None, weight: int = 0,
                 hold: bool = False) -> None: ...


class NotificationSink(AnsweringSink):
    """The generate response {stream_id} once the stream is in the batch, then
    stream/chunk notifications and one stream/end or stream/error."""

    def __init__(self, send: Send, future: Future[GenerateAnswer], served: Served) -> None:
        # Resolving the future on the engine thread queues the response before any chunk.
        super().__init__(future, served)
        self._send = send  # MessageWriter.send
        self._first_sent = False  # the first chunk goes out at once: time to first token

    def tokens(self, stream_id: str, tokens: list[TokenOut]) -> None:
        chunk = Notification(method="stream/chunk",
                             params=StreamChunk(stream_id=stream_id, tokens=tokens))
        self._send(chunk, merge_key=stream_id, weight=len(tokens), hold=self._first_sent)
        self._first_sent = True

    def prefill_progress(self, stream_id: str, processed: int, total: int) -> None:
        self._send(Notification(method="stream/progress", params=StreamProgress(
            stream_id=stream_id, processed=processed, total=total)))

    def end(self, stream_id: str, finish_reason: Finish, stats: GenerationStats,
            guidance: GuidanceOutcome | None = None) -> None:
        self._send(Notification(method="stream/end", params=StreamEnd(
            stream_id=stream_id, finish_reason=finish_reason, stats=stats,
            model=self.served.model_id, variant=self.served.variant,
            guidance=UNSET if guidance is None else guidance)))

    def error(self, stream_id: str, error: ServingError, stats: GenerationStats) -> None:
        info = StreamErrorInfo(code=error.code.number, message=error.message,
                               data=self.served.attribute(error).data())
        self._send(Notification(method="stream/error", params=StreamError(
            stream_id=stream_id, finish_reason="error", error=info, stats=stats,
            model=self.served.model_id, variant=self.served.variant)))


def notifier(send: Send) -> Notify:
    """The ops layer's events (qos/violation, qos/recovered, canary/update) as
    notifications on the writer."""
    def notify(method: str, params: Result) -> None:
        send(Notification(method=method, params=params))

    return notify


def merge_chunks(queued: Notification, later: Notification) -> None:
    """MessageWriter merge rule: a later chunk of a stream joins the queued one."""
    queued.params.tokens.extend(later.params.tokens)
