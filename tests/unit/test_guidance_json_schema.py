"""Schema preparation: exact date/time formats, and what outlines-core refuses."""

from __future__ import annotations

import datetime
import re

import jsonschema
import pytest
from rfc3339_validator import validate_rfc3339

from guidance_corpus import JSON_CASES, check_json
from mlx_serving.guidance.errors import GrammarError
from mlx_serving.guidance.json_schema import STRICT_FORMATS, check_schema, subschemas, with_strict_formats
from mlx_serving.guidance.outlines_backend import _check_enforceable


def _is_date(text: str) -> bool:
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) is not None


@pytest.mark.parametrize("year", ["0000", "0001", "0004", "0100", "0400", "1900", "2000", "2023",
                                  "2024", "2100", "9996", "9999"])
def test_date_pattern_is_the_calendar(year: str) -> None:
    for month in range(0, 14):
        for day in (0, 1, 28, 29, 30, 31, 32):
            text = f"{year}-{month:02d}-{day:02d}"
            assert bool(re.fullmatch(STRICT_FORMATS["date"], text)) == _is_date(text), text


@pytest.mark.parametrize("text", [
    "2024-02-29T23:59:59Z", "2023-02-29T10:00:00Z", "2023-01-01T23:59:60Z", "2023-01-01t10:00:00z",
    "2023-01-01T10:00:00", "2023-01-01T10:00:00.123+05:30", "2023-01-01T24:00:00Z",
    "0000-01-01T10:00:00Z", "2023-01-01T10:00:00+24:00", "2023-01-01 10:00:00Z",
])
def test_date_time_pattern_matches_rfc3339_validator(text: str) -> None:
    assert bool(re.fullmatch(STRICT_FORMATS["date-time"], text)) == validate_rfc3339(text.upper())


def test_strict_formats_touch_schema_positions_only() -> None:
    schema = {"type": "object",
              "properties": {"day": {"type": "string", "format": "date"},
                             "at": {"format": "date-time", "pattern": "^2"},
                             "mail": {"format": "email"},
                             "data": {"const": {"format": "date"}}},
              "items": [{"format": "time"}],
              "$defs": {"d": {"anyOf": [{"format": "date"}]}}}
    strict = with_strict_formats(schema)
    props = strict["properties"]
    assert props["day"] == {"type": "string", "pattern": STRICT_FORMATS["date"]}
    assert props["at"] == {"pattern": "^2", "allOf": [{"pattern": STRICT_FORMATS["date-time"]}]}
    assert props["mail"] == {"format": "email"}
    assert props["data"] == {"const": {"format": "date"}}  # data, not a schema
    assert strict["items"] == [{"pattern": STRICT_FORMATS["time"]}]
    assert strict["$defs"]["d"]["anyOf"] == [{"pattern": STRICT_FORMATS["date"]}]
    assert schema["properties"]["day"]["format"] == "date"  # the caller's schema is left alone
    assert [path for path, _ in subschemas(schema)] == [
        "#", "#/properties/day", "#/properties/at", "#/properties/mail", "#/properties/data",
        "#/items/0", "#/$defs/d", "#/$defs/d/anyOf/0"]


@pytest.mark.parametrize("schema, message", [
    ({"type": "integer", "minimum": 1}, "does not enforce `minimum` (at #)"),
    ({"properties": {"a": {"type": "number", "multipleOf": 2}}},
     "does not enforce `multipleOf` (at #/properties/a)"),
    ({"type": "array", "uniqueItems": True}, "`uniqueItems`"),
    ({"oneOf": [{"type": "integer"}]}, "`oneOf`"),
    ({"type": "integer", "anyOf": [{"type": "string"}]}, "reads only `anyOf` and drops `type`"),
    ({"enum": ["a", "bb"], "maxLength": 1}, "reads only `enum` and drops `maxLength`"),
    ({"type": "integer", "enum": [1, "a"]}, "does not check `enum` values against `type`"),
    ({"type": "string", "format": "email", "maxLength": 9}, "drops `format` when `maxLength`"),
    ({"type": "string", "pattern": "a", "minLength": 2}, "drops `pattern` when `minLength`"),
    ({"type": "string", "pattern": "^2", "format": "date"}, "both `pattern` and `format`"),
    ({"type": "array", "items": [{"type": "string"}]}, "tuple `items`"),
    ({"type": "object", "x-guidance": {"whitespace_flexible": True}}, "`x-guidance`"),
    ({"type": "object", "required": ["b"]}, "cannot enforce required `b`"),
    ({"type": "object", "properties": {"a": {"type": "null"}}, "required": ["a", "b"],
      "additionalProperties": {"type": "integer"}}, "cannot enforce required `b`"),
])
def test_outlines_core_refusals(schema: dict, message: str) -> None:
    with pytest.raises(GrammarError, match=re.escape(message)):
        _check_enforceable(schema)


def test_outlines_core_takes_what_it_enforces() -> None:
    _check_enforceable({
        "$schema": "http://json-schema.org/draft-07/schema#", "title": "t",
        "definitions": {"flag": {"type": "boolean"}},
        "type": "object", "additionalProperties": False, "required": ["a"],
        "properties": {"a": {"$ref": "#/definitions/flag"},
                       "b": {"type": "string", "enum": ["x", "y"]},
                       "c": {"type": "array", "items": {"type": "string", "maxLength": 3},
                             "minItems": 1, "maxItems": 2},
                       "d": {"type": "string", "format": "date-time"},
                       "e": {"anyOf": [{"type": "null"}, {"const": 1}]}}})


@pytest.mark.parametrize("schema, message", [
    ({"enum": []}, "`enum` is empty (at #)"),
    ({"properties": {"a": {"anyOf": []}}}, "`anyOf` is empty (at #/properties/a)"),
    ({"oneOf": []}, "`oneOf` is empty"),
    ({"type": []}, "`type` is empty"),
    ({"properties": {"a": {"type": "boolean"}}, "required": ["b"], "additionalProperties": False},
     "property `b` is required but `additionalProperties` is false"),
    ({"type": "string", "pattern": "abc\\"}, "ends in a lone backslash"),
    ({"items": {"pattern": "\\\\\\"}}, "ends in a lone backslash (an unfinished escape); "
                                         "write `\\\\` for a literal backslash (at #/items)"),
    ({"patternProperties": {"a\\": {}}}, "'a\\\\' ends in a lone backslash"),
    ({"$ref": "#/definitions/missing"}, "`$ref` '#/definitions/missing' (at #) points to nothing"),
    ({"$defs": {"a": {}}, "items": {"$ref": "#/$defs/b"}}, "'#/$defs/b' (at #/items)"),
])
def test_unsatisfiable_or_misread_schemas_are_refused(schema: dict, message: str) -> None:
    with pytest.raises(GrammarError, match=re.escape(message)):
        check_schema(schema)


def test_satisfiable_schemas_pass() -> None:
    check_schema({"$defs": {"a/b": {"type": "null"}}, "$ref": "#/$defs/a~1b",
                  "properties": {"x": {"pattern": "a\\\\"}, "y": {"$ref": "#"}},
                  "required": ["x", "z"],  # z: additionalProperties is open
                  "patternProperties": {"^z$": {"enum": [1]}}})
    check_schema({"required": ["z"], "patternProperties": {"^z$": {}},
                  "additionalProperties": False})  # z comes from patternProperties


# A value each format must refuse: the corpus checker really checks them.
_NOT_IN_FORMAT = {"email": "no-at-sign", "uri": "no scheme", "date-time": "2023-02-29T10:00:00Z",
                  "date": "2023-02-29", "uuid": "123e4567e89b12d3a456426614174000"}  # no hyphens


def test_the_corpus_checks_every_format_it_uses() -> None:
    used = {node["format"] for case in JSON_CASES
            for _, node in subschemas(case.guidance["schema"]) if "format" in node}
    assert used <= set(_NOT_IN_FORMAT), used - set(_NOT_IN_FORMAT)
    assert "uuid" in used
    for name in used:
        with pytest.raises(jsonschema.ValidationError, match="is not a"):
            check_json({"type": "string", "format": name}, f'"{_NOT_IN_FORMAT[name]}"')
    check_json({"format": "uuid"}, '"123e4567-e89b-12d3-a456-426614174000"')
