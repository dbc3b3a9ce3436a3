"""A stream's token bitmask applied to its logits with as little device work as it allows.

On a GPU a small model's decode step is bound by kernel launches, so what
counts is the number of kernels and host->device copies a mask adds per
step, not the arithmetic. Three observations keep it low:

- A stream's masks repeat: inside a JSON string, and after it, the same
  few masks come back step after step. Each distinct bitmask is expanded
  once into a device-resident boolean row and kept (a few per stream, the
  most recently used); a repeat costs one dictionary lookup on the host and
  one `where` on the device, with nothing copied.
- A mask that allows a single token (a forced token: a key, a bracket) is
  built on the device from the token id: no row of booleans crosses over.
  It still goes through `where` and the sampler as any mask does, so the
  sampler draws from its PRNG exactly as it would otherwise.
- A mask that allows every column changes nothing: the logits pass as they are.

A new mask is unpacked on the host (numpy) and copied once; columns past
the bitmask (logits wider than the tokenizer) are never allowed.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

_KEPT = 8  # distinct masks kept per stream: string bodies, separators, forced tokens

_ALL = None  # the cached "mask" of a bitmask that allows every column


class LogitsMasker:
    """One stream's masks; call on the engine thread only (it makes MLX arrays)."""

    def __init__(self) -> None:
        self._masks: OrderedDict[bytes, Any] = OrderedDict()  # bitmask bytes -> (1, width) bool
        self._width = 0  # the logits' width the cached masks were made for
        self._columns: Any = None  # arange(width), for single-token masks
        self._neg_inf: Any = None

    def apply(self, logits: Any, words: np.ndarray) -> Any:
        """`logits` (1, width) with every column whose bit is clear in `words`
        (int32, bit i of word i // 32 is column i) set to -inf."""
        import mlx.core as mx

        width = logits.shape[-1]
        if width != self._width:  # not expected mid-stream; start over if it happens
            self._masks.clear()
            self._width, self._columns = width, None
        key = words.tobytes()
        if key in self._masks:
            self._masks.move_to_end(key)
            mask = self._masks[key]
        else:
            mask = self._masks[key] = self._build(words, width)
            if len(self._masks) > _KEPT:
                self._masks.popitem(last=False)
        if mask is _ALL:
            return logits
        if self._neg_inf is None or self._neg_inf.dtype != logits.dtype:
            self._neg_inf = mx.array(-np.inf, dtype=logits.dtype)
        return mx.where(mask, logits, self._neg_inf)

    def _build(self, words: np.ndarray, width: int) -> Any:
        import mlx.core as mx

        # Little-endian bit order: bit i of a word is column 32 * word + i; a
        # count past the bitmask's end pads with zeros (never allowed).
        allowed = np.unpackbits(words.view(np.uint8), count=width, bitorder="little")
        count = int(np.count_nonzero(allowed))
        if count == width:
            return _ALL
        if count == 1:
            if self._columns is None:
                self._columns = mx.arange(width, dtype=mx.int32).reshape(1, width)
            return self._columns == int(np.argmax(allowed))
        return mx.array(allowed.view(np.bool_).reshape(1, width))
