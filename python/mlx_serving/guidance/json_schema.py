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

_YEAR = r"(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
_MONTH_DAY = (r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
              r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
              r"|02-(?:0[1-9]|1[0-9]|2[0-8]))")
_LEAP_YEAR = (r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])"
              r"|(?:0[48]|[2468][048]|[13579][26])00)")
_DATE = f"(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
_TIME = (r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?"
         r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])")
STRICT_FORMATS = {
    "date": f"^{_DATE}$",
    "time": f"^{_TIME}$",
    "date-time": f"^{_DATE}[Tt]{_TIME}$",
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
