"""Draft models: whether one can draft for a target, and attaching or detaching it.

A draft proposes token ids that the target then scores, so both must read
ids the same way: the same vocabulary (token -> id), the same special tokens
and end-of-sequence ids. Both KV caches must also be rewindable, since
rejected proposals are trimmed off them, and a draft must be a text model.
`incompatibilities` lists what fails, in words a user can act on; both
model/isDraftCompatible and model/loadDraft go through it, with the same
DraftCandidate read from the draft's folder, so they never disagree.

Attaching and detaching run on the engine thread (they touch the running
streams); `check_compatibility` reads tokenizer and config files on a
worker and asks the engine thread only whether the draft's cache rewinds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..api.errors import ErrorCode, ServingError
from ..api.messages import DraftCompatibility, LoadDraftResult, UnloadDraftResult
from .models import LoadedModel, load_errors, load_text_model, model_folder, release_memory
from .runner import Runner
from .speculative import SpeculativeRunner

_EXAMPLES = 3


@dataclass(frozen=True)
class DraftCandidate:
    """A model as a would-be draft: all that the checks look at."""

    tokenizer: Any  # mlx-lm TokenizerWrapper
    vocab_size: int  # rows of its output layer
    is_vision: bool
    rewindable_cache: bool

    @classmethod
    def of(cls, model: LoadedModel) -> DraftCandidate:
        return cls(tokenizer=model.tokenizer, vocab_size=model.vocab_size,
                   is_vision=model.is_vision, rewindable_cache=model.rewindable_cache)


# Runs a callable on the engine thread (MLX) and returns its result.
OnEngine = Callable[[Callable[[], bool]], bool]


def read_candidate(source: str, on_engine: OnEngine) -> DraftCandidate:
    """A draft folder (or hub id) as a candidate, from its tokenizer and
    config; its weights are never read."""
    from mlx_lm.tokenizer_utils import load as load_tokenizer

    path = model_folder(source)
    with load_errors(source):
        config = json.loads((path / "config.json").read_text())
        tokenizer = load_tokenizer(path, eos_token_ids=config.get("eos_token_id"))
        # mlx-vlm's configs describe their image tower here; mlx-lm would load
        # only the text part of such a model.
        is_vision = "vision_config" in config
        rewindable = not is_vision and on_engine(lambda: _rewindable_cache(path))
    return DraftCandidate(tokenizer=tokenizer,
                          vocab_size=int(config.get("vocab_size") or len(tokenizer.get_vocab())),
                          is_vision=is_vision, rewindable_cache=rewindable)


def _rewindable_cache(path: Path) -> bool:
    """Whether the model in `path` gets a KV cache that can be rewound, asked
    of the model built from its config (weights mapped lazily, never loaded;
    MLX, so on the engine thread)."""
    from mlx_lm.models.cache import can_trim_prompt_cache, make_prompt_cache
    from mlx_lm.utils import load_model

    model, _ = load_model(path, lazy=True, strict=False)
    return can_trim_prompt_cache(make_prompt_cache(model))


def incompatibilities(target: LoadedModel, draft: DraftCandidate) -> list[str]:
    """Why `draft` cannot draft for target, in words a user can act on."""
    return _target_side(target) + _shared_ids(target.tokenizer, draft) + _draft_side(draft)


def _target_side(target: LoadedModel) -> list[str]:
    if target.is_vision:
        return [f"the target {target.model_id!r} is a vision model; speculative decoding "
                "needs a text model"]
    if target.group is not None:
        return [f"the target {target.model_id!r} is sharded over {target.group.plan.size} "
                "ranks; speculative decoding runs on one process only"]
    if not target.rewindable_cache:
        return ["the target's KV cache cannot be rewound (e.g. a sliding-window or "
                "recurrent model), as rejecting proposals needs"]
    return []


def _draft_side(draft: DraftCandidate) -> list[str]:
    if draft.is_vision:
        return ["the draft is a vision model; a draft must be a text model"]
    if not draft.rewindable_cache:
        return ["the draft's KV cache cannot be rewound (e.g. a sliding-window or "
                "recurrent model), as rejecting proposals needs"]
    return []


def _shared_ids(target_tokenizer: Any, draft: DraftCandidate) -> list[str]:
    """Whether both read token ids the same way."""
    reasons = []
    tokenizer = draft.tokenizer
    ours, theirs = target_tokenizer.get_vocab(), tokenizer.get_vocab()
    if len(ours) != len(theirs):
        reasons.append(f"the vocabularies differ in size: {len(ours)} tokens in the target's "
                       f"tokenizer, {len(theirs)} in the draft's")
    moved = sorted(piece for piece, token in ours.items() if theirs.get(piece) != token)
    if moved:
        examples = ", ".join(repr(piece) for piece in moved[:_EXAMPLES])
        reasons.append(f"{len(moved)} tokens of the target's vocabulary have another id (or "
                       f"none) in the draft's, e.g. {examples}")
    target_eos, draft_eos = sorted(target_tokenizer.eos_token_ids), sorted(tokenizer.eos_token_ids)
    if target_eos != draft_eos:
        reasons.append(f"the end-of-sequence token ids differ: {target_eos} in the target, "
                       f"{draft_eos} in the draft")
    if target_tokenizer.bos_token_id != tokenizer.bos_token_id:
        reasons.append(f"the beginning-of-sequence token ids differ: "
                       f"{target_tokenizer.bos_token_id} in the target, "
                       f"{tokenizer.bos_token_id} in the draft")
    target_special, draft_special = _special_tokens(target_tokenizer), _special_tokens(tokenizer)
    if target_special != draft_special:
        only_target = sorted(set(target_special.items()) - set(draft_special.items()))
        only_draft = sorted(set(draft_special.items()) - set(target_special.items()))
        reasons.append(f"the special tokens differ: target only {only_target}, "
                       f"draft only {only_draft}")
    needed = max(ours.values(), default=-1) + 1
    if draft.vocab_size < needed:
        reasons.append(f"the draft's output layer covers {draft.vocab_size} token ids, fewer "
                       f"than the {needed} of the target's vocabulary")
    return reasons


def _special_tokens(tokenizer: Any) -> dict[str, int]:
    return dict(zip(tokenizer.all_special_tokens, tokenizer.all_special_ids, strict=False))


def check_compatibility(target: LoadedModel, draft_model: str, loaded: LoadedModel | None,
                        on_engine: OnEngine) -> DraftCompatibility:
    """Compare with `loaded` (when draft_model names a loaded model) or with the
    folder or hub id (read_candidate: what model/loadDraft checks before it
    loads any weights). A worker runs this; `on_engine` runs MLX work."""
    draft = DraftCandidate.of(loaded) if loaded is not None \
        else read_candidate(draft_model, on_engine)
    reasons = incompatibilities(target, draft)
    return DraftCompatibility(model_id=target.model_id, draft_model=draft_model,
                              compatible=not reasons, reasons=reasons)


def attach_draft(target: LoadedModel, source: str, runners: list[Runner]) -> LoadDraftResult:
    """Load `source` and attach it to `target` (engine thread). A draft already
    attached is replaced; streams that used it go on without a draft. The
    checks are model/isDraftCompatible's, made before any weights are loaded."""
    if target.draft is not None and target.draft.is_from(source):
        return LoadDraftResult(model_id=target.model_id, draft=target.draft.draft_info(),
                               load_ms=0.0, already_loaded=True)
    target.require_text("a draft model")
    started = time.perf_counter()
    reasons = incompatibilities(target, read_candidate(source, lambda probe: probe()))
    if reasons:
        raise ServingError(ErrorCode.DRAFT_INCOMPATIBLE,
                           f"{source!r} cannot draft for {target.model_id!r}: " + "; ".join(reasons),
                           model=target.model_id, draft_model=source, reasons=reasons)
    draft = load_text_model(source, f"{target.model_id}/draft")
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
        raise ServingError(ErrorCode.DRAFT_NOT_LOADED,
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
