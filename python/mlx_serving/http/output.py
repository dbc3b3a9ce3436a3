"""Splitting a model's text into what each API shows apart: thinking,
the answer, and tool calls written in the model family's own format.

Incremental, for streams: text that may be the start of a marker is held
back until the next piece says whether it is one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Literal

from .backend import ChatFormat
from .generation import new_id

log = logging.getLogger(__name__)


@dataclass
class Text:
    kind: Literal["content", "reasoning"]
    text: str


@dataclass
class ToolCallOut:
    id: str
    name: str
    arguments: str  # JSON text of the arguments object


Part = Text | ToolCallOut
_State = Literal["content", "reasoning", "tool"]


class OutputSplitter:
    def __init__(self, chat_format: ChatFormat, tools: list[dict[str, Any]] | None) -> None:
        self._think = chat_format.think
        # Tool calls are parsed only when the request offered tools and
        # mlx-lm knows how this family writes them.
        self._tool = chat_format.tool_call if tools and chat_format.parse_tool_call else None
        self._parse = chat_format.parse_tool_call
        self._tools = tools
        self._state: _State = "content"
        self._held = ""
        self._call = ""  # the text of the tool call being written

    def _ends(self) -> list[tuple[str, _State]]:
        """The markers that leave the current state, and where each leads."""
        if self._state == "reasoning":
            return [(self._think[1], "content")] if self._think else []
        if self._state == "tool":
            return [(self._tool[1], "content")] if self._tool else []
        starts: list[tuple[str, _State]] = []
        if self._think:
            starts.append((self._think[0], "reasoning"))
        if self._tool:
            starts.append((self._tool[0], "tool"))
        return starts

    def feed(self, text: str) -> list[Part]:
        parts: list[Part] = []
        self._held += text
        while True:
            markers = self._ends()
            hits = [(self._held.find(marker), marker, to) for marker, to in markers
                    if marker in self._held]
            if not hits:
                keep = max((_prefix_overlap(self._held, marker) for marker, _ in markers),
                           default=0)
                self._emit(self._held[:len(self._held) - keep], parts)
                self._held = self._held[len(self._held) - keep:]
                return parts
            at, marker, to = min(hits)
            self._emit(self._held[:at], parts)
            self._held = self._held[at + len(marker):]
            if self._state == "tool":
                parts.extend(self._calls(self._call))
                self._call = ""
            self._state = to

    def finish(self) -> list[Part]:
        parts: list[Part] = []
        self._emit(self._held, parts)
        self._held = ""
        if self._state == "tool" and self._call:  # cut before its end marker
            parts.extend(self._calls(self._call))
        return parts

    def _emit(self, text: str, parts: list[Part]) -> None:
        if not text:
            return
        if self._state == "tool":
            self._call += text
        else:
            parts.append(Text(self._state, text))

    def _calls(self, body: str) -> list[Part]:
        """The calls in one tool-call block; as plain text when it does not parse."""
        assert self._parse is not None and self._tool is not None
        try:
            parsed = self._parse(body, self._tools)
            calls = parsed if isinstance(parsed, list) else [parsed]
            return [tool_call(call["name"], call.get("arguments", {})) for call in calls]
        except Exception as exc:  # the model wrote something that is no call
            log.info("a tool call did not parse (%s: %s); passed on as text",
                     type(exc).__name__, exc)
            start, end = self._tool
            return [Text("content", f"{start}{body}{end}")]


def tool_call(name: str, arguments: Any) -> ToolCallOut:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments,
                                                                   ensure_ascii=False)
    return ToolCallOut(id=new_id("call_"), name=name, arguments=text)


def _prefix_overlap(text: str, marker: str) -> int:
    """Length of the longest end of `text` that begins `marker`."""
    for size in range(min(len(text), len(marker) - 1), 0, -1):
        if marker.startswith(text[-size:]):
            return size
    return 0
