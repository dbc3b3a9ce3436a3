"""Request bodies -> typed requests, and typed requests -> GenerateParams,
each failure an HttpError that names the bad field."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from ..api.messages import GenerateParams
from .errors import HttpError

S = TypeVar("S", bound=msgspec.Struct)


def decode(body: bytes, kind: type[S]) -> S:
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        raise HttpError.of_validation(exc) from None
    except msgspec.DecodeError as exc:
        raise HttpError(400, f"the body is not valid JSON: {exc}", code="PARSE_ERROR") from None


def generate_params(fields: dict[str, Any]) -> GenerateParams:
    """The service's params; out-of-range values are named as the API's fields
    (they are mostly the same names)."""
    try:
        return msgspec.convert(fields, GenerateParams)
    except msgspec.ValidationError as exc:
        raise HttpError.of_validation(exc) from None
