"""Bad input gets the right JSON-RPC error, and the runtime keeps serving.

All tests of this module share one runtime: each one ends by proving it still
answers, so a bad line that killed or wedged it would fail the rest too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime_client import RuntimeClient


def _code(error: dict) -> str:
    return error["data"]["code"]


@pytest.fixture(autouse=True)
def still_serving(shared_tiny: RuntimeClient):
    yield
    assert shared_tiny.result("runtime/info")["name"] == "mlx-serving"
    assert shared_tiny.proc.poll() is None


def _error_line(client: RuntimeClient, line: bytes) -> dict:
    client.send_raw(line)
    client.wait_for(lambda: None in client.responses)
    return client.responses.pop(None)["error"]


def test_malformed_json_is_a_parse_error(shared_tiny: RuntimeClient) -> None:
    error = _error_line(shared_tiny, b'{"jsonrpc": "2.0", "id": 1, "method": \n')
    assert error["code"] == -32700 and _code(error) == "PARSE_ERROR"


def test_invalid_utf8_is_a_parse_error(shared_tiny: RuntimeClient) -> None:
    error = _error_line(shared_tiny, b'{"jsonrpc":"2.0","id":1,"method":"\xff\xfe"}\n')
    assert error["code"] == -32700


@pytest.mark.parametrize("line", [b"42\n", b'"hello"\n', b"null\n", b'{"foo": 1}\n',
                                  b'{"jsonrpc": "1.0", "method": "runtime/info"}\n'])
def test_json_that_is_not_a_request_is_invalid(shared_tiny: RuntimeClient, line: bytes) -> None:
    error = _error_line(shared_tiny, line)
    assert error["code"] == -32600 and _code(error) == "INVALID_REQUEST"


def test_invalid_request_keeps_a_usable_id(shared_tiny: RuntimeClient) -> None:
    shared_tiny.send({"jsonrpc": "2.0", "id": "abc", "method": 5})
    assert shared_tiny.response("abc")["error"]["code"] == -32600


def test_batch_answers_each_request_and_skips_notifications(shared_tiny: RuntimeClient) -> None:
    shared_tiny.send([
        {"jsonrpc": "2.0", "id": "b1", "method": "runtime/info"},
        {"jsonrpc": "2.0", "method": "runtime/info"},
        {"jsonrpc": "2.0", "id": "b2", "method": "no/such"},
        7,
        {"jsonrpc": "2.0", "id": "b3", "method": "tokenize", "params": {"model": "tiny", "text": "hi"}},
    ])
    shared_tiny.wait_for(lambda: {"b1", "b2", "b3", None} <= set(shared_tiny.responses))
    batch_line = shared_tiny.raw_lines[-1]
    assert batch_line.startswith(b"[")  # one array answers the whole batch
    assert "result" in shared_tiny.responses.pop("b1")
    assert shared_tiny.responses.pop("b2")["error"]["code"] == -32601
    assert shared_tiny.responses.pop(None)["error"]["code"] == -32600
    assert shared_tiny.responses.pop("b3")["result"]["tokens"]


def test_empty_batch_is_invalid(shared_tiny: RuntimeClient) -> None:
    assert _error_line(shared_tiny, b"[]\n")["code"] == -32600


def test_unknown_method(shared_tiny: RuntimeClient) -> None:
    error = shared_tiny.error("model/fly")
    assert error["code"] == -32601 and "model/fly" in error["message"]


def test_notification_of_unknown_method_gets_no_answer(shared_tiny: RuntimeClient) -> None:
    shared_tiny.send({"jsonrpc": "2.0", "method": "model/fly"})
    assert shared_tiny.result("runtime/state")["status"] == "ready"
    assert None not in shared_tiny.responses


def test_missing_param(shared_tiny: RuntimeClient) -> None:
    error = shared_tiny.error("tokenize", {"model": "tiny"})
    assert error["code"] == -32602 and "text" in error["message"]


def test_mistyped_param_names_its_path(shared_tiny: RuntimeClient) -> None:
    error = shared_tiny.error("generate", {"model": "tiny", "prompt": "x", "maxTokens": "ten"})
    assert _code(error) == "INVALID_PARAMS"
    assert "$.params.maxTokens" in error["message"]


def test_positional_params_are_refused(shared_tiny: RuntimeClient) -> None:
    assert shared_tiny.error("tokenize", ["tiny", "x"])["code"] == -32602


def test_unknown_params_are_named(shared_tiny: RuntimeClient) -> None:
    error = shared_tiny.error("generate", {"model": "tiny", "prompt": "x", "temprature": 1,
                                           "fooBar": 2})
    assert error["code"] == -32602
    assert "`temprature`" in error["message"] and "`fooBar`" in error["message"]
    assert error["data"]["unknown"] == ["temprature", "fooBar"]


def test_conflicting_twins_are_refused(shared_tiny: RuntimeClient) -> None:
    error = shared_tiny.error("generate", {"model": "tiny", "prompt": "x",
                                           "max_tokens": 3, "maxTokens": 4})
    assert error["code"] == -32602 and "maxTokens" in error["message"]


def test_missing_model_folder(shared_tiny: RuntimeClient, tmp_path: Path) -> None:
    error = shared_tiny.error("model/load", {"model": str(tmp_path / "nope")})
    assert _code(error) == "MODEL_NOT_FOUND" and "nope" in error["message"]


def test_folder_that_is_not_a_model(shared_tiny: RuntimeClient, tmp_path: Path) -> None:
    error = shared_tiny.error("model/load", {"model": str(tmp_path)})
    assert _code(error) == "MODEL_LOAD_FAILED" and "config.json" in error["message"]


def test_generate_on_a_model_that_is_not_loaded(shared_tiny: RuntimeClient) -> None:
    error = shared_tiny.error("generate", {"model": "ghost", "prompt": "x"})
    assert _code(error) == "MODEL_NOT_LOADED" and "model/load" in error["message"]


@pytest.mark.parametrize("max_tokens", [0, -5, 10**9])
def test_max_tokens_out_of_range(shared_tiny: RuntimeClient, max_tokens: int) -> None:
    error = shared_tiny.error("generate", {"model": "tiny", "prompt": "x", "max_tokens": max_tokens})
    assert _code(error) == "INVALID_PARAMS" and "max_tokens" in error["message"]


@pytest.mark.parametrize("params", [{"temperature": -0.5}, {"top_p": 0}, {"top_p": 1.5},
                                    {"min_p": 2}, {"top_k": -1}, {"seed": -1},
                                    {"repetition_penalty": 0}, {"presence_penalty": 3},
                                    {"stop_sequences": [""]}, {"stop_token_ids": [-1]}])
def test_sampling_params_out_of_range(shared_tiny: RuntimeClient, params: dict) -> None:
    error = shared_tiny.error("generate", {"model": "tiny", "prompt": "x", **params})
    assert _code(error) == "INVALID_PARAMS", error


def test_prompt_and_messages_together(shared_tiny: RuntimeClient) -> None:
    error = shared_tiny.error("generate", {"model": "tiny", "prompt": "x",
                                           "messages": [{"role": "user", "content": "y"}]})
    assert _code(error) == "INVALID_PARAMS"


def test_token_ids_outside_the_vocabulary(shared_tiny: RuntimeClient) -> None:
    error = shared_tiny.error("generate", {"model": "tiny", "prompt": [1, 99999]})
    assert _code(error) == "INVALID_PARAMS" and "99999" in error["message"]


def test_prompt_longer_than_the_context(shared_tiny: RuntimeClient) -> None:
    error = shared_tiny.error("generate", {"model": "tiny", "prompt": "The fox runs. " * 400})
    assert _code(error) == "CONTEXT_LENGTH_EXCEEDED" and "512" in error["message"]


def test_huge_prompt_is_refused_without_tokenizing(shared_tiny: RuntimeClient) -> None:
    error = shared_tiny.error("generate", {"model": "tiny", "prompt": "a" * 2_000_000})
    assert _code(error) == "CONTEXT_LENGTH_EXCEEDED"


def test_a_10_mb_line(shared_tiny: RuntimeClient) -> None:
    line = b'{"jsonrpc":"2.0","id":"big","method":"tokenize","params":{"model":"tiny","text":"'
    line += b"x" * (10 * 1024 * 1024) + b'"}}\n'
    error = _error_line(shared_tiny, line)
    assert _code(error) == "REQUEST_TOO_LARGE" and error["data"]["size"] == len(line)


def test_cancel_of_an_unknown_stream(shared_tiny: RuntimeClient) -> None:
    error = shared_tiny.error("generate/cancel", {"stream_id": "never-started"})
    assert _code(error) == "STREAM_NOT_FOUND"


def test_duplicate_stream_id(shared_tiny: RuntimeClient) -> None:
    params = {"model": "tiny", "prompt": "x", "stream_id": "dup", "max_tokens": 400,
              "temperature": 0}
    assert shared_tiny.result("generate", params)["stream_id"] == "dup"
    assert _code(shared_tiny.error("generate", params)) == "STREAM_EXISTS"
    shared_tiny.result("generate/cancel", {"stream_id": "dup"})
    assert shared_tiny.stream_end("dup")["params"]["finish_reason"] == "cancelled"


def test_unload_then_generate(models: Path) -> None:
    client = RuntimeClient()
    try:
        client.result("model/load", {"model": str(models / "tiny"), "model_id": "gone"})
        client.result("model/unload", {"model": "gone"})
        error = client.error("generate", {"model": "gone", "prompt": "x"})
        assert _code(error) == "MODEL_NOT_LOADED"
        assert _code(client.error("model/unload", {"model": "gone"})) == "MODEL_NOT_LOADED"
    finally:
        client.stop()
    client.assert_conforms()
