"""How many streams a model decodes together, chosen from the model and the device at load.

On a GPU a decode step of a small model costs about the same at 1 row as
at 64 (it is bound by kernel launches and weight reads, not by rows), so
the batch should be as large as memory allows: each stream holds a KV
cache of its own. The size is the largest power of two (buckets stay
powers of two) whose KV caches, each planned at `PLANNED_CONTEXT` tokens
or the model's context if shorter, fit beside the weights in
`GPU_MEMORY_SHARE` of the device memory, between `GPU_MIN` and `GPU_MAX`.
On the CPU a step costs about its rows' worth (no idle units to fill),
and the size stays `CPU_SIZE`. `batching.max_batch_size` set to a number
overrides the choice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..config import BatchingConfig

CPU_SIZE = 32
GPU_MIN, GPU_MAX = 32, 128
PLANNED_CONTEXT = 4096
GPU_MEMORY_SHARE = 0.8
_KV_ITEM_BYTES = 2  # bfloat16 / float16 keys and values


def kv_bytes_per_token(config: dict[str, Any]) -> int | None:
    """Keys and values one token adds to the cache (all layers), from a
    Hugging Face config; None when the config does not say."""
    text = config.get("text_config") or config
    layers, heads = text.get("num_hidden_layers"), text.get("num_attention_heads")
    kv_heads = text.get("num_key_value_heads") or heads
    head_dim = text.get("head_dim") or (
        text["hidden_size"] // heads if heads and text.get("hidden_size") else None)
    if not (layers and kv_heads and head_dim):
        return None
    return int(2 * layers * kv_heads * head_dim * _KV_ITEM_BYTES)


def choose_batch_size(model_folder: str, weight_bytes: int, context_length: int,
                      device_memory: int | None) -> int:
    """The batch size for a model (device_memory None: the CPU)."""
    if not device_memory:
        return CPU_SIZE
    try:
        config = json.loads((Path(model_folder) / "config.json").read_text())
    except (OSError, ValueError):
        config = {}
    per_token = kv_bytes_per_token(config) if isinstance(config, dict) else None
    if per_token is None:
        return GPU_MIN
    per_stream = per_token * min(context_length, PLANNED_CONTEXT)
    fits = int((device_memory * GPU_MEMORY_SHARE - weight_bytes) // per_stream)
    size = GPU_MIN
    while size * 2 <= min(fits, GPU_MAX):
        size *= 2
    return size


def batch_size_of(config: BatchingConfig, chosen: int) -> int:
    """The configured size when it names one, else the one chosen at load."""
    return chosen if config.max_batch_size == "auto" else config.max_batch_size
