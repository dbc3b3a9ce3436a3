"""The rotary embedding a GGUF file describes, mapped onto mlx-lm's.

llama.cpp keeps Llama 3.x's RoPE scaling as a tensor, `rope_freqs.weight`:
one divisor per rotated pair, computed by its converter from the model's
llama3 `rope_scaling` (ggml_rope_ext divides each pair's angle by it). So
the file's factors are applied as they are, by a RoPE module that hands
MLX's `mx.fast.rope` the per-pair wavelengths base^(2i/d) * factor[i],
rather than guessing back the llama3 parameters they came from. Linear
scaling (`*.rope.scaling.type` "linear") is mlx-lm's own; the other kinds
(YaRN, LongRoPE) are refused, never run unscaled.
"""

from __future__ import annotations

from typing import Any

import mlx.core as mx
from mlx.nn.layers.base import Module

from ...api.errors import ErrorCode, ServingError
from .header import GgufHeader, TensorInfo

ROPE_FREQS = "rope_freqs.weight"


def _unsupported(header: GgufHeader, message: str, **details: Any) -> ServingError:
    return ServingError(ErrorCode.UNSUPPORTED_MODEL, f"{str(header.path)!r}: {message}",
                        model=str(header.path), **details)


def linear_scale(header: GgufHeader) -> float:
    """llama.cpp's freq_scale: 1 / the linear factor, 1.0 when unscaled."""
    prefix = header.get("general.architecture")
    kind = header.get(f"{prefix}.rope.scaling.type")
    if kind in (None, "none"):
        return 1.0
    if kind != "linear":
        raise _unsupported(header, f"{prefix}.rope.scaling.type {kind!r} is not supported "
                                   "(supported: none, linear, and Llama 3's rope_freqs factors)",
                           rope_scaling=kind)
    # Older files name the factor rope.scale_linear.
    factor = header.get(f"{prefix}.rope.scaling.factor", header.get(f"{prefix}.rope.scale_linear"))
    if not isinstance(factor, (int, float)) or isinstance(factor, bool) or factor <= 0:
        raise ServingError(ErrorCode.MODEL_LOAD_FAILED,
                           f"{str(header.path)!r}: linear RoPE scaling without a positive "
                           f"{prefix}.rope.scaling.factor (got {factor!r})", model=str(header.path))
    return 1.0 / float(factor)


def rope_scaling_config(header: GgufHeader) -> dict[str, Any] | None:
    """mlx-lm's `rope_scaling` config entry for the file's linear scaling."""
    scale = linear_scale(header)
    return None if scale == 1.0 else {"type": "linear", "factor": 1.0 / scale}


def check_rope_dimensions(header: GgufHeader, head_dim: int) -> None:
    """mlx-lm's models rotate whole heads: refuse a file that rotates part of each."""
    prefix = header.get("general.architecture")
    rotated = header.get(f"{prefix}.rope.dimension_count", head_dim)
    if rotated != head_dim:
        raise _unsupported(header, f"{prefix}.rope.dimension_count is {rotated!r} for heads of "
                                   f"{head_dim}: partial rotary embeddings are not supported",
                           rope_dimensions=rotated)


def check_rope_tensors(header: GgufHeader) -> None:
    """Phi-3's 128k files carry LongRoPE factors, which llama.cpp picks by the
    context size asked for; mlx-lm's SuScaledRoPE always uses the long ones."""
    names = {tensor.name for tensor in header.tensors}
    if names & {"rope_factors_long.weight", "rope_factors_short.weight"}:
        raise _unsupported(header, "LongRoPE scaling (rope_factors_long/rope_factors_short, "
                                   "as in Phi-3 128k files) is not supported",
                           rope_scaling="longrope")


def check_frequency_factors(header: GgufHeader, tensor: TensorInfo, head_dim: int) -> None:
    """`rope_freqs.weight` holds one float32 factor per rotated pair."""
    if tensor.shape != (head_dim // 2,) or tensor.type.name != "F32":
        raise ServingError(ErrorCode.MODEL_LOAD_FAILED,
                           f"{str(header.path)!r}: {ROPE_FREQS} is {tensor.type.name} "
                           f"{list(tensor.shape)}; float32 [{head_dim // 2}] expected (one "
                           "factor per rotated pair)", model=str(header.path))


class FrequencyFactorRoPE(Module):
    """RoPE whose pair i turns at position p by scale * p / (base^(2i/d) * factors[i]),
    as ggml_rope_ext does with freq_factors."""

    def __init__(self, dims: int, traditional: bool, base: float, scale: float,
                 factors: mx.array) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.dims = dims
        self.traditional = traditional
        self.scale = scale
        exponents = mx.arange(0, dims, 2, dtype=mx.float32) / dims
        # Underscored: a constant of the model, not a weight to load or quantize.
        self._freqs = mx.power(mx.array(base, dtype=mx.float32), exponents) \
            * factors.astype(mx.float32)

    def __call__(self, x: mx.array, offset: int | mx.array = 0) -> mx.array:
        return mx.fast.rope(x, self.dims, traditional=self.traditional, base=None,
                            scale=self.scale, offset=offset, freqs=self._freqs)


def apply_frequency_factors(model: Any, config: dict[str, Any], factors: mx.array,
                            scale: float) -> None:
    """Give every attention layer of `model` the file's RoPE factors."""
    for layer in model.model.layers:
        layer.self_attn.rope = FrequencyFactorRoPE(
            config["head_dim"], config["rope_traditional"], config["rope_theta"], scale, factors)
