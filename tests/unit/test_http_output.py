"""The HTTP front's output splitting: thinking, answer and tool calls in the
model family's format (mlx-lm's json_tools parser), fed in awkward pieces."""

from __future__ import annotations

import json

from mlx_lm.tool_parsers import json_tools

from mlx_serving.http.backend import ChatFormat
from mlx_serving.http.output import OutputSplitter, Text, ToolCallOut

QWEN = ChatFormat(think=("<think>", "</think>"), tool_call=("<tool_call>", "</tool_call>"),
                  parse_tool_call=json_tools.parse_tool_call)
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
TEXT = ("<think>The user wants weather.</think>Let me check."
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Rome"}}</tool_call>')


def _run(splitter: OutputSplitter, pieces: list[str]) -> list[Text | ToolCallOut]:
    parts = [part for piece in pieces for part in splitter.feed(piece)]
    return parts + splitter.finish()


def _merged(parts: list[Text | ToolCallOut]) -> tuple[str, str, list[tuple[str, dict]]]:
    content = "".join(p.text for p in parts if isinstance(p, Text) and p.kind == "content")
    reasoning = "".join(p.text for p in parts if isinstance(p, Text) and p.kind == "reasoning")
    calls = [(p.name, json.loads(p.arguments)) for p in parts if isinstance(p, ToolCallOut)]
    return content, reasoning, calls


def test_thinking_text_and_parallel_calls_whatever_the_piece_size() -> None:
    expected = ("Let me check.", "The user wants weather.",
                [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})])
    for size in (1, 2, 3, 7, len(TEXT)):
        pieces = [TEXT[i:i + size] for i in range(0, len(TEXT), size)]
        assert _merged(_run(OutputSplitter(QWEN, TOOLS), pieces)) == expected


def test_no_tools_offered_leaves_call_text_alone() -> None:
    content, reasoning, calls = _merged(_run(OutputSplitter(QWEN, None), [TEXT]))
    assert calls == [] and content.startswith("Let me check.<tool_call>")
    assert reasoning == "The user wants weather."


def test_a_call_that_does_not_parse_stays_text() -> None:
    content, _, calls = _merged(_run(OutputSplitter(QWEN, TOOLS),
                                     ["Hi <tool_call>not json</tool_call> there"]))
    assert calls == [] and content == "Hi <tool_call>not json</tool_call> there"


def test_a_marker_prefix_that_is_no_marker_is_released() -> None:
    splitter = OutputSplitter(QWEN, TOOLS)
    assert splitter.feed("a <th") == [Text("content", "a ")]
    assert splitter.feed("ree") == [Text("content", "<three")]
    assert splitter.finish() == []


def test_a_family_without_markers_is_all_content() -> None:
    parts = _run(OutputSplitter(ChatFormat(), TOOLS), ["<think>x</think>", "y"])
    assert _merged(parts) == ("<think>x</think>y", "", [])
