"""Grammars that cost much or lead nowhere: refused up front, or prepared
off the reader thread so that other requests are answered meanwhile."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime_client import RuntimeClient


@pytest.fixture(scope="module")
def client(models: Path) -> Iterator[RuntimeClient]:
    runtime = RuntimeClient()
    runtime.result("model/load", {"model": str(models / "tiny"), "model_id": "tiny"})
    yield runtime
    runtime.stop()
    runtime.assert_conforms()


def _generate(guidance: dict, **params: object) -> dict:
    return {"model": "tiny", "prompt": "x", "max_tokens": 8, "streaming": False,
            "temperature": 0, "guidance": guidance, **params}


@pytest.mark.parametrize("guidance, reason", [
    ({"mode": "json_schema", "schema": {"$ref": "#"}}, "accepts no output"),
    ({"mode": "json_schema", "schema": {"$defs": {"a": {"$ref": "#/$defs/b"},
                                                  "b": {"$ref": "#/$defs/a"}},
                                        "$ref": "#/$defs/a"}}, "accepts no output"),
    ({"mode": "regex", "pattern": "[^\\s\\S]"}, "accepts no output"),
    ({"mode": "xml", "schema": "<!ELEMENT a (a)>"}, "no way out: <a>"),
    ({"mode": "xml", "schema": "<!ELEMENT a (b)><!ELEMENT b (a|b)+>"}, "no way out"),
])
def test_grammars_without_a_way_out_are_refused(client: RuntimeClient, guidance: dict,
                                                reason: str) -> None:
    error = client.error("generate", _generate(guidance))
    assert error["data"]["code"] == "GUIDANCE_INVALID" and reason in error["message"]


def test_guidance_over_the_byte_limit_is_refused_unread(client: RuntimeClient) -> None:
    schema = {"enum": ["w" * 1000] * 1100}  # over 1 MiB as JSON
    error = client.error("generate", _generate({"mode": "json_schema", "schema": schema}))
    assert error["data"]["code"] == "GUIDANCE_INVALID"
    assert "guidance.max_guidance_bytes" in error["message"]


def test_deeply_nested_schema_is_guidance_invalid(client: RuntimeClient) -> None:
    schema: dict = {"type": "string"}
    for _ in range(900):
        schema = {"type": "array", "items": schema}
    error = client.error("generate", _generate({"mode": "json_schema", "schema": schema}))
    assert error["data"]["code"] in ("GUIDANCE_INVALID", "INVALID_PARAMS")


def _answered_first(client: RuntimeClient, heavy: dict) -> list[object]:
    """Send a heavy generate and then a runtime/info; the ids in the order answered."""
    client.send({"jsonrpc": "2.0", "id": "heavy", "method": "generate", "params": heavy})
    client.send({"jsonrpc": "2.0", "id": "light", "method": "runtime/info"})
    client.response("heavy", timeout=120)
    client.response("light")
    order = [json.loads(line).get("id") for line in client.raw_lines]
    return [request_id for request_id in order if request_id in ("heavy", "light")][-2:]


@pytest.mark.parametrize("heavy", [
    _generate({"mode": "json_schema", "schema": {"enum": [f"w{i}" for i in range(100_000)]}}),
    _generate({"mode": "regex", "pattern": "|".join(f"word{i}" for i in range(60_000))}),
], ids=["enum-100k", "regex-alternation-60k"])
def test_a_heavy_compile_does_not_hold_up_the_reader(client: RuntimeClient, heavy: dict) -> None:
    assert _answered_first(client, heavy) == ["light", "heavy"]


def test_a_huge_chat_does_not_hold_up_the_reader(client: RuntimeClient) -> None:
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": "hi"}
                for i in range(100_000)]
    heavy = {"model": "tiny", "messages": messages, "max_tokens": 2, "streaming": False}
    assert _answered_first(client, heavy) == ["light", "heavy"]


def test_a_compile_past_its_time_is_guidance_invalid(models: Path, tmp_path: Path) -> None:
    config = tmp_path / "runtime.yaml"
    config.write_text("guidance:\n  compile_timeout_s: 0.001\n")
    runtime = RuntimeClient("--config", str(config))
    try:
        runtime.result("model/load", {"model": str(models / "tiny"), "model_id": "tiny"})
        slow = {"mode": "regex", "pattern": "|".join(f"word{i}" for i in range(60_000))}
        error = runtime.error("generate", _generate(slow))
        assert error["data"]["code"] == "GUIDANCE_INVALID"
        assert "guidance.compile_timeout_s" in error["message"]
        assert runtime.result("runtime/info")
    finally:
        runtime.stop()
    runtime.assert_conforms()
