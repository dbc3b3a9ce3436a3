"""The one place the HTTP front reaches the runtime: the generation service,
the model table, token counts and metrics. Routes call this, never the engine."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from msgspec import UNSET

from ..api.messages import CancelResult, FlowResult, GenerateParams, ModelInfo, PrometheusResult
from ..engine.engine import Engine
from ..engine.models import LoadedModel
from ..engine.prompting import prompt_tokens
from ..ops.service import Ops
from ..service.generation import GenerationService, OpenSink
from ..service.request_options import model_for

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
    def __init__(self, engine: Engine, service: GenerationService, ops: Ops) -> None:
        self._engine = engine
        self._service = service
        self._ops = ops

    @property
    def status(self) -> str:
        return self._engine.status

    def models(self) -> list[ModelInfo]:
        return [model.info() for model in self._engine.models.all()]

    def chat_format(self, model_id: str) -> ChatFormat:
        model = self._engine.models.find(model_id)
        return ChatFormat() if model is None else ChatFormat.of(model)

    def decode(self, model_id: str, tokens: list[int]) -> str:
        """The text of token ids, special tokens kept as the streamed text has
        them (no MLX: any thread)."""
        model = self._engine.models.find(model_id)
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
        def count(model: LoadedModel) -> int:
            return len(prompt_tokens(model, params.prompt, params.messages, params.add_bos,
                                     params.tools if params.tools is not UNSET else UNSET))

        model_id = model_for(params, self._engine.models.all(), self._engine.models.loading_ids())
        counted = self._engine.with_model(model_id, count)
        return counted.result() if isinstance(counted, Future) else int(counted)

    def prometheus(self) -> PrometheusResult:
        return self._ops.prometheus()
