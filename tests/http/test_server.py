"""The HTTP front as a server: errors in each envelope, limits, disconnects,
the API key, vision, load shedding, health, metrics and the lifecycle."""

from __future__ import annotations

import base64
import http.client
import io
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import anthropic
import openai
import pytest
from http_runtime import HttpRuntime, OwnServer
from PIL import Image

from runtime_client import RUNTIME

ASK = [{"role": "user", "content": "Tell me about the fox."}]


def _post(url: str, body: bytes, headers: dict[str, str] | None = None
          ) -> tuple[int, dict[str, str], dict]:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"content-type": "application/json",
                                              **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _declare_huge_body(url: str, path: str) -> tuple[int, dict]:
    connection = http.client.HTTPConnection(urllib.parse.urlsplit(url).netloc, timeout=60)
    connection.putrequest("POST", path)
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(33 * 1024 * 1024))
    connection.endheaders()
    response = connection.getresponse()
    try:
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_bad_params_name_the_param(oai: openai.OpenAI) -> None:
    cases = [({"n": 2}, "n"), ({"temperature": -1}, "temperature"),
             ({"top_logprobs": 21, "logprobs": True}, "top_logprobs"),
             ({"top_logprobs": 3}, "top_logprobs")]
    for extra, param in cases:
        with pytest.raises(openai.BadRequestError) as caught:
            oai.chat.completions.create(model="tiny", messages=ASK, max_tokens=2, **extra)
        assert caught.value.status_code == 400 and caught.value.body["param"] == param
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model="tiny", messages=[{"role": "wizard", "content": "x"}])
    assert "role" in caught.value.body["param"]
    with pytest.raises(openai.NotFoundError) as missing:
        oai.chat.completions.create(model="nope", messages=ASK)
    assert missing.value.body["param"] == "model"
    assert missing.value.body["code"] == "MODEL_NOT_LOADED"


def test_malformed_and_oversized_bodies(server: HttpRuntime) -> None:
    status, _, body = _post(server.url + "/v1/chat/completions", b"{not json")
    assert status == 400 and body["error"]["code"] == "PARSE_ERROR"
    # Refused on its Content-Length, before a byte of the body is read.
    status, body = _declare_huge_body(server.url, "/v1/chat/completions")
    assert status == 413 and body["error"]["code"] == "REQUEST_TOO_LARGE"
    status, body = _declare_huge_body(server.url, "/v1/messages")
    assert status == 413 and body["error"]["type"] == "request_too_large"
    # And the server goes on.
    status, _, body = _post(server.url + "/v1/chat/completions", json.dumps(
        {"model": "tiny", "messages": ASK, "max_tokens": 2}).encode())
    assert status == 200 and body["usage"]["completion_tokens"] <= 2


def test_health_and_metrics(server: HttpRuntime) -> None:
    status, body = _get(server.url + "/health")
    assert status == 200 and json.loads(body) == {"status": "ready", "models": ["tiny"]}
    status, body = _get(server.url + "/metrics")
    assert status == 200 and b"mlx_serving_" in body


SLOW = "debug:\n  faults:\n    tiny: {token_delay_ms: 25}\n"


def test_disconnect_cancels_the_stream_then_the_next_request_runs(
        own_server: OwnServer) -> None:
    with own_server(SLOW) as runtime:
        client = openai.OpenAI(base_url=runtime.url + "/v1", api_key="none", max_retries=0)
        stream = client.chat.completions.create(model="tiny", messages=ASK, max_tokens=4000,
                                                stream=True)
        chunks = iter(stream)
        next(chunks), next(chunks)
        assert runtime.result("runtime/state")["active_streams"] == 1
        stream.close()
        runtime.wait_idle()
        counts = runtime.result("metrics/get")["overall"]["lifetime"]["requests"]
        assert counts["cancelled"] == 1
        reply = client.chat.completions.create(model="tiny", messages=ASK, max_tokens=3)
        assert reply.usage.completion_tokens <= 3
    runtime.assert_conforms()


def test_api_key(own_server: OwnServer) -> None:
    with own_server(env={"MLX_SERVING_API_KEY": "sesame"}) as runtime:
        url = runtime.url
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=url + "/v1", api_key="wrong", max_retries=0).models.list()
        with pytest.raises(anthropic.AuthenticationError) as caught:
            anthropic.Anthropic(base_url=url, api_key="wrong", max_retries=0).messages.create(
                model="tiny", max_tokens=2, messages=ASK)
        assert caught.value.body["error"]["type"] == "authentication_error"
        good = openai.OpenAI(base_url=url + "/v1", api_key="sesame", max_retries=0)
        assert [m.id for m in good.models.list()] == ["tiny"]
        reply = anthropic.Anthropic(base_url=url, api_key="sesame", max_retries=0
                                    ).messages.create(model="tiny", max_tokens=2, messages=ASK)
        assert reply.usage.output_tokens <= 2
        assert _get(url + "/health")[0] == 200  # probes need no key
        assert _get(url + "/metrics")[0] == 401


def _png_data_url(color: tuple[int, int, int]) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (56, 56), color).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_vision_with_a_data_url(server: HttpRuntime, oai: openai.OpenAI, models: Path) -> None:
    server.result("model/loadVision", {"model": str(models / "tiny-vision"),
                                       "model_id": "vision"})
    try:
        content = [{"type": "text", "text": "What is in the picture?"},
                   {"type": "image_url", "image_url": {"url": _png_data_url((220, 40, 40))}}]
        seen = oai.chat.completions.create(model="vision", max_tokens=4, temperature=0,
                                           messages=[{"role": "user", "content": content}])
        blind = oai.chat.completions.create(model="vision", max_tokens=4, temperature=0,
                                            messages=[{"role": "user",
                                                       "content": content[:1]}])
        assert isinstance(seen.choices[0].message.content, str)
        assert seen.usage.prompt_tokens > blind.usage.prompt_tokens  # the image's tokens
        with pytest.raises(openai.BadRequestError) as caught:  # a text model takes none
            oai.chat.completions.create(model="tiny", max_tokens=2,
                                        messages=[{"role": "user", "content": content}])
        assert caught.value.body["code"] == "UNSUPPORTED"
    finally:
        server.result("model/unload", {"model": "vision"})


QOS = """
qos:
  window_s: 30
  evaluate_interval_s: 0.1
  min_samples: 2
  slos:
    - {slo: ttft_p50_ms, threshold: 100, policy: shed, model: tiny}
debug:
  faults:
    tiny: {token_delay_ms: 150}
"""


def test_shedding_answers_429_with_retry_after(own_server: OwnServer) -> None:
    with own_server(QOS) as runtime:
        body = json.dumps({"model": "tiny", "messages": ASK, "max_tokens": 2}).encode()
        for _ in range(2):
            assert _post(runtime.url + "/v1/chat/completions", body)[0] == 200
        runtime.wait_for(lambda: any(n["method"] == "qos/violation"
                                     for n in runtime.notifications))
        status, headers, refused = _post(runtime.url + "/v1/chat/completions", body)
        assert status == 429 and int(headers["retry-after"]) >= 1
        assert refused["error"]["code"] == "OVERLOADED"
        status, _, refused = _post(runtime.url + "/v1/messages", body)
        assert status == 429 and refused["error"]["type"] == "rate_limit_error"


def test_http_alone_drains_on_sigterm(models: Path) -> None:
    runtime = HttpRuntime("--model", str(models / "tiny"), "--no-stdio")
    deadline = time.monotonic() + 60
    while _get(runtime.url + "/health")[0] != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    client = openai.OpenAI(base_url=runtime.url + "/v1", api_key="none", max_retries=0)
    stream = iter(client.chat.completions.create(model="tiny", messages=ASK, max_tokens=40,
                                                 stream=True, temperature=0))
    next(stream)
    runtime.proc.send_signal(signal.SIGTERM)
    rest = list(stream)  # the stream in flight finishes
    assert rest[-1].choices[0].finish_reason in ("stop", "length")
    assert runtime.proc.wait(30) == 0
    assert not runtime.raw_lines  # nothing on stdout


def test_503_while_preloading(tmp_path: Path, models: Path) -> None:
    # A warm-up long enough to look at the server while it runs.
    (tmp_path / "runtime.yaml").write_text(
        "model_preload:\n  models:\n"
        f"    - {{path: {models / 'tiny'}, model_id: tiny, warmup_requests: 64,"
        " max_tokens: 4096}\n")
    runtime = HttpRuntime(config=tmp_path / "runtime.yaml")
    try:
        status, body = _get(runtime.url + "/health")
        assert status == 503 and json.loads(body)["status"] == "starting"
        request = json.dumps({"model": "tiny", "messages": ASK, "max_tokens": 2}).encode()
        status, headers, refused = _post(runtime.url + "/v1/chat/completions", request)
        assert status == 503 and headers["retry-after"] == "1"
        assert refused["error"]["code"] == "STARTING"
        status, _, refused = _post(runtime.url + "/v1/messages", request)
        assert status == 503 and refused["error"]["type"] == "overloaded_error"
    finally:
        runtime.stop()


def test_start_up_errors_exit_2(models: Path) -> None:
    taken = HttpRuntime()
    try:
        port = taken.url.rsplit(":", 1)[1]
        for args in (["--http", f"127.0.0.1:{port}"], ["--http", "127.0.0.1:notaport"],
                     ["--no-stdio"]):
            proc = subprocess.run([sys.executable, str(RUNTIME), *args], stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=120)
            assert proc.returncode == 2, (args, proc.stderr)
            assert b"--http" in proc.stderr and b"Traceback" not in proc.stderr
    finally:
        taken.stop()
