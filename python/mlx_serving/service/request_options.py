"""A generate request's params as the engine needs them: the model it names
(or the only one loaded), its prompt given as token ids, its images as
sources, and the original mlx-serving's params that do nothing here, each
with a warning that says what happens instead."""

from __future__ import annotations

import msgspec
from msgspec import UNSET

from ..api.errors import ErrorCode, ServingError
from ..api.messages import GenerateParams, ImageSource
from ..engine.models import LoadedModel

_HINTS = ("`hints` has no effect: the original's TTFT pipeline hints have no counterpart; "
          "the prompt cache (config prompt_cache) reuses repeated prompts by itself")


def model_for(params: GenerateParams, loaded: list[LoadedModel], loading: list[str]) -> str:
    """The model id a request names, else the only model of its kind loaded or
    loading (vision with images, text without); INVALID_PARAMS naming them otherwise."""
    if params.model is not UNSET:
        return params.model
    kind = "vision" if params.images is not UNSET else "text"
    fitting = [model.model_id for model in loaded if model.kind == kind] or \
        [model.model_id for model in loaded]
    candidates = sorted(set(fitting) | set(loading))
    if len(candidates) == 1:
        return candidates[0]
    names = sorted({model.model_id for model in loaded} | set(loading))
    listed = ", ".join(repr(name) for name in names) or "none"
    raise ServingError(ErrorCode.INVALID_PARAMS,
                       f"`model` is required when not exactly one {kind} model is loaded "
                       f"(loaded: {listed}); name the model to use", loaded=names)


def with_prompt_tokens(params: GenerateParams) -> GenerateParams:
    """`prompt_tokens` is the prompt as token ids."""
    if params.prompt_tokens is UNSET:
        return params
    if params.prompt is not UNSET or params.messages is not UNSET:
        raise ServingError(ErrorCode.INVALID_PARAMS,
                           "give one of `prompt`, `messages` and `prompt_tokens`, not several")
    return msgspec.structs.replace(params, prompt=params.prompt_tokens, prompt_tokens=UNSET)


def inert_warnings(params: GenerateParams, model: LoadedModel) -> list[str]:
    """What the request asked for that has no effect here."""
    warnings = [] if params.hints is UNSET else [_HINTS]
    if params.draft_model is not UNSET and not _is_attached(model, params.draft_model):
        now = ("it decodes without one" if model.draft is None
               else f"it decodes with its draft {model.draft.source!r}")
        warnings.append(f"draft {params.draft_model!r} is not attached to model "
                        f"{model.model_id!r} (attach it with loadDraftModel); {now}")
    return warnings


def image_sources(params: GenerateParams) -> list[str]:
    """The request's images as sources (a {source, format} object gives its source:
    the bytes say what the image is)."""
    if params.images is UNSET:
        return []
    images = params.images if isinstance(params.images, list) else [params.images]
    if not images:
        raise ServingError(ErrorCode.INVALID_PARAMS,
                           "`images` is empty; send at least one image, or leave it out")
    return [image.source if isinstance(image, ImageSource) else image for image in images]


def _is_attached(model: LoadedModel, draft: str) -> bool:
    return model.draft is not None and (model.draft.is_from(draft)
                                        or draft == model.draft.model_id)
