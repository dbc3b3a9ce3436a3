"""The benchmarks run: one bench in quick mode on the tiny model prints well-formed figures.

No timing is asserted (the machine is shared); only the shape of the output.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runtime_client import ROOT

FIELDS = {"bench", "figure", "model", "value", "unit", "baseline", "baseline_of", "ratio",
          "target", "met", "quick", "commit", "device"}


@pytest.mark.parametrize("client", ["stdio", "bridge"])
def test_single_stream_quick_prints_one_json_line_per_figure(models: Path, client: str) -> None:
    if client == "bridge" and shutil.which("node") is None:
        pytest.skip("the bridge figure needs node")
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "single_stream.py"),
                           "--model", str(models / "tiny"), "--quick", "--client", client],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    figure = json.loads(line)
    assert figure.keys() >= FIELDS
    assert (figure["bench"], figure["figure"], figure["unit"], figure["client"]) == (
        "single_stream", "decode_tok_s", "tok/s", client)
    assert figure["value"] > 0 and figure["baseline"] > 0 and figure["ratio"] > 0
    assert figure["baseline_of"] == "mlx_lm.stream_generate" and figure["quick"] is True
    assert figure["same_tokens"] is True and figure["met"] is None


def test_decode_paths_quick_compares_every_path_with_stream_generate(models: Path) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "decode_paths.py"),
                           "--model", str(models / "tiny"), "--quick"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    figures = [json.loads(line) for line in done.stdout.splitlines()]
    paths = {figure["path"] for figure in figures}
    assert paths == {"mlx_lm.stream_generate", "mlx_lm.BatchGenerator",
                     "runtime batch of one", "runtime solo"}
    for figure in figures:
        assert figure.keys() >= FIELDS and figure["value"] > 0 and figure["ratio"] > 0
        assert figure.get("same_tokens", True) is True


def test_speculative_quick_reports_both_figures(models: Path) -> None:
    # tiny drafting for itself: every proposal is accepted, whatever the timing.
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "speculative.py"),
                           "--model", str(models / "tiny"), "--draft", str(models / "tiny"),
                           "--quick"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with_draft, speedup = (json.loads(line) for line in done.stdout.splitlines())
    assert (with_draft["figure"], speedup["figure"]) == ("decode_tok_s_with_draft",
                                                         "draft_speedup")
    for figure in (with_draft, speedup):
        assert figure.keys() >= FIELDS and figure["value"] > 0 and figure["baseline"] > 0
        assert figure["acceptance_rate"] == 1.0 and figure["same_tokens"] is True
        assert figure["num_draft_tokens"] == 2 and figure["quick"] is True
    assert speedup["target_pass_ms"] > 0 and speedup["draft_pass_ms"] > 0
    assert speedup["predicted_speedup"] > 0


def test_http_quick_compares_the_front_with_mlx_lm_server(models: Path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "http_front.py"),
                           "--model", str(models / "tiny"), "--quick", "--streams", "1", "2"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    figures = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [f["figure"] for f in figures] == [
        f"{name}@{n}" for n in (1, 2) for name in ("aggregate_tok_s", "ttft_p50_ms",
                                                   "ttft_p99_ms")]
    for figure in figures:
        assert set(figure) >= FIELDS and figure["baseline_of"] == "mlx_lm.server"
        assert figure["value"] > 0 and figure["baseline"] > 0
    assert all(f["tokens"] > 0 for f in figures if f["figure"].startswith("aggregate"))


def test_distributed_quick_compares_two_ranks_with_one_process(models: Path) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "distributed.py"),
                           "--model", str(models / "tiny"), "--quick"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    figures = {json.loads(line)["figure"]: json.loads(line) for line in done.stdout.splitlines()}
    assert set(figures) == {"decode_tok_s", "ttft_ms", "batch_tok_s", "ring_ms_per_step",
                            "all_sum_us"}
    for name, figure in figures.items():
        assert figure.keys() >= FIELDS and figure["ranks"] == 2 and figure["backend"] == "ring"
        # ring_ms_per_step is a difference of two noisy rates (either sign), and
        # all_sum_us is set beside it; the others are plain measures.
        if name in ("decode_tok_s", "ttft_ms", "batch_tok_s"):
            assert figure["value"] > 0 and figure["baseline"] > 0
    assert figures["all_sum_us"]["value"] > 0
