"""The Python examples run as README says (on the tiny model)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_hello_streams_a_completion_then_a_whole_one_and_an_engine_error(models: Path) -> None:
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "hello.py"), str(models / "tiny")],
                         capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.startswith("The old man")
    assert "tokens at" in out.stdout and "[MODEL_NOT_LOADED]" in out.stdout


def readme_asyncio_example() -> str:
    """The code block of README's "From asyncio" section, as written."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### From asyncio"):]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None, "README's asyncio section has its example"
    return found.group(1)


def test_the_readme_asyncio_example_runs_as_written(models: Path, tmp_path: Path) -> None:
    # It names models/demo: here that is the tiny model, in a folder of its own.
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "demo").symlink_to(models / "tiny", target_is_directory=True)
    script = tmp_path / "example.py"
    script.write_text(readme_asyncio_example())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "python"),
                                                                     os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300, check=True)
    lines = out.stdout.splitlines()
    assert "3 answers at once" in lines and lines[-1] == "MODEL_NOT_LOADED", out.stdout
