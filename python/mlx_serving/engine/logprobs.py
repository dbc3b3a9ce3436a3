"""The log-probabilities a stream reports with its tokens.

Every lane hands a stream each sampled token with the row of log-probabilities
it was sampled from (see ActiveStream.emit for which row that is). Reading one
entry is one `.item()`; the k most likely tokens take a partial selection and
one transfer of k ids and values, so a request that asks for none pays
nothing. Call on the engine thread only.
"""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np

Ranked = tuple[float, list[tuple[int, float]]]


def most_likely(row: Any, token: int, k: int) -> Ranked:
    """(`token`'s log-probability, the k most likely (id, log-probability),
    most likely first). Tokens the row rules out (-inf: a grammar mask) are left
    out, so a guided position may give fewer than k."""
    import mlx.core as mx

    k = min(k, row.shape[-1])
    on_host = mx.default_device().type == mx.cpu
    return _on_host(row, token, k) if on_host else _on_device(row, token, k)


def _on_device(row: Any, token: int, k: int) -> Ranked:
    import mlx.core as mx

    # argpartition puts the k largest after position size - k, unordered;
    # only those k leave the device.
    size = row.shape[-1]
    ids = mx.argpartition(row, kth=size - k)[size - k:]
    values = row[ids].astype(mx.float32)
    picked = row[token].astype(mx.float32)
    mx.eval(ids, values, picked)
    return picked.item(), _ranked(cast(list[int], ids.tolist()),
                                  cast(list[float], values.tolist()))


def _on_host(row: Any, token: int, k: int) -> Ranked:
    """The same where MLX runs on the CPU: the row is in host memory already
    (numpy reads it without a copy), and numpy's selection is about 6x faster
    than MLX's CPU argpartition (0.24 against 1.5 ms over 128k entries)."""
    import mlx.core as mx

    values = np.asarray(row if row.dtype == mx.float32 else row.astype(mx.float32))
    size = values.shape[-1]
    ids = np.argpartition(values, size - k)[size - k:]
    return float(values[token]), _ranked(ids.tolist(), values[ids].tolist())


def _ranked(ids: list[int], values: list[float]) -> list[tuple[int, float]]:
    """Most likely first; ties by id, as argmax (greedy) breaks them; -inf out."""
    pairs = sorted(zip(ids, values, strict=True), key=lambda pair: (-pair[1], pair[0]))
    return [(i, v) for i, v in pairs if math.isfinite(v)]
