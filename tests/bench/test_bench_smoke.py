"""The benchmarks run: one bench in quick mode on the tiny model prints well-formed figures.

No timing is asserted (the machine is shared); only the shape of the output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from runtime_client import ROOT

FIELDS = {"bench", "figure", "model", "value", "unit", "baseline", "baseline_of", "ratio",
          "target", "met", "quick", "commit", "device"}


def test_single_stream_quick_prints_one_json_line_per_figure(models: Path) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "single_stream.py"),
                           "--model", str(models / "tiny"), "--quick"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    figure = json.loads(line)
    assert FIELDS <= figure.keys()
    assert (figure["bench"], figure["figure"], figure["unit"]) == (
        "single_stream", "decode_tok_s", "tok/s")
    assert figure["value"] > 0 and figure["baseline"] > 0 and figure["ratio"] > 0
    assert figure["baseline_of"] == "mlx_lm.stream_generate" and figure["quick"] is True
    assert figure["same_tokens"] is True and figure["met"] is None
