"""One generation in flight: its request, its text state and where its output goes."""

from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from msgspec import UNSET

from ..api.envelope import Notification
from ..api.errors import RpcError
from ..api.messages import (
    GenerateAccepted,
    GenerateResult,
    GenerationStats,
    GuidanceOutcome,
    StreamChunk,
    StreamEnd,
    StreamError,
    StreamErrorInfo,
    StreamProgress,
    TokenOut,
)
from .detokenizer import Decode, IncrementalDetokenizer
from .sampling import SamplingSettings
from .stops import StopMatcher

if TYPE_CHECKING:
    from ..guidance.compiler import CompiledGuidance
    from .vision import VisionPrompt

Finish = Literal["stop", "length", "cancelled"]


@dataclass(frozen=True)
class Served:
    """Who serves a stream: the model id and the side of a canary rollout."""

    model_id: str
    variant: Literal["stable", "canary"] = "stable"

    def attribute(self, error: RpcError) -> RpcError:
        """The error with `data.model` and `data.variant`: a failure or a refusal
        says which side of a rollout it came from, as a result does."""
        return error.with_details(model=self.model_id, variant=self.variant)


class StreamSink(Protocol):
    """Where a stream's output goes: wire notifications or one final response.

    Exactly one of `accepted` and `rejected` is called first; after
    `accepted`, tokens, then exactly one of `end` and `error`.
    """

    def accepted(self, stream_id: str) -> None: ...

    def rejected(self, error: RpcError) -> None: ...

    def tokens(self, stream_id: str, tokens: list[TokenOut]) -> None: ...

    def end(self, stream_id: str, finish_reason: Finish, stats: GenerationStats,
            guidance: GuidanceOutcome | None = None) -> None: ...

    def error(self, stream_id: str, error: RpcError, stats: GenerationStats) -> None: ...


class NotificationSink:
    """The generate response {stream_id} once the stream is in the batch, then
    stream/chunk notifications and one stream/end or stream/error."""

    def __init__(self, send: Any, future: Future, served: Served) -> None:
        self._send = send  # MessageWriter.send
        self.future = future
        self.served = served
        self._first_sent = False  # the first chunk goes out at once: time to first token

    def accepted(self, stream_id: str) -> None:
        # Resolving on the engine thread queues the response before any chunk.
        self.future.set_result(GenerateAccepted(
            stream_id=stream_id, model=self.served.model_id, variant=self.served.variant))

    def rejected(self, error: RpcError) -> None:
        self.future.set_exception(self.served.attribute(error))

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

    def error(self, stream_id: str, error: RpcError, stats: GenerationStats) -> None:
        info = StreamErrorInfo(code=error.code.number, message=error.message,
                               data=self.served.attribute(error).data())
        self._send(Notification(method="stream/error", params=StreamError(
            stream_id=stream_id, finish_reason="error", error=info, stats=stats,
            model=self.served.model_id, variant=self.served.variant)))


def tell_resumed(sink: StreamSink, stream_id: str) -> None:
    """Tell a sink that has the optional `resumed` hook (MeteredSink) that its
    paused stream decodes again: the gap across the pause was its reader's.
    Wrapping sinks pass it on with this."""
    resumed = getattr(sink, "resumed", None)
    if resumed is not None:
        resumed(stream_id)


def tell_prefill(sink: StreamSink, stream_id: str, processed: int, total: int) -> None:
    """Tell a sink that has the optional `prefill_progress` hook (NotificationSink)
    how far its stream's prefill is; wrapping sinks pass it on with this."""
    report = getattr(sink, "prefill_progress", None)
    if report is not None:
        report(stream_id, processed, total)


def merge_chunks(queued: Notification, later: Notification) -> None:
    """MessageWriter merge rule: a later chunk of a stream joins the queued one."""
    queued.params.tokens.extend(later.params.tokens)


class ResultSink:
    """Collects the text and resolves `future` with a GenerateResult."""

    def __init__(self, future: Future, served: Served) -> None:
        self.future = future
        self.served = served
        self._parts: list[str] = []

    def accepted(self, stream_id: str) -> None:
        pass

    def rejected(self, error: RpcError) -> None:
        self.future.set_exception(self.served.attribute(error))

    def tokens(self, stream_id: str, tokens: list[TokenOut]) -> None:
        self._parts.extend(token.text for token in tokens)

    def end(self, stream_id: str, finish_reason: Finish, stats: GenerationStats,
            guidance: GuidanceOutcome | None = None) -> None:
        self.future.set_result(GenerateResult(
            text="".join(self._parts), finish_reason=finish_reason, stats=stats,
            stream_id=stream_id, model=self.served.model_id, variant=self.served.variant,
            guidance=UNSET if guidance is None else guidance))

    def error(self, stream_id: str, error: RpcError, stats: GenerationStats) -> None:
        self.future.set_exception(self.served.attribute(error))


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
    guidance: CompiledGuidance | None = None  # structured output, compiled
    num_draft_tokens: int = 0  # > 0: decode with the model's draft, when it has one
    vision: VisionPrompt | None = None  # vision models: the rendered prompt and its images
    use_prompt_cache: bool = True  # false: no KV reuse for it (feature flag prompt_cache)
    prefill_progress: bool = False  # report prompt tokens prefilled before the first token


@dataclass
class DraftCounts:
    """Draft tokens a speculative stream proposed, and how many the target accepted."""

    proposed: int = 0
    accepted: int = 0


class ActiveStream:
    """Turns sampled token ids into released text and emits it.

    Lives on the engine thread. Text goes through an incremental
    detokenizer and the stop matcher. A guided stream's `guide` is the
    logits processor that keeps it inside its grammar; its end says whether
    the text is complete, and a grammar that cannot go on ends it with an error.
    """

    def __init__(self, request: GenerationRequest, decode: Decode) -> None:
        self.request = request
        self.guide = (None if request.guidance is None
                      else request.guidance.start(request.stop_token_ids, request.prompt))
        self._detokenizer = IncrementalDetokenizer(decode)
        self._stops = StopMatcher(request.stop_strings)
        self._generated = 0
        self._first_token_at: float | None = None
        self._last_token_at: float | None = None
        self.draft_counts: DraftCounts | None = None  # set by the speculative lane
        self.cached_tokens = 0  # prompt tokens whose KV came from the prompt cache

    @property
    def stream_id(self) -> str:
        return self.request.stream_id

    def on_token(self, token: int, logprob: float | None, finish: str | None,
                 from_draft: bool | None = None) -> Finish | Literal["error"] | None:
        """Emit one sampled token; returns how the stream finished, if it did.

        `finish` is the batch's verdict: "length", "stop" (an EOS or stop
        token id, whose text is never shown) or None. `from_draft` is set on
        the speculative lane only.
        """
        now = time.perf_counter()
        self._generated += 1
        self._first_token_at = self._first_token_at or now
        self._last_token_at = now
        failure = self.guide.failure if self.guide is not None else None
        segment = "" if finish == "stop" else self._detokenizer.add(token)
        if finish is not None or failure is not None:
            segment += self._detokenizer.flush()
        text, stopped = self._stops.feed(segment)
        reason: Finish | None = "stop" if stopped else finish  # type: ignore[assignment]
        if (reason is not None or failure is not None) and not stopped:
            text += self._stops.flush()
        out = TokenOut(id=token, text=text, logprob=UNSET if logprob is None else logprob,
                       from_draft=UNSET if from_draft is None else from_draft,
                       final=True if reason is not None or failure is not None else UNSET)
        self.request.sink.tokens(self.stream_id, [out])
        if failure is not None and not stopped:
            self.fail(failure)
            return "error"
        if reason is not None:
            # Text cut by a stop sequence is never vouched for as complete.
            self.request.sink.end(self.stream_id, reason, self.stats(),
                                  self._guidance_outcome(cut=stopped))
        return reason

    def on_prefill(self, processed: int, total: int) -> None:
        """Prompt tokens prefilled so far, of `total`: told to a sink that asked."""
        if self.request.prefill_progress and self._generated == 0:
            tell_prefill(self.request.sink, self.stream_id, processed, total)

    def cancel(self) -> None:
        self.request.sink.end(self.stream_id, "cancelled", self.stats(),
                              self._guidance_outcome(cut=False))

    def _guidance_outcome(self, cut: bool) -> GuidanceOutcome | None:
        if self.guide is None:
            return None
        return GuidanceOutcome(complete=not cut and self.guide.complete)

    def fail(self, error: RpcError) -> None:
        self.request.sink.error(self.stream_id, error, self.stats())

    def stats(self) -> GenerationStats:
        now = time.perf_counter()
        received = self.request.received_at
        first, last = self._first_token_at, self._last_token_at
        decode_s = (last - first) if first is not None and last is not None else 0.0
        stats = GenerationStats(
            prompt_tokens=len(self.request.prompt),
            cached_tokens=self.cached_tokens,
            generated_tokens=self._generated,
            ttft_ms=round((first - received) * 1000, 3) if first is not None else 0.0,
            tokens_per_second=round((self._generated - 1) / decode_s, 3) if decode_s > 0 else 0.0,
            total_ms=round((now - received) * 1000, 3),
        )
        counts = self.draft_counts
        if counts is not None:
            stats.draft_tokens_proposed = counts.proposed
            stats.draft_tokens_accepted = counts.accepted
            stats.draft_acceptance_rate = (
                round(counts.accepted / counts.proposed, 4) if counts.proposed else 0.0)
        return stats
