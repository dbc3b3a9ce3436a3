"""Decode a request's params into its typed Struct.

Clients may name a param in snake_case or camelCase, or by one of the
method's aliases (`stream` for `streaming`, ...). This module folds all of
them onto the snake_case field before msgspec decodes and validates, and
turns every failure into an INVALID_PARAMS error that names the param the
way the client spelled it.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

from ..api.errors import ErrorCode, ServingError
from ..api.methods import MethodSpec

P = TypeVar("P", bound=msgspec.Struct)

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_ERROR_PATH = re.compile(r"`\$(\.[A-Za-z_][A-Za-z0-9_]*)?")


def snake_case(name: str) -> str:
    return _CAMEL_BOUNDARY.sub("_", name).lower()


def _invalid(message: str, **details: Any) -> ServingError:
    return ServingError(ErrorCode.INVALID_PARAMS, message, **details)


def _fold_names(spec: MethodSpec, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Map every key to its field name; returns (params, field -> name as sent)."""
    fields = spec.params.__struct_fields__
    sent_names = {snake_case(sent) for sent in params}
    folded: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for sent, value in params.items():
        name = snake_case(sent)
        target = spec.param_aliases.get(name)
        # An alias that is also a field of the method (model/load takes both
        # `model` and `model_id`) stands for its target only when the target
        # was not sent: legacy clients send `model_id` alone.
        if target is not None and (name not in fields or target not in sent_names):
            name = target
        if name in folded and folded[name] != value:
            raise _invalid(
                f"`{spelled[name]}` and `{sent}` name the same param with different values",
                param=name,
            )
        folded[name] = value
        spelled.setdefault(name, sent)
    return folded, spelled


def decode_params(spec: MethodSpec, raw: dict[str, Any] | list[Any] | None) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise _invalid(f"`{spec.name}` takes params by name (a JSON object), got an array")
    params, spelled = _fold_names(spec, raw)
    fields = spec.params.__struct_fields__
    unknown = [spelled[name] for name in params if name not in fields]
    if unknown:
        listed = ", ".join(f"`{name}`" for name in unknown)
        expected = ", ".join(fields) or "no params"
        raise _invalid(
            f"unknown param{'s' if len(unknown) > 1 else ''} {listed} for `{spec.name}` "
            f"(expected: {expected})",
            unknown=unknown,
        )
    try:
        return msgspec.convert(params, spec.params)
    except msgspec.ValidationError as exc:
        raise _invalid(_with_client_path(str(exc), spelled)) from None


def _with_client_path(message: str, spelled: dict[str, str]) -> str:
    """Rewrite msgspec's `$.field` paths to `$.params.<name as the client sent it>`."""

    def repl(match: re.Match[str]) -> str:
        field = (match.group(1) or "")[1:]
        return "`$.params" + (f".{spelled.get(field, field)}" if field else "")

    return _ERROR_PATH.sub(repl, message)
