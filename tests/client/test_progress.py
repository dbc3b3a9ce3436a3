"""The Python client's load progress on the real runtime: load_model(...,
on_progress=) for a GGUF file (prefill progress comes as chunks: test_engine.py)."""

from __future__ import annotations

from pathlib import Path

from mlx_serving import Engine
from mlx_serving.api import messages as m


def test_load_model_reports_progress_of_a_gguf_file(engine: Engine, models: Path) -> None:
    reports: list[m.ModelProgress] = []
    loaded = engine.load_model(str(models / "tiny-gguf" / "model.gguf"), model_id="gguf",
                               on_progress=reports.append)
    try:
        assert loaded.gguf is not None and loaded.gguf.architecture == "llama"
        assert [p.phase for p in reports][0] == "reading"
        assert {p.phase for p in reports} == {"reading", "converting", "warming_up"}
        assert reports[-1] == m.ModelProgress(model_id="gguf", phase="warming_up", done=1, total=1,
                                              unit="steps")
    finally:
        engine.unload_model("gguf")
