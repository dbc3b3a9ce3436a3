"""The log-probabilities a stream reports with its tokens.

Every lane hands a stream each sampled token with the row of log-probabilities
it was sampled from (see ActiveStream.emit for which row that is). Reading one
entry is one `.item()`; the k most likely tokens take a partial sort on the
device and one evaluation, so a request that asks for none pays nothing.
Call on the engine thread only.
"""

from __future__ import annotations

import math
from typing import Any, cast


def most_likely(row: Any, token: int, k: int) -> tuple[float, list[tuple[int, float]]]:
    """(`token`'s log-probability, the k most likely (id, log-probability),
    most likely first). Tokens the row rules out (-inf: a grammar mask) are left
    out, so a guided position may give fewer than k."""
    import mlx.core as mx

    size = row.shape[-1]
    k = min(k, size)
    # argpartition puts the k largest after position size - k, unordered;
    # only those k are sorted.
    ids = mx.argpartition(row, kth=size - k)[size - k:]
    values = row[ids].astype(mx.float32)
    order = mx.argsort(-values)
    ids, values = ids[order], values[order]
    picked = row[token].astype(mx.float32)
    mx.eval(ids, values, picked)
    pairs = zip(cast(list[int], ids.tolist()), cast(list[float], values.tolist()), strict=True)
    return picked.item(), [(i, v) for i, v in pairs if math.isfinite(v)]
