"""Server-sent events framing (text/event-stream)."""

from __future__ import annotations

from typing import Any

import msgspec

MEDIA_TYPE = "text/event-stream"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def data(payload: Any) -> bytes:
    return b"data: " + msgspec.json.encode(payload) + b"\n\n"


def event(name: str, payload: Any) -> bytes:
    return b"event: " + name.encode() + b"\n" + data(payload)


DONE = b"data: [DONE]\n\n"  # OpenAI's end of stream
