"""JSON-RPC 2.0 envelopes: requests in, responses and notifications out."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

# Integer ids are those JavaScript (the bridge, most clients) holds exactly:
# a larger one would come back as another number. Strings are not limited.
SAFE_INTEGER = 2**53 - 1
RequestId = Annotated[int, Meta(ge=-SAFE_INTEGER, le=SAFE_INTEGER)] | str | None


class Request(msgspec.Struct, kw_only=True):
    """An incoming request or notification (a notification has no `id`)."""

    jsonrpc: Literal["2.0"]
    method: str
    id: RequestId | UnsetType = UNSET
    params: dict[str, Any] | list[Any] | UnsetType = UNSET

    @property
    def is_notification(self) -> bool:
        return self.id is UNSET


class ErrorObject(msgspec.Struct, kw_only=True, omit_defaults=True):
    code: int
    message: str
    data: dict[str, Any] | UnsetType = UNSET


class Response(msgspec.Struct, kw_only=True):
    """A response; exactly one of `result` and `error` is set."""

    jsonrpc: Literal["2.0"] = "2.0"
    id: RequestId
    result: Any | UnsetType = UNSET
    error: ErrorObject | UnsetType = UNSET


class Notification(msgspec.Struct, kw_only=True):
    jsonrpc: Literal["2.0"] = "2.0"
    method: str
    params: Any
