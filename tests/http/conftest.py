"""Fixtures: one HTTP runtime with "tiny" preloaded, SDK clients on it, and
runtimes of a test's own (a config or an environment of their own)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anthropic
import openai
import pytest
from http_runtime import HttpRuntime, OwnServer


@pytest.fixture(scope="module")
def server(models: Path) -> Iterator[HttpRuntime]:
    runtime = HttpRuntime("--model", str(models / "tiny"))
    runtime.wait_ready()
    yield runtime
    runtime.stop()
    runtime.assert_conforms()


@pytest.fixture
def oai(server: HttpRuntime) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0)


@pytest.fixture
def claude(server: HttpRuntime) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key="none", max_retries=0)


@pytest.fixture
def own_server(tmp_path: Path, models: Path) -> OwnServer:
    """`with own_server(config, env=...) as runtime:` starts a runtime serving
    "tiny" (`config`: the text of its runtime.yaml), waits until it is ready,
    and stops it on the way out."""
    @contextmanager
    def start(config: str | None = None,
              env: dict[str, str] | None = None) -> Iterator[HttpRuntime]:
        path = None
        if config is not None:
            path = tmp_path / "runtime.yaml"
            path.write_text(config)
        runtime = HttpRuntime("--model", str(models / "tiny"), env=env, config=path)
        try:
            runtime.wait_ready()
            yield runtime
        finally:
            runtime.stop()

    return start
