"""NDJSON framing: bytes in, one callback per complete line out.

Works on bytes, so a multi-byte character split across two reads is decoded
whole ("\\n" never occurs inside a UTF-8 sequence). A line longer than
`max_line_bytes` is dropped as it streams by, never held whole.
"""

from __future__ import annotations

from collections.abc import Callable


class LineSplitter:
    def __init__(self, max_line_bytes: int, line: Callable[[bytes], None],
                 oversized: Callable[[int], None]) -> None:
        self._max = max_line_bytes
        self._line = line
        self._oversized = oversized
        self._parts: list[bytes] = []
        self._size = 0
        self._skipping = False

    def push(self, chunk: bytes) -> None:
        """Feeds one read; complete lines are handed over in order."""
        start = 0
        end = chunk.find(b"\n")
        while end != -1:
            self._collect(chunk[start:end])
            self._finish_line()
            start = end + 1
            end = chunk.find(b"\n", start)
        if start < len(chunk):
            self._collect(chunk[start:])

    def end(self) -> None:
        """At end of input, a last line without its newline still counts."""
        if self._size > 0 or self._skipping:
            self._finish_line()

    def _collect(self, piece: bytes) -> None:
        self._size += len(piece)
        if self._skipping:
            return
        if self._size > self._max:
            self._skipping = True
            self._parts = []
            return
        if piece:
            self._parts.append(piece)

    def _finish_line(self) -> None:
        size, parts, skipped = self._size, self._parts, self._skipping
        self._parts, self._size, self._skipping = [], 0, False
        if skipped:
            self._oversized(size)
            return
        line = parts[0] if len(parts) == 1 else b"".join(parts)
        if line.endswith(b"\r"):
            line = line[:-1]
        if line.strip():
            self._line(line)
