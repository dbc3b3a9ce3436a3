"""The one place the HTTP front reaches the runtime: the services (generation,
the model table, token counts, metrics). Routes call this, never the engine."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from ..api.messages import CancelResult, FlowResult, GenerateParams, ModelInfo, PrometheusResult
from ..engine.models import LoadedModel
from ..service import Services
from ..service.generation import OpenSink

# mlx-lm's tool parsers: the text between the markers -> a call (or calls).
ToolParser = Callable[[str, Any], Any]


@dataclass(frozen=True)
class ChatFormat:
    """How a model family writes its thinking and its tool calls (from mlx-lm's
    tokenizer wrapper, which infers both from the chat template and vocab)."""

    think: tuple[str, str] | None = None
    tool_call: tuple[str, str] | None = None
    parse_tool_call: ToolParser | None = None

    @classmethod
    def of(cls, model: LoadedModel) -> ChatFormat:
        tokenizer = model.tokenizer
        think = ((tokenizer.think_start, tokenizer.think_end)
                 if getattr(tokenizer, "has_thinking", False) else None)
        tool_call = ((tokenizer.tool_call_start, tokenizer.tool_call_end)
                     if getattr(tokenizer, "has_tool_calling", False) else None)
        return cls(think=think, tool_call=tool_call,
                   parse_tool_call=getattr(tokenizer, "tool_parser", None))


class Backend:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._service = services.generation

    @property
    def status(self) -> str:
        return self._services.runtime.status

    def models(self) -> list[ModelInfo]:
        return self._services.models.list().models

    def chat_format(self, model_id: str) -> ChatFormat:
        model = self._services.models.find(model_id)
        return ChatFormat() if model is None else ChatFormat.of(model)

    def decode(self, model_id: str, tokens: list[int]) -> str:
        """The text of token ids, special tokens kept as the streamed text has
        them (no MLX: any thread)."""
        model = self._services.models.find(model_id)
        if model is None:
            return ""
        text: str = model.decode(tokens)
        return text

    def generate(self, params: GenerateParams, received_at: float,
                 open_sink: OpenSink) -> Future[Any]:
        return self._service.generate(params, received_at, open_sink)

    def cancel(self, stream_id: str) -> Future[CancelResult]:
        return self._service.cancel(stream_id)

    def pause(self, stream_id: str) -> Future[FlowResult]:
        return self._service.pause(stream_id)

    def resume(self, stream_id: str) -> Future[FlowResult]:
        return self._service.resume(stream_id)

    def count_tokens(self, params: GenerateParams) -> int:
        """Prompt tokens the request would prefill (blocking: call off the loop)."""
        return self._services.models.count_prompt_tokens(params).result()

    def prometheus(self) -> PrometheusResult:
        return self._services.ops.prometheus()
