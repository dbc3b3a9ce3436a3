"""Latency distributions: DDSketch quantile sketches with a relative-error bound.

A DDSketch answers any quantile within `relative_accuracy` of the true value
(1% by default) in memory logarithmic in the value range, and two sketches
merge exactly, which is how windows are built from time slices.
"""

from __future__ import annotations

import math

import numpy as np
from ddsketch import DDSketch, LogarithmicMapping

from ..api.messages import LatencySummary

QUANTILES = (0.5, 0.95, 0.99)


class Distribution:
    def __init__(self, relative_accuracy: float) -> None:
        self._sketch = DDSketch(relative_accuracy=relative_accuracy)
        # The key mapping DDSketch uses (ddsketch pinned to 3.0.x): for add_many.
        self._mapping = LogarithmicMapping(relative_accuracy)
        self._log_gamma = math.log(self._mapping.gamma)
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

    def add_many(self, values: np.ndarray) -> None:
        """Many values at once (a stream's inter-token gaps): the values of one
        sketch bucket go in as one weighted insert, so the cost follows the
        buckets touched, not the values. Quantiles, count, min and max are as
        with `add`; the mean moves by at most the relative accuracy."""
        if values.size == 0:
            return
        values = np.maximum(values, 0.0)
        self._min = min(self._min, float(values.min()))
        self._max = max(self._max, float(values.max()))
        positive = values[values > 0.0]
        if positive.size < values.size:
            self._sketch.add(0.0, float(values.size - positive.size))
        # The logarithmic mapping's bucket of v is ceil(log_gamma(v)).
        keys, counts = np.unique(np.ceil(np.log(positive) / self._log_gamma),
                                 return_counts=True)
        for key, count in zip(keys.tolist(), counts.tolist(), strict=False):
            self._sketch.add(self._mapping.value(int(key)), float(count))

    def merge(self, other: Distribution) -> None:
        self._sketch.merge(other._sketch)
        self._min = min(self._min, other._min)
        self._max = max(self._max, other._max)

    def quantile(self, q: float) -> float | None:
        value = self._sketch.get_quantile_value(q)  # None while it is empty
        if value is None:
            return None
        # The sketch answers bucket midpoints: keep them inside the values seen.
        return min(max(value, self._min), self._max)

    def summary(self) -> LatencySummary:
        if not self._sketch.count:
            return LatencySummary(count=0, mean=None, min=None, max=None,
                                  p50=None, p95=None, p99=None)
        p50, p95, p99 = (round(self.quantile(q) or 0.0, 3) for q in QUANTILES)
        return LatencySummary(count=self.count, mean=round(self._sketch.avg, 3),
                              min=round(self._min, 3), max=round(self._max, 3),
                              p50=p50, p95=p95, p99=p99)
