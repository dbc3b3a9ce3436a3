"""Batch-shape buckets: keep the decode batch at a few sizes, padding with idle rows.

On CUDA, MLX compiles kernels the first time it sees a batch size; a first
batch of 8 once decoded at a tenth of its warm speed. With buckets the decode
batch only ever has one of a few sizes (1, 2, 4, 8, 16, 32), each compiled
during warm-up; the rows that make up the difference are pads: idle rows whose
tokens nobody reads (a finished stream's row, or a one-token dummy).

The rules, with R real rows decoding and G rows in all (G is always a bucket):
- a finished or cancelled stream's row stays as a pad, so G does not change;
- after a step, surplus pads leave until G is the bucket of R;
- streams join in groups whose size is a bucket, topped up with fresh pads,
  and large enough that after joining G can settle on the bucket of R.
Joining rows run one forward pass of their own (mlx-lm's join step), so the
group size is a batch shape too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

BucketSetting = Literal["auto", "on", "off"] | list[int]


def bucket_sizes(setting: BucketSetting, max_batch_size: int, on_gpu: bool) -> tuple[int, ...]:
    """The sizes in use, ending at max_batch_size; () when buckets are off."""
    if setting == "off" or (setting == "auto" and not on_gpu):
        return ()
    if isinstance(setting, list):
        sizes = [size for size in setting if size < max_batch_size]
    else:
        powers = (1 << bit for bit in range(max_batch_size.bit_length()))
        sizes = [size for size in powers if size < max_batch_size]
    return (*sizes, max_batch_size)


def bucket_of(rows: int, sizes: Sequence[int]) -> int:
    """The smallest bucket that holds `rows` (0 for none)."""
    if rows <= 0:
        return 0
    return next((size for size in sizes if size >= rows), sizes[-1])


def join_group(joining: int, decoding: int, batch_rows: int, sizes: Sequence[int]) -> int:
    """How many rows (joining streams plus fresh pads) should join now.

    `decoding` real rows and `batch_rows` rows in all are in the batch; the
    group is a bucket, and big enough that the batch can settle on the
    bucket of all real rows after it joins.
    """
    if joining <= 0:
        return 0
    target = bucket_of(decoding + joining, sizes)
    return bucket_of(max(joining, target - batch_rows), sizes)
