"""Small GGUF files for tests, written with the `gguf` package: broken,
unsupported or hostile ones, made per test in a temporary folder."""

from __future__ import annotations

import struct
from pathlib import Path

import gguf
import numpy as np

TOKENS = ["<s>", "</s>", "a", "b", "ab"]


def write_gguf(path: Path, *, architecture: str = "llama", pre: str = "gpt-2",
               tensor_type: gguf.GGMLQuantizationType = gguf.GGMLQuantizationType.F32,
               tokenizer_model: str = "gpt2",
               extra_tensor: tuple[str, np.ndarray] | None = None,
               metadata: dict[str, str | int | float] | None = None) -> Path:
    """A 1-layer, 32-wide llama-shaped file whose `blk.0.ffn_up.weight` is of `tensor_type`
    (and `extra_tensor`, a name and its float32 data, and the `metadata` keys, when given)."""
    writer = gguf.GGUFWriter(str(path), architecture)
    for key, value in (metadata or {}).items():
        if isinstance(value, str):
            writer.add_string(key, value)
        elif isinstance(value, int):
            writer.add_uint32(key, value)
        else:
            writer.add_float32(key, value)
    writer.add_block_count(1)
    writer.add_embedding_length(32)
    writer.add_feed_forward_length(256)
    writer.add_head_count(2)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_tokenizer_model(tokenizer_model)
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(TOKENS)
    writer.add_token_merges(["a b"])
    writer.add_token_types([gguf.TokenType.CONTROL] * 2 + [gguf.TokenType.NORMAL] * 3)
    writer.add_bos_token_id(0)
    writer.add_eos_token_id(1)
    rng = np.random.default_rng(0)
    writer.add_tensor("token_embd.weight", rng.standard_normal((len(TOKENS), 32), np.float32))
    block, size = gguf.GGML_QUANT_SIZES[tensor_type]
    if tensor_type == gguf.GGMLQuantizationType.F32:
        writer.add_tensor("blk.0.ffn_up.weight", rng.standard_normal((256, 32), np.float32))
    else:  # raw blocks: their content never matters, the load is refused first
        writer.add_tensor("blk.0.ffn_up.weight", np.zeros((32, 256 // block * size), np.uint8),
                          raw_dtype=tensor_type)
    if extra_tensor is not None:
        writer.add_tensor(*extra_tensor)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def header_bytes(*parts: bytes, tensors: int = 0, keys: int = 1) -> bytes:
    """A GGUF v3 header start followed by hand-written key/value bytes."""
    return struct.pack("<IIQQ", gguf.GGUF_MAGIC, 3, tensors, keys) + b"".join(parts)


def gguf_string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw
