"""JSON Schema, prepared for the backends.

Both backends know `format: date`, `date-time` and `time` as regular
expressions that are looser than RFC 3339 and the validators people check
with: they accept February 29 of any year, year 0000 and a leap second at
any minute (and outlines-core's date-time also a missing time zone), so a
model could write a value that a validator rejects. Before compiling, those
formats become exact patterns: real calendar dates (leap years included),
years 0001-9999, seconds 00-59 and a required time zone, `T`/`Z` in either
case. A pattern only narrows what the format allows, so the schema means
the same and the output still validates against the format.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from .errors import GrammarError
from .regex import check_pattern

_YEAR = r"(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
_MONTH_DAY = (r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
              r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
              r"|02-(?:0[1-9]|1[0-9]|2[0-8]))")
_LEAP_YEAR = (r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])"
              r"|(?:0[48]|[2468][048]|[13579][26])00)")
DATE = f"(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
_TIME = (r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?"
         r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])")
STRICT_FORMATS = {
    "date": f"^{DATE}$",
    "time": f"^{_TIME}$",
    "date-time": f"^{DATE}[Tt]{_TIME}$",
}

# Keywords whose value holds subschemas: one, a list, or a name -> schema map.
_ONE = {"additionalProperties", "additionalItems", "contains", "propertyNames", "not",
        "if", "then", "else"}
_LIST = {"anyOf", "oneOf", "allOf"}
_MAP = {"properties", "patternProperties", "$defs", "definitions", "dependencies"}


def subschemas(schema: Any, path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object in `schema` with its JSON pointer, `schema` first.
    Only schema positions are visited, never `enum`, `const` or `default` data."""
    if not isinstance(schema, dict):
        return
    yield path, schema
    for key, value in schema.items():
        where = f"{path}/{key}"
        if key in _ONE or (key == "items" and isinstance(value, dict)):
            yield from subschemas(value, where)
        elif key in _LIST or (key == "items" and isinstance(value, list)):
            for index, member in enumerate(value if isinstance(value, list) else []):
                yield from subschemas(member, f"{where}/{index}")
        elif key in _MAP and isinstance(value, dict):
            for name, member in value.items():
                yield from subschemas(member, f"{where}/{name}")


def check_schema(schema: dict[str, Any]) -> None:
    """GrammarError naming the first unsatisfiable or malformed part of
    `schema`, with its JSON pointer."""
    for path, node in subschemas(schema):
        for keyword in ("enum", "anyOf", "oneOf", "type"):
            if node.get(keyword) == []:
                raise GrammarError(f"`{keyword}` is empty (at {path}): no value satisfies it")
        patterns = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
        patterns += list(node.get("patternProperties") or {})
        for pattern in patterns:
            try:
                check_pattern(pattern)
            except GrammarError as exc:
                raise GrammarError(f"{exc} (at {path})") from None
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#") and not _resolves(schema, ref):
            raise GrammarError(f"`$ref` {ref!r} (at {path}) points to nothing in the schema")
        forbidden = _forbidden_required(node)
        if forbidden:
            raise GrammarError(f"property `{forbidden}` is required but `additionalProperties` "
                               f"is false and `properties` does not list it (at {path}): "
                               "no object satisfies the schema")


def _resolves(schema: dict[str, Any], ref: str) -> bool:
    """Whether the local JSON pointer `ref` (`#/a/b`) names a part of `schema`."""
    node: Any = schema
    for part in filter(None, ref[1:].split("/")):
        part = unquote(part).replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


def _forbidden_required(node: dict[str, Any]) -> str | None:
    """The first required name a closed object (no pattern properties) cannot have."""
    if node.get("additionalProperties") is not False or "patternProperties" in node:
        return None
    return required_unlisted(node)


def required_unlisted(node: dict[str, Any]) -> str | None:
    """The first name of `required` that `properties` does not list."""
    properties, required = node.get("properties"), node.get("required")
    listed: dict[str, Any] = properties if isinstance(properties, dict) else {}
    if not isinstance(required, list):
        required = []
    return next((name for name in required if name not in listed), None)


def with_strict_formats(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of `schema` with date, time and date-time formats as exact patterns."""
    schema = copy.deepcopy(schema)
    for _, node in subschemas(schema):
        name = node.get("format")
        pattern = STRICT_FORMATS.get(name) if isinstance(name, str) else None
        if pattern is None:
            continue
        del node["format"]
        if "pattern" in node:  # both must hold
            node["allOf"] = [*node.get("allOf", []), {"pattern": pattern}]
        else:
            node["pattern"] = pattern
    return schema
