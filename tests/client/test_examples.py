"""The Python example runs as README says (on the tiny model)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_hello_streams_a_completion_then_a_whole_one_and_an_engine_error(models: Path) -> None:
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "hello.py"), str(models / "tiny")],
                         capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.startswith("The old man")
    assert "tokens at" in out.stdout and "[MODEL_NOT_LOADED]" in out.stdout
