"""Errors of the HTTP front, and the envelope each API wraps them in.

A refusal is an HttpError (status, message, the offending param); engine
and service errors (ServingError) map onto it by their stable code, so a
client sees the same status for the same cause on every route.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from ..api.errors import ErrorCode, ServingError

Api = Literal["openai", "anthropic"]

_STATUS = {
    ErrorCode.PARSE_ERROR: 400,
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.INVALID_PARAMS: 400,
    ErrorCode.GUIDANCE_INVALID: 400,
    ErrorCode.CONTEXT_LENGTH_EXCEEDED: 400,
    ErrorCode.IMAGE_INVALID: 400,
    ErrorCode.IMAGE_FETCH_FAILED: 400,
    ErrorCode.UNSUPPORTED: 400,
    ErrorCode.STREAM_EXISTS: 400,
    ErrorCode.MODEL_NOT_LOADED: 404,
    ErrorCode.MODEL_NOT_FOUND: 404,
    ErrorCode.STREAM_NOT_FOUND: 404,
    ErrorCode.REQUEST_TOO_LARGE: 413,
    ErrorCode.OVERLOADED: 429,
    ErrorCode.SHUTTING_DOWN: 503,
}

# OpenAI's `type` and Anthropic's error `type` for each status.
_OPENAI_TYPE = {400: "invalid_request_error", 401: "authentication_error",
                404: "not_found_error", 413: "invalid_request_error", 429: "rate_limit_error",
                503: "service_unavailable"}
_ANTHROPIC_TYPE = {400: "invalid_request_error", 401: "authentication_error",
                   404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                   503: "overloaded_error"}

# Seconds a client waits before retrying a shed (429) or not-yet-ready (503) request.
RETRY_AFTER_S = 1


@dataclass
class HttpError(Exception):
    status: int
    message: str
    param: str | None = None
    code: str | None = None  # the runtime's stable error code, where one applies

    @classmethod
    def of(cls, error: ServingError) -> HttpError:
        param = error.details.get("param")
        if param is None and error.code in (ErrorCode.MODEL_NOT_LOADED, ErrorCode.MODEL_NOT_FOUND):
            param = "model"
        return cls(_STATUS.get(error.code, 500), error.message,
                   param if isinstance(param, str) else None, error.code.name)

    @classmethod
    def bad_param(cls, param: str, message: str) -> HttpError:
        return cls(400, message, param, ErrorCode.INVALID_PARAMS.name)

    @classmethod
    def of_validation(cls, error: msgspec.ValidationError) -> HttpError:
        """msgspec names the bad field's path (`... - at `$.messages[0].role``)."""
        text = str(error)
        param = text.rsplit("at `$.", 1)[1].rstrip("`") if "at `$." in text else None
        return cls(400, text, param, ErrorCode.INVALID_PARAMS.name)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(RETRY_AFTER_S)} if self.status in (429, 503) else {}

    def body(self, api: Api) -> dict[str, Any]:
        if api == "anthropic":
            kind = _ANTHROPIC_TYPE.get(self.status, "api_error")
            return {"type": "error", "error": {"type": kind, "message": self.message}}
        kind = _OPENAI_TYPE.get(self.status, "server_error")
        return {"error": {"message": self.message, "type": kind, "param": self.param,
                          "code": self.code}}


def internal(exc: BaseException) -> HttpError:
    """A fault inside the runtime, told without a stack trace."""
    return HttpError(500, f"internal error: {type(exc).__name__}: {exc}",
                     code=ErrorCode.INTERNAL_ERROR.name)
