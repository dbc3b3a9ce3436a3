"""Error responses in the envelope of the API a path belongs to."""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import Scope, Send

from .errors import Api, HttpError


def api_of(path: str) -> Api:
    return "anthropic" if path.startswith("/v1/messages") else "openai"


def error_response(path: str, error: HttpError) -> JSONResponse:
    return JSONResponse(error.body(api_of(path)), status_code=error.status,
                        headers=error.headers())


async def send_error(scope: Scope, send: Send, error: HttpError) -> None:
    """For middleware, which answers before any route runs."""
    async def no_body() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    await error_response(scope["path"], error)(scope, no_body, send)
