"""The k most likely tokens of a row: the device path and the host path agree."""

from __future__ import annotations

import math

import mlx.core as mx
import pytest

from mlx_serving.engine.logprobs import _on_device, _on_host, most_likely


def _row(size: int, masked: int = 0, dtype: mx.Dtype = mx.float32) -> mx.array:
    logits = mx.random.normal((size,), key=mx.random.key(size + masked))
    if masked:  # a grammar mask: all but the first `size - masked` ruled out
        logits = mx.where(mx.arange(size) < size - masked, logits, -math.inf)
    return (logits - mx.logsumexp(logits)).astype(dtype)


@pytest.mark.parametrize(("size", "masked", "k", "dtype"), [
    (512, 0, 5, mx.float32), (128256, 0, 20, mx.float32), (512, 0, 20, mx.bfloat16),
    (64, 61, 5, mx.float32), (8, 0, 20, mx.float32)])
def test_both_paths_rank_alike(size: int, masked: int, k: int, dtype: mx.Dtype) -> None:
    row = _row(size, masked, dtype)
    device, host = _on_device(row, 1, min(k, size)), _on_host(row, 1, min(k, size))
    assert [v for _, v in device[1]] == [v for _, v in host[1]]
    if dtype == mx.float32:  # bfloat16 ties at the k-th value: either may make the cut
        assert device[1] == host[1]  # ties inside the k: by id
    assert device[0] == pytest.approx(host[0]) and len(host[1]) == min(k, size - masked)
    values = [v for _, v in host[1]]
    assert values == sorted(values, reverse=True)
    full = row.astype(mx.float32).tolist()
    assert values == sorted(full, reverse=True)[:len(values)]
    assert all(full[i] == v for i, v in host[1])


def test_the_token_own_figure_and_k_beyond_the_vocabulary() -> None:
    row = _row(8)
    picked, ranked = most_likely(row, 3, 20)
    assert picked == pytest.approx(row[3].item()) and len(ranked) == 8
    assert dict(ranked)[3] == pytest.approx(picked)
