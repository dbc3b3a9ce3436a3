"""One generation in flight: its request, its text state and where its output goes."""

from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from msgspec import UNSET

from ..api.envelope import Notification
from ..api.errors import RpcError
from ..api.messages import (
    GenerateAccepted,
    GenerateResult,
    GenerationStats,
    StreamChunk,
    StreamEnd,
    StreamError,
    StreamErrorInfo,
    TokenOut,
)
from .detokenizer import Decode, IncrementalDetokenizer
from .sampling import SamplingSettings
from .stops import StopMatcher

Finish = Literal["stop", "length", "cancelled"]


class StreamSink(Protocol):
    """Where a stream's output goes: wire notifications or one final response.

    Exactly one of `accepted` and `rejected` is called first; after
    `accepted`, tokens, then exactly one of `end` and `error`.
    """

    def accepted(self, stream_id: str) -> None: ...

    def rejected(self, error: RpcError) -> None: ...

    def tokens(self, stream_id: str, tokens: list[TokenOut]) -> None: ...

    def end(self, stream_id: str, finish_reason: Finish, stats: GenerationStats) -> None: ...

    def error(self, stream_id: str, error: RpcError, stats: GenerationStats) -> None: ...


class NotificationSink:
    """The generate response {stream_id} once the stream is in the batch, then
    stream/chunk notifications and one stream/end or stream/error."""

    def __init__(self, send: Any, future: Future) -> None:
        self._send = send  # MessageWriter.send
        self.future = future

    def accepted(self, stream_id: str) -> None:
        # Resolving on the engine thread queues the response before any chunk.
        self.future.set_result(GenerateAccepted(stream_id=stream_id))

    def rejected(self, error: RpcError) -> None:
        self.future.set_exception(error)

    def tokens(self, stream_id: str, tokens: list[TokenOut]) -> None:
        chunk = Notification(method="stream/chunk",
                             params=StreamChunk(stream_id=stream_id, tokens=tokens))
        self._send(chunk, merge_key=stream_id, weight=len(tokens))

    def end(self, stream_id: str, finish_reason: Finish, stats: GenerationStats) -> None:
        self._send(Notification(method="stream/end", params=StreamEnd(
            stream_id=stream_id, finish_reason=finish_reason, stats=stats)))

    def error(self, stream_id: str, error: RpcError, stats: GenerationStats) -> None:
        info = StreamErrorInfo(code=error.code.number, message=error.message, data=error.data())
        self._send(Notification(method="stream/error", params=StreamError(
            stream_id=stream_id, finish_reason="error", error=info, stats=stats)))


def merge_chunks(queued: Notification, later: Notification) -> None:
    """MessageWriter merge rule: a later chunk of a stream joins the queued one."""
    queued.params.tokens.extend(later.params.tokens)


class ResultSink:
    """Collects the text and resolves `future` with a GenerateResult."""

    def __init__(self, future: Future) -> None:
        self.future = future
        self._parts: list[str] = []

    def accepted(self, stream_id: str) -> None:
        pass

    def rejected(self, error: RpcError) -> None:
        self.future.set_exception(error)

    def tokens(self, stream_id: str, tokens: list[TokenOut]) -> None:
        self._parts.extend(token.text for token in tokens)

    def end(self, stream_id: str, finish_reason: Finish, stats: GenerationStats) -> None:
        self.future.set_result(GenerateResult(
            text="".join(self._parts), finish_reason=finish_reason, stats=stats,
            stream_id=stream_id))

    def error(self, stream_id: str, error: RpcError, stats: GenerationStats) -> None:
        self.future.set_exception(error)


@dataclass
class GenerationRequest:
    """A generate call, validated and tokenized, ready for the engine."""

    stream_id: str
    model_id: str
    prompt: list[int]
    max_tokens: int
    sampling: SamplingSettings
    stop_strings: list[str]
    stop_token_ids: list[int]
    logprobs: bool
    sink: StreamSink
    received_at: float = field(default_factory=time.perf_counter)


class ActiveStream:
    """Turns sampled token ids into released text and emits it.

    Lives on the engine thread. Text goes through an incremental
    detokenizer and the stop matcher.
    """

    def __init__(self, request: GenerationRequest, decode: Decode) -> None:
        self.request = request
        self._detokenizer = IncrementalDetokenizer(decode)
        self._stops = StopMatcher(request.stop_strings)
        self._generated = 0
        self._first_token_at: float | None = None
        self._last_token_at: float | None = None
        self.cached_tokens = 0  # prompt tokens whose KV came from the prompt cache

    @property
    def stream_id(self) -> str:
        return self.request.stream_id

    def on_token(self, token: int, logprob: float | None, finish: str | None) -> Finish | None:
        """Emit one sampled token; returns how the stream finished, if it did.

        `finish` is the batch's verdict: "length", "stop" (an EOS or stop
        token id, whose text is never shown) or None.
        """
        now = time.perf_counter()
        self._generated += 1
        self._first_token_at = self._first_token_at or now
        self._last_token_at = now
        segment = "" if finish == "stop" else self._detokenizer.add(token)
        if finish is not None:
            segment += self._detokenizer.flush()
        text, stopped = self._stops.feed(segment)
        reason: Finish | None = "stop" if stopped else finish  # type: ignore[assignment]
        if reason is not None and not stopped:
            text += self._stops.flush()
        out = TokenOut(id=token, text=text, logprob=UNSET if logprob is None else logprob)
        self.request.sink.tokens(self.stream_id, [out])
        if reason is not None:
            self.request.sink.end(self.stream_id, reason, self.stats())
        return reason

    def cancel(self) -> None:
        self.request.sink.end(self.stream_id, "cancelled", self.stats())

    def fail(self, error: RpcError) -> None:
        self.request.sink.error(self.stream_id, error, self.stats())

    def stats(self) -> GenerationStats:
        now = time.perf_counter()
        received = self.request.received_at
        first, last = self._first_token_at, self._last_token_at
        decode_s = (last - first) if first is not None and last is not None else 0.0
        return GenerationStats(
            prompt_tokens=len(self.request.prompt),
            cached_tokens=self.cached_tokens,
            generated_tokens=self._generated,
            ttft_ms=round((first - received) * 1000, 3) if first is not None else 0.0,
            tokens_per_second=round((self._generated - 1) / decode_s, 3) if decode_s > 0 else 0.0,
            total_ms=round((now - received) * 1000, 3),
        )
