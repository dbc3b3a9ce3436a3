"""model/loadDraft, model/unloadDraft, model/isDraftCompatible."""

from __future__ import annotations

from concurrent.futures import Executor, Future

from ..api.messages import (
    DraftCompatibility,
    DraftModelParams,
    LoadDraftResult,
    ModelRefParams,
    UnloadDraftResult,
)
from ..engine.drafts import attach_draft, check_compatibility, detach_draft
from ..engine.engine import Engine
from ..rpc.dispatcher import CallContext, Handler


def draft_handlers(engine: Engine, workers: Executor) -> dict[str, Handler]:
    # Attaching and detaching touch running streams: engine thread. The target
    # is looked up there again, as it may be unloaded while the call waits.
    def load_draft(params: DraftModelParams, _: CallContext) -> Future[LoadDraftResult]:
        return engine.with_model_then(params.model, lambda target: engine.call(lambda: attach_draft(
            engine.models.get(target.model_id), params.draft_model,
            engine.runners_of(target.model_id))))

    def unload_draft(params: ModelRefParams, _: CallContext) -> Future[UnloadDraftResult]:
        return engine.with_model_then(params.model, lambda target: engine.call(lambda: detach_draft(
            engine.models.get(target.model_id), engine.runners_of(target.model_id))))

    # Reading tokenizer files (or fetching them) needs no MLX: a worker does it,
    # and waits for the engine thread only to ask whether the cache rewinds
    # (once the engine has stopped, that call fails at once: no endless wait).
    def is_compatible(params: DraftModelParams, _: CallContext) -> Future[DraftCompatibility]:
        return engine.with_model_then(params.model, lambda target: workers.submit(
            check_compatibility, target, params.draft_model,
            engine.models.find(params.draft_model), lambda probe: engine.call(probe).result()))

    return {
        "model/loadDraft": load_draft,
        "model/unloadDraft": unload_draft,
        "model/isDraftCompatible": is_compatible,
    }
