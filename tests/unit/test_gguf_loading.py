"""GGUF files, in process: the header reader, what is refused before loading,
the tokenizer from the metadata, the weights of each supported tensor type,
and the llama (rotary permutation) and qwen2 architectures."""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path

import gguf
import mlx.core as mx
import numpy as np
import pytest
from gguf import GGMLQuantizationType as T

from gguf_files import gguf_string, header_bytes, write_gguf
from mlx_serving.api.errors import ErrorCode, ServingError
from mlx_serving.engine.gguf.header import read_header
from mlx_serving.engine.models import load_text_model

TEXTS = ["The old man walks to the river.", "What does the fox do?  123 4567",
         "<|im_start|>user\nhi<|im_end|>\n", "caf\u00e9 \u2603 \U0001f600 end",
         "   spaces\n\n\ttab"]


def _refused(path: Path) -> ServingError:
    with pytest.raises(ServingError) as caught:
        load_text_model(str(path), "m")
    return caught.value


def test_header_of_a_fixture(models: Path) -> None:
    header = read_header(models / "tiny-gguf" / "model.gguf")
    assert header.version == 3 and header.get("general.architecture") == "llama"
    assert len(header.get("tokenizer.ggml.tokens")) == 512
    names = {tensor.name for tensor in header.tensors}
    assert {"token_embd.weight", "blk.1.attn_q.weight", "output_norm.weight"} <= names
    assert all(tensor.type == T.F32 for tensor in header.tensors)


def test_not_a_gguf_file(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"PK\x03\x04" + bytes(100))
    error = _refused(path)
    assert error.code == ErrorCode.MODEL_LOAD_FAILED and "no GGUF magic" in error.message


def test_empty_and_tiny_files(tmp_path: Path) -> None:
    path = tmp_path / "empty.gguf"
    path.write_bytes(b"")
    assert "too short" in _refused(path).message


@pytest.mark.parametrize("keep", [0.5, 0.05])
def test_truncated_file(models: Path, tmp_path: Path, keep: float) -> None:
    whole = (models / "tiny-gguf" / "model.gguf").read_bytes()
    path = tmp_path / "cut.gguf"
    path.write_bytes(whole[: int(len(whole) * keep)])
    error = _refused(path)
    assert error.code == ErrorCode.MODEL_LOAD_FAILED
    assert "truncated" in error.message or "ends early" in error.message


def test_header_that_declares_more_tensors_than_it_has(tmp_path: Path) -> None:
    path = tmp_path / "lying.gguf"
    path.write_bytes(header_bytes(gguf_string("general.architecture"), struct.pack("<I", 8),
                                  gguf_string("llama"), tensors=7))
    error = _refused(path)
    assert error.code == ErrorCode.MODEL_LOAD_FAILED and "ends early" in error.message


def test_tensor_offset_past_the_end(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "m.gguf")
    data = bytearray(path.read_bytes())
    # The last tensor's offset (the u64 before the data) pointed far away.
    header = read_header(path)
    last = header.tensors[-1]
    name = gguf_string(last.name)
    at = data.index(name) + len(name) + 4 + 8 * len(last.shape) + 4
    data[at:at + 8] = struct.pack("<Q", 1 << 30)
    path.write_bytes(bytes(data))
    error = _refused(path)
    assert "past the end of the file" in error.message and last.name in error.message


def test_huge_metadata_array_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "huge.gguf"
    path.write_bytes(header_bytes(gguf_string("tokenizer.ggml.tokens"),
                                  struct.pack("<IIQ", 9, 8, 1 << 40), b"\0" * 64))
    started = time.monotonic()
    error = _refused(path)
    assert time.monotonic() - started < 5  # refused from the count, not by reading
    assert error.code == ErrorCode.MODEL_LOAD_FAILED and "array of 1099511627776" in error.message


def test_huge_string_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "string.gguf"
    path.write_bytes(header_bytes(struct.pack("<Q", 1 << 50)))
    assert "a string of" in _refused(path).message


@pytest.mark.parametrize("kind", [T.Q5_K, T.Q3_K, T.Q5_0, T.IQ4_NL, T.MXFP4, T.TQ2_0])
def test_unloadable_tensor_type_is_refused_naming_it(tmp_path: Path, kind: T) -> None:
    error = _refused(write_gguf(tmp_path / "m.gguf", tensor_type=kind))
    assert error.code == ErrorCode.UNSUPPORTED_MODEL
    assert error.details["tensor"] == "blk.0.ffn_up.weight"
    assert error.details["tensor_type"] == kind.name and kind.name in error.message


def test_unsupported_architecture_lists_the_supported(tmp_path: Path) -> None:
    error = _refused(write_gguf(tmp_path / "m.gguf", architecture="phi3"))
    assert error.code == ErrorCode.UNSUPPORTED_MODEL and error.details["architecture"] == "phi3"
    assert "supported: llama, qwen2" in error.message


def test_unknown_pre_tokenizer_is_an_error(tmp_path: Path) -> None:
    error = _refused(write_gguf(tmp_path / "m.gguf", pre="no-such-pre"))
    assert error.code == ErrorCode.UNSUPPORTED_MODEL
    assert error.details["pre_tokenizer"] == "no-such-pre" and "smollm" in error.message


def test_sentencepiece_tokenizer_is_refused(tmp_path: Path) -> None:
    error = _refused(write_gguf(tmp_path / "m.gguf", tokenizer_model="llama"))
    assert error.code == ErrorCode.UNSUPPORTED_MODEL and "byte-level BPE" in error.message


@pytest.fixture(scope="module")
def tiny_pair(models: Path):
    return load_text_model(str(models / "tiny"), "tiny"), \
        load_text_model(str(models / "tiny-gguf" / "model.gguf"), "tiny-gguf")


def test_tokenizer_from_metadata_matches_the_folder_tokenizer(tiny_pair) -> None:
    folder, from_gguf = tiny_pair
    for text in TEXTS:
        ids = folder.tokenizer.encode(text)
        assert from_gguf.tokenizer.encode(text) == ids, text
        assert from_gguf.tokenizer.decode(ids) == folder.tokenizer.decode(ids)
    assert from_gguf.tokenizer.eos_token_ids == folder.tokenizer.eos_token_ids
    messages = [{"role": "user", "content": "Where is the fox?"}]
    assert from_gguf.tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                   tokenize=False) == \
        folder.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def test_llama_rotary_order_gives_the_same_logits(tiny_pair) -> None:
    # tiny-gguf holds tiny's weights with Q/K rows permuted as llama.cpp stores them.
    folder, from_gguf = tiny_pair
    tokens = mx.array([folder.tokenizer.encode(TEXTS[0] + " " + TEXTS[1])])
    assert mx.allclose(folder.model(tokens), from_gguf.model(tokens), atol=1e-4).item()
    info = from_gguf.info()
    assert info.gguf is not None and info.gguf.architecture == "llama"
    assert info.quantization is None and info.context_length == 512


def _reference_weights(path: Path) -> dict[str, np.ndarray]:
    """The file's tensors as float32, dequantized by the gguf package itself."""
    reader = gguf.GGUFReader(path)
    return {tensor.name: gguf.quants.dequantize(tensor.data, tensor.tensor_type)
            .reshape(tuple(reversed(tensor.shape.tolist()))).astype(np.float32)
            for tensor in reader.tensors}


def test_qwen2_loads_unpermuted_with_biases(models: Path) -> None:
    from mlx_lm.models import qwen2

    path = models / "tiny-gguf-qwen2" / "model.gguf"
    loaded = load_text_model(str(path), "q")
    reference = _reference_weights(path)
    args = loaded.model.args
    model = qwen2.Model(args)
    names = {"token_embd.weight": "model.embed_tokens.weight",
             "output_norm.weight": "model.norm.weight"}
    parts = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
             "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
             "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
             "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"}
    for name in reference:
        if name.startswith("blk."):
            _, layer, part, suffix = name.split(".")
            names[name] = f"model.layers.{layer}.{parts[part]}.{suffix}"
    model.load_weights([(names[name], mx.array(array)) for name, array in reference.items()])
    assert any(name.endswith("attn_q.bias") for name in reference)
    tokens = mx.array([loaded.tokenizer.encode(TEXTS[0])])
    assert mx.allclose(model(tokens), loaded.model(tokens), atol=1e-4).item()
    assert loaded.info().gguf.architecture == "qwen2"  # type: ignore[union-attr]


KEPT = {"q4_0": 4, "q4_1": 4, "q8_0": 8}


@pytest.mark.parametrize("kind", ["q4_0", "q4_1", "q8_0", "f16", "bf16", "q2_k", "q4_k", "q6_k"])
def test_each_supported_tensor_type(models: Path, kind: str) -> None:
    path = models / f"tiny-gguf-{kind}" / "model.gguf"
    loaded = load_text_model(str(path), kind)
    info = loaded.info()
    assert info.gguf is not None and info.gguf.tensor_types[kind.upper()] > 0
    if kind in KEPT:
        assert info.quantization is not None
        assert (info.quantization.bits, info.quantization.group_size) == (KEPT[kind], 32)
        assert info.gguf.quantized_types == [kind.upper()] and not loaded.warnings
    else:
        assert info.quantization is None
        dequantized = kind not in ("f16",)
        assert info.gguf.dequantized_types == ([kind.upper()] if dequantized else [])
        assert bool(loaded.warnings) == dequantized
        if dequantized:
            assert "float16" in loaded.warnings[0] and "in memory" in loaded.warnings[0]
    assert info.memory_bytes > 0
    # Every weight equals what the gguf package dequantizes from the file.
    reference = _reference_weights(path)
    layer = loaded.model.model.layers[0]
    for name, module in [("blk.0.attn_q.weight", layer.self_attn.q_proj),
                         ("blk.0.ffn_down.weight", layer.mlp.down_proj),
                         ("token_embd.weight", loaded.model.model.embed_tokens)]:
        if hasattr(module, "scales"):
            weight = mx.dequantize(module.weight, module.scales, module.biases,
                                   group_size=module.group_size, bits=module.bits)
        else:
            weight = module.weight
        expected = reference[name]
        got = np.array(weight.astype(mx.float32))
        assert got.shape == expected.shape
        assert np.allclose(got, expected, atol=2e-3, rtol=2e-3), (kind, name)
    tokens = mx.array([loaded.tokenizer.encode(TEXTS[0])])
    assert mx.isfinite(loaded.model(tokens)).all().item()


def test_a_fifo_named_gguf_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "model.gguf"
    os.mkfifo(fifo)
    error = _refused(fifo)  # opening it would wait for a writer forever
    assert error.code == ErrorCode.MODEL_NOT_FOUND and "no GGUF file" in error.message


def test_a_tensor_without_an_mlx_counterpart_is_refused_naming_it(tmp_path: Path) -> None:
    # Llama 3.1 files carry rope_freqs.weight (their RoPE scaling): no slot for it in mlx-lm.
    extra = ("rope_freqs.weight", np.ones(16, np.float32))
    error = _refused(write_gguf(tmp_path / "m.gguf", extra_tensor=extra))
    assert error.code == ErrorCode.UNSUPPORTED_MODEL
    assert error.details["tensor"] == "rope_freqs.weight"
