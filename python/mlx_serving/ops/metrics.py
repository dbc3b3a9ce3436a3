"""Request and stream metrics: counters, DDSketch latency distributions, gauges.

Each generate request is recorded once, when it ends (a StreamOutcome built
from the stream's final stats and the gaps between its chunks), never per
token: the engine thread pays a few sketch inserts per stream. Per model
there are lifetime figures and a sliding window (the QoS window) made of
time slices whose sketches merge.
Listeners (QoS, canary) see every outcome as it is recorded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..api.messages import GenerationStats, ModelMetrics, RequestCounts, TrafficMetrics
from .sketch import Distribution

log = logging.getLogger(__name__)

OutcomeKind = Literal["completed", "cancelled", "failed", "rejected"]

# Failures that say the runtime (or the model) is unwell, as opposed to a bad
# request, a client's cancel or a deliberate refusal: what error rates count.
SERVER_FAULTS = frozenset({"GENERATION_FAILED", "OUT_OF_MEMORY", "INTERNAL_ERROR"})

_WINDOW_SLICES = 10


@dataclass(frozen=True)
class StreamOutcome:
    model_id: str
    kind: OutcomeKind
    error_code: str | None = None
    stats: GenerationStats | None = None
    at: float = 0.0  # time.monotonic()
    # The gaps between the stream's emitted chunks, in ms, on the engine's clock.
    inter_token_ms: np.ndarray | None = None

    @property
    def server_fault(self) -> bool:
        return self.error_code in SERVER_FAULTS

    @property
    def ttft_ms(self) -> float | None:
        stats = self.stats
        return stats.ttft_ms if stats is not None and stats.generated_tokens > 0 else None


class TrafficStats:
    """Counts and distributions of the requests that ended in some period."""

    def __init__(self, relative_accuracy: float) -> None:
        self.counts: Counter[str] = Counter()
        self.errors_by_code: Counter[str] = Counter()
        self.server_faults = 0
        self.prompt_tokens = 0
        self.cached_tokens = 0
        self.generated_tokens = 0
        self.ttft_ms = Distribution(relative_accuracy)
        self.inter_token_ms = Distribution(relative_accuracy)
        self.e2e_ms = Distribution(relative_accuracy)
        self.tokens_per_s = Distribution(relative_accuracy)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def error_rate(self) -> float | None:
        total = self.total
        return self.server_faults / total if total else None

    def record(self, outcome: StreamOutcome) -> None:
        self.counts[outcome.kind] += 1
        if outcome.error_code is not None:
            self.errors_by_code[outcome.error_code] += 1
            self.server_faults += outcome.server_fault
        stats = outcome.stats
        if stats is None:
            return
        self.prompt_tokens += stats.prompt_tokens
        self.cached_tokens += stats.cached_tokens
        self.generated_tokens += stats.generated_tokens
        if stats.generated_tokens > 0:
            self.ttft_ms.add(stats.ttft_ms)
        if outcome.kind != "completed":
            return  # a cut-short stream says nothing of how long a whole one takes
        self.e2e_ms.add(stats.total_ms)
        if stats.generated_tokens > 1 and stats.tokens_per_second > 0:
            self.tokens_per_s.add(stats.tokens_per_second)
        if outcome.inter_token_ms is not None:
            # Every gap, not the stream's mean: a stall inside a stream shows in p99.
            self.inter_token_ms.add_many(outcome.inter_token_ms)

    def merge(self, other: TrafficStats) -> None:
        self.counts.update(other.counts)
        self.errors_by_code.update(other.errors_by_code)
        self.server_faults += other.server_faults
        self.prompt_tokens += other.prompt_tokens
        self.cached_tokens += other.cached_tokens
        self.generated_tokens += other.generated_tokens
        for name in ("ttft_ms", "inter_token_ms", "e2e_ms", "tokens_per_s"):
            getattr(self, name).merge(getattr(other, name))

    def to_wire(self) -> TrafficMetrics:
        counts = self.counts
        rate = self.error_rate
        return TrafficMetrics(
            requests=RequestCounts(total=self.total, completed=counts["completed"],
                                   cancelled=counts["cancelled"], failed=counts["failed"],
                                   rejected=counts["rejected"]),
            prompt_tokens=self.prompt_tokens,
            cached_tokens=self.cached_tokens,
            generated_tokens=self.generated_tokens,
            errors_by_code=dict(sorted(self.errors_by_code.items())),
            error_rate=None if rate is None else round(rate, 6),
            ttft_ms=self.ttft_ms.summary(),
            inter_token_ms=self.inter_token_ms.summary(),
            e2e_ms=self.e2e_ms.summary(),
            tokens_per_s=self.tokens_per_s.summary(),
        )


class SlidingWindow:
    """TrafficStats of about the last `window_s` seconds, kept as time slices."""

    def __init__(self, window_s: float, relative_accuracy: float) -> None:
        self._slice_s = window_s / _WINDOW_SLICES
        self._accuracy = relative_accuracy
        self._slices: deque[tuple[int, TrafficStats]] = deque()

    def record(self, outcome: StreamOutcome) -> None:
        index = int(outcome.at / self._slice_s)
        if not self._slices or self._slices[-1][0] < index:  # a late record joins the newest
            self._slices.append((index, TrafficStats(self._accuracy)))
            self._expire(index)
        self._slices[-1][1].record(outcome)

    def merged(self, now: float) -> TrafficStats:
        index = int(now / self._slice_s)
        self._expire(index)
        total = TrafficStats(self._accuracy)
        for _, stats in self._slices:
            total.merge(stats)
        return total

    def _expire(self, index: int) -> None:
        while self._slices and self._slices[0][0] <= index - _WINDOW_SLICES:
            self._slices.popleft()


class ModelStats:
    def __init__(self, window_s: float, relative_accuracy: float) -> None:
        self.lifetime = TrafficStats(relative_accuracy)
        self.window = SlidingWindow(window_s, relative_accuracy)
        self.active = 0
        self.queued = 0  # accepted, no token yet


class Metrics:
    """Every recorded figure, by model. Thread-safe: the engine thread records
    stream ends, the reader thread rejections, others read snapshots."""

    def __init__(self, window_s: float, relative_accuracy: float) -> None:
        self._lock = threading.Lock()
        self._window_s = window_s
        self._accuracy = relative_accuracy
        self._models: dict[str, ModelStats] = {}
        # Requests that named no model the runtime knows: counted, not by model.
        self._unattributed = ModelStats(window_s, relative_accuracy)
        self._rpc_errors: Counter[str] = Counter()
        self.listeners: list[Callable[[StreamOutcome], None]] = []
        self.started_at = time.monotonic()

    @property
    def window_s(self) -> float:
        return self._window_s

    def set_window(self, window_s: float) -> None:
        """A new window length: windows restart empty, lifetime figures stay."""
        with self._lock:
            if window_s == self._window_s:
                return
            self._window_s = window_s
            for stats in [*self._models.values(), self._unattributed]:
                stats.window = SlidingWindow(window_s, self._accuracy)

    def track(self, model_id: str) -> None:
        """Keep figures for this model from now on (called when it loads)."""
        with self._lock:
            self._stats_of(model_id)

    def model_ids(self) -> list[str]:
        with self._lock:
            return list(self._models)

    # --- gauges: called by the stream's sink, on the engine thread ---------

    def stream_opened(self, model_id: str) -> None:
        with self._lock:
            stats = self._stats_of(model_id)
            stats.active += 1
            stats.queued += 1

    def first_token(self, model_id: str) -> None:
        with self._lock:
            self._stats_of(model_id).queued -= 1

    def stream_closed(self, model_id: str, had_token: bool) -> None:
        with self._lock:
            stats = self._stats_of(model_id)
            stats.active -= 1
            stats.queued -= not had_token

    def active_streams(self, model_id: str) -> int:
        with self._lock:
            stats = self._models.get(model_id)
            return stats.active if stats else 0

    def queue_depth(self, model_id: str) -> int:
        with self._lock:
            stats = self._models.get(model_id)
            return stats.queued if stats else 0

    # --- outcomes ----------------------------------------------------------

    def record(self, outcome: StreamOutcome) -> None:
        with self._lock:
            stats = self._models.get(outcome.model_id) or self._unattributed
            stats.lifetime.record(outcome)
            stats.window.record(outcome)
            listeners = list(self.listeners)
        for listener in listeners:
            try:
                listener(outcome)
            except Exception:  # on the engine thread: never fail a stream for it
                log.exception("metrics listener failed")

    def rpc_error(self, code: str) -> None:
        with self._lock:
            self._rpc_errors[code] += 1

    # --- reading -----------------------------------------------------------

    def window(self, model_id: str, now: float) -> TrafficStats:
        with self._lock:
            stats = self._models.get(model_id)
            return stats.window.merged(now) if stats else TrafficStats(self._accuracy)

    def rpc_errors(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._rpc_errors.items()))

    def model_metrics(self, model_ids: Iterable[str], now: float) -> dict[str, ModelMetrics]:
        with self._lock:
            return {model_id: _wire(self._models[model_id], now)
                    for model_id in model_ids if model_id in self._models}

    def overall(self, now: float) -> ModelMetrics:
        with self._lock:
            lifetime = TrafficStats(self._accuracy)
            window = TrafficStats(self._accuracy)
            active = queued = 0
            for stats in [*self._models.values(), self._unattributed]:
                lifetime.merge(stats.lifetime)
                window.merge(stats.window.merged(now))
                active += stats.active
                queued += stats.queued
            return ModelMetrics(active_streams=active, queue_depth=queued,
                                lifetime=lifetime.to_wire(), window=window.to_wire())

    def _stats_of(self, model_id: str) -> ModelStats:
        stats = self._models.get(model_id)
        if stats is None:
            stats = self._models[model_id] = ModelStats(self._window_s, self._accuracy)
        return stats


def _wire(stats: ModelStats, now: float) -> ModelMetrics:
    return ModelMetrics(active_streams=stats.active, queue_depth=stats.queued,
                        lifetime=stats.lifetime.to_wire(),
                        window=stats.window.merged(now).to_wire())
