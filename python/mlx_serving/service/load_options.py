"""What model/load's options mean: where the model comes from, its sampling
defaults, and the original mlx-serving's options that have no effect here
(each accepted with a warning that says what happens instead)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from msgspec import UNSET

from ..api.messages import LoadModelParams, ModelDefaults

# The model/load params that set the model's sampling defaults.
DEFAULT_NAMES: tuple[str, ...] = tuple(ModelDefaults.__struct_fields__)

_INERT: dict[str, str] = {
    "revision": "`revision` has no effect: models load from a local folder (no hub at run "
                "time), as the folder holds them",
    "quantization": "`quantization` has no effect: weights load as they are stored "
                    "(quantize a model ahead of time with mlx_lm.convert)",
    "trust_remote_code": "`trust_remote_code` has no effect: no model code is run, "
                         "mlx-lm builds the architectures it knows",
    "draft": "`draft` has no effect: the model loads as a model of its own; attach a draft "
             "with loadDraftModel({ model, draftModel })",
}


@dataclass
class LoadRequest:
    source: str  # the folder (or hub id) to load from
    model_id: str
    defaults: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def load_request(params: LoadModelParams) -> LoadRequest:
    name = params.model if params.model_id is UNSET else params.model_id
    source = params.model if params.local_path is UNSET else params.local_path
    defaults = {key: getattr(params, key) for key in DEFAULT_NAMES
                if getattr(params, key) is not UNSET}
    warnings = [text for key, text in _INERT.items() if getattr(params, key) is not UNSET]
    return LoadRequest(source=source, model_id=name, defaults=defaults, warnings=warnings)
