"""Sorting what the runtime writes into responses, notifications and lines
that break the protocol, without trusting any of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

RequestId = int | str | None


@dataclass(frozen=True)
class Result:
    id: RequestId
    result: Any


@dataclass(frozen=True)
class Error:
    id: RequestId
    code: int
    message: str
    data: dict[str, Any] | None


@dataclass(frozen=True)
class Notification:
    method: str
    params: Any


@dataclass(frozen=True)
class Invalid:
    reason: str
    # A response to this request, too broken to use: the call fails with PROTOCOL_ERROR.
    id: int | str | None = None


Incoming = Result | Error | Notification | Invalid

_decoder = msgspec.json.Decoder()


def parse_line(line: bytes) -> list[Incoming]:
    """One line may hold a batch (an array of responses); hence a list."""
    try:
        message = _decoder.decode(line)
    except msgspec.DecodeError as exc:
        return [Invalid(f"not JSON ({exc})")]
    if isinstance(message, list):
        items: list[Any] = message  # pyright: ignore[reportUnknownVariableType]
        return [classify(item) for item in items] if items else [Invalid("an empty array")]
    return [classify(message)]


def classify(message: Any) -> Incoming:
    if not isinstance(message, dict):
        return Invalid("not a JSON object")
    fields: dict[str, Any] = message  # pyright: ignore[reportUnknownVariableType]
    if fields.get("jsonrpc") != "2.0":
        return Invalid('no "jsonrpc": "2.0"')
    method = fields.get("method")
    if isinstance(method, str):
        if "id" in fields:
            return Invalid("a request from the runtime (the client serves none)")
        return Notification(method, fields.get("params"))
    request_id = fields.get("id")
    if not (request_id is None or isinstance(request_id, (int, str))) or isinstance(request_id, bool):
        return Invalid("neither a notification nor a response with an id")
    has_result = "result" in fields
    error = fields.get("error")
    if has_result == (error is not None):
        return Invalid(f"response {request_id!r} must have exactly one of \"result\" and \"error\"", request_id)
    if has_result:
        return Result(request_id, fields["result"])
    if not is_error_object(error):
        return Invalid(f"response {request_id!r} has a malformed \"error\"", request_id)
    assert isinstance(error, dict)
    return Error(request_id, error["code"], error["message"], error.get("data"))


def is_error_object(value: Any) -> bool:
    return (isinstance(value, dict) and isinstance(value.get("code"), int)
            and isinstance(value.get("message"), str)
            and (value.get("data") is None or isinstance(value.get("data"), dict)))
