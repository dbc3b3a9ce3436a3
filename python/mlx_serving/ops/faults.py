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

from ..api.messages import TokenOut
from ..engine.stream import StreamSink
from .buckets import in_rollout
from .settings import ModelFaults
from .sink_wrapper import SinkWrapper


class InjectedFault(RuntimeError):
    pass


class FaultySink(SinkWrapper):
    def __init__(self, inner: StreamSink, faults: ModelFaults, stream_key: str) -> None:
        super().__init__(inner)
        self._delay_s = faults.token_delay_ms / 1000.0
        self._fail = faults.error_rate > 0 and in_rollout("debug.faults", stream_key,
                                                          faults.error_rate * 100.0)
        self._stall_s = faults.stall_ms / 1000.0
        self._stall_at = faults.stall_at_token
        self._emitted = 0

    def accepted(self, stream_id: str) -> None:
        time.sleep(self._delay_s)
        super().accepted(stream_id)

    def tokens(self, stream_id: str, tokens: list[TokenOut]) -> None:
        if self._fail:
            raise InjectedFault(f"injected fault for stream {stream_id!r} (debug.faults)")
        before, self._emitted = self._emitted, self._emitted + len(tokens)
        stall = self._stall_s if before < self._stall_at <= self._emitted else 0.0
        time.sleep(self._delay_s + stall)
        self._inner.tokens(stream_id, tokens)
