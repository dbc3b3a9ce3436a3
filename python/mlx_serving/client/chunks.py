"""What a generator yields: one chunk per token, then one metadata chunk (the
stream finished) or one error chunk (it failed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeVar

import msgspec
from msgspec import UnsetType

from ..api.messages import FinishReason, GenerationStats, GuidanceOutcome, StreamEnd
from .errors import EngineError


class TopLogprob(msgspec.Struct, frozen=True, gc=False, rename={"token": "text", "token_id": "id"}):
    """One of the most likely tokens at a position, named as a TokenChunk names its token."""

    # Its text at that position (a character it leaves incomplete shows as U+FFFD).
    token: str
    token_id: int
    logprob: float


class TokenChunk(msgspec.Struct, frozen=True, gc=False, rename={"token": "text", "token_id": "id"}):
    """One token. Decoded straight from a stream/chunk line's tokens (the wire's
    `text` and `id`), so the hot path runs no Python per token."""

    # The text this token released; "" while text is held back (a possible stop
    # sequence) and for the token that ends the stream.
    token: str
    token_id: int
    # With logprobs=True: the token's log-probability.
    logprob: float | None = None
    # Streams decoded with a draft model: True when the draft proposed this token and the model accepted it.
    from_draft: bool | None = None
    # With top_logprobs=k: the k most likely tokens at this position, most likely first (fewer where guidance
    # rules tokens out).
    top_logprobs: list[TopLogprob] | None = None
    type: Literal["token"] = "token"


class ChunkParams(msgspec.Struct, gc=False):
    """stream/chunk's params, as the client reads them (the contract's StreamChunk)."""

    stream_id: str
    tokens: list[TokenChunk]


@dataclass(frozen=True)
class StreamFailure:
    """A stream/error's params, as far as a client needs them."""

    stream_id: str
    model: str | None
    variant: str | None


@dataclass(frozen=True, slots=True)
class MetadataChunk:
    finish_reason: FinishReason
    # prompt_tokens, cached_tokens, generated_tokens, ttft_ms, tokens_per_second, total_ms (+ draft figures).
    stats: GenerationStats
    # The model id that ran the stream (the canary's when a canary did), and which side of a rollout it was.
    model: str
    variant: str
    # Requests with guidance: whether the output is whole and valid.
    guidance: GuidanceOutcome | None = None
    type: Literal["metadata"] = "metadata"


@dataclass(frozen=True, slots=True)
class ErrorChunk:
    error: EngineError
    # Streams the runtime failed (or refused after routing them): who ran, or would have run, it.
    model: str | None = None
    variant: str | None = None
    type: Literal["error"] = "error"


Chunk = TokenChunk | MetadataChunk | ErrorChunk


T = TypeVar("T")


def or_none(value: T | UnsetType) -> T | None:
    """A wire field left out (msgspec's UNSET) as None, the Python way."""
    return None if isinstance(value, UnsetType) else value


def metadata_chunk(end: StreamEnd) -> MetadataChunk:
    return MetadataChunk(end.finish_reason, end.stats, end.model, end.variant, or_none(end.guidance))


def error_chunk(error: EngineError, failed: StreamFailure | None = None) -> ErrorChunk:
    """A failed stream's last chunk; a refused generate names who would have served it in its error data."""
    if failed is not None:
        return ErrorChunk(error, failed.model, failed.variant)
    model, variant = error.data.get("model"), error.data.get("variant")
    if isinstance(model, str) and variant in ("stable", "canary"):
        return ErrorChunk(error, model, str(variant))
    return ErrorChunk(error)
