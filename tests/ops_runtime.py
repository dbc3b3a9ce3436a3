"""Helpers for the ops tests: runtimes with their own config files, notifications."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from runtime_client import ROOT, RuntimeClient

MODELS = ROOT / "models"


def start(tmp_path: Path, config: str = "", flags: str = "", *, load: bool = True,
          env: dict[str, str] | None = None) -> RuntimeClient:
    """A runtime reading `config` as runtime.yaml and `flags` as feature-flags.yaml
    (both in tmp_path, to rewrite for config/reload), with "tiny" loaded."""
    (tmp_path / "runtime.yaml").write_text(config)
    (tmp_path / "flags.yaml").write_text(flags)
    client = RuntimeClient("--config", str(tmp_path / "runtime.yaml"),
                           "--flags", str(tmp_path / "flags.yaml"), env=env)
    if load:
        client.result("model/load", {"model": str(MODELS / "tiny"), "model_id": "tiny"})
    return client


def notifications(client: RuntimeClient, method: str) -> list[dict[str, Any]]:
    return [n["params"] for n in client.notifications if n["method"] == method]


def wait_notification(client: RuntimeClient, method: str,
                      predicate: Callable[[dict[str, Any]], bool] = lambda _: True,
                      timeout: float = 60.0) -> dict[str, Any]:
    """The first `method` notification whose params satisfy `predicate`."""

    def found() -> dict[str, Any] | None:
        return next((p for p in notifications(client, method) if predicate(p)), None)

    client.wait_for(lambda: found() is not None, timeout)
    result = found()
    assert result is not None
    return result


def generate(client: RuntimeClient, **params: Any) -> dict[str, Any]:
    """A non-streaming greedy generate of a few tokens; the whole response."""
    return client.call("generate", {"model": "tiny", "prompt": "The fox", "max_tokens": 2,
                                    "temperature": 0, "streaming": False, **params})
