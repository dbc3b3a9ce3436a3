"""GGUF tensors -> an mlx-lm model: which tensor types load and how, the
architecture's config from the metadata, and llama.cpp's tensor names
mapped to mlx-lm's.

mlx 0.32.4's `mx.load` reads GGUF itself (measured): Q4_0, Q4_1 and Q8_0
come back as MLX affine quantization (group 32, 4 or 8 bits), BF16 and the
K-quants Q2_K/Q4_K/Q6_K come back dequantized to float16, the other
quantized types raise or, from type id 31 on, silently end the load early.
So every tensor type is checked against these sets before `mx.load` runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gguf import GGMLQuantizationType as T

from ...api.errors import ErrorCode, ServingError
from .header import GgufHeader, TensorInfo
from .rope import ROPE_FREQS, check_rope_dimensions, check_rope_tensors, rope_scaling_config

KEPT_QUANTIZED = frozenset({T.Q4_0, T.Q4_1, T.Q8_0})
DEQUANTIZED = frozenset({T.BF16, T.Q2_K, T.Q4_K, T.Q6_K})  # loaded as float16
# mx.load decodes Q4_K wrongly (mlx 0.32.4, measured against llama.cpp's
# get_scale_min_k4): the 6-bit scales of sub-blocks whose packed bytes have
# their top bits set come out wrong, so most weights of a real Q4_K file
# would. These are dequantized from the file by the gguf package instead.
REDECODED = frozenset({T.Q4_K})
PLAIN = frozenset({T.F32, T.F16})
LOADABLE = KEPT_QUANTIZED | DEQUANTIZED | PLAIN


@dataclass(frozen=True)
class Architecture:
    model_type: str  # the mlx-lm module under mlx_lm.models
    # llama.cpp's converter permutes the Q/K rows of Llama-family models into
    # the interleaved rotary order; MLX's "traditional" RoPE reads that order.
    rope_traditional: bool
    attention_bias: bool
    # llama.cpp reads rope_freqs.weight (per-pair RoPE factors) for this architecture.
    rope_factors: bool = False
    # Layer tensors of this architecture beyond, or other than, the common ones
    # (llama.cpp -> mlx-lm).
    extra_parts: Mapping[str, str] = field(default_factory=dict)
    # What llama.cpp's converter added to the norm weights (Gemma's RMSNorm scales
    # by 1 + weight: the converter stores 1 + weight, mlx-lm's module adds the 1).
    norm_offset: float = 0.0


# Mistral's files say "llama" (the same model to llama.cpp and to mlx-lm).
ARCHITECTURES: dict[str, Architecture] = {
    "llama": Architecture("llama", rope_traditional=True, attention_bias=False, rope_factors=True),
    "qwen2": Architecture("qwen2", rope_traditional=False, attention_bias=True),
    "qwen3": Architecture("qwen3", rope_traditional=False, attention_bias=False,
                          extra_parts={"attn_q_norm": "self_attn.q_norm",
                                       "attn_k_norm": "self_attn.k_norm"}),
    # Phi-3 (mini 4k) and Phi-4: Q, K and V in one matrix, gate and up in another,
    # fused in the same order by llama.cpp and mlx-lm.
    "phi3": Architecture("phi3", rope_traditional=False, attention_bias=False,
                         extra_parts={"attn_qkv": "self_attn.qkv_proj",
                                      "ffn_up": "mlp.gate_up_proj"}),
    # Gemma 2: a norm after attention and after the MLP as well as before each.
    "gemma2": Architecture("gemma2", rope_traditional=False, attention_bias=False,
                           extra_parts={"post_attention_norm": "post_attention_layernorm",
                                        "ffn_norm": "pre_feedforward_layernorm",
                                        "post_ffw_norm": "post_feedforward_layernorm"},
                           norm_offset=1.0),
    # Gemma 3 (text): Gemma 2's norms and Qwen 3's per-head ones, sliding-window
    # layers (their own RoPE base) between global ones.
    "gemma3": Architecture("gemma3_text", rope_traditional=False, attention_bias=False,
                           extra_parts={"post_attention_norm": "post_attention_layernorm",
                                        "ffn_norm": "pre_feedforward_layernorm",
                                        "post_ffw_norm": "post_feedforward_layernorm",
                                        "attn_q_norm": "self_attn.q_norm",
                                        "attn_k_norm": "self_attn.k_norm"},
                           norm_offset=1.0),
}

_LAYER = re.compile(r"^blk\.(\d+)\.(\w+)\.(weight|bias)$")
_LAYER_PARTS = {
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
}
_TOP = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}


def _unsupported(header: GgufHeader, message: str, **details: Any) -> ServingError:
    return ServingError(ErrorCode.UNSUPPORTED_MODEL, f"{str(header.path)!r}: {message}",
                        model=str(header.path), **details)


def architecture_of(header: GgufHeader) -> Architecture:
    name = header.get("general.architecture")
    arch = ARCHITECTURES.get(name) if isinstance(name, str) else None
    if arch is None:
        raise _unsupported(header, f"architecture {name!r} is not supported; supported: "
                                   f"{', '.join(sorted(ARCHITECTURES))}", architecture=name)
    return arch


def check_tensor_types(header: GgufHeader) -> None:
    """Refuse, before loading, a file with a tensor `mx.load` cannot load whole."""
    for tensor in header.tensors:
        if tensor.type not in LOADABLE:
            raise _unsupported(
                header, f"tensor {tensor.name!r} has the type {tensor.type.name}, which MLX cannot "
                        f"load; supported types: {', '.join(sorted(t.name for t in LOADABLE))}",
                tensor=tensor.name, tensor_type=tensor.type.name)


def mlx_name(header: GgufHeader, name: str) -> str:
    """mlx-lm's parameter path of a llama.cpp tensor name ("blk.3.attn_q.weight"
    -> "model.layers.3.self_attn.q_proj.weight"); also for .scales/.biases."""
    stem, _, suffix = name.rpartition(".")
    if suffix in ("scales", "biases"):
        return f"{mlx_name(header, stem + '.weight').removesuffix('.weight')}.{suffix}"
    layer = _LAYER.match(name)
    parts = architecture_of(header).extra_parts
    if layer is not None and (part := parts.get(layer.group(2),
                                                _LAYER_PARTS.get(layer.group(2)))) is not None:
        return f"model.layers.{layer.group(1)}.{part}.{layer.group(3)}"
    if stem in _TOP and suffix in ("weight", "bias"):
        return f"{_TOP[stem]}.{suffix}"
    raise _unsupported(header, f"tensor {name!r} has no counterpart in the "
                               f"{header.get('general.architecture')} model of mlx-lm",
                       tensor=name)


def _number(header: GgufHeader, key: str, kind: type, default: Any = None) -> Any:
    value = header.get(key)
    if value is None and default is not None:
        return default
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ServingError(ErrorCode.MODEL_LOAD_FAILED,
                           f"{str(header.path)!r}: metadata {key!r} is missing or not a number",
                           model=str(header.path))
    return kind(value)


def model_config(header: GgufHeader, vocab_size: int) -> dict[str, Any]:
    """The mlx-lm config.json a GGUF file's metadata describes."""
    arch = architecture_of(header)
    prefix = header.get("general.architecture")
    names = {tensor.name for tensor in header.tensors}
    heads = _number(header, f"{prefix}.attention.head_count", int)
    hidden = _number(header, f"{prefix}.embedding_length", int)
    head_dim = _number(header, f"{prefix}.attention.key_length", int, hidden // heads)
    check_rope_dimensions(header, head_dim)
    check_rope_tensors(header)
    config = {
        "model_type": arch.model_type,
        "hidden_size": hidden,
        "num_hidden_layers": _number(header, f"{prefix}.block_count", int),
        "intermediate_size": _number(header, f"{prefix}.feed_forward_length", int),
        "num_attention_heads": heads,
        "num_key_value_heads": _number(header, f"{prefix}.attention.head_count_kv", int, heads),
        "head_dim": head_dim,
        "rms_norm_eps": _number(header, f"{prefix}.attention.layer_norm_rms_epsilon", float),
        "rope_theta": _number(header, f"{prefix}.rope.freq_base", float, 10000.0),
        "rope_traditional": arch.rope_traditional,
        "max_position_embeddings": _number(header, f"{prefix}.context_length", int, 4096),
        "vocab_size": vocab_size,
        "tie_word_embeddings": "output.weight" not in names,
        "attention_bias": arch.attention_bias,
    }
    scaling = rope_scaling_config(header)
    if scaling is not None:
        config["rope_scaling"] = scaling
    if prefix == "gemma2":
        config.update(_gemma2_config(header, config))
    if prefix == "gemma3":
        config.update(_gemma3_config(header, config))
    return config


def _gemma3_config(header: GgufHeader, config: dict[str, Any]) -> dict[str, Any]:
    """Gemma 3 as llama.cpp runs it: every sixth layer global, the others within
    the sliding window with RoPE base 10,000 (both fixed in llama.cpp, as in
    the models); the attention scale by the head size, but for the 27B model
    (62 layers) by hidden size / heads. mlx-lm's gemma3_text has the window."""
    layers, hidden, heads = (config[key] for key in ("num_hidden_layers", "hidden_size",
                                                     "num_attention_heads"))
    return {
        "sliding_window": _number(header, "gemma3.attention.sliding_window", int),
        "sliding_window_pattern": 6,
        "rope_local_base_freq": 10000.0,
        "query_pre_attn_scalar": float(hidden // heads if layers == 62 else config["head_dim"]),
    }


def _gemma2_config(header: GgufHeader, config: dict[str, Any]) -> dict[str, Any]:
    """Gemma 2's soft caps, and its attention scale as llama.cpp sets it: by the
    head size, but for the 27B model (46 layers) by hidden size / heads. The
    context is cut to the sliding window: llama.cpp's every other layer sees
    only the last `sliding_window` tokens, mlx-lm's gemma2 has no window, so
    past it the two would differ; the runtime refuses longer prompts instead."""
    layers, hidden, heads = (config[key] for key in ("num_hidden_layers", "hidden_size",
                                                     "num_attention_heads"))
    window = _number(header, "gemma2.attention.sliding_window", int, 4096)
    return {
        "max_position_embeddings": min(config["max_position_embeddings"], window),
        "attn_logit_softcapping": _number(header, "gemma2.attn_logit_softcapping", float, 50.0),
        "final_logit_softcapping": _number(header, "gemma2.final_logit_softcapping", float, 30.0),
        "query_pre_attn_scalar": float(hidden // heads if layers == 46 else config["head_dim"]),
    }


def norm_weight(header: GgufHeader, name: str, array: Any) -> Any:
    """A weight as mlx-lm's module wants it (`name` is mlx-lm's path)."""
    offset = architecture_of(header).norm_offset
    return array - offset if offset and name.endswith("norm.weight") else array


def is_model_tensor(header: GgufHeader, name: str) -> bool:
    """A tensor that is a weight of the mlx-lm model (rope_freqs.weight is not:
    it becomes the RoPE module's constant)."""
    return not (name == ROPE_FREQS and architecture_of(header).rope_factors)


def dequantized_by_gguf(header: GgufHeader, tensor: TensorInfo) -> Any:
    """A tensor of the file as float16 numpy, decoded by the gguf package."""
    import numpy as np
    from gguf.quants import dequantize

    raw = np.memmap(header.path, dtype=np.uint8, mode="r", offset=tensor.offset,
                    shape=(tensor.nbytes,))
    rows = tuple(reversed(tensor.shape))  # ggml lists the innermost dimension first
    return dequantize(raw.reshape(*rows[:-1], -1), tensor.type).reshape(rows).astype(np.float16)
