"""Fixtures: one HTTP runtime with "tiny" preloaded, and SDK clients on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest
from http_runtime import HttpRuntime


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
