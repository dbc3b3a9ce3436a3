"""The max batch size chosen from the model and the device (engine/batch_sizing.py)."""

from __future__ import annotations

import json
from pathlib import Path

from mlx_serving.config import BatchingConfig
from mlx_serving.engine.batch_sizing import batch_size_of, choose_batch_size, kv_bytes_per_token

H200 = 143_771 * 2**20
LLAMA_1B = {"num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8,
            "hidden_size": 2048, "head_dim": 64}
LLAMA_8B = {"num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
            "hidden_size": 4096}


def _folder(tmp_path: Path, config: dict[str, object]) -> str:
    (tmp_path / "config.json").write_text(json.dumps(config))
    return str(tmp_path)


def test_kv_bytes_per_token_from_the_config() -> None:
    assert kv_bytes_per_token(LLAMA_1B) == 2 * 16 * 8 * 64 * 2
    assert kv_bytes_per_token(LLAMA_8B) == 2 * 32 * 8 * 128 * 2  # head_dim from the width
    assert kv_bytes_per_token({"text_config": LLAMA_1B}) == kv_bytes_per_token(LLAMA_1B)
    assert kv_bytes_per_token({"hidden_size": 64}) is None


def test_on_a_big_gpu_a_small_model_takes_the_most_streams(tmp_path: Path) -> None:
    assert choose_batch_size(_folder(tmp_path, LLAMA_1B), 2_500_000_000, 131072, H200) == 128


def test_the_kv_caches_must_fit_beside_the_weights(tmp_path: Path) -> None:
    folder = _folder(tmp_path, LLAMA_8B)  # 512 MiB of KV per 4,096-token stream
    assert choose_batch_size(folder, 16 * 2**30, 131072, 80 * 2**30) == 64
    assert choose_batch_size(folder, 16 * 2**30, 131072, 40 * 2**30) == 32  # never below 32
    assert choose_batch_size(folder, 16 * 2**30, 1024, 40 * 2**30) == 128  # short context


def test_the_cpu_and_an_unknown_shape_keep_32(tmp_path: Path) -> None:
    assert choose_batch_size(_folder(tmp_path, LLAMA_1B), 10**9, 4096, None) == 32
    assert choose_batch_size(_folder(tmp_path, {"model_type": "x"}), 10**9, 4096, H200) == 32


def test_a_configured_size_wins() -> None:
    assert batch_size_of(BatchingConfig(), 128) == 128
    assert batch_size_of(BatchingConfig(max_batch_size=8), 128) == 8
