"""Test-only fault injection (runtime.yaml `debug`): a slow or failing model.

Never on by default. A FaultySink wraps a stream's sink on the engine thread:
`token_delay_ms` sleeps before the stream's prefill and before each of its
tokens goes out (the model looks that much slower: TTFT and inter-token
gaps grow); `stall_ms` pauses once, before the stream's token number
`stall_at_token` (a stall inside a stream); `error_rate` makes that share of
streams (chosen by a hash of their request key) raise inside the decode step
at their first token, so the engine fails the model's batch as it would on a
real fault.
"""

from __future__ import annotations

import time

from ..api.errors import ServingError
from ..api.messages import GenerationStats, GuidanceOutcome, TokenOut
from ..engine.stream import Finish, StreamSink, tell_prefill, tell_resumed
from .buckets import in_rollout
from .settings import ModelFaults


class InjectedFault(RuntimeError):
    pass


class FaultySink:
    def __init__(self, inner: StreamSink, faults: ModelFaults, stream_key: str) -> None:
        self._inner = inner
        self._delay_s = faults.token_delay_ms / 1000.0
        self._fail = faults.error_rate > 0 and in_rollout("debug.faults", stream_key,
                                                          faults.error_rate * 100.0)
        self._stall_s = faults.stall_ms / 1000.0
        self._stall_at = faults.stall_at_token
        self._emitted = 0

    def accepted(self, stream_id: str) -> None:
        time.sleep(self._delay_s)
        self._inner.accepted(stream_id)

    def rejected(self, error: ServingError) -> None:
        self._inner.rejected(error)

    def tokens(self, stream_id: str, tokens: list[TokenOut]) -> None:
        if self._fail:
            raise InjectedFault(f"injected fault for stream {stream_id!r} (debug.faults)")
        before, self._emitted = self._emitted, self._emitted + len(tokens)
        stall = self._stall_s if before < self._stall_at <= self._emitted else 0.0
        time.sleep(self._delay_s + stall)
        self._inner.tokens(stream_id, tokens)

    def resumed(self, stream_id: str) -> None:
        tell_resumed(self._inner, stream_id)

    def prefill_progress(self, stream_id: str, processed: int, total: int) -> None:
        tell_prefill(self._inner, stream_id, processed, total)

    def end(self, stream_id: str, finish_reason: Finish, stats: GenerationStats,
            guidance: GuidanceOutcome | None = None) -> None:
        self._inner.end(stream_id, finish_reason, stats, guidance)

    def error(self, stream_id: str, error: ServingError, stats: GenerationStats) -> None:
        self._inner.error(stream_id, error, stats)
