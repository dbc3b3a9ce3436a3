"""bench/client_path.py runs: one well-formed figure in quick mode (no timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys

from runtime_client import ROOT


def test_client_path_quick_prints_one_figure_against_a_plain_decode() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "client_path.py"), "--quick"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    figure = json.loads(line)
    assert (figure["bench"], figure["figure"], figure["unit"]) == ("client_path", "client_us_per_token", "us/token")
    assert figure["value"] > 0 and figure["baseline"] > 0 and figure["ratio"] > 0
    assert figure["baseline_of"] == "msgspec.json.decode of the line" and figure["quick"] is True
