"""A stream sink wrapper that records the stream in the metrics.

It counts the stream as queued until its first token and active until its
end, and records one StreamOutcome at the end. After the first token it
steps aside: `tokens` is rebound to the inner sink's, so the token path
costs nothing more than without metrics.
"""

from __future__ import annotations

import time

from ..api.errors import RpcError
from ..api.messages import GenerationStats, GuidanceOutcome, TokenOut
from ..engine.stream import Finish, StreamSink
from .metrics import Metrics, StreamOutcome


class MeteredSink:
    def __init__(self, inner: StreamSink, metrics: Metrics, model_id: str) -> None:
        self._inner = inner
        self._metrics = metrics
        self._model_id = model_id
        self.was_accepted = False
        self._had_token = False
        self.tokens = self._first_tokens

    def accepted(self, stream_id: str) -> None:
        self.was_accepted = True
        self._metrics.stream_opened(self._model_id)
        self._inner.accepted(stream_id)

    def rejected(self, error: RpcError) -> None:
        self._inner.rejected(error)  # the request's future carries it to the metrics

    def _first_tokens(self, stream_id: str, tokens: list[TokenOut]) -> None:
        self.tokens = self._inner.tokens
        self._had_token = True
        self._metrics.first_token(self._model_id)
        self._inner.tokens(stream_id, tokens)

    def end(self, stream_id: str, finish_reason: Finish, stats: GenerationStats,
            guidance: GuidanceOutcome | None = None) -> None:
        kind = "cancelled" if finish_reason == "cancelled" else "completed"
        self._close(StreamOutcome(self._model_id, kind, stats=stats, at=time.monotonic()))
        self._inner.end(stream_id, finish_reason, stats, guidance)

    def error(self, stream_id: str, error: RpcError, stats: GenerationStats) -> None:
        self._close(StreamOutcome(self._model_id, "failed", error_code=error.code.name,
                                  stats=stats, at=time.monotonic()))
        self._inner.error(stream_id, error, stats)

    def _close(self, outcome: StreamOutcome) -> None:
        # Recorded before the client hears of the end: a metrics/get sent after
        # stream/end sees this stream.
        self._metrics.stream_closed(self._model_id, self._had_token)
        self._metrics.record(outcome)
