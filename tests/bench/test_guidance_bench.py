"""bench/guidance.py runs end to end on the tiny model and prints every figure
as well-formed JSON. No timing is asserted (the machine is shared)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from runtime_client import ROOT


def test_every_figure_prints_one_json_line(models: Path) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "guidance.py"),
                           "--model", str(models / "tiny"), "--tokens", "8", "--repeats", "1",
                           "--batch", "2", "--json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    figures = [json.loads(line) for line in done.stdout.splitlines()]
    by_name = {name: [f for f in figures if f["figure"] == name]
               for name in ("decode_raw", "mask_step", "decode_runtime", "compile")}
    (raw,) = by_name["decode_raw"]
    assert raw["batch"] == 2 and raw["guided_eos_tokens"] == 0
    for field in ("unconstrained", "per_stream_samplers", "pass_through", "guided"):
        assert raw[f"{field}_ms_per_token"] > 0
    (step,) = by_name["mask_step"]
    assert step["steps"] == 8 and step["vocab"] == 512 and step["call_eval_us"] > 0
    (runtime,) = by_name["decode_runtime"]
    assert runtime["unconstrained_tokens"] == runtime["guided_tokens"] == 16
    assert len(by_name["compile"]) == 6  # two backends, three modes
