"""The optional API key: `Authorization: Bearer KEY` (OpenAI's SDK) or
`x-api-key: KEY` (Anthropic's); /health stays open for probes."""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import HttpError
from .respond import send_error

OPEN_PATHS = frozenset({"/health"})


class ApiKeyMiddleware:
    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self._app = app
        self._key = api_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["path"] in OPEN_PATHS
                or scope.get("method") == "OPTIONS"):  # CORS preflights carry no key
            await self._app(scope, receive, send)
            return
        if any(hmac.compare_digest(given, self._key) for given in _offered(scope)):
            await self._app(scope, receive, send)
            return
        await send_error(scope, send, HttpError(
            401, "missing or wrong API key: send `Authorization: Bearer KEY` or `x-api-key: KEY`",
            code="UNAUTHORIZED"))


def _offered(scope: Scope) -> list[bytes]:
    keys = []
    for name, value in scope["headers"]:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            keys.append(value[7:].strip())
        elif name == b"x-api-key":
            keys.append(value.strip())
    return keys
