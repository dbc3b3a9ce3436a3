"""Batch-shape buckets: the sizes in use and the size of a joining group."""

from __future__ import annotations

import itertools

import pytest

from mlx_serving.engine.buckets import bucket_of, bucket_sizes, join_group


def test_bucket_sizes() -> None:
    assert bucket_sizes("auto", 32, on_gpu=True) == (1, 2, 4, 8, 16, 32)
    assert bucket_sizes("auto", 32, on_gpu=False) == ()
    assert bucket_sizes("on", 24, on_gpu=False) == (1, 2, 4, 8, 16, 24)
    assert bucket_sizes("off", 32, on_gpu=True) == ()
    assert bucket_sizes([1, 4, 64], 16, on_gpu=False) == (1, 4, 16)
    assert bucket_sizes("on", 1, on_gpu=False) == (1,)


def test_bucket_of() -> None:
    sizes = (1, 2, 4, 8)
    assert [bucket_of(rows, sizes) for rows in range(10)] == [0, 1, 2, 4, 4, 8, 8, 8, 8, 8]


@pytest.mark.parametrize("sizes", [(1, 2, 4, 8, 16, 32), (1, 4, 16), (3, 8)])
def test_a_joining_group_is_a_bucket_and_lets_the_batch_settle_on_one(sizes) -> None:
    largest = sizes[-1]
    for streams, joining in itertools.product(range(largest + 1), range(1, 9)):
        if streams + joining > largest:
            continue
        for rows in {bucket_of(streams, sizes), *(s for s in sizes if s >= streams)}:
            group = join_group(joining, streams, rows, sizes)
            assert group in sizes and group >= joining
            # After joining, surplus pads can leave to reach the bucket of all streams.
            assert rows + group >= bucket_of(streams + joining, sizes)
    assert join_group(0, 3, 4, sizes) == 0
