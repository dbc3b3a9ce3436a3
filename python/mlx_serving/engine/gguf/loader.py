"""model/load of a .gguf file: check the header, load the tensors through
`mx.load`, build the mlx-lm model (quantized where the file is), the
tokenizer from the metadata."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, cast

from ...api.errors import ErrorCode, ServingError
from ...api.messages import GgufInfo
from ..progress import LoadProgress
from .header import GgufHeader, read_header
from .rope import ROPE_FREQS, apply_frequency_factors, check_frequency_factors, linear_scale
from .tokenizer import load_tokenizer
from .weights import (
    DEQUANTIZED,
    KEPT_QUANTIZED,
    REDECODED,
    check_tensor_types,
    dequantized_by_gguf,
    is_model_tensor,
    mlx_name,
    model_config,
    norm_weight,
)


def is_gguf_path(source: str) -> bool:
    """A path that names a GGUF file (by its suffix, as llama.cpp, Ollama and LM
    Studio name them); anything else is a model folder or a hub id."""
    return Path(source).suffix.lower() == ".gguf"


def load_gguf_model(path: Path, progress: LoadProgress
                    ) -> tuple[Any, Any, dict[str, Any], GgufInfo]:
    """(model, tokenizer wrapper, mlx-lm config, what the file held) for the
    GGUF file at `path`; ServingError for what cannot be loaded, before loading it."""
    import mlx.core as mx

    progress("reading", 0, path.stat().st_size)
    header = read_header(path)
    check_tensor_types(header)
    tokenizer = load_tokenizer(header)
    vocab = len(header.get("tokenizer.ggml.tokens"))
    config = model_config(header, vocab)
    for tensor in header.tensors:  # an unknown tensor is refused before loading
        if is_model_tensor(header, tensor.name):
            mlx_name(header, tensor.name)
        else:
            check_frequency_factors(header, tensor, config["head_dim"])
    weights = cast(dict[str, Any], mx.load(str(path)))
    progress("reading", header.file_size, header.file_size)
    _check_loaded(header, weights)
    for tensor in header.tensors:
        if tensor.type in REDECODED:
            weights[tensor.name] = mx.array(dequantized_by_gguf(header, tensor))
    factors = weights.pop(ROPE_FREQS, None) if not is_model_tensor(header, ROPE_FREQS) else None
    renamed: dict[str, Any] = {}
    for name, array in weights.items():
        parameter = mlx_name(header, name)
        renamed[parameter] = norm_weight(header, parameter, array)
    del weights
    model = _build(config, renamed, progress)
    if factors is not None:
        apply_frequency_factors(model, config, factors, linear_scale(header))
    return model, tokenizer, config, _info(header)


def _check_loaded(header: GgufHeader, weights: dict[str, Any]) -> None:
    """mx.load read every tensor of the directory (it may stop early, silently)."""
    loaded = {name for name in weights if not name.endswith((".scales", ".biases"))}
    missing = [tensor.name for tensor in header.tensors if tensor.name not in loaded]
    if missing:
        raise ServingError(ErrorCode.MODEL_LOAD_FAILED,
                           f"{str(header.path)!r}: MLX read {len(loaded)} of {len(header.tensors)} "
                           f"tensors (first missing: {missing[0]!r})", model=str(header.path))


def _build(config: dict[str, Any], weights: dict[str, Any], progress: LoadProgress) -> Any:
    import importlib

    import mlx.core as mx
    from mlx.nn.layers.quantized import quantize
    from mlx_lm.utils import infer_quant_config

    from ..models import weight_arrays

    arch = importlib.import_module(f"mlx_lm.models.{config['model_type']}")
    model = arch.Model(arch.ModelArgs.from_dict(config))
    quantized: dict[str, dict[str, Any]] = {}

    def predicate(path: str, module: Any) -> bool | dict[str, Any]:
        if not hasattr(module, "to_quantized") or f"{path}.scales" not in weights:
            return False
        quantized[path] = infer_quant_config(path, module, weights)
        return quantized[path]

    if hasattr(model, "sanitize"):  # as mlx_lm.load does: e.g. no lm_head when tied
        weights = model.sanitize(weights)
    quantize(model, group_size=32, bits=4, class_predicate=predicate)
    if quantized:
        config["quantization"] = _quantization(quantized)
    model.load_weights(list(weights.items()), strict=True)
    parameters = weight_arrays(model)
    for done, array in enumerate(parameters, 1):
        mx.eval(array)
        progress("converting", done, len(parameters))
    model.eval()
    return model


def _quantization(modules: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """mlx-lm's config `quantization`: the most common bits and group size,
    and an entry for each module that differs."""
    common = Counter((q["bits"], q["group_size"]) for q in modules.values()).most_common(1)[0][0]
    config: dict[str, Any] = {"bits": common[0], "group_size": common[1]}
    for path, q in modules.items():
        if (q["bits"], q["group_size"]) != common:
            config[path] = {"bits": q["bits"], "group_size": q["group_size"]}
    return config


def _info(header: GgufHeader) -> GgufInfo:
    types = Counter(tensor.type.name for tensor in header.tensors)
    return GgufInfo(
        architecture=str(header.get("general.architecture")),
        tensor_types=dict(sorted(types.items())),
        quantized_types=sorted({t.name for t in KEPT_QUANTIZED} & set(types)),
        dequantized_types=sorted({t.name for t in DEQUANTIZED} & set(types)),
        file_bytes=header.file_size,
    )
