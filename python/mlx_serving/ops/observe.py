"""A stream sink wrapper that records the stream in the metrics.

It counts the stream as queued until its first token and active until its
end, and records one StreamOutcome at the end. On the token path it only
stamps each emitted chunk (one token, as the engine emits it, before the
writer merges chunks) with the engine thread's clock (one clock read and one
append into a flat array of floats); the gaps between the stamps, stalls
included, go into the inter-token sketch once, at the stream's end. The gap
across a pause (generate/pause .. generate/resume) is left out: that wait is
the reader's, and counting it would let one slow reader trip an SLO for all.
"""

from __future__ import annotations

import math
import time
from array import array
from time import perf_counter
from typing import Literal

import numpy as np

from ..api.errors import ServingError
from ..api.messages import GenerationStats, GuidanceOutcome, TokenOut
from ..engine.stream import Finish, StreamSink
from .metrics import Metrics, StreamOutcome
from .sink_wrapper import SinkWrapper


class MeteredSink(SinkWrapper):
    def __init__(self, inner: StreamSink, metrics: Metrics, model_id: str) -> None:
        super().__init__(inner)
        self._metrics = metrics
        self._model_id = model_id
        self.was_accepted = False
        self._had_token = False
        # perf_counter() of each emitted chunk; a resume adds (NaN, resumed at).
        self._chunk_times = array("d")
        self.tokens = self._first_tokens

    def accepted(self, stream_id: str) -> None:
        self.was_accepted = True
        self._metrics.stream_opened(self._model_id)
        super().accepted(stream_id)

    # A refusal passes on: the request's future carries it to the metrics (Admission).

    def _first_tokens(self, stream_id: str, tokens: list[TokenOut]) -> None:
        self.tokens = self._later_tokens
        self._had_token = True
        self._chunk_times.append(perf_counter())
        self._metrics.first_token(self._model_id)
        self._inner.tokens(stream_id, tokens)

    def _later_tokens(self, stream_id: str, tokens: list[TokenOut]) -> None:
        self._chunk_times.append(perf_counter())
        self._inner.tokens(stream_id, tokens)

    def resumed(self, stream_id: str) -> None:
        """The engine resumed the paused stream: the next gap starts now."""
        if self._had_token:  # before the first token no gap clock runs
            # The NaN spoils both differences around it (the pause), which
            # _gaps_ms drops; the next chunk's gap counts from the resume.
            self._chunk_times.extend((math.nan, perf_counter()))

    def end(self, stream_id: str, finish_reason: Finish, stats: GenerationStats,
            guidance: GuidanceOutcome | None = None) -> None:
        kind: Literal["cancelled", "completed"] = (
            "cancelled" if finish_reason == "cancelled" else "completed")
        self._close(StreamOutcome(self._model_id, kind, stats=stats, at=time.monotonic(),
                                  inter_token_ms=self._gaps_ms()))
        super().end(stream_id, finish_reason, stats, guidance)

    def error(self, stream_id: str, error: ServingError, stats: GenerationStats) -> None:
        self._close(StreamOutcome(self._model_id, "failed", error_code=error.code.name,
                                  stats=stats, at=time.monotonic(),
                                  inter_token_ms=self._gaps_ms()))
        super().error(stream_id, error, stats)

    def _gaps_ms(self) -> np.ndarray:
        gaps = np.diff(np.frombuffer(self._chunk_times, dtype=np.float64)) * 1000.0
        return gaps[~np.isnan(gaps)]

    def _close(self, outcome: StreamOutcome) -> None:
        # Recorded before the client hears of the end: a metrics/get sent after
        # stream/end sees this stream.
        self._metrics.stream_closed(self._model_id, self._had_token)
        self._metrics.record(outcome)
