"""model/load (with model/progress notifications), model/loadVision,
model/unload, model/list and the token methods."""

from __future__ import annotations

from concurrent.futures import Future

from ..api.envelope import Notification
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
from ..engine.progress import UNITS, LoadProgress, ThrottledProgress
from ..rpc.dispatcher import CallContext, Handler, Send
from ..service.models import ModelService


def model_handlers(models: ModelService, send: Send) -> dict[str, Handler]:
    def notifications(model_id: str) -> LoadProgress:
        def report(phase: LoadPhase, done: int, total: int) -> None:
            send(Notification(method="model/progress", params=ModelProgress(
                model_id=model_id, phase=phase, done=done, total=total, unit=UNITS[phase])))

        return ThrottledProgress(report)

    def load(params: LoadModelParams, _: CallContext) -> Future[LoadModelResult]:
        return models.load(params, progress=notifications if params.progress else None)

    def load_vision(params: LoadModelParams, _: CallContext) -> Future[LoadModelResult]:
        return models.load(params, kind="vision")

    def unload(params: ModelRefParams, _: CallContext) -> Future[UnloadModelResult]:
        return models.unload(params)

    def list_models(_: NoParams, __: CallContext) -> ListModelsResult:
        return models.list()

    def tokenize(params: TokenizeParams, _: CallContext) -> Future[TokenizeResult]:
        return models.tokenize(params)

    def batch_tokenize(params: BatchTokenizeParams, _: CallContext
                       ) -> Future[BatchTokenizeResult]:
        return models.batch_tokenize(params)

    def detokenize(params: DetokenizeParams, _: CallContext) -> Future[DetokenizeResult]:
        return models.detokenize(params)

    return {
        "model/load": load,
        "model/loadVision": load_vision,
        "model/unload": unload,
        "model/list": list_models,
        "tokenize": tokenize,
        "batch_tokenize": batch_tokenize,
        "detokenize": detokenize,
    }
