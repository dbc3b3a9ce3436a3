"""Hostile lines: nesting, ids, encodings, sizes. Each is answered as the
client's error, never as an internal one, and the runtime serves on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runtime_client import RuntimeClient

_DEEP = 5000


@pytest.fixture(scope="module")
def client() -> Iterator[RuntimeClient]:
    runtime = RuntimeClient()
    yield runtime
    runtime.stop()
    runtime.assert_conforms()


def _line(client: RuntimeClient, data: bytes, request_id: object) -> dict:
    client.send_raw(data + b"\n")
    response = client.response(request_id)
    assert client.result("runtime/info")["protocol_version"]  # still serving
    return response


def test_deep_params_are_an_invalid_request_with_the_id(client: RuntimeClient) -> None:
    deep = b"[" * _DEEP + b"]" * _DEEP
    line = b'{"jsonrpc":"2.0","id":"deep-1","method":"tokenize","params":{"text":' + deep + b"}}"
    error = _line(client, line, "deep-1")["error"]
    assert error["code"] == -32600 and "nested too deeply" in error["message"]


def test_deep_value_before_the_id_still_answers(client: RuntimeClient) -> None:
    deep = b"{\"a\":" * _DEEP + b"1" + b"}" * _DEEP
    line = b'{"jsonrpc":"2.0","params":' + deep + b',"method":"x","id":42}'
    assert _line(client, line, 42)["error"]["code"] == -32600


def test_deep_unfinished_line_answers_with_id_null(client: RuntimeClient) -> None:
    error = _line(client, b"[" * _DEEP, None)["error"]
    assert error["code"] == -32600


def test_deep_batch_member(client: RuntimeClient) -> None:
    deep = b"[" * _DEEP + b"]" * _DEEP
    client.send_raw(b'[{"jsonrpc":"2.0","id":5,"method":"runtime/info"},' + deep + b"]\n")
    assert client.response(None)["error"]["code"] == -32600
    assert client.result("runtime/info")


@pytest.mark.parametrize("request_id", [2**53, -(2**53), 2**70, 10**400])
def test_ids_beyond_2_53_are_refused_and_never_echoed(client: RuntimeClient,
                                                      request_id: int) -> None:
    line = b'{"jsonrpc":"2.0","id":' + str(request_id).encode() + b',"method":"runtime/info"}'
    response = _line(client, line, None)
    assert response["error"]["code"] == -32600 and "$.id" in response["error"]["message"]


def test_the_largest_safe_id_is_served(client: RuntimeClient) -> None:
    line = b'{"jsonrpc":"2.0","id":9007199254740991,"method":"runtime/info"}'
    assert "result" in _line(client, line, 2**53 - 1)


@pytest.mark.parametrize("data, code", [
    (b'{"jsonrpc":"2.0","id":1,"method":"runtime/info"', -32700),  # cut short
    (b'\xff\xfe{"jsonrpc":"2.0"}', -32700),  # not UTF-8
    (b'{"jsonrpc":"2.0","id":1,"method":"runtime/info"}\x00', -32700),
    (b'{"jsonrpc":"2.0","id":1e999,"method":"runtime/info"}', -32700),  # out of range
    (b'{"jsonrpc":"2.0","id":[1],"method":"runtime/info"}', -32600),
    (b'{"jsonrpc":"2.0","id":true,"method":"runtime/info"}', -32600),
    (b'"just a string"', -32600),
    (b"[]", -32600),
])
def test_malformed_envelopes(client: RuntimeClient, data: bytes, code: int) -> None:
    assert _line(client, data, None)["error"]["code"] == code


def test_lone_surrogates_are_not_json_text(client: RuntimeClient) -> None:
    line = b'{"jsonrpc":"2.0","id":"s","method":"tokenize","params":{"text":"\\ud800"}}'
    assert _line(client, line, None)["error"]["code"] == -32700


def test_unknown_keys_in_params_are_named(client: RuntimeClient) -> None:
    line = (b'{"jsonrpc":"2.0","id":"k","method":"tokenize","params":'
            b'{"model":"m","text":"x","__proto__":{"a":1}}}')
    error = _line(client, line, "k")["error"]
    assert error["code"] == -32602 and "__proto__" in error["message"]


def test_oversized_line_is_skipped_and_answered(client: RuntimeClient) -> None:
    big = b'{"jsonrpc":"2.0","id":"big","method":"tokenize","params":{"text":"' + \
        b"x" * (9 << 20) + b'"}}'
    error = _line(client, big, None)["error"]
    assert error["data"]["code"] == "REQUEST_TOO_LARGE"
