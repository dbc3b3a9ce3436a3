"""generate and generate/cancel."""

from __future__ import annotations

from concurrent.futures import Future

from msgspec import UNSET

from ..api.errors import ErrorCode, RpcError
from ..api.messages import CancelParams, CancelResult, GenerateParams
from ..engine.engine import Engine
from ..engine.models import LoadedModel
from ..engine.prompting import prompt_tokens
from ..engine.sampling import resolve_settings
from ..engine.stream import GenerationRequest, NotificationSink, ResultSink
from ..rpc.dispatcher import CallContext, Handler
from ..transport.stdio import MessageWriter


def generation_handlers(engine: Engine, writer: MessageWriter) -> dict[str, Handler]:
    defaults = engine.config.generation.defaults

    def generate(params: GenerateParams, context: CallContext) -> Future:
        # Validation and tokenization happen here, on the reader thread, so
        # bad requests are answered at once and the engine only gets good ones.
        if not engine.accepting:
            raise RpcError(ErrorCode.SHUTTING_DOWN, "the runtime is shutting down")
        return engine.with_model(params.model, lambda model: start(model, params, context))

    def start(model: LoadedModel, params: GenerateParams, context: CallContext) -> Future:
        tokens = prompt_tokens(model, params.prompt, params.messages, params.add_bos)
        settings = resolve_settings(params, defaults)
        future: Future = Future()
        sink = NotificationSink(writer.send, future) if params.streaming else ResultSink(future)
        stream_id = engine.stream_ids.reserve(None if params.stream_id is UNSET else params.stream_id)
        engine.submit(GenerationRequest(
            stream_id=stream_id,
            model_id=model.model_id,
            prompt=tokens,
            max_tokens=defaults.max_tokens if params.max_tokens is UNSET else params.max_tokens,
            sampling=settings,
            stop_strings=[] if params.stop_sequences is UNSET else params.stop_sequences,
            stop_token_ids=[] if params.stop_token_ids is UNSET else params.stop_token_ids,
            logprobs=params.logprobs,
            sink=sink,
            received_at=context.received_at,
        ))
        return future

    def cancel(params: CancelParams, _: CallContext) -> Future[CancelResult]:
        return engine.cancel(params.stream_id)

    return {"generate": generate, "generate/cancel": cancel}
