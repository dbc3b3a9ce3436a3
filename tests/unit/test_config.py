"""config/runtime.yaml: documented defaults, and the checks of the keys this runtime adds."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlx_serving.config import DEFAULT_CONFIG_PATH, ConfigError, RuntimeConfig, load_config


def test_the_shipped_file_holds_the_defaults() -> None:
    assert load_config(DEFAULT_CONFIG_PATH) == RuntimeConfig()


@pytest.mark.parametrize(("text", "named"), [
    ("batching:\n  buckets: [4, 2]\n", "strictly increasing"),
    ("batching:\n  buckets: sometimes\n", "batching.buckets"),
    ("batching:\n  target_step_ms: 0\n", "target_step_ms"),
    ("prompt_cache:\n  max_bytes: -1\n", "prompt_cache.max_bytes"),
    ("model_preload:\n  models: [{path: a, model_id: x}, {path: b, model_id: x}]\n", "twice"),
    ("model_preload:\n  models: [{model_id: x}]\n", "path"),
])
def test_bad_values_name_the_key(tmp_path: Path, text: str, named: str) -> None:
    config = tmp_path / "runtime.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=named):
        load_config(config)


def test_a_relative_preload_path_names_a_folder_beside_the_config(tmp_path: Path) -> None:
    (tmp_path / "models" / "m").mkdir(parents=True)
    config = tmp_path / "runtime.yaml"
    config.write_text("model_preload:\n  models:\n"
                      "    - path: models/m\n    - path: org/hub-model\n")
    first, second = load_config(config).model_preload.models
    assert first.path == str((tmp_path / "models" / "m").resolve())
    assert second.path == "org/hub-model"  # no such folder: taken as given
