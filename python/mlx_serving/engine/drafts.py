"""Draft models: whether one can draft for a target, and attaching or detaching it.

A draft proposes token ids that the target then scores, so both must read
ids the same way: the same vocabulary (token -> id), the same special tokens
and end-of-sequence ids. Both KV caches must also be rewindable, since
rejected proposals are trimmed off them. `incompatibilities` lists what
fails, in words a user can act on.

Attaching and detaching run on the engine thread (they touch the running
streams); `check_compatibility` reads only tokenizer files and runs on a
worker.
"""

from __future__ import annotations

import json
import time
from typing import Any

from ..api.errors import ErrorCode, RpcError
from ..api.messages import DraftCompatibility, LoadDraftResult, UnloadDraftResult
from .models import LoadedModel, load_errors, load_text_model, model_folder, release_memory
from .runner import Runner
from .speculative import SpeculativeRunner

_EXAMPLES = 3


def incompatibilities(target: LoadedModel, tokenizer: Any, vocab_size: int) -> list[str]:
    """Why a draft with this tokenizer and this many output rows cannot draft for target."""
    reasons = []
    if target.is_vision:
        reasons.append(f"the target {target.model_id!r} is a vision model; speculative "
                       "decoding needs a text model")
    elif not target.rewindable_cache:
        reasons.append("the target's KV cache cannot be rewound (e.g. a sliding-window or "
                       "recurrent model), as rejecting proposals needs")
    ours, theirs = target.tokenizer.get_vocab(), tokenizer.get_vocab()
    if len(ours) != len(theirs):
        reasons.append(f"the vocabularies differ in size: {len(ours)} tokens in the target's "
                       f"tokenizer, {len(theirs)} in the draft's")
    moved = sorted(piece for piece, token in ours.items() if theirs.get(piece) != token)
    if moved:
        examples = ", ".join(repr(piece) for piece in moved[:_EXAMPLES])
        reasons.append(f"{len(moved)} tokens of the target's vocabulary have another id (or "
                       f"none) in the draft's, e.g. {examples}")
    target_eos, draft_eos = sorted(target.tokenizer.eos_token_ids), sorted(tokenizer.eos_token_ids)
    if target_eos != draft_eos:
        reasons.append(f"the end-of-sequence token ids differ: {target_eos} in the target, "
                       f"{draft_eos} in the draft")
    if target.tokenizer.bos_token_id != tokenizer.bos_token_id:
        reasons.append(f"the beginning-of-sequence token ids differ: "
                       f"{target.tokenizer.bos_token_id} in the target, "
                       f"{tokenizer.bos_token_id} in the draft")
    target_special, draft_special = _special_tokens(target.tokenizer), _special_tokens(tokenizer)
    if target_special != draft_special:
        only_target = sorted(set(target_special.items()) - set(draft_special.items()))
        only_draft = sorted(set(draft_special.items()) - set(target_special.items()))
        reasons.append(f"the special tokens differ: target only {only_target}, "
                       f"draft only {only_draft}")
    needed = max(ours.values(), default=-1) + 1
    if vocab_size < needed:
        reasons.append(f"the draft's output layer covers {vocab_size} token ids, fewer than "
                       f"the {needed} of the target's vocabulary")
    return reasons


def _special_tokens(tokenizer: Any) -> dict[str, int]:
    return dict(zip(tokenizer.all_special_tokens, tokenizer.all_special_ids))


def check_compatibility(target: LoadedModel, draft_model: str,
                        loaded: LoadedModel | None) -> DraftCompatibility:
    """Compare with `loaded` (when draft_model names a loaded model) or with the
    tokenizer and config files of the folder or hub id; no weights are loaded."""
    from mlx_lm.tokenizer_utils import load as load_tokenizer

    if loaded is not None:
        reasons = incompatibilities(target, loaded.tokenizer, loaded.vocab_size)
        if loaded.is_vision:
            reasons.append(f"{draft_model!r} is a vision model; a draft must be a text model")
    else:
        path = model_folder(draft_model)
        with load_errors(draft_model):
            config = json.loads((path / "config.json").read_text())
            tokenizer = load_tokenizer(path, eos_token_ids=config.get("eos_token_id"))
        vocab_size = int(config.get("vocab_size") or len(tokenizer.get_vocab()))
        reasons = incompatibilities(target, tokenizer, vocab_size)
    return DraftCompatibility(model_id=target.model_id, draft_model=draft_model,
                              compatible=not reasons, reasons=reasons)


def attach_draft(target: LoadedModel, source: str, runners: list[Runner]) -> LoadDraftResult:
    """Load `source` and attach it to `target` (engine thread). A draft already
    attached is replaced; streams that used it go on without a draft."""
    if target.draft is not None and target.draft.is_from(source):
        return LoadDraftResult(model_id=target.model_id, draft=target.draft.draft_info(),
                               load_ms=0.0, already_loaded=True)
    target.require_text("a draft model")
    started = time.perf_counter()
    draft = load_text_model(source, f"{target.model_id}/draft")
    reasons = incompatibilities(target, draft.tokenizer, draft.vocab_size)
    if not draft.rewindable_cache:
        reasons.append("the draft's KV cache cannot be rewound (e.g. a sliding-window or "
                       "recurrent model), as rejecting proposals needs")
    if reasons:
        del draft  # free it now: the error's traceback keeps this frame alive
        release_memory()
        raise RpcError(ErrorCode.DRAFT_INCOMPATIBLE,
                       f"{source!r} cannot draft for {target.model_id!r}: " + "; ".join(reasons),
                       model=target.model_id, draft_model=source, reasons=reasons)
    replaced = target.draft is not None
    _detach(target, runners)
    target.draft = draft
    if replaced:
        release_memory()
    return LoadDraftResult(model_id=target.model_id, draft=draft.draft_info(),
                           load_ms=round((time.perf_counter() - started) * 1000, 3),
                           already_loaded=False)


def detach_draft(target: LoadedModel, runners: list[Runner]) -> UnloadDraftResult:
    """Drop target's draft and free it (engine thread); its streams go on without it."""
    if target.draft is None:
        raise RpcError(ErrorCode.DRAFT_NOT_LOADED,
                       f"model {target.model_id!r} has no draft model attached",
                       model=target.model_id)
    info = target.draft.draft_info()
    continued = _detach(target, runners)
    release_memory()
    return UnloadDraftResult(model_id=target.model_id, draft=info, continued_streams=continued)


def _detach(target: LoadedModel, runners: list[Runner]) -> int:
    target.draft = None
    return sum(runner.detach_draft() for runner in runners
               if isinstance(runner, SpeculativeRunner))
