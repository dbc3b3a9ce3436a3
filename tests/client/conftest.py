"""Fixtures of the Python client's tests: one engine on the real runtime with
the tiny local model (faults use fake_runtime.py, see engine_helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlx_serving import Engine, EngineError, create_engine


@pytest.fixture(scope="module")
def engine(models: Path) -> Iterator[Engine]:
    """One engine on the real runtime with "tiny" loaded, shared by a module's tests (each leaves it idle)."""
    protocol_errors: list[EngineError] = []
    with create_engine(high_water_mark=4, on={"protocol_error": protocol_errors.append}) as shared:
        shared.load_model(str(models / "tiny"), model_id="tiny")
        yield shared
    assert protocol_errors == [], "the real runtime never breaks the protocol"
