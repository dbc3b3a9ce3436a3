"""protocol/schema.json is what the Python structs say, and a valid JSON Schema."""

from __future__ import annotations

import json

import jsonschema

from mlx_serving.api import contract
from mlx_serving.api.errors import ErrorCode
from mlx_serving.api.methods import METHODS, NOTIFICATIONS


def test_schema_file_is_up_to_date() -> None:
    # Fails when a Struct changed without `python -m mlx_serving.api.contract --write`.
    assert contract.SCHEMA_PATH.read_text() == contract.render()


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(json.loads(contract.SCHEMA_PATH.read_text()))


def test_schema_lists_every_method_notification_and_error() -> None:
    schema = json.loads(contract.SCHEMA_PATH.read_text())
    assert set(schema["x-methods"]) == set(METHODS)
    assert set(schema["x-notifications"]) == set(NOTIFICATIONS)
    assert {name: e["code"] for name, e in schema["x-errors"].items()} == {
        code.name: code.number for code in ErrorCode}


def test_error_codes_are_unique_and_in_range() -> None:
    numbers = [code.number for code in ErrorCode]
    assert len(numbers) == len(set(numbers))
    for code in ErrorCode:
        assert -32768 <= code.number <= -32000


def test_client_messages_validate() -> None:
    schema = json.loads(contract.SCHEMA_PATH.read_text())
    validator = jsonschema.Draft202012Validator(
        {"$ref": "#/$defs/ClientMessage", "$defs": schema["$defs"]})
    good = {"jsonrpc": "2.0", "id": 1, "method": "generate",
            "params": {"model": "m", "prompt": "hi", "max_tokens": 3}}
    assert validator.is_valid(good)
    assert validator.is_valid([good])
    assert not validator.is_valid({**good, "params": {"model": "m", "max_tokens": 0}})
    assert not validator.is_valid({**good, "params": {"model": "m", "bogus": 1}})
