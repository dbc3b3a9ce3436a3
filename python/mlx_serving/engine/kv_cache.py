"""KV caches for the batch: mlx-lm's, minus one mask a batch of one never needs.

mlx-lm's BatchKVCache builds an attention mask for every decode step, so
that rows with left padding ignore it. A batch of one row never has padding
(merging one cache and filtering down to one row both leave it flush), and
for a small model that mask costs about 8% of a decode step: single-stream
decode through the batch then runs as fast as mlx_lm.stream_generate.
"""

from __future__ import annotations

from typing import Any

from mlx_lm.models.cache import BatchKVCache, KVCache, make_prompt_cache


class LeanBatchKVCache(BatchKVCache):
    def make_mask(self, N: int, return_array: bool = False, **kwargs: Any) -> Any:
        if N == 1 and kwargs.get("window_size") is None and self.offset.shape[0] == 1:
            return None  # one row, one query: it sees every cached position
        return super().make_mask(N, return_array=return_array, **kwargs)


class LeanKVCache(KVCache):
    """A per-sequence cache that batches into a LeanBatchKVCache."""

    @classmethod
    def merge(cls, caches: list[Any]) -> LeanBatchKVCache:
        if not any(cache.size() for cache in caches):
            # BatchKVCache.merge makes a plain BatchKVCache for empty caches.
            return LeanBatchKVCache([0] * len(caches))
        merge: Any = LeanBatchKVCache.merge  # mlx-lm leaves it unannotated
        merged: LeanBatchKVCache = merge(caches)
        return merged

    @classmethod
    def adopt(cls, cache: Any) -> Any:
        """The same cache as a LeanKVCache (sharing its arrays); other kinds as they are."""
        if type(cache) is not KVCache:
            return cache
        lean = cls()
        lean.keys, lean.values, lean.offset = cache.keys, cache.values, cache.offset
        return lean


def new_cache(model: Any) -> list[Any]:
    """A fresh per-layer cache for one sequence of `model`."""
    return [LeanKVCache.adopt(layer) for layer in make_prompt_cache(model)]
