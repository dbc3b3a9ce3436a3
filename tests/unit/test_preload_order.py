"""Engine.preload announces runtime/ready before its status turns "ready", so a
client that reads "ready" in runtime/state has already been sent runtime/ready."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mlx_serving.api.messages import RuntimeReady
from mlx_serving.config import load_config
from mlx_serving.engine.engine import Engine


def test_preload_is_announced_while_the_status_still_says_starting(models: Path,
                                                                  tmp_path: Path) -> None:
    config = tmp_path / "runtime.yaml"
    config.write_text(yaml.safe_dump({"model_preload": {"models": [
        {"path": str(models / "tiny"), "model_id": "t", "warmup_requests": 1, "max_tokens": 2}]}}))
    writer: Any = None  # preload writes nothing itself: announce carries its news
    engine = Engine(load_config(config), writer)
    assert engine.status == "starting"
    seen: list[tuple[str, RuntimeReady]] = []
    engine.preload(announce=lambda ready: seen.append((engine.status, ready)))
    ((status, ready),) = seen
    assert status == "starting" and [model.model_id for model in ready.models] == ["t"]
    assert engine.status == "ready"


def test_nothing_to_preload_announces_nothing(tmp_path: Path) -> None:
    config = tmp_path / "runtime.yaml"
    config.write_text("")
    writer: Any = None
    engine = Engine(load_config(config), writer)
    announced: list[RuntimeReady] = []
    engine.preload(announce=announced.append)
    assert announced == [] and engine.status == "ready"
