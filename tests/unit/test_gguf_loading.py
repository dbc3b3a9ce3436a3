"""GGUF files, in process: the header reader, what is refused before loading,
the tokenizers from the metadata (byte-level BPE; SentencePiece, against the
`sentencepiece` library and llama.cpp's own ids), the weights of each
supported tensor type, the llama (rotary permutation, Llama 3's rope_freqs),
qwen2 and qwen3 architectures."""

from __future__ import annotations

import dataclasses
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
from mlx_serving.engine.gguf.header import GgufHeader, read_header
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
    error = _refused(write_gguf(tmp_path / "m.gguf", architecture="mamba"))
    assert error.code == ErrorCode.UNSUPPORTED_MODEL and error.details["architecture"] == "mamba"
    assert "supported: gemma2, gemma3, llama, phi3, qwen2, qwen3" in error.message


def test_unknown_pre_tokenizer_is_an_error(tmp_path: Path) -> None:
    error = _refused(write_gguf(tmp_path / "m.gguf", pre="no-such-pre"))
    assert error.code == ErrorCode.UNSUPPORTED_MODEL
    assert error.details["pre_tokenizer"] == "no-such-pre" and "smollm" in error.message


@pytest.mark.parametrize("model", ["bert", "t5", "rwkv"])
def test_other_tokenizer_models_are_refused(tmp_path: Path, model: str) -> None:
    error = _refused(write_gguf(tmp_path / "m.gguf", tokenizer_model=model))
    assert error.code == ErrorCode.UNSUPPORTED_MODEL and error.details["tokenizer"] == model
    assert "SentencePiece BPE ('llama')" in error.message


def test_sentencepiece_without_scores_is_an_error(tmp_path: Path) -> None:
    error = _refused(write_gguf(tmp_path / "m.gguf", tokenizer_model="llama"))
    assert error.code == ErrorCode.MODEL_LOAD_FAILED and "tokenizer.ggml.scores" in error.message


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


# What marks each architecture's file: qwen2's attention biases, qwen3's per-head norms,
# phi3's fused matrices, gemma2's norms after attention and the MLP.
MARKING_TENSORS = {"qwen2": "blk.0.attn_q.bias", "qwen3": "blk.1.attn_k_norm.weight",
                   "phi3": "blk.1.attn_qkv.weight", "gemma2": "blk.1.post_ffw_norm.weight",
                   "gemma3": "blk.5.attn_q_norm.weight"}
_GEMMA_NORMS = {"post_attention_norm": "post_attention_layernorm",
                "ffn_norm": "pre_feedforward_layernorm",
                "post_ffw_norm": "post_feedforward_layernorm"}
OWN_PARTS = {"phi3": {"attn_qkv": "self_attn.qkv_proj", "ffn_up": "mlp.gate_up_proj"},
             "gemma2": _GEMMA_NORMS, "gemma3": _GEMMA_NORMS}
# llama.cpp's converter stores Gemma's norm weights plus one (its RMSNorm scales by 1 + w).
NORM_OFFSET = {"gemma2": 1.0, "gemma3": 1.0}
MLX_MODULES = {"gemma3": "gemma3_text"}


@pytest.mark.parametrize("architecture", ["qwen2", "qwen3", "phi3", "gemma2", "gemma3"])
def test_unpermuted_architectures_load_the_files_weights(models: Path, architecture: str) -> None:
    import importlib

    path = models / f"tiny-gguf-{architecture}" / "model.gguf"
    loaded = load_text_model(str(path), "q")
    reference = _reference_weights(path)
    module = importlib.import_module(f"mlx_lm.models.{MLX_MODULES.get(architecture, architecture)}")
    model = module.Model(loaded.model.args)
    names = {"token_embd.weight": "model.embed_tokens.weight",
             "output_norm.weight": "model.norm.weight"}
    parts = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
             "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
             "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
             "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
             "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm",
             **OWN_PARTS.get(architecture, {})}
    for name in reference:
        if name.startswith("blk."):
            _, layer, part, suffix = name.split(".")
            names[name] = f"model.layers.{layer}.{parts[part]}.{suffix}"
    offset = NORM_OFFSET.get(architecture, 0.0)
    weights = {names[name]: mx.array(array - offset if name.endswith("norm.weight") else array)
               for name, array in reference.items()}
    if hasattr(model, "sanitize"):  # as mlx_lm.load does (gemma3_text: no lm_head when tied)
        weights = model.sanitize(weights)
    model.load_weights(list(weights.items()))
    assert MARKING_TENSORS[architecture] in reference
    # Past gemma3's 64-token window, so that its sliding layers see less than the global one.
    tokens = mx.array([loaded.tokenizer.encode(" ".join([TEXTS[0]] * 12))])
    assert tokens.shape[1] > 64
    assert mx.allclose(model(tokens), loaded.model(tokens), atol=1e-4).item()
    assert loaded.info().gguf.architecture == architecture  # type: ignore[union-attr]


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


@pytest.mark.parametrize(("architecture", "name"), [
    ("llama", "blk.0.attn_qkv.weight"),  # a fused QKV (phi3's): no slot for it in mlx-lm's llama
    ("llama", "blk.0.attn_q_norm.weight"),  # qwen3's, not llama's
    ("qwen2", "rope_freqs.weight"),  # llama.cpp reads RoPE factors for llama only
])
def test_a_tensor_without_an_mlx_counterpart_is_refused_naming_it(
        tmp_path: Path, architecture: str, name: str) -> None:
    extra = (name, np.ones(16, np.float32))
    error = _refused(write_gguf(tmp_path / "m.gguf", architecture=architecture,
                                extra_tensor=extra))
    assert error.code == ErrorCode.UNSUPPORTED_MODEL
    assert error.details["tensor"] == name and architecture in error.message


def test_rope_factors_of_the_wrong_size_are_an_error(tmp_path: Path) -> None:
    # 32 wide, 2 heads: 8 rotated pairs per head, so 8 factors.
    error = _refused(write_gguf(tmp_path / "m.gguf",
                                extra_tensor=("rope_freqs.weight", np.ones(16, np.float32))))
    assert error.code == ErrorCode.MODEL_LOAD_FAILED
    assert "rope_freqs.weight" in error.message and "[8]" in error.message


@pytest.mark.parametrize(("metadata", "words"), [
    ({"llama.rope.scaling.type": "yarn", "llama.rope.scaling.factor": 4.0}, "'yarn'"),
    ({"llama.rope.dimension_count": 8}, "partial rotary"),
])
def test_unsupported_rope_is_refused(tmp_path: Path, metadata: dict, words: str) -> None:
    error = _refused(write_gguf(tmp_path / "m.gguf", metadata=metadata))
    assert error.code == ErrorCode.UNSUPPORTED_MODEL and words in error.message


def test_longrope_factors_are_refused(tmp_path: Path) -> None:
    # Phi-3 128k: llama.cpp picks the long or short factors by the context asked for.
    error = _refused(write_gguf(tmp_path / "m.gguf", architecture="phi3",
                                extra_tensor=("rope_factors_long.weight", np.ones(8, np.float32))))
    assert error.code == ErrorCode.UNSUPPORTED_MODEL and error.details["rope_scaling"] == "longrope"


def test_linear_rope_scaling_is_mlx_lms_linear_rope(tmp_path: Path) -> None:
    from mlx_lm.models.rope_utils import initialize_rope

    from mlx_serving.engine.gguf.weights import model_config

    path = write_gguf(tmp_path / "m.gguf", metadata={"llama.rope.scaling.type": "linear",
                                                     "llama.rope.scaling.factor": 4.0})
    config = model_config(read_header(path), 5)
    assert config["rope_scaling"] == {"type": "linear", "factor": 4.0}
    # llama.cpp's freq_scale is 1 / factor: so is the scale of mlx-lm's linear RoPE.
    rope = initialize_rope(16, 10000.0, True, config["rope_scaling"])
    assert rope.scale == 0.25


def test_llama3_rope_factors_compute_what_mlx_lms_llama3_rope_does(models: Path) -> None:
    # tiny-gguf-llama3: tiny-llama3's weights and the rope_freqs.weight that llama.cpp's
    # converter computes from its llama3 rope_scaling; tiny-llama3 runs mlx-lm's Llama3RoPE.
    from mlx_lm.models.rope_utils import Llama3RoPE

    from mlx_serving.engine.gguf.rope import FrequencyFactorRoPE

    folder = load_text_model(str(models / "tiny-llama3"), "folder")
    from_gguf = load_text_model(str(models / "tiny-gguf-llama3" / "model.gguf"), "gguf")
    assert isinstance(folder.model.model.layers[0].self_attn.rope, Llama3RoPE)
    assert isinstance(from_gguf.model.model.layers[0].self_attn.rope, FrequencyFactorRoPE)
    reference = read_header(models / "tiny-gguf-llama3" / "model.gguf")
    assert "rope_freqs.weight" in {tensor.name for tensor in reference.tensors}
    # Long enough that the scaled low frequencies turn far from where unscaled ones would.
    tokens = mx.array([folder.tokenizer.encode(" ".join([TEXTS[0], TEXTS[1]] * 20))])
    assert tokens.shape[1] > 300
    expected = folder.model(tokens)
    assert mx.allclose(from_gguf.model(tokens), expected, atol=1e-4).item()
    # Without the factors the same weights give other logits: the check above can fail.
    for layer in from_gguf.model.model.layers:
        layer.self_attn.rope = FrequencyFactorRoPE(16, True, 500000.0, 1.0, mx.ones(8))
    assert mx.abs(from_gguf.model(tokens) - expected).max().item() > 1e-2


# llama.cpp's own ids for the tiny-gguf-spm file (node-llama-cpp 3.22.1, tokenize with
# special tokens, no BOS): byte fallback for what the vocabulary lacks ("H", digits,
# "é", emoji), a space prefixed to the text and again after each special token.
LLAMA_CPP_SPM_IDS = [
    ("Hello world  123", [366, 81, 367, 376, 376, 373, 277, 311, 338, 366, 366, 58, 59, 60]),
    ("  two", [366, 366, 266, 384, 373]),
    ("caf\u00e9 \u2603 \U0001f600 end",
     [308, 369, 383, 204, 178, 366, 235, 161, 140, 366, 249, 168, 161, 137, 366, 294, 377]),
    ("tabs\tand\nnewlines\n\n",
     [266, 369, 381, 374, 18, 324, 377, 390, 371, 367, 384, 376, 268, 347, 390, 390]),
    ("<|im_start|>user\nWhere is the fox?<|im_end|>\n<|im_start|>assistant\n",
     [3, 366, 382, 374, 269, 390, 395, 265, 271, 366, 372, 374, 270, 290, 396, 394, 4, 366, 390,
      3, 267, 374, 374, 323, 324, 368, 390]),
    ("a<|im_end|>b", [267, 4, 273]),
    ("<s>The fox</s> walks", [1, 276, 290, 396, 2, 366, 277, 292, 302]),
    ("<unk>the", [0, 270]),
]
# The same vocabulary in tiny-gguf-phi3, a file named like Phi-3's: there llama.cpp has
# special tokens swallow the whitespace after them, but <unk>, <s> and <|endoftext|>.
LLAMA_CPP_PHI3_IDS = [
    ("<|user|>\nWhere is the fox?<|end|>\n<|assistant|>\n",
     [6, 366, 395, 265, 271, 366, 372, 374, 270, 290, 396, 394, 8, 7]),
    ("<s> a</s>  b<unk>  c<|endoftext|> d", [1, 366, 267, 2, 273, 0, 366, 366, 308, 5, 366, 278]),
    ("x<|end|>\t\n y", [366, 396, 8, 366, 388]),
    ("<|im_start|>  user", [3, 366, 382, 374, 269]),
]


@pytest.fixture(scope="module")
def spm_model(models: Path):
    return load_text_model(str(models / "tiny-gguf-spm" / "model.gguf"), "spm")


# tiny-gguf-gemma2: that vocabulary with add_space_prefix false, as Gemma's files have it.
LLAMA_CPP_GEMMA2_IDS = [
    ("Hello world  123", [81, 367, 376, 376, 373, 277, 311, 338, 366, 366, 58, 59, 60]),
    ("  two", [366, 266, 384, 373]),
    ("<s>The fox</s> walks", [1, 275, 290, 396, 2, 277, 292, 302]),
]


@pytest.mark.parametrize(("text", "ids"), LLAMA_CPP_GEMMA2_IDS)
def test_sentencepiece_without_space_prefix(models: Path, text: str, ids: list[int]) -> None:
    from mlx_serving.engine.gguf.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(read_header(models / "tiny-gguf-gemma2" / "model.gguf"))
    assert tokenizer.encode(text, add_special_tokens=False) == ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == text.replace("<s>", "").replace(
        "</s>", "")


@pytest.fixture(scope="module")
def phi3_model(models: Path):
    return load_text_model(str(models / "tiny-gguf-phi3" / "model.gguf"), "phi3")


@pytest.mark.parametrize(("text", "ids"), LLAMA_CPP_SPM_IDS)
def test_sentencepiece_ids_are_llama_cpps(spm_model, text: str, ids: list[int]) -> None:
    tokenizer = spm_model.tokenizer
    assert tokenizer.encode(text, add_special_tokens=False) == ids
    assert tokenizer.encode(text) == [1, *ids]  # add_bos_token


@pytest.mark.parametrize(("text", "ids"), LLAMA_CPP_PHI3_IDS)
def test_phi3_files_strip_whitespace_after_special_tokens(phi3_model, spm_model, text: str,
                                                          ids: list[int]) -> None:
    assert phi3_model.tokenizer.encode(text, add_special_tokens=False) == ids
    assert spm_model.tokenizer.encode(text, add_special_tokens=False) != ids


def _spm_texts() -> list[str]:
    """Sentences of the grammar and random strings of letters, spaces, digits,
    punctuation, whitespace and characters outside the vocabulary."""
    import random

    rng = random.Random(0)
    alphabet = "abcehtw XYZ  \n\t.,!?\u00e9\u2603\U0001f6000123\u2581"
    return [text for text in TEXTS if "<|" not in text] + [
        "The old man walks to the river every morning. Where is the fox going?",
        " leading", "trailing  ", " ", "a", *("".join(rng.choice(alphabet)
                                             for _ in range(rng.randint(1, 40)))
                                         for _ in range(200))]


def test_sentencepiece_ids_and_text_are_sentencepieces(spm_model, models: Path) -> None:
    # The fixture's tokenizer.model is the SentencePiece model its GGUF metadata came from:
    # llama.cpp's SPM tokenizer is that library's BPE encoding, so must ours be.
    import sentencepiece

    reference = sentencepiece.SentencePieceProcessor(
        model_file=str(models / "tiny-gguf-spm" / "tokenizer.model"))
    tokenizer = spm_model.tokenizer
    for text in _spm_texts():
        ids = reference.encode(text)
        assert tokenizer.encode(text, add_special_tokens=False) == ids, repr(text)
        assert tokenizer.decode(ids) == reference.decode(ids), repr(text)
        streaming = tokenizer.detokenizer
        for token in ids:
            streaming.add_token(token)
        streaming.finalize()
        assert streaming.text == reference.decode(ids), repr(text)


def test_sentencepiece_metadata_gives_the_special_tokens(spm_model) -> None:
    tokenizer = spm_model.tokenizer
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.unk_token) == \
        ("<s>", "</s>", "<unk>")
    # </s>, <|im_end|> (EOT), and as in llama.cpp by their text <|endoftext|> and <|end|>.
    assert tokenizer.eos_token_ids == {2, 4, 5, 8}
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Where is the fox?"}],
                                           add_generation_prompt=True, tokenize=False)
    assert prompt == "<s><|im_start|>user\nWhere is the fox?<|im_end|>\n<|im_start|>assistant\n"
    assert tokenizer.encode(prompt, add_special_tokens=False) == [1, *LLAMA_CPP_SPM_IDS[4][1]]


def replace_metadata(header: GgufHeader, metadata: dict[str, object]) -> GgufHeader:
    return dataclasses.replace(header, metadata={**header.metadata, **metadata})


def test_gemma2_serves_the_context_of_its_sliding_window(models: Path) -> None:
    from mlx_serving.engine.gguf.weights import model_config

    header = read_header(models / "tiny-gguf-gemma2" / "model.gguf")
    assert model_config(header, 400)["max_position_embeddings"] == 512  # shorter than 4096
    longer = replace_metadata(header, {"gemma2.context_length": 8192})
    config = model_config(longer, 400)
    assert config["max_position_embeddings"] == 4096  # past it llama.cpp's layers see less
    assert config["attn_logit_softcapping"] == 50.0 and config["final_logit_softcapping"] == 30.0
    assert config["query_pre_attn_scalar"] == 16.0  # the head size (not a 46-layer 27B)


@pytest.mark.parametrize(("pre", "pieces"), [
    # Mistral's tekken: a word ends where lower case turns upper; digits one by one.
    ("tekken", ["HTTPServer", "'s", "\u0120i", "Phone", "\u0120", *"1234567"]),
    # GPT-4o's (Phi-4): the same words with their contraction; digits by three.
    ("gpt-4o", ["HTTPServer's", "\u0120i", "Phone", "\u0120", "123", "456", "7"]),
])
def test_tekken_and_gpt4o_pre_tokenizers_split_as_llama_cpp(models: Path, pre: str,
                                                            pieces: list[str]) -> None:
    # Checked against node-llama-cpp 3.22.1 on 303 strings, with a vocabulary trained to
    # merge across these boundaries (a scratch file, not a fixture).
    from mlx_serving.engine.gguf.tokenizer import load_tokenizer

    header = read_header(models / "tiny-gguf" / "model.gguf")
    tokenizer = load_tokenizer(replace_metadata(header, {"tokenizer.ggml.pre": pre}))
    split = tokenizer._tokenizer.backend_tokenizer.pre_tokenizer.pre_tokenize_str(
        "HTTPServer's iPhone 1234567")
    assert [piece for piece, _ in split] == pieces


def test_end_of_generation_tokens_by_text_are_control_and_stop(models: Path) -> None:
    # The grammar vocabulary's last token renamed <|fim_pad|>, typed normal: llama.cpp
    # (node-llama-cpp 3.22.1) makes it a control token, matched in text, and an EOG token.
    from mlx_serving.engine.gguf.tokenizer import load_tokenizer

    header = read_header(models / "tiny-gguf" / "model.gguf")
    renamed = header.get("tokenizer.ggml.tokens")[-1]
    tokens = [*header.get("tokenizer.ggml.tokens")[:-1], "<|fim_pad|>"]
    types = [*header.get("tokenizer.ggml.token_type")[:-1], 1]
    merges = [merge for merge in header.get("tokenizer.ggml.merges")
              if merge.replace(" ", "") != renamed and renamed not in merge.split(" ")]
    assert types[-1] == 1 and len(tokens) == 512
    tokenizer = load_tokenizer(replace_metadata(header, {
        "tokenizer.ggml.tokens": tokens, "tokenizer.ggml.token_type": types,
        "tokenizer.ggml.merges": merges}))
    assert tokenizer.encode("a<|fim_pad|>b", add_special_tokens=False) == [69, 511, 70]
    assert 511 in tokenizer.eos_token_ids
