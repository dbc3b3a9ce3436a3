"""model/loadDraft, model/unloadDraft, model/isDraftCompatible."""

from __future__ import annotations

from concurrent.futures import Future

from ..api.messages import (
    DraftCompatibility,
    DraftModelParams,
    LoadDraftResult,
    ModelRefParams,
    UnloadDraftResult,
)
from ..rpc.dispatcher import CallContext, Handler
from ..service.drafts import DraftService


def draft_handlers(drafts: DraftService) -> dict[str, Handler]:
    def load_draft(params: DraftModelParams, _: CallContext) -> Future[LoadDraftResult]:
        return drafts.load(params)

    def unload_draft(params: ModelRefParams, _: CallContext) -> Future[UnloadDraftResult]:
        return drafts.unload(params)

    def is_compatible(params: DraftModelParams, _: CallContext) -> Future[DraftCompatibility]:
        return drafts.is_compatible(params)

    return {
        "model/loadDraft": load_draft,
        "model/unloadDraft": unload_draft,
        "model/isDraftCompatible": is_compatible,
    }
