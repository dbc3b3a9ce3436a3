"""Prompt (KV) cache reuse for one model, on mlx-lm's LRUPromptCache.

When a stream ends, the KV cache of its tokens (prompt and output) is kept.
A later prompt that shares a prefix with a kept sequence starts from a copy
of that cache, trimmed to the common prefix, and only the rest of the prompt
is prefilled. Entries are bounded by count and bytes; the least recently
used go first. Call on the engine thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..api.messages import PromptCacheState
from ..config import PromptCacheConfig
from .kv_cache import LeanKVCache


@dataclass(frozen=True)
class CacheHit:
    cache: list[Any]
    rest: list[int]  # the prompt tokens still to prefill (at least one)
    reused: int  # prompt tokens covered by `cache`


class PromptCache:
    def __init__(self, config: PromptCacheConfig) -> None:
        from mlx_lm.models.cache import LRUPromptCache

        self._min_prefix = config.min_prefix_tokens
        self._lru = LRUPromptCache(max_size=config.max_entries, max_bytes=config.max_bytes)
        self.stats = PromptCacheState()

    def fetch(self, prompt: list[int]) -> CacheHit | None:
        """A cache covering a prefix of `prompt` (min_prefix_tokens or more), if kept."""
        from mlx_lm.models.cache import can_trim_prompt_cache, trim_prompt_cache

        cache, rest = self._lru.fetch_nearest_cache(None, prompt)
        if cache is not None and not rest:
            # The whole prompt is cached: the last token must still run to
            # give the first output token.
            if not can_trim_prompt_cache(cache):
                cache = None
            else:
                trim_prompt_cache(cache, 1)
                rest = prompt[-1:]
        reused = len(prompt) - len(rest)
        if cache is None or reused < self._min_prefix:
            self.stats.misses += 1
            return None
        self.stats.hits += 1
        self.stats.reused_tokens += reused
        return CacheHit([LeanKVCache.adopt(layer) for layer in cache], list(rest), reused)

    def store(self, tokens: list[int], cache: list[Any]) -> None:
        """Keep `cache`, which holds the KV of exactly `tokens` (it is not used elsewhere)."""
        import mlx.core as mx

        if len(tokens) < self._min_prefix:
            return
        for layer in cache:
            _fit(layer)
        # Materialize now: a lazy slice would keep the whole batch's buffers alive.
        mx.eval([layer.state for layer in cache])
        self._lru.insert_cache(None, list(tokens), cache)
        self.stats.entries, self.stats.bytes = len(self._lru), self._lru.nbytes

    def clear(self) -> None:
        """Drop every entry and start the counts afresh."""
        self._lru.trim_to(n_sequences=0)
        self.stats = PromptCacheState()


def _fit(layer: Any) -> None:
    """Cut the room a per-sequence KV cache keeps for tokens to come (up to
    255 of them, after solo decoding), so that max_bytes counts what is used."""
    import mlx.core as mx
    from mlx_lm.models.cache import KVCache

    if isinstance(layer, KVCache) and layer.keys is not None and layer.values is not None \
            and layer.keys.shape[2] > layer.offset:
        layer.keys = mx.contiguous(layer.keys[..., :layer.offset, :])
        layer.values = mx.contiguous(layer.values[..., :layer.offset, :])
