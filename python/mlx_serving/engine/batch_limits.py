"""The lowered max batch size of each model: the one place it is kept.

Ops lowers it (QoS reduce_batch, the batching flag) from its own threads and
shows it in metrics/get; the engine owns it and hands it to every batch of
the model, which reads it when it admits streams. Streams beyond it wait for
a free slot; none is dropped.
"""

from __future__ import annotations

import threading


class BatchLimits:
    def __init__(self) -> None:
        self._limits: dict[str, int] = {}
        self._lock = threading.Lock()  # one check-and-set at a time (ticker, reload)

    def set(self, model_id: str, limit: int | None) -> bool:
        """Lower the model's max batch size to `limit` (None: back to its own);
        False when it had that limit already."""
        with self._lock:
            if self._limits.get(model_id) == limit:
                return False
            if limit is None:
                del self._limits[model_id]
            else:
                self._limits[model_id] = limit
            return True

    def get(self, model_id: str) -> int | None:
        """The model's limit, None when it has none (any thread: one dict read)."""
        return self._limits.get(model_id)

    def all(self) -> dict[str, int]:
        with self._lock:
            return dict(self._limits)
