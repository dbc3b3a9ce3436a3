"""bench/guidance.py runs end to end on the tiny model and prints every figure
as one JSON line in the benches' common format. No timing is asserted (the machine is shared)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from test_bench_smoke import FIELDS

from runtime_client import ROOT


def test_every_figure_prints_one_json_line(models: Path) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "guidance.py"),
                           "--model", str(models / "tiny"), "--tokens", "8", "--runs", "1",
                           "--batch", "2"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    figures = [json.loads(line) for line in done.stdout.splitlines()]
    assert all(f.keys() >= FIELDS and f["bench"] == "guidance" and f["value"] > 0
               for f in figures), figures
    by_name = {name: [f for f in figures if f["figure"] == name]
               for name in ("decode_raw", "mask_step", "decode_runtime", "compile")}
    (raw,) = by_name["decode_raw"]
    assert raw["batch"] == 2 and raw["guided_eos_tokens"] == 0
    assert raw["value"] == raw["guided_ms_per_token"] and raw["target"] == "< 1.10"
    for field in ("unconstrained", "per_stream_samplers", "pass_through", "guided"):
        assert raw[f"{field}_ms_per_token"] > 0
    (step,) = by_name["mask_step"]
    assert step["steps"] == 8 and step["vocab"] == 512 and step["call_eval_us"] > 0
    (runtime,) = by_name["decode_runtime"]
    assert runtime["unconstrained_tokens"] == runtime["guided_tokens"] == 16
    compiled = {(f["backend"], f["mode"]) for f in by_name["compile"]}
    assert compiled == {(backend, mode) for backend in ("llguidance", "outlines-core")
                        for mode in ("json_schema", "regex", "xml")}
    assert all(f["unit"] == "ms" and f["cached_ms"] > 0 for f in by_name["compile"])
