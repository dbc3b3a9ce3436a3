"""model_preload: models loaded and warmed up before the runtime is ready."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from runtime_client import RUNTIME, RuntimeClient


def _config(tmp_path: Path, models: list[dict]) -> Path:
    path = tmp_path / "runtime.yaml"
    path.write_text(yaml.safe_dump({"model_preload": {"models": models}}))
    return path


def test_preloaded_model_serves_the_first_request(models: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, [{"path": str(models / "tiny"), "model_id": "t",
                                 "warmup_requests": 2, "max_tokens": 4}])
    client = RuntimeClient("--config", str(config))
    try:
        # Sent before ready: it waits for the preload instead of failing.
        early = client.start("generate", {"model": "t", "prompt": "The fox", "max_tokens": 3,
                                          "streaming": False})
        client.wait_for(lambda: any(n["method"] == "runtime/ready"
                                    for n in client.notifications))
        ready = next(n for n in client.notifications if n["method"] == "runtime/ready")
        (model,) = ready["params"]["models"]
        assert model["model_id"] == "t" and model["batch_sizes"] == [1, 2]
        assert model["warmup_ms"] > 0 and ready["params"]["preload_ms"] >= model["load_ms"]
        assert client.response(early)["result"]["stats"]["generated_tokens"] == 3
        state = client.result("runtime/state")
        assert state["status"] == "ready"
        (loaded,) = state["models"]
        assert loaded["model_id"] == "t"
        assert loaded["prompt_cache"]["entries"] == 0  # warm-up leaves nothing behind
    finally:
        client.stop()
    client.assert_conforms()


def test_a_bad_preload_entry_stops_start_up_with_a_clear_message(
        models: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, [{"path": str(models / "tiny")},
                                {"path": str(tmp_path / "nowhere"), "model_id": "gone"}])
    done = subprocess.run([sys.executable, str(RUNTIME), "--config", str(config)],
                          capture_output=True, timeout=120, input=b"")
    assert done.returncode == 2 and done.stdout == b""
    message = done.stderr.decode()
    assert "model_preload.models[1]" in message and "nowhere" in message and "'gone'" in message
