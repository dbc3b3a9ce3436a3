"""Params as callers write them and as the wire wants them.

A caller may name a param in snake_case, in camelCase, or by one of the
method's aliases (`stream`, `model_id`, `user_id`, ...), as the runtime
accepts them (rpc/params.py). The client folds each onto its canonical
snake_case name before sending, so the wire carries one spelling, and refuses
two spellings of one param that disagree. The names come from the method
table (api/methods.py): a param the contract gains is folded at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ..api.methods import METHODS, resolve
from .errors import EngineError, describe_value

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

# Params whose value is an object of named fields (not the caller's data):
# their own keys take either spelling too. Deeper values (a JSON Schema's
# properties) are the caller's and go out as written.
_FIELD_OBJECT_PARAMS: dict[str, tuple[str, ...]] = {"generate": ("guidance",)}


def snake_case(name: str) -> str:
    return _CAMEL_BOUNDARY.sub("_", name).lower()


def canonical_method(method: str) -> str:
    """The method a legacy name of the original mlx-serving stands for (`load_model`: `model/load`)."""
    spec = resolve(method)
    return spec.name if spec is not None else method


def wire_params(method: str, params: Mapping[str, Any], caller: str) -> dict[str, Any]:
    """`params` under the wire's names; None values count as left out."""
    spec = METHODS.get(method)
    fields: tuple[str, ...] = spec.params.__struct_fields__ if spec is not None else ()
    aliases = spec.param_aliases if spec is not None else {}
    sent = {snake_case(name) for name, value in params.items() if value is not None}

    def wire_name(name: str) -> str:
        snake = snake_case(name)
        target = aliases.get(snake)
        # An alias that is also a param (model/load's `model_id`) stands for its
        # target only when the target itself was not given.
        if target is not None and (snake not in fields or target not in sent):
            return target
        return snake

    wire = fold_names(params, wire_name, caller)
    for name in _FIELD_OBJECT_PARAMS.get(method, ()):
        nested = wire.get(name)
        if isinstance(nested, Mapping):
            wire[name] = fold_names(nested, snake_case, f"{caller}({name}=...)")
    return wire


def fold_names(values: Mapping[str, Any], canonical: Callable[[str], str], caller: str) -> dict[str, Any]:
    """Keys mapped by `canonical`; two spellings of one name must agree."""
    folded: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            continue
        if not isinstance(name, str):
            raise EngineError.invalid_options(f"`{caller}` got a param named {describe_value(name)}; names are strings.")
        key = canonical(name)
        if key in folded and folded[key] != value:
            raise EngineError.invalid_options(
                f"`{caller}` got `{spelled[key]}` and `{name}`, which name the same thing, with different "
                f"values ({describe_value(folded[key])} and {describe_value(value)}); pass only one of them.")
        folded[key] = value
        spelled.setdefault(key, name)
    return folded


def merge_params(params: Mapping[str, Any] | None, kwargs: Mapping[str, Any], caller: str) -> dict[str, Any]:
    """A method's params given as a mapping, as keyword arguments, or both."""
    if params is not None and not isinstance(params, Mapping):
        raise EngineError.invalid_options(
            f"Expected the params of `{caller}` to be a mapping, got {describe_value(params)}.")
    merged = dict(params or {})
    for name, value in kwargs.items():
        if name in merged and merged[name] != value:
            raise EngineError.invalid_options(
                f"`{caller}` got `{name}` both in its params and as a keyword argument, with different values.")
        merged[name] = value
    return merged
