"""How a quantized model's layers run: rows folded into one matrix, or dense copies.

Rows.
A decode step gives every layer its activations shaped (B, 1, K): one row
per stream, each a batch of its own. MLX's `quantized_matmul` on CUDA then
runs B matrix-vector products; the same rows shaped (1, B, K) go through one
matrix product instead, 2.3-2.7x faster at B = 32 on an H200 (4096x14336,
4-bit), with the same values per row. The leading batch axes are folded
into the row axis before the product and unfolded after, so the layer's
callers see no difference. MLX and mlx-lm stay as they are: the loaded
model's quantized layers are retyped to the subclasses below, which hold
no state of their own.

Dense copies. Even so, a 4-bit product at 32 rows took three times a
bfloat16 one on an H200, while at one row they are level: an 8B 4-bit
decode step at 1 / 8 / 32 streams took 8.8 / 16.3 / 23.9 ms with rows
folded and 7.4 / 9.2 / 8.3 ms with every quantized layer replaced by a
bfloat16 copy of its dequantized weight (bench/decode_step.py). Where the
copies fit in memory, that is the faster route at every batch size; their
values are the quantized weights' own, rounded to the copy's dtype (the
scales' dtype), so results change by float rounding only, and the same
for a stream alone or batched.

Prefill copies (the CPU). MLX's CPU quantized kernels are slow on many rows:
a 48x576 by 576x1536 4-bit product took 425 ms, its float32 copy 25 ms
through OpenBLAS (cpu_blas.py), while at one row the quantized kernel is the
faster. So with an optimized BLAS loaded, a layer keeps its quantized weight
for single-token steps and a float32 copy for prompt chunks (more than one
position per row); a decode step of any batch size stays quantized, so a
stream decodes the same tokens alone as batched.
"""

from __future__ import annotations

from typing import Any, Literal

import mlx.core as mx

# From their modules: mypy does not follow mlx.nn's star import of its layers.
from mlx.nn.layers.base import Module
from mlx.nn.layers.embedding import Embedding
from mlx.nn.layers.linear import Linear
from mlx.nn.layers.quantized import QuantizedEmbedding, QuantizedLinear

Setting = Literal["auto", "on", "off"]
DenseSetting = Literal["auto", "on", "off", "prefill"]


def _as_rows(x: mx.array) -> mx.array:
    """(B, ..., K) as (1, B * ..., K): one matrix of every row."""
    return x.reshape(1, -1, x.shape[-1])


def _folds(x: mx.array) -> bool:
    return x.ndim >= 3 and x.shape[0] > 1


class RowBatchedQuantizedLinear(QuantizedLinear):
    def __call__(self, x: mx.array) -> mx.array:
        folds = _folds(x)
        # mlx.nn leaves it unannotated (untyped_calls_exclude misses super() calls).
        out: mx.array = super().__call__(_as_rows(x) if folds else x)  # type: ignore[no-untyped-call]
        return out.reshape(*x.shape[:-1], out.shape[-1]) if folds else out


class RowBatchedQuantizedEmbedding(QuantizedEmbedding):
    """The tied output layer (`as_linear`) is the widest product of a small model."""

    def as_linear(self, x: mx.array) -> mx.array:
        folds = _folds(x)
        out: mx.array = super().as_linear(_as_rows(x) if folds else x)  # type: ignore[no-untyped-call]
        return out.reshape(*x.shape[:-1], out.shape[-1]) if folds else out


class PrefillDenseQuantizedLinear(RowBatchedQuantizedLinear):
    """Prompt chunks through the dense copy (`dense`), single tokens quantized."""

    def __call__(self, x: mx.array) -> mx.array:
        if x.ndim < 2 or x.shape[-2] == 1:
            return super().__call__(x)
        dense: mx.array = self["dense"]
        out = x @ dense.T
        return out + self["bias"] if "bias" in self else out


class PrefillDenseQuantizedEmbedding(RowBatchedQuantizedEmbedding):
    def as_linear(self, x: mx.array) -> mx.array:
        if x.ndim < 2 or x.shape[-2] == 1:
            return super().as_linear(x)
        dense: mx.array = self["dense"]
        return x @ dense.T


_RETYPED: dict[type[Module], type[Module]] = {
    QuantizedLinear: RowBatchedQuantizedLinear,
    QuantizedEmbedding: RowBatchedQuantizedEmbedding,
}


def batch_quantized_rows(model: Any, setting: Setting) -> int:
    """Retype the model's quantized layers where `setting` asks for it (exact
    types only: a subclass with a call of its own stays as it is); the number
    retyped. 'auto' does it on a GPU only: on MLX's CPU backend both shapes
    take the same time (576x1536 4-bit, B = 8 and 32)."""
    wanted = mx.default_device().type == mx.gpu if setting == "auto" else setting == "on"
    retyped = 0
    for _, module in model.named_modules() if wanted else ():
        subclass = _RETYPED.get(type(module))
        if subclass is not None:
            # Same fields, same parameters: only the call differs.
            module.__class__ = subclass
            retyped += 1
    return retyped


def _quantized(model: Any) -> list[tuple[str, Module]]:
    kinds = (QuantizedLinear, QuantizedEmbedding)
    return [(name, module) for name, module in model.named_modules()
            if type(module) in kinds or type(module) in _RETYPED.values()]


def _dequantized(module: Any) -> mx.array:
    weight = mx.dequantize(module["weight"], module["scales"], module.get("biases"),
                           group_size=module.group_size, bits=module.bits, mode=module.mode)
    return weight.astype(module["scales"].dtype)


def dense_bytes(model: Any) -> int:
    """What dense copies of the model's quantized layers would take."""
    total = 0
    for _, module in _quantized(model):
        rows, packed = module["weight"].shape
        total += rows * packed * 32 // module.bits * module["scales"].dtype.size
    return total


def densify(model: Any) -> int:
    """Replace each quantized layer by a dense one holding its dequantized
    weight, one at a time (each quantized one is freed as its copy takes its
    place); the number replaced."""
    modules = dict(model.named_modules())
    replaced = _quantized(model)
    for name, module in replaced:
        weight = _dequantized(module)
        if isinstance(module, QuantizedEmbedding):
            dense: Module = Embedding(*weight.shape)
        else:
            dense = Linear(weight.shape[1], weight.shape[0], bias="bias" in module)
            if "bias" in module:
                dense.bias = module["bias"]
        dense.weight = weight
        mx.eval(dense.parameters())
        parent, _, attribute = name.rpartition(".")
        modules[parent][attribute] = dense  # modules keep their children as dict items
    return len(replaced)


def add_prefill_copies(model: Any) -> int:
    """Give each quantized layer a dense copy for prompt chunks; the number given."""
    layers = _quantized(model)
    for _, module in layers:
        module["dense"] = _dequantized(module)
        mx.eval(module["dense"])
        module.__class__ = (PrefillDenseQuantizedEmbedding
                            if isinstance(module, QuantizedEmbedding)
                            else PrefillDenseQuantizedLinear)
    return len(layers)


def adapt_quantized(model: Any, dense: DenseSetting, rows: Setting, memory_share: float,
                    device_memory: int | None, weight_bytes: int, fast_blas: bool) -> str:
    """Dense copies where `dense` asks for them ('auto': on a GPU when the
    model with its copies takes at most `memory_share` of the device's
    memory, the system's on the CPU, where they are prefill copies and
    need an optimized BLAS loaded),
    else rows folded as `rows` asks; what was done: 'dense', 'prefill',
    'rows' or 'none'."""
    if not _quantized(model):
        return "none"
    if dense == "auto":
        on_gpu = mx.default_device().type == mx.gpu
        fits = device_memory is not None and \
            weight_bytes + dense_bytes(model) <= memory_share * device_memory
        dense = ("on" if fits else "off") if on_gpu else ("prefill" if fits and fast_blas else "off")
    if dense == "on":
        densify(model)
        return "dense"
    if dense == "prefill":
        add_prefill_copies(model)
        return "prefill"
    return "rows" if batch_quantized_rows(model, rows) else "none"
