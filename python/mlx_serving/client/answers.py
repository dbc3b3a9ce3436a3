"""What the engine makes of the runtime's answers: the contract's Structs
(api/messages.py) from raw results, and generate_json()'s value."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec

from ..api import messages as m
from .errors import EngineError

R = TypeVar("R")

# Why generate_json() did not hand back a value, by finish reason.
_CUT_BY = {
    "length": "max_tokens or the context window ended it first (finish_reason \"length\"); raise max_tokens, "
              "or bound the schema (maxLength, maxItems, maximum)",
    "stop": "a stop sequence or stop token id ended it first (finish_reason \"stop\"); leave stops out of "
            "JSON requests",
}


def typed(raw: Any, result_type: type[R] | None, method: str) -> R:
    """The raw result as the method's Struct (as it is for a method this client does not know)."""
    if result_type is None:
        return raw  # type: ignore[no-any-return]
    try:
        return msgspec.convert(raw, result_type)
    except msgspec.ValidationError as exc:
        raise EngineError("PROTOCOL_ERROR", f"the runtime answered `{method}` with a malformed result: {exc}",
                          data={"result": raw}) from None


def require_json_schema(guidance: Any) -> None:
    """generate_json() is for JSON Schema guidance only; said before anything is sent."""
    mode = guidance.get("mode") if isinstance(guidance, Mapping) else (
        "json_schema" if isinstance(guidance, m.JsonSchemaGuidance) else None)
    if mode == "json_schema":
        return
    got = "no guidance" if guidance is None else f"mode {mode!r}"
    raise EngineError.invalid_options(
        f"`generate_json` needs `guidance={{'mode': 'json_schema', 'schema': ...}}`, got {got}; use generate() "
        "for other output.")


def parse_json(result: m.GenerateResult) -> Any:
    """The parsed value of a complete output; an error for anything else."""
    data: dict[str, Any] = {"text": result.text, "finish_reason": result.finish_reason,
                            "stats": msgspec.to_builtins(result.stats), "stream_id": result.stream_id}
    if result.finish_reason == "cancelled":
        raise EngineError("CANCELLED", "generate_json() was cancelled before the JSON was complete (text so far "
                          "in error.data['text']).", data=data)
    if not (isinstance(result.guidance, m.GuidanceOutcome) and result.guidance.complete):
        why = _CUT_BY.get(result.finish_reason, f"it ended with finish_reason {result.finish_reason!r}")
        raise EngineError("GUIDANCE_INCOMPLETE", f"generate_json(): the JSON is incomplete: {why}. The text so "
                          "far is in error.data['text'].", data=data)
    try:
        return json.loads(result.text)
    except json.JSONDecodeError as exc:
        # The runtime said complete: its mask let through something that is not JSON.
        raise EngineError("PROTOCOL_ERROR", f"generate_json(): the runtime reported complete JSON that does not "
                          f"parse: {exc}", data=data) from None
