"""model/load of GGUF files over stdio: the same text as the folder model,
clear errors for broken and unsupported files with the runtime serving on,
and the progress notifications of model/load and of a long prefill."""

from __future__ import annotations

from pathlib import Path

import gguf
import yaml

from gguf_files import write_gguf
from runtime_client import RuntimeClient

GREEDY = {"prompt": "The old man", "max_tokens": 12, "temperature": 0.0}


def test_gguf_generates_what_the_folder_model_does(runtime: RuntimeClient, models: Path) -> None:
    runtime.result("model/load", {"model": str(models / "tiny"), "model_id": "folder"})
    loaded = runtime.result("model/load", {"model": str(models / "tiny-gguf" / "model.gguf"),
                                           "model_id": "gguf"})
    assert loaded["gguf"]["architecture"] == "llama" and loaded["warnings"] == []
    texts = [runtime.result("generate", {"model": model, "streaming": False, **GREEDY})["text"]
             for model in ("folder", "gguf")]
    assert texts[0] == texts[1] and texts[0]
    assert runtime.result("tokenize", {"model": "gguf", "text": "The old man"}) == \
        runtime.result("tokenize", {"model": "folder", "text": "The old man"})


def test_llama3_gguf_generates_what_its_folder_model_does(runtime: RuntimeClient,
                                                          models: Path) -> None:
    # Llama 3.1's RoPE: mlx-lm's Llama3RoPE in the folder, rope_freqs.weight in the file.
    runtime.result("model/load", {"model": str(models / "tiny-llama3"), "model_id": "folder"})
    runtime.result("model/load", {"model": str(models / "tiny-gguf-llama3" / "model.gguf"),
                                  "model_id": "gguf"})
    long = {**GREEDY, "prompt": "The old man walks to the river every morning. " * 25}
    texts = [runtime.result("generate", {"model": model, "streaming": False, **long})["text"]
             for model in ("folder", "gguf")]
    assert texts[0] == texts[1] and texts[0]


def test_qwen3_phi3_gemma_and_sentencepiece_files_serve(runtime: RuntimeClient, models: Path) -> None:
    for name, architecture in (("qwen3", "qwen3"), ("phi3", "phi3"), ("gemma2", "gemma2"),
                               ("gemma3", "gemma3"), ("spm", "llama")):
        loaded = runtime.result("model/load", {
            "model": str(models / f"tiny-gguf-{name}" / "model.gguf"), "model_id": name})
        assert loaded["gguf"]["architecture"] == architecture
    # llama.cpp's ids (see tests/unit/test_gguf_loading.py): BOS, "\u2581", byte fallback for "H".
    tokens = runtime.result("tokenize", {"model": "spm", "text": "Hello world"})["tokens"]
    assert tokens == [1, 366, 81, 367, 376, 376, 373, 277, 311, 338]
    assert runtime.result("detokenize", {"model": "spm", "tokens": tokens,
                                         "skip_special_tokens": True})["text"] == "Hello world"
    # The prompt is longer than gemma3's 64-token sliding window.
    for model in ("qwen3", "phi3", "gemma2", "gemma3", "spm"):
        done = runtime.result("generate", {"model": model, "streaming": False, **GREEDY,
                                           "prompt": "The old man walks to the river. " * 12,
                                           "max_tokens": 6})
        assert done["finish_reason"] in ("length", "stop") and done["stats"]["generated_tokens"]


def test_broken_and_unsupported_files_are_clear_errors(runtime: RuntimeClient, models: Path,
                                                       tmp_path: Path) -> None:
    cut = tmp_path / "cut.gguf"
    cut.write_bytes((models / "tiny-gguf" / "model.gguf").read_bytes()[:5000])
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(b"not a model at all" * 10)
    q5k = write_gguf(tmp_path / "q5k.gguf", tensor_type=gguf.GGMLQuantizationType.Q5_K)
    (tmp_path / "folder.gguf").mkdir()
    cases = [(cut, "MODEL_LOAD_FAILED", "truncated"),
             (garbage, "MODEL_LOAD_FAILED", "no GGUF magic"),
             (q5k, "UNSUPPORTED_MODEL", "Q5_K"),
             (tmp_path / "missing.gguf", "MODEL_NOT_FOUND", "no GGUF file"),
             (tmp_path / "folder.gguf", "MODEL_NOT_FOUND", "no GGUF file")]
    for path, code, words in cases:
        error = runtime.error("model/load", {"model": str(path), "model_id": "x"})
        assert error["data"]["code"] == code and words in error["message"], (path, error)
    assert runtime.error("model/load", {"model": str(q5k)})["data"]["tensor"] == \
        "blk.0.ffn_up.weight"
    # Still serving, and nothing half-loaded.
    assert runtime.result("model/list")["models"] == []
    runtime.result("model/load", {"model": str(models / "tiny-gguf" / "model.gguf"),
                                  "model_id": "ok"})
    assert runtime.result("generate", {"model": "ok", "streaming": False, **GREEDY})["text"]


def _progress(runtime: RuntimeClient, model_id: str) -> list[dict]:
    return [n["params"] for n in runtime.notifications
            if n["method"] == "model/progress" and n["params"]["model_id"] == model_id]


def test_load_progress_of_a_folder_and_a_gguf_file(runtime: RuntimeClient, models: Path) -> None:
    runtime.result("model/load", {"model": str(models / "tiny"), "model_id": "f",
                                  "progress": True})
    runtime.result("model/load", {"model": str(models / "tiny-gguf" / "model.gguf"),
                                  "model_id": "g", "progress": True})
    runtime.result("model/load", {"model": str(models / "tiny-draft"), "model_id": "quiet"})
    folder, from_gguf = _progress(runtime, "f"), _progress(runtime, "g")
    assert {p["phase"] for p in folder} == {"reading", "warming_up"}
    assert {p["phase"] for p in from_gguf} == {"reading", "converting", "warming_up"}
    for reports in (folder, from_gguf):
        assert reports[-1] == {**reports[-1], "phase": "warming_up", "done": 1, "total": 1}
        reading = [p for p in reports if p["phase"] == "reading"]
        assert reading[0]["done"] == 0 and reading[-1]["done"] == reading[-1]["total"] > 0
        assert all(p["unit"] == "bytes" for p in reading)
    assert _progress(runtime, "quiet") == []  # not asked for


def test_prefill_progress_before_the_first_token(models: Path, tmp_path: Path) -> None:
    config = tmp_path / "runtime.yaml"
    config.write_text(yaml.safe_dump({"batching": {"prefill_step_size": 64,
                                                   "min_prefill_chunk": 32}}))
    runtime = RuntimeClient("--config", str(config))
    try:
        runtime.result("model/load", {"model": str(models / "tiny"), "model_id": "tiny"})
        prompt = "The old man walks to the river every morning. " * 30
        for stream_id, asked in (("asked", True), ("quiet", False)):
            runtime.generate_stream({"model": "tiny", "prompt": prompt, "max_tokens": 3,
                                     "stream_id": stream_id, "prefill_progress": asked})
        messages = runtime.stream_messages("asked")
        kinds = [n["method"] for n in messages]
        first_chunk = kinds.index("stream/chunk")
        progress = [n["params"] for n in messages if n["method"] == "stream/progress"]
        assert len(progress) >= 3 and "stream/progress" not in kinds[first_chunk:]
        done = [p["processed"] for p in progress]
        assert done == sorted(done) and done[-1] == progress[-1]["total"] > 200
        assert "stream/progress" not in [n["method"] for n in runtime.stream_messages("quiet")]
    finally:
        runtime.stop()
    runtime.assert_conforms()
