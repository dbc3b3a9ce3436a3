"""The part of a wrapping StreamSink that passes events on unchanged.

Ops wraps a front's sink to watch its stream (MeteredSink: metrics;
FaultySink: injected faults); each wrapper handles the events it cares
about and leaves the rest to this base, which hands them to the sink it
wraps, the optional hooks (`resumed`, `prefill_progress`) included.
Subclasses define `tokens`, the event every wrapper handles.
"""

from __future__ import annotations

from ..api.errors import ServingError
from ..api.messages import GenerationStats, GuidanceOutcome
from ..engine.stream import Finish, StreamSink, tell_prefill, tell_resumed


class SinkWrapper:
    def __init__(self, inner: StreamSink) -> None:
        self._inner = inner

    def accepted(self, stream_id: str) -> None:
        self._inner.accepted(stream_id)

    def rejected(self, error: ServingError) -> None:
        self._inner.rejected(error)

    def resumed(self, stream_id: str) -> None:
        tell_resumed(self._inner, stream_id)

    def prefill_progress(self, stream_id: str, processed: int, total: int) -> None:
        tell_prefill(self._inner, stream_id, processed, total)

    def end(self, stream_id: str, finish_reason: Finish, stats: GenerationStats,
            guidance: GuidanceOutcome | None = None) -> None:
        self._inner.end(stream_id, finish_reason, stats, guidance)

    def error(self, stream_id: str, error: ServingError, stats: GenerationStats) -> None:
        self._inner.error(stream_id, error, stats)
