"""The Python client's progress callbacks on the real runtime: load_model(...,
on_progress=) for a GGUF file and create_generator(..., on_prefill_progress=)."""

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
        assert reports[0].phase == "reading"
        assert {p.phase for p in reports} == {"reading", "converting", "warming_up"}
        assert reports[-1] == m.ModelProgress(model_id="gguf", phase="warming_up", done=1, total=1,
                                              unit="steps")
    finally:
        engine.unload_model("gguf")


def test_prefill_progress_before_the_first_token(engine: Engine) -> None:
    seen: list[str] = []
    reports: list[m.StreamProgress] = []

    def progress(report: m.StreamProgress) -> None:
        reports.append(report)
        seen.append("progress")

    prompt = "The old man walks to the river every morning. " * 20
    for chunk in engine.create_generator({"model": "tiny", "prompt": prompt, "max_tokens": 3},
                                         on_prefill_progress=progress):
        seen.append(chunk.type)
    assert reports and reports[-1].processed == reports[-1].total > 100
    assert seen.index("token") > max(i for i, kind in enumerate(seen) if kind == "progress")
