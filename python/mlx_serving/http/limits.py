"""Request bodies over the configured size are refused before anything
parses them: by Content-Length when it is sent, else as the body streams in."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import HttpError
from .respond import send_error


class BodyTooLarge(Exception):
    """Raised out of `receive` past the limit; the middleware answers 413."""


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self._app = app
        self._max = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max:
            await send_error(scope, send, self._error())
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self._max:
                    raise BodyTooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, counted, watched)
        except BodyTooLarge:
            if not started:
                await send_error(scope, send, self._error())

    def _error(self) -> HttpError:
        return HttpError(413, f"the request body is larger than the {self._max} bytes this "
                         "server accepts (http.max_body_bytes)", code="REQUEST_TOO_LARGE")
