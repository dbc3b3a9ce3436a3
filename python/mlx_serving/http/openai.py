"""OpenAI's chat completions and completions: requests -> GenerateParams and
a tool plan; the generation's pieces -> responses and stream chunks."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from ..api.messages import (
    MAX_TOP_LOGPROBS,
    ChatMessage,
    GenerateParams,
    GenerationStats,
    JsonSchemaGuidance,
    TokenOut,
    ToolCall,
    ToolCallFunction,
    TopLogprob,
)
from . import sse
from .body import generate_params
from .chat import Assembled, Batch, CallArguments, CallStart
from .errors import HttpError
from .output import Text
from .tools import Choice, Function, ToolPlan, object_schema, plan

# --- requests ----------------------------------------------------------------
# Unknown fields are ignored, as OpenAI does: SDKs and tools send extras.


class ImageUrl(msgspec.Struct, kw_only=True):
    url: str


class TextPart(msgspec.Struct, tag="text", tag_field="type", kw_only=True):
    text: str


class ImagePart(msgspec.Struct, tag="image_url", tag_field="type", kw_only=True):
    image_url: ImageUrl


class FunctionCall(msgspec.Struct, kw_only=True):
    name: str
    arguments: str


class ToolCallIn(msgspec.Struct, kw_only=True):
    id: str | UnsetType = UNSET
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(msgspec.Struct, kw_only=True):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart | ImagePart] | None = None
    name: str | UnsetType = UNSET
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | UnsetType = UNSET


class FunctionDef(msgspec.Struct, kw_only=True):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class Tool(msgspec.Struct, kw_only=True):
    type: Literal["function"]
    function: FunctionDef


class NamedFunction(msgspec.Struct, kw_only=True):
    name: str


class NamedToolChoice(msgspec.Struct, kw_only=True):
    type: Literal["function"]
    function: NamedFunction


class JsonSchemaFormat(msgspec.Struct, kw_only=True):
    name: str | UnsetType = UNSET
    schema: dict[str, Any] | UnsetType = UNSET


class ResponseFormat(msgspec.Struct, kw_only=True):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | UnsetType = UNSET


class StreamOptions(msgspec.Struct, kw_only=True):
    include_usage: bool = False


class Sampling(msgspec.Struct, kw_only=True):
    """What both endpoints share."""

    model: str
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    n: int | None = None
    # Beyond OpenAI, as other local servers take them.
    top_k: int | None = None
    min_p: float | None = None
    repetition_penalty: float | None = None

    def params(self, max_tokens: int | None) -> dict[str, Any]:
        if self.n not in (None, 1):
            raise HttpError.bad_param("n", f"n={self.n}: only one choice per request (n = 1); "
                                      "send more requests for more choices")
        stop = [self.stop] if isinstance(self.stop, str) else self.stop
        fields = {
            "model": self.model, "max_tokens": max_tokens, "temperature": self.temperature,
            "top_p": self.top_p, "seed": self.seed, "stop_sequences": stop or None,
            "presence_penalty": self.presence_penalty,
            "frequency_penalty": self.frequency_penalty, "top_k": self.top_k,
            "min_p": self.min_p, "repetition_penalty": self.repetition_penalty,
        }
        return {name: value for name, value in fields.items() if value is not None}

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage


class ChatRequest(Sampling, kw_only=True):
    messages: list[Message]
    max_completion_tokens: int | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    response_format: ResponseFormat | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None


class CompletionRequest(Sampling, kw_only=True):
    prompt: str | list[str]
    logprobs: int | None = None
    echo: bool = False
    suffix: str | None = None






# --- chat: request -> params --------------------------------------------------


def chat_params(request: ChatRequest) -> tuple[GenerateParams, ToolPlan]:
    if not request.messages:
        raise HttpError.bad_param("messages", "`messages` is empty; send at least one")
    if request.top_logprobs is not None and not request.logprobs:
        raise HttpError.bad_param("top_logprobs", "top_logprobs needs logprobs: true")
    messages, images = _messages(request.messages)
    tools = plan([Function(t.function.name, t.function.description,
                           object_schema(t.function.parameters)) for t in request.tools or []],
                 _choice(request.tool_choice, bool(request.tools)))
    max_tokens = (request.max_completion_tokens if request.max_completion_tokens is not None
                  else request.max_tokens)
    fields = request.params(max_tokens)
    fields["messages"] = messages
    if images:
        fields["images"] = images
    if request.logprobs:
        fields["logprobs"] = True
        if request.top_logprobs is not None:
            fields["top_logprobs"] = request.top_logprobs
    if tools.template_tools and tools.choice != "none":
        fields["tools"] = tools.template_tools
    guidance = _response_guidance(request.response_format)
    forced = tools.guidance()
    if guidance is not None and forced is not None:
        raise HttpError.bad_param("response_format", "response_format and a forced tool_choice "
                                  "both constrain the output; send one of them")
    if guidance is not None or forced is not None:
        fields["guidance"] = guidance or forced
    return generate_params(fields), tools


def _choice(choice: str | NamedToolChoice | None, has_tools: bool) -> Choice:
    if isinstance(choice, NamedToolChoice):
        return ("function", choice.function.name)
    if choice is None:
        return "auto" if has_tools else "none"
    return choice  # type: ignore[return-value]


def _messages(messages: list[Message]) -> tuple[list[ChatMessage], list[str]]:
    out: list[ChatMessage] = []
    images: list[str] = []
    for index, message in enumerate(messages):
        if isinstance(message.content, list):
            texts = []
            for part in message.content:
                if isinstance(part, ImagePart):
                    images.append(part.image_url.url)
                else:
                    texts.append(part.text)
            content = "\n".join(texts)
        else:
            content = message.content or ""
        calls: list[ToolCall] | UnsetType = UNSET
        if message.tool_calls:
            calls = [ToolCall(id=call.id, function=ToolCallFunction(
                name=call.function.name,
                arguments=_arguments(call.function.arguments, index)))
                for call in message.tool_calls]
        role = "system" if message.role == "developer" else message.role
        out.append(ChatMessage(role=role, content=content, tool_calls=calls,
                               tool_call_id=message.tool_call_id, name=message.name))
    return out, images


def _arguments(text: str, index: int) -> dict[str, Any]:
    try:
        value = msgspec.json.decode(text)
    except msgspec.DecodeError:
        value = None
    if not isinstance(value, dict):
        raise HttpError.bad_param(f"messages[{index}].tool_calls",
                                  "a tool call's `arguments` must be a JSON object (as text)")
    return value


def _response_guidance(response_format: ResponseFormat | None) -> JsonSchemaGuidance | None:
    if response_format is None or response_format.type == "text":
        return None
    if response_format.type == "json_object":
        return JsonSchemaGuidance(schema={"type": "object"})
    spec = response_format.json_schema
    if spec is UNSET or spec.schema is UNSET:
        raise HttpError.bad_param("response_format.json_schema.schema",
                                  "response_format json_schema needs json_schema.schema")
    return JsonSchemaGuidance(schema=spec.schema)


def completion_params(request: CompletionRequest) -> GenerateParams:
    prompt = request.prompt
    if isinstance(prompt, list):
        if len(prompt) != 1:
            raise HttpError.bad_param("prompt", f"{len(prompt)} prompts: send one per request")
        prompt = prompt[0]
    if request.echo:
        raise HttpError.bad_param("echo", "echo is not supported")
    if request.suffix:
        raise HttpError.bad_param("suffix", "suffix (fill in the middle) is not supported")
    fields = request.params(request.max_tokens)
    fields["prompt"] = prompt
    if request.logprobs is not None:  # the legacy API's logprobs: how many alternatives
        if not 0 <= request.logprobs <= MAX_TOP_LOGPROBS:
            raise HttpError.bad_param("logprobs", f"logprobs={request.logprobs}: give 0 to "
                                      f"{MAX_TOP_LOGPROBS} alternatives per token")
        fields["logprobs"] = True
        fields["top_logprobs"] = request.logprobs
    return generate_params(fields)


# --- responses -----------------------------------------------------------------


def finish_reason(reason: str, called: bool) -> str:
    if called:
        return "tool_calls"
    return "length" if reason == "length" else "stop"


def usage(stats: GenerationStats | None) -> dict[str, Any]:
    prompt = stats.prompt_tokens if stats else 0
    generated = stats.generated_tokens if stats else 0
    return {"prompt_tokens": prompt, "completion_tokens": generated,
            "total_tokens": prompt + generated,
            "prompt_tokens_details": {"cached_tokens": stats.cached_tokens if stats else 0}}


# A token's string is the text it released (so they add up to the output);
# an alternative's is its text at that position (engine/stream.py). bytes are
# those strings' UTF-8.


def _logprob(token: TokenOut) -> float:
    return token.logprob if token.logprob is not UNSET else 0.0


def _alternatives(token: TokenOut) -> list[TopLogprob]:
    return [] if token.top_logprobs is UNSET else token.top_logprobs


def _logprobs(tokens: list[TokenOut]) -> dict[str, Any]:
    """A chat choice's `logprobs`."""
    return {"content": [{
        "token": token.text, "logprob": _logprob(token), "bytes": list(token.text.encode()),
        "top_logprobs": [{"token": alternative.text, "logprob": alternative.logprob,
                          "bytes": list(alternative.text.encode())}
                         for alternative in _alternatives(token)]} for token in tokens]}


def _legacy_logprobs(tokens: list[TokenOut], offset: int) -> dict[str, Any]:
    """A completion choice's `logprobs`, the legacy shape: per token its string,
    logprob, alternatives by string (the sampled token among them, as OpenAI
    does) and where it starts in the text (`offset`: the text before `tokens`)."""
    offsets = []
    for token in tokens:
        offsets.append(offset)
        offset += len(token.text)
    return {
        "tokens": [token.text for token in tokens],
        "token_logprobs": [_logprob(token) for token in tokens],
        "top_logprobs": [{**{a.text: a.logprob for a in _alternatives(token)},
                          token.text: _logprob(token)} for token in tokens],
        "text_offset": offsets,
    }


def chat_response(response_id: str, model: str, answer: Assembled, reason: str,
                  stats: GenerationStats | None, logprobs: bool) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant",
                               "content": answer.content or (None if answer.calls else "")}
    if answer.reasoning:
        message["reasoning_content"] = message["reasoning"] = answer.reasoning
    if answer.calls:
        message["tool_calls"] = [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}
            for call_id, name, args in answer.calls]
    return {
        "id": response_id, "object": "chat.completion", "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message,
                     "logprobs": _logprobs(answer.tokens) if logprobs else None,
                     "finish_reason": finish_reason(reason, bool(answer.calls))}],
        "usage": usage(stats),
    }


class ChatStream:
    """Stream chunks of one chat completion."""

    def __init__(self, response_id: str, model: str, logprobs: bool,
                 include_usage: bool) -> None:
        self._head = {"id": response_id, "object": "chat.completion.chunk",
                      "created": int(time.time()), "model": model}
        self._logprobs = logprobs
        self._include_usage = include_usage
        self._calls = -1  # index of the current tool call

    def _chunk(self, delta: dict[str, Any], finish: str | None = None,
               logprobs: dict[str, Any] | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
        extra = {"usage": None} if self._include_usage else {}
        return sse.data({**self._head, "choices": [choice], **extra})

    def start(self) -> bytes:
        return self._chunk({"role": "assistant", "content": ""})

    def batch(self, batch: Batch) -> bytes:
        out = b""
        logprobs = _logprobs(batch.tokens) if self._logprobs and batch.tokens else None
        for piece in batch.pieces:
            if isinstance(piece, Text):
                key = "content" if piece.kind == "content" else "reasoning_content"
                delta = {key: piece.text}
                if piece.kind == "reasoning":
                    delta["reasoning"] = piece.text
                out += self._chunk(delta, logprobs=logprobs)
                logprobs = None
            elif isinstance(piece, CallStart):
                self._calls += 1
                out += self._chunk({"tool_calls": [{
                    "index": self._calls, "id": piece.id, "type": "function",
                    "function": {"name": piece.name, "arguments": ""}}]})
            elif isinstance(piece, CallArguments) and piece.text:
                out += self._chunk({"tool_calls": [{
                    "index": self._calls, "function": {"arguments": piece.text}}]})
        if logprobs is not None:  # tokens whose text is held back still report theirs
            out += self._chunk({}, logprobs=logprobs)
        return out

    def end(self, reason: str, stats: GenerationStats | None) -> bytes:
        out = self._chunk({}, finish_reason(reason, self._calls >= 0))
        if self._include_usage:
            out += sse.data({**self._head, "choices": [], "usage": usage(stats)})
        return out + sse.DONE


def completion_response(response_id: str, model: str, tokens: list[TokenOut], reason: str,
                        stats: GenerationStats | None, logprobs: bool) -> dict[str, Any]:
    return {"id": response_id, "object": "text_completion", "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "text": "".join(token.text for token in tokens),
                         "logprobs": _legacy_logprobs(tokens, 0) if logprobs else None,
                         "finish_reason": finish_reason(reason, False)}],
            "usage": usage(stats)}


async def completion_stream(response_id: str, model: str,
                            batches: AsyncIterator[list[TokenOut]], logprobs: bool,
                            include_usage: bool, outcome: Any) -> AsyncIterator[bytes]:
    head = {"id": response_id, "object": "text_completion", "created": int(time.time()),
            "model": model}
    offset = 0  # characters streamed so far: where the next token's text starts
    async for tokens in batches:
        text = "".join(token.text for token in tokens)
        if text or logprobs:  # tokens whose text is held back still report theirs
            yield sse.data({**head, "choices": [{
                "index": 0, "text": text,
                "logprobs": _legacy_logprobs(tokens, offset) if logprobs else None,
                "finish_reason": None}]})
        offset += len(text)
    yield sse.data({**head, "choices": [{"index": 0, "text": "", "logprobs": None,
                                          "finish_reason": finish_reason(outcome().finish_reason,
                                                                         False)}]})
    if include_usage:
        yield sse.data({**head, "choices": [], "usage": usage(outcome().stats)})
    yield sse.DONE
