"""Build protocol/schema.json, the wire contract, from the method table.

    python -m mlx_serving.api.contract --write   # regenerate protocol/schema.json
    python -m mlx_serving.api.contract --check   # exit 1 when the file is stale

The document is a plain JSON Schema (draft 2020-12): `$defs/ClientMessage`
validates any line a client sends, `$defs/ServerMessage` any line the runtime
writes. The `x-methods`, `x-notifications` and `x-errors` annotations give
each method's params and result schema, summary and aliases, and every error
code; the TypeScript types are generated from this file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from .envelope import ErrorObject
from .errors import ErrorCode
from .methods import COMMON_PARAM_ALIASES, METHODS, NOTIFICATIONS, PROTOCOL_VERSION

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "protocol" / "schema.json"
_REF = "#/$defs/{name}"
_ID_SCHEMA = {"type": ["integer", "string", "null"]}


def _envelope(method: str, params_schema: dict[str, Any], *, with_id: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "jsonrpc": {"const": "2.0"},
        "method": {"const": method},
        "params": params_schema,
    }
    required = ["jsonrpc", "method"]
    if with_id:
        properties["id"] = _ID_SCHEMA
        required.append("id")
    return {"type": "object", "properties": properties, "required": required}


def _results(result: type | tuple[type, ...]) -> tuple[type, ...]:
    return result if isinstance(result, tuple) else (result,)


def build_contract() -> dict[str, Any]:
    specs = list(METHODS.values())
    result_types = [t for spec in specs for t in _results(spec.result)]
    notification_types = [spec.params for spec in NOTIFICATIONS.values()]
    components, defs = msgspec.json.schema_components(
        [spec.params for spec in specs] + result_types + notification_types + [ErrorObject],
        ref_template=_REF,
    )
    schemas = list(components)
    params_schemas = [schemas.pop(0) for _ in specs]
    result_schemas = []
    for spec in specs:
        members = [schemas.pop(0) for _ in _results(spec.result)]
        result_schemas.append(members[0] if len(members) == 1 else {"anyOf": members})
    notification_schemas = [schemas.pop(0) for _ in notification_types]
    error_object_schema = schemas.pop(0)

    x_methods: dict[str, dict[str, Any]] = {
        spec.name: {
            "summary": spec.summary,
            "params": params_schema,
            "result": result_schema,
            "legacy_names": list(spec.legacy_names),
            "param_aliases": {
                alias: target
                for alias, target in spec.param_aliases.items()
                if target in spec.params.__struct_fields__
            },
        }
        for spec, params_schema, result_schema in zip(specs, params_schemas, result_schemas, strict=False)
    }
    x_notifications: dict[str, dict[str, Any]] = {
        spec.name: {"summary": spec.summary, "params": schema}
        for spec, schema in zip(NOTIFICATIONS.values(), notification_schemas, strict=False)
    }
    x_errors = {
        code.name: {"code": code.number, "meaning": code.meaning} for code in ErrorCode
    }

    requests = [
        _envelope(name, info["params"], with_id=True) for name, info in x_methods.items()
    ]
    notifications = [
        _envelope(name, info["params"], with_id=False)
        for name, info in x_notifications.items()
    ]
    response = {
        "type": "object",
        "properties": {
            "jsonrpc": {"const": "2.0"},
            "id": _ID_SCHEMA,
            "result": {},
            "error": error_object_schema,
        },
        "required": ["jsonrpc", "id"],
        "oneOf": [{"required": ["result"]}, {"required": ["error"]}],
    }
    defs = dict(sorted(defs.items()))
    defs["Request"] = {"anyOf": requests}
    defs["Response"] = response
    # A batch array is answered by one array of responses.
    defs["ClientMessage"] = {"anyOf": [
        {"$ref": _REF.format(name="Request")},
        {"type": "array", "minItems": 1, "items": {"$ref": _REF.format(name="Request")}},
    ]}
    defs["ServerMessage"] = {"anyOf": [
        {"$ref": _REF.format(name="Response")},
        {"type": "array", "minItems": 1, "items": {"$ref": _REF.format(name="Response")}},
        *notifications,
    ]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/mlx-serving/mlx-serving/protocol/schema.json",
        "title": "mlx-serving wire protocol",
        "description": (
            "JSON-RPC 2.0, one JSON object per line on stdin/stdout. "
            "Params are snake_case; camelCase twins and x-methods.*.param_aliases "
            "are accepted too. Generated from python/mlx_serving/api; do not edit."
        ),
        "x-protocol-version": PROTOCOL_VERSION,
        "x-common-param-aliases": COMMON_PARAM_ALIASES,
        "x-methods": x_methods,
        "x-notifications": x_notifications,
        "x-errors": x_errors,
        "anyOf": [{"$ref": _REF.format(name="ClientMessage")},
                  {"$ref": _REF.format(name="ServerMessage")}],
        "$defs": defs,
    }


def render() -> str:
    return json.dumps(build_contract(), indent=2, sort_keys=False) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite protocol/schema.json")
    mode.add_argument("--check", action="store_true", help="fail when it is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        SCHEMA_PATH.write_text(text)
        return 0
    if SCHEMA_PATH.read_text() != text:
        print(f"{SCHEMA_PATH} is stale: run python -m mlx_serving.api.contract --write",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
