"""msgspec JSON codec for NDJSON lines."""

from __future__ import annotations

from typing import Any

import msgspec

_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


class ParseError(ValueError):
    """The line is not one valid UTF-8 JSON value."""


def decode_line(line: bytes) -> Any:
    try:
        return _decoder.decode(line)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise ParseError(str(exc)) from None


def encode_line_into(message: Any, buffer: bytearray) -> None:
    """Append `message` as one JSON line to `buffer`."""
    _encoder.encode_into(message, buffer, -1)
    buffer.extend(b"\n")
