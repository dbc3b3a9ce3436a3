"""Vision-language models over stdio: model/loadVision and generate with images.

tiny-vision is a random-weight Qwen2-VL built by scripts/make_models.py; it
writes no sense, but every stage runs for real: images are read and decoded,
the processor makes pixel values and image tokens, the vision tower embeds
them and the text tower decodes.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from image_server import image_server
from runtime_client import ROOT, RuntimeClient

MIME = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp", "BMP": "bmp"}
# Penalties make the random model write varied tokens (greedy alone repeats one).
VARIED = {"temperature": 0, "repetition_penalty": 50.0, "penalty_context_size": 64,
          "max_tokens": 24}


def encoded(fmt: str, color=(220, 40, 40), size=(56, 56)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, fmt)
    return buffer.getvalue()


def data_url(fmt: str, color=(220, 40, 40), size=(56, 56)) -> str:
    return f"data:image/{MIME[fmt]};base64,{base64.b64encode(encoded(fmt, color, size)).decode()}"


@pytest.fixture(scope="module")
def client(models: Path) -> Iterator[RuntimeClient]:
    """A runtime with tiny-vision loaded as "vision" and tiny as "text"."""
    runtime = RuntimeClient()
    runtime.result("model/loadVision", {"model": str(models / "tiny-vision"), "model_id": "vision"})
    runtime.result("model/load", {"model": str(models / "tiny"), "model_id": "text"})
    yield runtime
    runtime.stop()
    runtime.assert_conforms()


def complete(client: RuntimeClient, **params) -> dict:
    """A non-streaming generation's result."""
    return client.result("generate", {"model": "vision", "prompt": "Describe the picture.",
                                      "streaming": False, "temperature": 0, **params})


def test_load_vision_describes_the_model(client: RuntimeClient, models: Path) -> None:
    listed = {m["model_id"]: m for m in client.result("model/list")["models"]}
    assert listed["vision"]["kind"] == "vision" and listed["text"]["kind"] == "text"
    assert listed["vision"]["vocab_size"] == 512 and listed["vision"]["parameters"] > 0
    again = client.result("model/loadVision", {"model": str(models / "tiny-vision"),
                                               "model_id": "vision"})
    assert again["already_loaded"] is True
    # The same folder as a text model under the same id is a clash, not a reload.
    clash = client.error("model/load", {"model": str(models / "tiny-vision"), "model_id": "vision"})
    assert clash["data"]["code"] == "INVALID_PARAMS"
    # Legacy name, model_id alone meaning the path.
    legacy = client.result("load_vision_model", {"model_id": str(models / "tiny-vision")})
    assert legacy["kind"] == "vision"
    client.result("model/unload", {"model": str(models / "tiny-vision")})
    tokens = client.result("tokenize", {"model": "vision", "text": "The fox"})["tokens"]
    assert client.result("detokenize", {"model": "vision", "tokens": tokens})["text"] == "The fox"


def test_one_image_from_a_path_streaming(client: RuntimeClient, tmp_path: Path) -> None:
    path = tmp_path / "red.jpg"
    path.write_bytes(encoded("JPEG"))
    text_only = complete(client, max_tokens=4)
    text, end = client.generate_stream({"model": "vision", "prompt": "Describe the picture.",
                                        "images": [str(path)], **VARIED})
    stats = end["params"]["stats"]
    assert end["params"]["finish_reason"] == "length" and stats["generated_tokens"] == 24
    assert text and stats["ttft_ms"] > 0
    # The image became tokens of the prompt: 4 for 56x56 pixels (28x28 each),
    # between a vision start and a vision end token.
    assert stats["prompt_tokens"] == text_only["stats"]["prompt_tokens"] + 4 + 2


@pytest.mark.parametrize("fmt", MIME)
def test_each_format_as_a_data_url(client: RuntimeClient, fmt: str) -> None:
    result = complete(client, images=[data_url(fmt)], **VARIED)
    assert result["finish_reason"] == "length" and result["stats"]["generated_tokens"] == 24
    # Same picture, whatever the format: the same tokens out (JPEG is lossy).
    if fmt != "JPEG":
        assert result["text"] == complete(client, images=[data_url("PNG")], **VARIED)["text"]


def test_several_images_per_prompt(client: RuntimeClient, tmp_path: Path) -> None:
    path = tmp_path / "green.bmp"
    path.write_bytes(encoded("BMP", color=(20, 200, 20)))
    one = complete(client, images=[data_url("PNG")], max_tokens=2)
    three = complete(client, images=[data_url("PNG"), str(path), data_url("WEBP", (0, 0, 200))],
                     max_tokens=2)
    assert three["stats"]["prompt_tokens"] == one["stats"]["prompt_tokens"] + 2 * (4 + 2)


def test_the_pixels_reach_the_model(client: RuntimeClient) -> None:
    def first_logprobs(color) -> list[float]:
        accepted = client.result("generate", {
            "model": "vision", "prompt": "Describe the picture.", "images": [data_url("PNG", color)],
            "logprobs": True, **VARIED})
        client.stream_end(accepted["stream_id"])
        return [t["logprob"] for t in client.stream_tokens(accepted["stream_id"])]

    red, blue = first_logprobs((255, 0, 0)), first_logprobs((0, 0, 255))
    assert red == first_logprobs((255, 0, 0))
    assert red != blue


def test_top_logprobs_on_the_vision_lane(client: RuntimeClient) -> None:
    """Greedy over the penalized row: the chosen token tops its alternatives."""
    accepted = client.result("generate", {
        "model": "vision", "prompt": "Describe the picture.", "images": [data_url("PNG")],
        "top_logprobs": 3, **VARIED})
    client.stream_end(accepted["stream_id"])
    tokens = client.stream_tokens(accepted["stream_id"])
    assert len({t["id"] for t in tokens}) > 1  # the penalty is in the row
    for token in tokens:
        top = token["top_logprobs"]
        assert len(top) == 3 and top[0]["id"] == token["id"]
        assert top[0]["logprob"] == pytest.approx(token["logprob"])
        assert [a["logprob"] for a in top] == sorted((a["logprob"] for a in top), reverse=True)


def test_chat_messages_with_images_and_text_alone(client: RuntimeClient) -> None:
    chat = client.result("generate", {
        "model": "vision", "streaming": False, "images": [data_url("PNG")], "temperature": 0, "max_tokens": 5,
        "messages": [{"role": "user", "content": "Hello."},
                     {"role": "assistant", "content": "Hi."},
                     {"role": "user", "content": "What is in the picture?"}]})
    assert chat["stats"]["generated_tokens"] == 5
    # A text prompt to a vision model, no images: it generates.
    alone = complete(client, max_tokens=6, temperature=0)
    assert alone["finish_reason"] == "length" and alone["stats"]["generated_tokens"] == 6
    # Token ids go in as they are.
    ids = client.result("tokenize", {"model": "vision", "text": "The fox"})["tokens"]
    direct = complete(client, prompt=ids, max_tokens=3)
    assert direct["stats"]["prompt_tokens"] == len(ids)


def test_sampling_stops_and_max_tokens(client: RuntimeClient) -> None:
    image = [data_url("PNG")]
    seeded = {"temperature": 1.0, "seed": 9, "top_k": 40, "max_tokens": 20}
    first = complete(client, images=image, **seeded)["text"]
    assert complete(client, images=image, **seeded)["text"] == first
    assert complete(client, images=image, **{**seeded, "seed": 10})["text"] != first

    greedy = complete(client, images=image, **VARIED)["text"]
    needle = greedy[len(greedy) // 2:len(greedy) // 2 + 3]
    stopped = complete(client, images=image, stop_sequences=[needle], **VARIED)
    assert stopped["finish_reason"] == "stop" and stopped["text"] == greedy[:greedy.index(needle)]

    accepted = client.result("generate", {"model": "vision", "prompt": "Hi", "images": image,
                                          "stream_id": "ids", **VARIED})
    client.stream_end(accepted["stream_id"])
    ids = [t["id"] for t in client.stream_tokens("ids")]
    stopped = complete(client, prompt="Hi", images=image, stop_token_ids=[ids[5]], **VARIED)
    assert stopped["finish_reason"] == "stop" and stopped["stats"]["generated_tokens"] == 6

    assert complete(client, images=image, **{**VARIED, "max_tokens": 1})["stats"][
        "generated_tokens"] == 1


def test_cancel_a_vision_stream(client: RuntimeClient) -> None:
    client.result("generate", {"model": "vision", "prompt": "Go on.", "stream_id": "long",
                               "images": [data_url("PNG")], "temperature": 0, "max_tokens": 100_000})
    client.wait_for(lambda: client.stream_tokens("long"))
    assert client.result("generate/cancel", {"stream_id": "long"})["cancelled"] is True
    assert client.stream_end("long")["params"]["finish_reason"] == "cancelled"


def test_vision_and_text_streams_run_together(client: RuntimeClient) -> None:
    client.result("generate", {"model": "vision", "prompt": "Hi", "images": [data_url("PNG")],
                               "stream_id": "v", "temperature": 0, "max_tokens": 30})
    client.result("generate", {"model": "text", "prompt": "Hi", "stream_id": "t",
                               "temperature": 0, "max_tokens": 30})
    for stream_id in ("v", "t"):
        assert client.stream_end(stream_id)["params"]["stats"]["generated_tokens"] == 30


def test_legacy_generate_with_image(client: RuntimeClient) -> None:
    result = client.result("generate_with_image", {
        "model_id": "vision", "prompt": "Describe.", "image": data_url("PNG"), "stream": False,
        "temperature": 0, "max_tokens": 3})
    assert result["stats"]["generated_tokens"] == 3


def _error(client: RuntimeClient, **params) -> dict:
    response = client.call("generate", {"model": "vision", "prompt": "Describe.",
                                        "max_tokens": 3, "temperature": 0, **params})
    assert "error" in response, response
    return response["error"]


def test_bad_images_get_clear_errors(client: RuntimeClient, tmp_path: Path) -> None:
    missing = _error(client, images=[data_url("PNG"), str(tmp_path / "nope.png")])
    assert missing["code"] == -32016 and missing["data"]["code"] == "IMAGE_INVALID"
    assert missing["data"]["image"] == 1 and "no such file" in missing["message"]

    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    error = _error(client, images=[str(corrupt)])
    assert error["data"]["code"] == "IMAGE_INVALID" and "corrupt" in error["message"]

    garbage = "data:image/png;base64," + base64.b64encode(b"not an image").decode()
    assert "not a readable image" in _error(client, images=[garbage])["message"]

    gif = "data:image/gif;base64," + base64.b64encode(encoded("GIF")).decode()
    error = _error(client, images=[gif])
    assert error["data"]["code"] == "IMAGE_INVALID" and "unsupported format GIF" in error["message"]

    error = _error(client, images=["data:image/png;base64,%%%"])
    assert error["data"]["code"] == "IMAGE_INVALID" and "base64" in error["message"]

    error = _error(client, images=["http://127.0.0.1:9/cat.png"])
    assert error["code"] == -32018 and error["data"]["code"] == "IMAGE_FETCH_FAILED"
    assert "http://127.0.0.1:9/cat.png" in error["message"]

    # The runtime keeps serving, and a bad request leaves no stream behind.
    assert complete(client, images=[data_url("PNG")], max_tokens=2)["stats"][
        "generated_tokens"] == 2
    assert client.result("runtime/state")["active_streams"] == 0


def test_bad_requests_get_clear_errors(client: RuntimeClient) -> None:
    error = _error(client, images=[])
    assert error["data"]["code"] == "INVALID_PARAMS" and "empty" in error["message"]

    error = _error(client, images=[data_url("PNG")] * 9)
    assert error["data"]["code"] == "INVALID_PARAMS" and "vision.max_images" in error["message"]

    error = client.error("generate", {"model": "text", "prompt": "Hi", "images": [data_url("PNG")]})
    assert error["data"]["code"] == "UNSUPPORTED" and "model/loadVision" in error["message"]

    ids = client.result("tokenize", {"model": "vision", "text": "Hi"})["tokens"]
    error = _error(client, prompt=ids, images=[data_url("PNG")])
    assert error["data"]["code"] == "INVALID_PARAMS" and "token ids" in error["message"]

    assert _error(client, add_bos=True)["data"]["code"] == "UNSUPPORTED"

    error = _error(client, guidance={"mode": "regex", "pattern": "[ab]+"})
    assert error["data"]["code"] == "UNSUPPORTED" and "structured output" in error["message"]

    error = client.error("model/loadDraft", {"model": "vision", "draft_model": "models/tiny"})
    assert error["data"]["code"] == "UNSUPPORTED" and "vision model" in error["message"]
    answer = client.result("model/isDraftCompatible", {"model": "vision", "draft_model": "text"})
    assert answer["compatible"] is False and "is a vision model" in answer["reasons"][0]

    assert complete(client, max_tokens=2)["stats"]["generated_tokens"] == 2


def test_unloading_a_vision_model_ends_its_streams(models: Path) -> None:
    runtime = RuntimeClient()
    try:
        runtime.result("model/loadVision", {"model": str(models / "tiny-vision"), "model_id": "v"})
        runtime.result("generate", {"model": "v", "prompt": "Go.", "stream_id": "s",
                                    "images": [data_url("PNG")], "temperature": 0, "max_tokens": 100_000})
        runtime.wait_for(lambda: runtime.stream_tokens("s"))
        assert runtime.result("model/unload", {"model": "v"})["cancelled_streams"] == 1
        end = runtime.stream_end("s")
        assert end["method"] == "stream/error"
        assert end["params"]["error"]["data"]["code"] == "MODEL_UNLOADED"
    finally:
        runtime.stop()
    runtime.assert_conforms()


def test_end_of_input_waits_for_images_still_loading(models: Path, tmp_path: Path) -> None:
    """A piped session: the requests sent before EOF are all answered, even
    while their images are still being fetched."""
    runtime = RuntimeClient("--config", str(ROOT / "tests" / "fetch-loopback.yaml"))
    try:
        with image_server() as url:
            runtime.result("model/loadVision", {"model": str(models / "tiny-vision"),
                                                "model_id": "v"})
            slow = runtime.start("generate", {"model": "v", "prompt": "Hi", "stream_id": "s",
                                              "images": [f"{url}/slow.png"], "temperature": 0, "max_tokens": 3})
            failing = runtime.start("generate", {"model": "v", "prompt": "Hi",
                                                 "images": [f"{url}/slow.png", f"{url}/no.png"],
                                                 "max_tokens": 3})
            runtime.close_stdin()
            assert runtime.wait_exit() == 0
        assert runtime.responses[slow]["result"] == {"stream_id": "s", "model": "v",
                                                     "variant": "stable"}
        assert runtime.stream_end("s")["params"]["stats"]["generated_tokens"] == 3
        assert runtime.responses[failing]["error"]["data"]["code"] == "IMAGE_FETCH_FAILED"
    finally:
        runtime.stop()
    runtime.assert_conforms()


def test_max_image_side_scales_what_reaches_the_processor(client: RuntimeClient, models: Path,
                                                          tmp_path: Path) -> None:
    """With vision.max_image_side: 56, a 448x56 image reaches the processor as
    56x7: it makes as many image tokens as a 56x7 image does, fewer than the
    448x56 one makes where it is not scaled (tiny-vision's processor takes up
    to 56x56 pixels: it shrinks that one to 4 tokens, the 56x7 one to 2)."""
    config = tmp_path / "runtime.yaml"
    config.write_text("vision:\n  max_image_side: 56\n")
    wide = data_url("PNG", size=(448, 56))

    def prompt_tokens(runtime: RuntimeClient, image: str) -> int:
        return complete(runtime, images=[image], max_tokens=1)["stats"]["prompt_tokens"]

    capped = RuntimeClient("--config", str(config))
    try:
        capped.result("model/loadVision", {"model": str(models / "tiny-vision"),
                                           "model_id": "vision"})
        scaled = prompt_tokens(capped, wide)
    finally:
        capped.stop()
    capped.assert_conforms()
    assert scaled == prompt_tokens(client, data_url("PNG", size=(56, 7)))
    assert prompt_tokens(client, wide) == scaled + 2
