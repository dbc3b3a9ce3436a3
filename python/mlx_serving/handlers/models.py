"""model/load, model/unload, model/list and the token methods."""

from __future__ import annotations

from concurrent.futures import Future

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
from ..engine.engine import Engine
from ..engine.models import LoadedModel
from ..engine.progress import UNITS, LoadProgress, ThrottledProgress, no_progress
from ..engine.prompting import check_token_ids, encode_text
from ..rpc.dispatcher import CallContext, Handler, Send


def model_handlers(engine: Engine, send: Send) -> dict[str, Handler]:
    def progress_of(params: LoadModelParams, model_id: str) -> LoadProgress:
        if not params.progress:
            return no_progress

        def report(phase: LoadPhase, done: int, total: int) -> None:
            send(Notification(method="model/progress", params=ModelProgress(
                model_id=model_id, phase=phase, done=done, total=total, unit=UNITS[phase])))

        return ThrottledProgress(report)

    def load(params: LoadModelParams, _: CallContext) -> Future[LoadModelResult]:
        model_id = params.model if params.model_id is UNSET else params.model_id
        return engine.load(params.model, model_id, progress=progress_of(params, model_id),
                           distributed=None if params.distributed is UNSET else params.distributed)

    def load_vision(params: LoadModelParams, _: CallContext) -> Future[LoadModelResult]:
        model_id = params.model if params.model_id is UNSET else params.model_id
        return engine.load(params.model, model_id, kind="vision",
                           distributed=None if params.distributed is UNSET else params.distributed)

    def unload(params: ModelRefParams, _: CallContext) -> Future[UnloadModelResult]:
        return engine.with_model(params.model, lambda model: engine.unload(model.model_id))

    def list_models(_: NoParams, __: CallContext) -> ListModelsResult:
        return ListModelsResult(models=[model.info() for model in engine.models.all()])

    # Tokenizers are thread-safe and need no MLX: these run on the reader
    # thread and never wait behind a decode step.
    def tokenize(params: TokenizeParams, _: CallContext) -> TokenizeResult:
        return engine.with_model(params.model, lambda model: TokenizeResult(
            tokens=encode_text(model, params.text, params.add_bos)))

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
