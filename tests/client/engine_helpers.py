"""Helpers of the Python client's tests."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlx_serving import Engine, create_engine
from mlx_serving.client import Chunk, MetadataChunk, TokenChunk

FAKE_RUNTIME = Path(__file__).with_name("fake_runtime.py")
PROMPT = "The old man"
# With PROMPT, these seeds make the tiny model run 500 tokens without an EOS
# (sampling is deterministic per seed): streams that are sure to be running.
LONG_SEEDS = (0, 1, 2)


def eventually(condition: Callable[[], Any], what: str, within: float = 60.0) -> None:
    """Waits for `condition` (a wait, not a timed assert: the bound only stops a hang)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def fake_engine(mode: str, **options: Any) -> Engine:
    env = {"FAKE_RUNTIME_MODE": mode, **options.pop("env", {})}
    return create_engine(python_path=sys.executable, runtime_path=str(FAKE_RUNTIME), env=env, **options)


def active_streams(engine: Engine) -> int:
    return int(engine.request("runtime/state").active_streams)


def tokens_of(chunks: list[Chunk]) -> list[TokenChunk]:
    return [chunk for chunk in chunks if isinstance(chunk, TokenChunk)]


def text_of(chunks: list[Chunk]) -> str:
    return "".join(chunk.token for chunk in tokens_of(chunks))


def end_of(chunks: list[Chunk]) -> MetadataChunk:
    last = chunks[-1]
    assert isinstance(last, MetadataChunk), f"ended with {last!r}"
    return last
