"""Shared fixtures: the locally built models and runtime processes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime_client import ROOT, RuntimeClient

MODELS_DIR = ROOT / "models"
GGUF_TYPES = ("q4_0", "q4_1", "q8_0", "f16", "bf16", "q2_k", "q4_k", "q6_k")
GGUF_MODELS = ("tiny-gguf", "tiny-gguf-qwen2", "tiny-gguf-qwen3", "tiny-gguf-llama3",
               "tiny-gguf-spm", "tiny-gguf-phi3", "tiny-gguf-gemma2", "tiny-gguf-gemma3",
               *(f"tiny-gguf-{kind}" for kind in GGUF_TYPES))
TEST_MODELS = ("tiny", "tiny-draft", "tiny-4bit", "tiny-vision", "tiny-llama3", *GGUF_MODELS)


@pytest.fixture(scope="session")
def models() -> Path:
    """The tiny test models, built (in seconds) if missing; see scripts/make_models.py."""
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_models.py"),
                    "--out", str(MODELS_DIR), *TEST_MODELS], check=True)
    return MODELS_DIR


@pytest.fixture
def runtime() -> Iterator[RuntimeClient]:
    """A fresh runtime with no model loaded."""
    client = RuntimeClient()
    yield client
    client.stop()
    client.assert_conforms()


@pytest.fixture
def tiny(models: Path, runtime: RuntimeClient) -> RuntimeClient:
    """A fresh runtime with the tiny model loaded as "tiny"."""
    runtime.result("model/load", {"model": str(models / "tiny"), "model_id": "tiny"})
    return runtime


@pytest.fixture(scope="module")
def shared_tiny(models: Path) -> Iterator[RuntimeClient]:
    """One runtime with "tiny" loaded, shared by the tests of a module."""
    client = RuntimeClient()
    client.result("model/load", {"model": str(models / "tiny"), "model_id": "tiny"})
    yield client
    client.stop()
    client.assert_conforms()
