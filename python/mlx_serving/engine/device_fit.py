"""A text model just loaded, fitted to the device: on the CPU its half-precision
arrays as float32, how its quantized layers run (quantized_layers.py) and how
many streams it decodes together (batch_sizing.py)."""

from __future__ import annotations

import logging
import os
from typing import cast

import mlx.core as mx
from mlx.utils import tree_flatten, tree_unflatten

from .. import cpu_blas
from ..config import RuntimeConfig
from .batch_sizing import choose_batch_size
from .models import LoadedModel, weight_arrays
from .quantized_layers import adapt_quantized

log = logging.getLogger(__name__)


def system_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return None


def device_memory() -> int | None:
    """The GPU's memory in bytes; None on the CPU (or when MLX does not say)."""
    if mx.default_device().type != mx.gpu:
        return None
    info = mx.device_info()
    size = info.get("total_memory") or info.get("memory_size")
    return size if isinstance(size, int) and size > 0 else None


def weight_bytes(model: LoadedModel) -> int:
    return sum(array.nbytes for array in weight_arrays(model.model))


_HALF = (mx.float16, mx.bfloat16)


def as_float32(model: LoadedModel) -> int:
    """Every float16 / bfloat16 array of the model (weights, norms, quantization
    scales and biases) as float32: MLX's CPU backend runs half precision 10-40x
    slower (a 49152x576 8-bit product of one row: 5.6 s with float16 scales,
    0.17 s with float32, on the 2-core machine). The arrays cast, in bytes before."""
    named = cast(list[tuple[str, mx.array]], tree_flatten(model.model.parameters()))
    half = [(name, array) for name, array in named if array.dtype in _HALF]
    if half:
        model.model.update(tree_unflatten([(name, array.astype(mx.float32))
                                           for name, array in half]))
        mx.eval(model.model.parameters())
    return sum(array.nbytes for _, array in half)


def fit_to_device(model: LoadedModel, config: RuntimeConfig) -> None:
    memory = device_memory()
    on_cpu = memory is None and mx.default_device().type == mx.cpu
    if on_cpu and config.cpu.float32 and as_float32(model):
        model.memory_bytes = weight_bytes(model)
    quantized = config.quantized
    route = adapt_quantized(model.model, quantized.dense, quantized.rows,
                            quantized.dense_memory_share, system_memory() if on_cpu else memory,
                            model.memory_bytes, fast_blas=cpu_blas.loaded is not None)
    if route in ("dense", "prefill"):
        before, model.memory_bytes = model.memory_bytes, weight_bytes(model)
        use = ("run as dense copies of their weights" if route == "dense"
               else "keep float32 copies of their weights for prompt chunks")
        model.warnings.append(
            f"quantized layers {use} (quantized.dense): {model.memory_bytes / 1e9:.2f} GB "
            f"in memory instead of {before / 1e9:.2f} GB")
    model.max_batch_size = choose_batch_size(model.path, model.memory_bytes,
                                             model.context_length, memory)
    log.info("%s: quantized layers %s, weights %.2f GB, batch size %d", model.model_id,
             route, model.memory_bytes / 1e9, model.max_batch_size)
