"""model/load, model/unload, model/list, tokenize, detokenize over stdio."""

from __future__ import annotations

from pathlib import Path

from runtime_client import RuntimeClient


def test_load_describes_the_model(runtime: RuntimeClient, models: Path) -> None:
    result = runtime.result("model/load", {"model": str(models / "tiny"), "model_id": "t"})
    assert result["model_id"] == "t" and result["kind"] == "text"
    assert result["context_length"] == 512 and result["vocab_size"] == 512
    assert result["parameters"] > 0 and result["quantization"] is None
    assert result["already_loaded"] is False and result["load_ms"] > 0
    listed = runtime.result("model/list")["models"]
    assert [m["model_id"] for m in listed] == ["t"]
    assert runtime.result("runtime/info")["models"][0]["model_id"] == "t"


def test_load_is_idempotent_per_model_id(runtime: RuntimeClient, models: Path) -> None:
    path = str(models / "tiny")
    runtime.result("model/load", {"model": path, "model_id": "t"})
    again = runtime.result("model/load", {"model": path, "model_id": "t"})
    assert again["already_loaded"] is True
    error = runtime.error("model/load", {"model": str(models / "tiny-draft"), "model_id": "t"})
    assert error["data"]["code"] == "INVALID_PARAMS" and "unload it first" in error["message"]


def test_model_id_defaults_to_the_path(runtime: RuntimeClient, models: Path) -> None:
    path = str(models / "tiny")
    assert runtime.result("model/load", {"model": path})["model_id"] == path


def test_legacy_load_model_with_model_id_only(runtime: RuntimeClient, models: Path) -> None:
    path = str(models / "tiny")
    assert runtime.result("load_model", {"model_id": path})["model_id"] == path
    assert runtime.result("unload_model", {"model_id": path})["model_id"] == path


def test_quantized_model_loads_and_generates(runtime: RuntimeClient, models: Path) -> None:
    result = runtime.result("model/load", {"model": str(models / "tiny-4bit"), "model_id": "q"})
    assert result["quantization"] == {"bits": 4, "group_size": 32}
    _text, end = runtime.generate_stream({"model": "q", "prompt": "The fox", "max_tokens": 5,
                                         "temperature": 0})
    assert end["params"]["stats"]["generated_tokens"] == 5


def test_unload_ends_in_flight_streams(runtime: RuntimeClient, models: Path) -> None:
    runtime.result("model/load", {"model": str(models / "tiny"), "model_id": "t"})
    runtime.result("generate", {"model": "t", "prompt": "x", "stream_id": "s",
                                "max_tokens": 500, "temperature": 0})
    result = runtime.result("model/unload", {"model": "t"})
    assert result["cancelled_streams"] in (0, 1)
    end = runtime.stream_end("s")
    if result["cancelled_streams"]:
        assert end["method"] == "stream/error"
        assert end["params"]["error"]["data"]["code"] == "MODEL_UNLOADED"
    assert runtime.result("model/list")["models"] == []


def test_hub_id_without_network() -> None:
    client = RuntimeClient(env={"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_ETAG_TIMEOUT": "2"})
    try:
        error = client.error("model/load", {"model": "mlx-community/no-such-model-4bit"})
        assert error["data"]["code"] == "MODEL_NOT_FOUND"
        assert "Hugging Face Hub" in error["message"]
        assert "Traceback" not in error["message"]
        assert client.result("runtime/info")["name"] == "mlx-serving"
    finally:
        client.stop()
    client.assert_conforms()


def test_tokenize_and_detokenize(tiny: RuntimeClient) -> None:
    with_bos = tiny.result("tokenize", {"model": "tiny", "text": "The fox runs."})["tokens"]
    without = tiny.result("tokenize", {"model": "tiny", "text": "The fox runs.",
                                       "addBos": False})["tokens"]
    assert with_bos[0] == 0 and with_bos[1:] == without
    # add_special_tokens is an alias of add_bos
    assert tiny.result("tokenize", {"model": "tiny", "text": "The fox runs.",
                                    "add_special_tokens": False})["tokens"] == without
    text = tiny.result("detokenize", {"model": "tiny", "tokens": without})["text"]
    assert text == "The fox runs."
    skipped = tiny.result("detokenize", {"model": "tiny", "tokens": with_bos,
                                         "skip_special_tokens": True})["text"]
    assert skipped == "The fox runs."
    batch = tiny.result("batch_tokenize", {"model": "tiny", "texts": ["The fox", "runs."],
                                           "add_bos": False})["tokens"]
    assert len(batch) == 2 and all(batch)
