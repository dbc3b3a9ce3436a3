"""Latency distributions: DDSketch quantile sketches with a relative-error bound.

A DDSketch answers any quantile within `relative_accuracy` of the true value
(1% by default) in memory logarithmic in the value range, and two sketches
merge exactly, which is how windows are built from time slices.
"""

from __future__ import annotations

import math

from ddsketch import DDSketch

from ..api.messages import LatencySummary

QUANTILES = (0.5, 0.95, 0.99)


class Distribution:
    def __init__(self, relative_accuracy: float) -> None:
        self._sketch = DDSketch(relative_accuracy=relative_accuracy)
        # The sketch keeps exact min/max but does not expose them.
        self._min = math.inf
        self._max = -math.inf

    @property
    def count(self) -> int:
        return int(self._sketch.count)

    def add(self, value: float, weight: float = 1.0) -> None:
        value = max(value, 0.0)
        self._sketch.add(value, weight)
        self._min = min(self._min, value)
        self._max = max(self._max, value)

    def merge(self, other: Distribution) -> None:
        self._sketch.merge(other._sketch)
        self._min = min(self._min, other._min)
        self._max = max(self._max, other._max)

    def quantile(self, q: float) -> float | None:
        if not self._sketch.count:
            return None
        # The sketch answers bucket midpoints: keep them inside the values seen.
        return min(max(self._sketch.get_quantile_value(q), self._min), self._max)

    def summary(self) -> LatencySummary:
        if not self._sketch.count:
            return LatencySummary(count=0, mean=None, min=None, max=None,
                                  p50=None, p95=None, p99=None)
        p50, p95, p99 = (round(self.quantile(q) or 0.0, 3) for q in QUANTILES)
        return LatencySummary(count=self.count, mean=round(self._sketch.avg, 3),
                              min=round(self._min, 3), max=round(self._max, 3),
                              p50=p50, p95=p95, p99=p99)
