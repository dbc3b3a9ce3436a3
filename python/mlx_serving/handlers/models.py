"""model/load, model/unload, model/list and the token methods."""

from __future__ import annotations

from concurrent.futures import Future

import msgspec
from msgspec import UNSET

from ..api.messages import (
    BatchTokenizeParams,
    BatchTokenizeResult,
    DetokenizeParams,
    DetokenizeResult,
    ListModelsResult,
    LoadModelParams,
    LoadModelResult,
    LoadPhase,
    ModelProgress,
    ModelRefParams,
    NoParams,
    TokenizeParams,
    TokenizeResult,
    UnloadModelResult,
)
from ..api.envelope import Notification
from ..engine.engine import Engine, ModelKind
from ..engine.models import LoadedModel
from ..engine.progress import UNITS, LoadProgress, ThrottledProgress, no_progress
from ..engine.prompting import check_token_ids, encode_text
from ..rpc.dispatcher import CallContext, Handler, Send
from ..service.load_options import load_request


def model_handlers(engine: Engine, send: Send) -> dict[str, Handler]:
    def progress_of(params: LoadModelParams, model_id: str) -> LoadProgress:
        if not params.progress:
            return no_progress

        def report(phase: LoadPhase, done: int, total: int) -> None:
            send(Notification(method="model/progress", params=ModelProgress(
                model_id=model_id, phase=phase, done=done, total=total, unit=UNITS[phase])))

        return ThrottledProgress(report)

    def load(params: LoadModelParams, _: CallContext) -> Future[LoadModelResult]:
        return _load(params, "text")

    def load_vision(params: LoadModelParams, _: CallContext) -> Future[LoadModelResult]:
        return _load(params, "vision")

    def _load(params: LoadModelParams, kind: ModelKind) -> Future[LoadModelResult]:
        request = load_request(params)
        progress = progress_of(params, request.model_id) if kind == "text" else no_progress
        loaded = engine.load(request.source, request.model_id, kind=kind, progress=progress,
                             distributed=None if params.distributed is UNSET else params.distributed,
                             defaults=request.defaults)
        if not request.warnings:
            return loaded
        warned: Future[LoadModelResult] = Future()
        loaded.add_done_callback(lambda done: _settle(done, warned, request.warnings))
        return warned

    def unload(params: ModelRefParams, _: CallContext) -> Future[UnloadModelResult]:
        return engine.with_model(params.model, lambda model: engine.unload(model.model_id))

    def list_models(_: NoParams, __: CallContext) -> ListModelsResult:
        return ListModelsResult(models=[model.info() for model in engine.models.all()])

    # Tokenizers are thread-safe and need no MLX: these run on the reader
    # thread and never wait behind a decode step.
    def tokenize(params: TokenizeParams, _: CallContext) -> TokenizeResult:
        def run(model: LoadedModel) -> TokenizeResult:
            tokens = encode_text(model, params.text, params.add_bos)
            return TokenizeResult(tokens=tokens, token_strings=token_texts(model, tokens))

        return engine.with_model(params.model, run)

    def batch_tokenize(params: BatchTokenizeParams, _: CallContext) -> BatchTokenizeResult:
        return engine.with_model(params.model, lambda model: BatchTokenizeResult(
            tokens=[encode_text(model, text, params.add_bos) for text in params.texts]))

    def detokenize(params: DetokenizeParams, _: CallContext) -> DetokenizeResult:
        def run(model: LoadedModel) -> DetokenizeResult:
            check_token_ids(model, params.tokens)
            return DetokenizeResult(text=model.tokenizer.decode(
                params.tokens, skip_special_tokens=params.skip_special_tokens))

        return engine.with_model(params.model, run)

    return {
        "model/load": load,
        "model/loadVision": load_vision,
        "model/unload": unload,
        "model/list": list_models,
        "tokenize": tokenize,
        "batch_tokenize": batch_tokenize,
        "detokenize": detokenize,
    }


def token_texts(model: LoadedModel, tokens: list[int]) -> list[str]:
    """Each token's own text, as the original's tokenize answered `tokenStrings`."""
    return [model.tokenizer.decode([token]) for token in tokens]


def _settle(done: Future[LoadModelResult], warned: Future[LoadModelResult],
            warnings: list[str]) -> None:
    error = done.exception()
    if error is not None:
        warned.set_exception(error)
    else:
        result = done.result()
        warned.set_result(msgspec.structs.replace(result, warnings=[*result.warnings, *warnings]))
