"""The draft-model use cases: attach, detach, and check a draft against a target."""

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


class DraftService:
    def __init__(self, engine: Engine, workers: Executor) -> None:
        self._engine = engine
        self._workers = workers

    # Attaching and detaching touch running streams: engine thread. The target
    # is looked up there again, as it may be unloaded while the call waits.
    def load(self, params: DraftModelParams) -> Future[LoadDraftResult]:
        engine = self._engine
        return engine.with_model_then(params.model, lambda target: engine.call(
            lambda: attach_draft(engine.models.get(target.model_id), params.draft_model,
                                 engine.runners_of(target.model_id))))

    def unload(self, params: ModelRefParams) -> Future[UnloadDraftResult]:
        engine = self._engine
        return engine.with_model_then(params.model, lambda target: engine.call(
            lambda: detach_draft(engine.models.get(target.model_id),
                                 engine.runners_of(target.model_id))))

    # Reading tokenizer files (or fetching them) needs no MLX: a worker does it,
    # and waits for the engine thread only to ask whether the cache rewinds
    # (once the engine has stopped, that call fails at once: no endless wait).
    def is_compatible(self, params: DraftModelParams) -> Future[DraftCompatibility]:
        engine = self._engine
        return engine.with_model_then(params.model, lambda target: self._workers.submit(
            check_compatibility, target, params.draft_model,
            engine.models.find(params.draft_model), lambda probe: engine.call(probe).result()))
