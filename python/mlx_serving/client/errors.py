"""The one error type of the Python client.

`code` is stable: the runtime's `data.code` strings (api/errors.py) plus the
codes of failures that happen on this side of the pipe, the same strings the
TypeScript bridge uses.
"""

from __future__ import annotations

from typing import Any

from ..api.errors import ErrorCode

# Codes the runtime sends as `error.data.code`, with their JSON-RPC numbers.
RUNTIME_ERROR_CODES: dict[str, int] = {code.name: code.number for code in ErrorCode}

# Codes of failures the client detects itself.
CLIENT_ERROR_CODES: tuple[str, ...] = (
    "RUNTIME_EXITED",  # the runtime died (crash, kill -9, out of memory) with the call in flight
    "RUNTIME_START_FAILED",  # it could not be started, or died before it answered runtime/info
    "TIMEOUT",  # no answer within request_timeout (or the call's timeout)
    "PROTOCOL_ERROR",  # the runtime wrote something that is not the protocol
    "ENGINE_DISPOSED",  # the engine was closed (or shut down) before or while the call ran
    "INVALID_OPTIONS",  # arguments refused before anything was sent
    "CANCELLED",  # cancelled before the runtime took it; generate_json() cancelled before the JSON was whole
    "GUIDANCE_INCOMPLETE",  # generate_json(): the output was cut before the JSON was complete
)

_CODE_OF_NUMBER = {number: name for name, number in RUNTIME_ERROR_CODES.items()}


class EngineError(Exception):
    """An error of the runtime (its `data.code`) or of the client (CLIENT_ERROR_CODES)."""

    def __init__(self, code: str, message: str, *, rpc_code: int | None = None,
                 data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        # The JSON-RPC number (-32602, -32001, ...) when the runtime sent the error.
        self.rpc_code = rpc_code
        # The runtime's `error.data` (model, param, ...), or the client's (exit code, stderr tail, ...).
        self.data: dict[str, Any] = data if data is not None else {}

    @classmethod
    def from_wire(cls, code: int, message: str, data: dict[str, Any] | None) -> EngineError:
        """A JSON-RPC error object (a response's or a stream/error's), by its data.code."""
        sent = (data or {}).get("code")
        name = sent if isinstance(sent, str) else _CODE_OF_NUMBER.get(code, "INTERNAL_ERROR")
        return cls(name, message, rpc_code=code, data=dict(data or {}))

    @classmethod
    def invalid_options(cls, message: str) -> EngineError:
        return cls("INVALID_OPTIONS", message)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message, "data": self.data}
        if self.rpc_code is not None:
            out["rpc_code"] = self.rpc_code
        return out

    def __repr__(self) -> str:
        return f"EngineError({self.code!r}, {self.message!r})"


def describe_value(value: object) -> str:
    """A received value for option errors, execa-style: "got `-1` (int)"."""
    text = repr(value)
    if len(text) > 80:
        text = text[:79] + "…"
    return f"`{text}` ({type(value).__name__})"
