"""Error codes of the wire contract and the exceptions that carry them.

Every error a client can see has a stable string code (the member name of
ErrorCode) and a JSON-RPC numeric code. The engine, the service and the ops
layer raise ServingError, which knows no front; each front maps it to its
own envelope: the JSON-RPC dispatcher to an error object with `data.code`
(which the TypeScript and Python clients map to their `EngineError.code`),
the HTTP front to a status and its API's error body.
"""

from __future__ import annotations

import enum
from typing import Any


class ErrorCode(enum.Enum):
    """(numeric JSON-RPC code, meaning). The member name is the stable string code."""

    # JSON-RPC 2.0 standard codes.
    PARSE_ERROR = (-32700, "The line is not valid JSON (or not valid UTF-8).")
    INVALID_REQUEST = (-32600, "The JSON value is not a valid JSON-RPC 2.0 request.")
    METHOD_NOT_FOUND = (-32601, "No method of that name.")
    INVALID_PARAMS = (-32602, "Params are missing, mistyped, out of range or unknown.")
    INTERNAL_ERROR = (-32603, "A fault inside the runtime; the runtime keeps serving.")
    # Project codes (-32000..-32099). Numbers are never reused; -32005..-32007
    # and -32015..-32016 are kept for cancellation, load shedding, structured
    # output, draft models and images.
    MODEL_NOT_LOADED = (-32001, "The model id names no loaded model.")
    MODEL_NOT_FOUND = (-32002, "No model at that path, and no hub model of that id.")
    MODEL_LOAD_FAILED = (-32003, "The model folder exists but could not be loaded.")
    OUT_OF_MEMORY = (-32004, "The device ran out of memory.")
    OVERLOADED = (-32006, "The model sheds load while an SLO is breached; retry later.")
    GUIDANCE_INVALID = (-32007, "The guidance schema, pattern, DTD or XSD is malformed or "
                                "unsupported, or its grammar reached a dead end.")
    CONTEXT_LENGTH_EXCEEDED = (-32008, "The prompt does not fit the model's context window.")
    STREAM_NOT_FOUND = (-32009, "No active stream with that id.")
    STREAM_EXISTS = (-32010, "A stream with that id is already active.")
    SHUTTING_DOWN = (-32011, "The runtime is shutting down and takes no new work.")
    REQUEST_TOO_LARGE = (-32012, "The message is longer than the runtime accepts.")
    MODEL_UNLOADED = (-32013, "The model was unloaded while the stream was running.")
    GENERATION_FAILED = (-32014, "Generation failed inside the model.")
    DRAFT_INCOMPATIBLE = (-32015, "The draft model cannot draft for the target (see data.reasons).")
    IMAGE_INVALID = (-32016, "An image is missing, unreadable, corrupt or in an unsupported format.")
    UNSUPPORTED = (-32017, "The model or runtime does not support what was asked.")
    IMAGE_FETCH_FAILED = (-32018, "An image URL could not be fetched (network, timeout, size limit).")
    DRAFT_NOT_LOADED = (-32019, "The model has no draft model attached.")
    CONFIG_INVALID = (-32020, "config/reload found a bad config file; the running one stays.")
    UNSUPPORTED_MODEL = (-32025, "The model file uses an architecture, tensor type or tokenizer "
                                 "the runtime cannot load (data names which).")
    RANK_FAILED = (-32030, "A rank of a sharded model died or stopped answering "
                           "(data.rank, data.host).")

    @property
    def number(self) -> int:
        return self.value[0]

    @property
    def meaning(self) -> str:
        return self.value[1]


class ServingError(Exception):
    """A refusal or a failure with a stable code, whichever front asked (the
    client's side of the pipe calls its own error EngineError)."""

    def __init__(self, code: ErrorCode, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def data(self) -> dict[str, Any]:
        return {"code": self.code.name, **self.details}

    def with_details(self, **details: Any) -> ServingError:
        """A copy with more details: one error object may be shared by many streams."""
        return ServingError(self.code, self.message, **{**self.details, **details})

    def __repr__(self) -> str:
        return f"ServingError({self.code.name}, {self.message!r})"
