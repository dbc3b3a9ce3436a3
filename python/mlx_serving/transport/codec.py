"""msgspec JSON codec for NDJSON lines."""

from __future__ import annotations

import re
from typing import Any

import msgspec

_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


# Where a too-deep line's id is looked for: requests put it before their
# params, and the scan is Python, paid only on this error path.
_SALVAGE_BYTES = 1 << 16
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}:,]|[^\s\[\]{}:,"]+')


class ParseError(ValueError):
    """The line is not one valid UTF-8 JSON value."""


class TooDeep(ValueError):
    """The line nests arrays and objects deeper than the decoder goes (about
    a thousand levels); `request_id` is its top-level id where one was found."""

    def __init__(self, request_id: int | str | None) -> None:
        super().__init__("JSON nested too deeply")
        self.request_id = request_id


def decode_line(line: bytes) -> Any:
    try:
        return _decoder.decode(line)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise ParseError(str(exc)) from None
    except RecursionError:
        raise TooDeep(_top_level_id(line[:_SALVAGE_BYTES])) from None


def _top_level_id(head: bytes) -> int | str | None:
    """The value of key "id" of the outermost object, read without decoding
    the rest (the rest is what the decoder could not take)."""
    depth = 0
    previous: list[bytes] = []  # the two tokens before this one
    for match in _TOKEN.finditer(head):
        token = match.group()
        if token in (b"{", b"["):
            depth += 1
        elif token in (b"}", b"]"):
            depth -= 1
        elif depth == 1 and previous == [b'"id"', b":"]:
            try:
                value = msgspec.json.decode(token)
            except msgspec.DecodeError:
                return None
            return value if isinstance(value, (int, str)) and not isinstance(value, bool) \
                else None
        previous = [*previous[-1:], token]
    return None


def encode_line_into(message: Any, buffer: bytearray) -> None:
    """Append `message` as one JSON line to `buffer`."""
    _encoder.encode_into(message, buffer, -1)
    buffer.extend(b"\n")
