"""One generation in flight: its request, its text state and where its output goes.

The engine knows a stream's output only as a StreamSink; which front it
reaches (JSON-RPC notifications, an HTTP response, one whole result) is the
front's business.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from msgspec import UNSET

from ..api.errors import ServingError
from ..api.messages import GenerationStats, GuidanceOutcome, TokenOut, TopLogprob
from .detokenizer import Decode, IncrementalDetokenizer
from .logprobs import most_likely
from .sampling import SamplingSettings
from .stops import StopMatcher

if TYPE_CHECKING:
    from ..guidance.compiler import CompiledGuidance
    from .models import LoadedModel
    from .vision import VisionPrompt

Finish = Literal["stop", "length", "cancelled"]
# running: decoding (or waiting in its lane for a slot); paused: its reader is
# behind (generate/pause), its lane keeps its place; ended: its end went out.
StreamState = Literal["running", "paused", "ended"]


@dataclass(frozen=True)
class Served:
    """Who serves a stream: the model id and the side of a canary rollout."""

    model_id: str
    variant: Literal["stable", "canary"] = "stable"

    def attribute(self, error: ServingError) -> ServingError:
        """The error with `data.model` and `data.variant`: a failure or a refusal
        says which side of a rollout it came from, as a result does."""
        return error.with_details(model=self.model_id, variant=self.variant)


class StreamSink(Protocol):
    """Where a stream's output goes: wire notifications or one final response.

    Exactly one of `accepted` and `rejected` is called first; after
    `accepted`, tokens, then exactly one of `end` and `error`.
    """

    def accepted(self, stream_id: str) -> None: ...

    def rejected(self, error: ServingError) -> None: ...

    def tokens(self, stream_id: str, tokens: list[TokenOut]) -> None: ...

    def end(self, stream_id: str, finish_reason: Finish, stats: GenerationStats,
            guidance: GuidanceOutcome | None = None) -> None: ...

    def error(self, stream_id: str, error: ServingError, stats: GenerationStats) -> None: ...


class NullSink:
    """A StreamSink that lets every event go: for the engine's own streams that
    nobody reads (warm-up, a follower rank's twins of rank 0's streams)."""

    def accepted(self, stream_id: str) -> None:
        pass

    def rejected(self, error: ServingError) -> None:
        pass

    def tokens(self, stream_id: str, tokens: list[TokenOut]) -> None:
        pass

    def end(self, stream_id: str, finish_reason: Finish, stats: GenerationStats,
            guidance: GuidanceOutcome | None = None) -> None:
        pass

    def error(self, stream_id: str, error: ServingError, stats: GenerationStats) -> None:
        pass


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
    top_logprobs: int = 0  # > 0: each token carries this many most likely alternatives
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
    """The one record of a stream in flight: its state, its limits, its text.

    Lives on the engine thread. Every lane hands it each sampled token
    (`emit`), which is the one place that decides whether that token ends
    the stream: a stop token id (the model's end-of-sequence ids, once a lane
    has set its limits, and the request's) or the last token of its budget
    (max_tokens, within what the context leaves). Text goes through an
    incremental detokenizer and the stop matcher. A guided stream's `guide`
    is the logits processor that keeps it inside its grammar; its end says
    whether the text is complete, and a grammar that cannot go on ends it
    with an error. However it ends (here, cancelled, failed), `on_end` is
    called once, just before its end goes out: the engine forgets it there,
    so a client that has read the end never sees it still active.
    """

    def __init__(self, request: GenerationRequest, decode: Decode) -> None:
        self.request = request
        self.state: StreamState = "running"
        self.on_end: Callable[[ActiveStream], None] | None = None
        self.guide = (None if request.guidance is None
                      else request.guidance.start(request.stop_token_ids, request.prompt))
        self.prompt = request.prompt  # the tokens it prefills (a vision lane sets its own)
        self.stop_ids = frozenset(request.stop_token_ids)
        self.budget = request.max_tokens  # tokens it may generate
        self._context_length: int | None = None
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

    @property
    def tokens_left(self) -> int:
        """Tokens it may still generate."""
        return self.budget - self._generated

    def set_limits(self, model: LoadedModel) -> None:
        """The lane's model: its end-of-sequence ids stop the stream too, and
        the prompt must leave room in its context."""
        self.stop_ids = frozenset(model.tokenizer.eos_token_ids) | frozenset(
            self.request.stop_token_ids)
        self._context_length = model.context_length
        self.budget = min(self.request.max_tokens, model.context_length - len(self.prompt))

    def set_prompt(self, prompt: list[int]) -> None:
        """The tokens it prefills, where the lane makes them (a vision model's processor)."""
        self.prompt = prompt
        if self._context_length is not None:
            self.budget = min(self.request.max_tokens, self._context_length - len(prompt))

    def emit(self, token: int, logprobs: Any, from_draft: bool | None = None) -> bool:
        """Hand over one sampled token and its row of log-probabilities (read
        only when the request asked for them); True when the stream has ended
        (or failed) with it. `from_draft` is set on the speculative lane only.

        The row is the one the token was sampled from, the same on every lane
        (mlx-lm's BatchGenerator and our solo, speculative and vision paths):
        log_softmax of the logits after the logits processors (repetition,
        presence and frequency penalties, then the grammar mask), before the
        sampler's temperature and top-p/top-k/min-p. So the figures do not move
        with temperature (as OpenAI's do not), a token guidance rules out never
        shows up, and without penalties they are vLLM's default (raw) logprobs.
        """
        finish: Finish | None = None
        if token in self.stop_ids:
            finish = "stop"  # its text is never shown
        elif self._generated + 1 >= self.budget:
            finish = "length"
        request = self.request
        out = TokenOut(id=token, text="", from_draft=UNSET if from_draft is None else from_draft)
        if request.top_logprobs:
            out.logprob, ranked = most_likely(logprobs, token, request.top_logprobs)
            texts = self._detokenizer.texts_of([alternative for alternative, _ in ranked])
            out.top_logprobs = [TopLogprob(id=alternative, text=text, logprob=logprob)
                                for (alternative, logprob), text in zip(ranked, texts, strict=True)]
        elif request.logprobs:
            out.logprob = logprobs[token].item()
        return self.on_token(out, finish) is not None

    def on_token(self, out: TokenOut, finish: Finish | None) -> Finish | Literal["error"] | None:
        """Release one token (`out`, its text still to fill in) whose verdict
        `emit` has given ("stop": an EOS or stop token id, "length", or None);
        returns how the stream finished, if it did (a stop sequence in the
        text, a grammar's dead end)."""
        now = time.perf_counter()
        self._generated += 1
        self._first_token_at = self._first_token_at or now
        self._last_token_at = now
        failure = self.guide.failure if self.guide is not None else None
        segment = "" if finish == "stop" else self._detokenizer.add(out.id)
        if finish is not None or failure is not None:
            segment += self._detokenizer.flush()
        text, stopped = self._stops.feed(segment)
        reason: Finish | None = "stop" if stopped else finish
        if (reason is not None or failure is not None) and not stopped:
            text += self._stops.flush()
        out.text = text
        if reason is not None or failure is not None:
            out.final = True
        self.request.sink.tokens(self.stream_id, [out])
        if failure is not None and not stopped:
            self.fail(failure)
            return "error"
        if reason is not None:
            # Text cut by a stop sequence is never vouched for as complete.
            self._end(reason, cut=stopped)
        return reason

    def on_prefill(self, processed: int, total: int) -> None:
        """Prompt tokens prefilled so far, of `total`: told to a sink that asked."""
        if self.request.prefill_progress and self._generated == 0:
            tell_prefill(self.request.sink, self.stream_id, processed, total)

    def cancel(self) -> None:
        self._end("cancelled", cut=False)

    def _end(self, reason: Finish, cut: bool) -> None:
        if self._ended():
            self.request.sink.end(self.stream_id, reason, self.stats(),
                                  self._guidance_outcome(cut=cut))

    def _ended(self) -> bool:
        """Enter the ended state; False when it already was (an end goes out once)."""
        if self.state == "ended":
            return False
        self.state = "ended"
        if self.on_end is not None:
            self.on_end(self)
        return True

    def _guidance_outcome(self, cut: bool) -> GuidanceOutcome | None:
        if self.guide is None:
            return None
        return GuidanceOutcome(complete=not cut and self.guide.complete)

    def fail(self, error: ServingError) -> None:
        if self._ended():
            self.request.sink.error(self.stream_id, error, self.stats())

    def stats(self) -> GenerationStats:
        now = time.perf_counter()
        received = self.request.received_at
        first, last = self._first_token_at, self._last_token_at
        decode_s = (last - first) if first is not None and last is not None else 0.0
        stats = GenerationStats(
            prompt_tokens=len(self.prompt),
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
