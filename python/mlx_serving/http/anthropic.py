"""Anthropic's Messages API: requests -> GenerateParams and a tool plan;
the generation's pieces -> a message and its stream events."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from ..api.messages import (
    ChatMessage,
    GenerateParams,
    GenerationStats,
    JsonSchemaGuidance,
    ToolCall,
    ToolCallFunction,
)
from . import sse
from .body import generate_params
from .chat import Assembled, Batch, CallArguments, CallStart
from .errors import HttpError
from .generation import Outcome
from .output import Text
from .tools import Choice, Function, ToolPlan, object_schema, plan

# --- requests ----------------------------------------------------------------


class TextBlock(msgspec.Struct, tag="text", tag_field="type", kw_only=True):
    text: str


class ImageSource(msgspec.Struct, kw_only=True):
    type: Literal["base64", "url"]
    media_type: str | UnsetType = UNSET
    data: str | UnsetType = UNSET
    url: str | UnsetType = UNSET

    def as_url(self) -> str:
        if self.type == "url" and isinstance(self.url, str):
            return self.url
        if self.type == "base64" and isinstance(self.data, str) and isinstance(
                self.media_type, str):
            return f"data:{self.media_type};base64,{self.data}"
        raise HttpError.bad_param("messages", "an image source needs `url` (type url) or "
                                  "`media_type` and `data` (type base64)")


class ImageBlock(msgspec.Struct, tag="image", tag_field="type", kw_only=True):
    source: ImageSource


class ToolUseBlock(msgspec.Struct, tag="tool_use", tag_field="type", kw_only=True):
    id: str
    name: str
    input: dict[str, Any]


class ToolResultBlock(msgspec.Struct, tag="tool_result", tag_field="type", kw_only=True):
    tool_use_id: str
    content: str | list[TextBlock] = ""
    is_error: bool = False


class ThinkingBlock(msgspec.Struct, tag="thinking", tag_field="type", kw_only=True):
    thinking: str


Block = TextBlock | ImageBlock | ToolUseBlock | ToolResultBlock | ThinkingBlock


class Message(msgspec.Struct, kw_only=True):
    role: Literal["user", "assistant"]
    content: str | list[Block]


class ToolDef(msgspec.Struct, kw_only=True):
    name: str
    description: str | None = None
    input_schema: dict[str, Any] | None = None


class ToolChoice(msgspec.Struct, kw_only=True):
    type: Literal["auto", "any", "tool", "none"]
    name: str | UnsetType = UNSET


class OutputFormat(msgspec.Struct, kw_only=True):
    type: Literal["json_schema"]
    schema: dict[str, Any]


class OutputConfig(msgspec.Struct, kw_only=True):
    """Structured outputs; `effort` is accepted and has no effect here."""

    format: OutputFormat | None = None


class MessagesRequest(msgspec.Struct, kw_only=True):
    model: str
    messages: list[Message]
    max_tokens: int
    system: str | list[TextBlock] | None = None
    stop_sequences: list[str] | None = None
    stream: bool = False
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    tools: list[ToolDef] | None = None
    tool_choice: ToolChoice | None = None
    output_config: OutputConfig | None = None


class CountTokensRequest(msgspec.Struct, kw_only=True):
    model: str
    messages: list[Message]
    system: str | list[TextBlock] | None = None
    tools: list[ToolDef] | None = None


# --- request -> params ---------------------------------------------------------


def messages_params(request: MessagesRequest) -> tuple[GenerateParams, ToolPlan]:
    messages, images, tools = _conversation(request.messages, request.system, request.tools,
                                            request.tool_choice)
    fields: dict[str, Any] = {
        "model": request.model, "messages": messages, "max_tokens": request.max_tokens,
        "temperature": request.temperature, "top_p": request.top_p, "top_k": request.top_k,
        "stop_sequences": request.stop_sequences or None,
    }
    fields = {name: value for name, value in fields.items() if value is not None}
    if images:
        fields["images"] = images
    if tools.template_tools and tools.choice != "none":
        fields["tools"] = tools.template_tools
    guidance = tools.guidance()
    output = request.output_config.format if request.output_config else None
    if output is not None:
        if guidance is not None:
            raise HttpError.bad_param("output_config.format", "output_config.format and a "
                                      "forced tool_choice both constrain the output; send one")
        guidance = JsonSchemaGuidance(schema=output.schema)
    if guidance is not None:
        fields["guidance"] = guidance
    return generate_params(fields), tools


def count_params(request: CountTokensRequest) -> GenerateParams:
    messages, images, tools = _conversation(request.messages, request.system, request.tools,
                                            None)
    if images:
        raise HttpError.bad_param("messages", "count_tokens counts text: the image tokens "
                                  "depend on the vision processor")
    fields: dict[str, Any] = {"model": request.model, "messages": messages}
    if tools.template_tools:
        fields["tools"] = tools.template_tools
    return generate_params(fields)




def _conversation(messages: list[Message], system: str | list[TextBlock] | None,
                  tool_defs: list[ToolDef] | None, choice: ToolChoice | None
                  ) -> tuple[list[ChatMessage], list[str], ToolPlan]:
    if not messages:
        raise HttpError.bad_param("messages", "`messages` is empty; send at least one")
    turns: list[ChatMessage] = []
    if system:
        text = system if isinstance(system, str) else "\n".join(b.text for b in system)
        turns.append(ChatMessage(role="system", content=text))
    images: list[str] = []
    names: dict[str, str] = {}  # tool_use id -> function name, for the results
    for message in messages:
        if isinstance(message.content, str):
            turns.append(ChatMessage(role=message.role, content=message.content))
            continue
        texts: list[str] = []
        calls: list[ToolCall] = []
        for block in message.content:
            if isinstance(block, TextBlock):
                texts.append(block.text)
            elif isinstance(block, ImageBlock):
                images.append(block.source.as_url())
            elif isinstance(block, ToolUseBlock):
                names[block.id] = block.name
                calls.append(ToolCall(id=block.id, function=ToolCallFunction(
                    name=block.name, arguments=block.input)))
            elif isinstance(block, ToolResultBlock):
                content = (block.content if isinstance(block.content, str)
                           else "\n".join(b.text for b in block.content))
                name = names.get(block.tool_use_id)
                turns.append(ChatMessage(role="tool", content=content,
                                         tool_call_id=block.tool_use_id,
                                         name=UNSET if name is None else name))
            # Earlier thinking is not shown to the model again, as Anthropic does.
        if texts or calls:
            turns.append(ChatMessage(role=message.role, content="\n".join(texts),
                                     tool_calls=calls or UNSET))
    functions = [Function(t.name, t.description, object_schema(t.input_schema))
                 for t in tool_defs or []]
    return turns, images, plan(functions, _choice(choice, bool(functions)))


def _choice(choice: ToolChoice | None, has_tools: bool) -> Choice:
    if choice is None or choice.type == "auto":
        return "auto" if has_tools else "none"
    if choice.type == "any":
        return "required"
    if choice.type == "tool":
        if not isinstance(choice.name, str):
            raise HttpError.bad_param("tool_choice.name", "tool_choice type tool needs `name`")
        return ("function", choice.name)
    return "none"


# --- responses -----------------------------------------------------------------


def stop_reason(outcome: Outcome, called: bool) -> str:
    if called:
        return "tool_use"
    if outcome.stop_sequence is not None:
        return "stop_sequence"
    return "max_tokens" if outcome.finish_reason == "length" else "end_turn"


def _usage(stats: GenerationStats | None) -> dict[str, Any]:
    prompt = stats.prompt_tokens if stats else 0
    cached = stats.cached_tokens if stats else 0
    return {"input_tokens": prompt - cached, "output_tokens": stats.generated_tokens if stats
            else 0, "cache_read_input_tokens": cached, "cache_creation_input_tokens": 0}


def _arguments(text: str) -> Any:
    try:
        return msgspec.json.decode(text) if text else {}
    except msgspec.DecodeError:
        return {"_raw": text}  # what the model wrote, shown rather than dropped


def message_response(message_id: str, model: str, answer: Assembled,
                     outcome: Outcome) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if answer.reasoning:
        content.append({"type": "thinking", "thinking": answer.reasoning, "signature": ""})
    if answer.content:
        content.append({"type": "text", "text": answer.content})
    content += [{"type": "tool_use", "id": call_id, "name": name, "input": _arguments(args)}
                for call_id, name, args in answer.calls]
    return {"id": message_id, "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop_reason(outcome, bool(answer.calls)),
            "stop_sequence": outcome.stop_sequence, "usage": _usage(outcome.stats)}


class MessageStream:
    """message_start, content blocks (start, deltas, stop), message_delta, message_stop."""

    def __init__(self, message_id: str, model: str) -> None:
        self._id = message_id
        self._model = model
        self._index = -1
        self._open: str | None = None  # the kind of the open block
        self._called = False

    def start(self, stats_prompt_tokens: int = 0) -> bytes:
        return sse.event("message_start", {"type": "message_start", "message": {
            "id": self._id, "type": "message", "role": "assistant", "model": self._model,
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": stats_prompt_tokens, "output_tokens": 0}}})

    def _switch(self, kind: str, block: dict[str, Any]) -> bytes:
        out = self._close()
        self._index += 1
        self._open = kind
        return out + sse.event("content_block_start", {
            "type": "content_block_start", "index": self._index, "content_block": block})

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        return sse.event("content_block_stop", {"type": "content_block_stop",
                                                "index": self._index})

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return sse.event("content_block_delta", {"type": "content_block_delta",
                                                 "index": self._index, "delta": delta})

    def batch(self, batch: Batch) -> bytes:
        out = b""
        for piece in batch.pieces:
            if isinstance(piece, Text):
                kind = "text" if piece.kind == "content" else "thinking"
                if self._open != kind:
                    out += self._switch(kind, {"type": "text", "text": ""} if kind == "text"
                                        else {"type": "thinking", "thinking": ""})
                out += self._delta({"type": "text_delta", "text": piece.text} if kind == "text"
                                   else {"type": "thinking_delta", "thinking": piece.text})
            elif isinstance(piece, CallStart):
                self._called = True
                out += self._switch("tool_use", {"type": "tool_use", "id": piece.id,
                                                 "name": piece.name, "input": {}})
            elif isinstance(piece, CallArguments) and piece.text:
                out += self._delta({"type": "input_json_delta", "partial_json": piece.text})
        return out

    def end(self, outcome: Outcome) -> bytes:
        return self._close() + sse.event("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason(outcome, self._called),
                      "stop_sequence": outcome.stop_sequence},
            "usage": _usage(outcome.stats)}) + sse.event("message_stop", {"type": "message_stop"})
