"""How quantized layers run (engine/quantized_layers.py), on tiny-4bit.

Rows folded: the retyped layers give the same values per row as the stock
ones, and a batch of greedy streams decodes exactly the tokens each stream
decodes alone on the stock model. Dense copies: the same logits up to float
rounding, and the same tokens batched as alone.
"""

from __future__ import annotations

from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import pytest
from test_solo import _Sink

from mlx_serving.config import BatchingConfig, PromptCacheConfig
from mlx_serving.engine.batch import ModelBatch
from mlx_serving.engine.models import LoadedModel, load_text_model
from mlx_serving.engine.quantized_layers import (
    PrefillDenseQuantizedLinear,
    RowBatchedQuantizedEmbedding,
    RowBatchedQuantizedLinear,
    adapt_quantized,
    batch_quantized_rows,
    dense_bytes,
)
from mlx_serving.engine.sampling import SamplingSettings
from mlx_serving.engine.stream import ActiveStream, GenerationRequest

GREEDY = SamplingSettings(temperature=0.0, top_p=1.0, top_k=0, min_p=0.0, seed=0,
                          repetition_penalty=1.0, presence_penalty=0.0, frequency_penalty=0.0,
                          penalty_context_size=20)


def _load(models: Path) -> LoadedModel:
    return load_text_model(str(models / "tiny-4bit"), "q")


def _layer_types(model: LoadedModel) -> set[type[nn.Module]]:
    return {type(module) for _, module in model.model.named_modules()}


def test_off_and_auto_on_the_cpu_leave_the_layers_as_they_are(models: Path) -> None:
    model = _load(models)
    assert batch_quantized_rows(model.model, "off") == 0
    assert batch_quantized_rows(model.model, "auto") == 0  # the tests run on MLX's CPU
    assert nn.QuantizedLinear in _layer_types(model)


def test_retyped_layers_give_each_row_what_it_gives_alone(models: Path) -> None:
    model = _load(models)
    linears = [m for _, m in model.model.named_modules() if type(m) is nn.QuantizedLinear]
    assert batch_quantized_rows(model.model, "on") == len(linears) + 1  # + the embedding
    assert RowBatchedQuantizedLinear in _layer_types(model)
    assert nn.QuantizedLinear not in _layer_types(model)
    layer = linears[0]
    width = layer.scales.shape[-1] * layer.group_size
    rows = mx.random.normal((6, 1, width), key=mx.random.key(1))
    together = layer(rows)
    assert together.shape == (6, 1, layer.weight.shape[0])
    for index in range(6):
        assert mx.array_equal(together[index], layer(rows[index:index + 1])[0]).item()
    embedding = model.model.model.embed_tokens
    assert isinstance(embedding, RowBatchedQuantizedEmbedding)
    hidden = mx.random.normal((5, 1, embedding.dims), key=mx.random.key(2))
    logits = embedding.as_linear(hidden)
    for index in range(5):
        assert mx.array_equal(logits[index], embedding.as_linear(hidden[index:index + 1])[0]).item()


def _decode(model: LoadedModel, prompts: list[list[int]], solo: bool) -> list[list[int]]:
    batch = ModelBatch(model, BatchingConfig(solo=solo), PromptCacheConfig(enabled=False))
    streams = []
    for index, prompt in enumerate(prompts):
        request = GenerationRequest(stream_id=f"s{index}", model_id="q", prompt=prompt,
                                    max_tokens=24, sampling=GREEDY, stop_strings=[],
                                    stop_token_ids=[], logprobs=False, sink=_Sink())
        streams.append(ActiveStream(request, model.decode))
        batch.add(streams[-1])
    while len(batch):
        batch.step()
    return [stream.request.sink.ids for stream in streams]  # type: ignore[attr-defined]


def _prompts(count: int) -> list[list[int]]:
    """`count` distinct prompts of growing length."""
    return [[0] + [(seed * 31 + k * 7) % 400 + 5 for k in range(3 + 2 * seed)]
            for seed in range(count)]


def _assert_batches_like_alone(model: LoadedModel) -> None:
    prompts = _prompts(5)
    alone = [_decode(model, [prompt], solo=True)[0] for prompt in prompts]
    assert _decode(model, prompts, solo=False) == alone


@pytest.mark.parametrize("size", [4, 7])
def test_a_batch_decodes_what_each_stream_decodes_alone(models: Path, size: int) -> None:
    prompts = _prompts(size)
    stock = _load(models)
    alone = [_decode(stock, [prompt], solo=True)[0] for prompt in prompts]
    folded = _load(models)
    batch_quantized_rows(folded.model, "on")
    together = _decode(folded, prompts, solo=False)
    assert sum(map(len, together)) >= 8 * size  # (some stop early, on an end token)
    assert together == alone


def test_dense_copies_give_the_quantized_logits_and_batch_like_alone(models: Path) -> None:
    stock, dense = _load(models), _load(models)
    expected = dense_bytes(dense.model)
    assert adapt_quantized(dense.model, "on", "on", 0.5, None, 0, fast_blas=False) == "dense"
    kinds = _layer_types(dense)
    assert nn.Linear in kinds and nn.Embedding in kinds
    assert not kinds & {nn.QuantizedLinear, nn.QuantizedEmbedding, RowBatchedQuantizedLinear}
    weights = [m.weight for _, m in dense.model.named_modules()
               if isinstance(m, (nn.Linear, nn.Embedding))]
    assert sum(w.nbytes for w in weights) == expected
    tokens = mx.array([[0, 17, 42, 99, 7]])
    assert mx.allclose(dense.model(tokens), stock.model(tokens), atol=1e-4).item()
    _assert_batches_like_alone(dense)


def test_auto_on_the_cpu_keeps_quantized_layers_without_a_fast_blas(models: Path) -> None:
    model = _load(models)
    assert adapt_quantized(model.model, "auto", "auto", 1.0, 10**12, 0, fast_blas=False) == "none"
    assert adapt_quantized(model.model, "off", "on", 1.0, None, 0, fast_blas=False) == "rows"


def test_prefill_copies_serve_prompt_chunks_and_decode_stays_quantized(models: Path) -> None:
    stock, mixed = _load(models), _load(models)
    assert adapt_quantized(mixed.model, "auto", "auto", 0.5, 10**12, 0, fast_blas=True) == "prefill"
    layers = [m for _, m in mixed.model.named_modules() if type(m) is PrefillDenseQuantizedLinear]
    assert layers and all("dense" in layer for layer in layers)
    layer = layers[0]
    one = mx.random.normal((3, 1, layer["dense"].shape[1]), key=mx.random.key(3))
    assert mx.array_equal(layer(one), nn.QuantizedLinear.__call__(layer, one)).item()
    chunk = mx.random.normal((2, 5, layer["dense"].shape[1]), key=mx.random.key(4))
    assert mx.allclose(layer(chunk), nn.QuantizedLinear.__call__(layer, chunk), atol=1e-4).item()
    tokens = mx.array([[0, 17, 42, 99, 7]])
    assert mx.allclose(mixed.model(tokens), stock.model(tokens), atol=1e-4).item()
    _assert_batches_like_alone(mixed)
