"""Stop sequences matched on the streamed text, not on token ids.

A stop string may be split across tokens, or be part of one token; either
way the stop text and anything after it never reach the client. Text that
could still become a stop string is held back until it can't.
"""

from __future__ import annotations

from collections.abc import Sequence


class StopMatcher:
    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = tuple(stops)
        self._held = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """(text safe to emit, whether a stop string completed)."""
        if not self._stops:
            return text, False
        buffer = self._held + text
        # The stop that completes first wins, as if the text came one
        # character at a time: the result must not depend on tokenization.
        first: tuple[int, int] | None = None
        for stop in self._stops:
            start = buffer.find(stop)
            if start != -1:
                candidate = (start + len(stop), start)
                first = candidate if first is None else min(first, candidate)
        if first is not None:
            self._held = ""
            return buffer[: first[1]], True
        keep = max((self._partial_suffix(buffer, stop) for stop in self._stops), default=0)
        self._held = buffer[len(buffer) - keep:] if keep else ""
        return buffer[: len(buffer) - keep], False

    def flush(self) -> str:
        """Text held back when the stream ends without a stop."""
        held, self._held = self._held, ""
        return held

    @staticmethod
    def _partial_suffix(buffer: str, stop: str) -> int:
        """Length of the longest end of `buffer` that begins `stop`."""
        for size in range(min(len(stop) - 1, len(buffer)), 0, -1):
            if buffer.endswith(stop[:size]):
                return size
        return 0
