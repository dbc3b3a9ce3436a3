"""The second backend: outlines-core (a regex compiled into a token automaton).

Everything becomes one regular expression, so only regular languages can be
enforced: JSON Schema goes through outlines-core's own schema-to-regex
translation, which drops some keywords without a word (numeric bounds) and
gets some formats wrong (date-time and time without a time zone). Schemas
using those are refused here, naming the keyword, instead of producing
output that does not validate. `\\d` and `\\w` in the regex are made ASCII,
as JSON Schema means them. XML works for DTDs that do not nest an element
inside itself.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .errors import GrammarError
from .regex import ascii_classes
from .rules import Rules, to_regex

# Keywords whose meaning outlines-core's translation keeps.
_ENFORCED = {
    "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems",
    "enum", "const", "anyOf", "$ref", "$defs", "definitions", "minLength", "maxLength",
    "pattern", "format",
}
# Keywords that constrain nothing.
_ANNOTATIONS = {
    "$schema", "$id", "$comment", "title", "description", "default", "examples", "readOnly",
    "writeOnly", "deprecated", "contentEncoding", "contentMediaType",
}
_WRONG_FORMATS = {
    "date-time": "its date-time lets the time zone out, which RFC 3339 requires",
    "time": "its time lets the time zone out, which RFC 3339 requires",
}
# Where a keyword's value holds subschemas: one, a list, or a name -> schema map.
_SUBSCHEMA = {"items": "one", "additionalProperties": "one", "anyOf": "list",
              "properties": "map", "$defs": "map", "definitions": "map"}


class OutlinesMatcher:
    def __init__(self, guide: Any) -> None:
        self._guide = guide
        self._error = ""

    def consume(self, token: int) -> bool:
        try:
            self._guide.advance(token, return_tokens=False)
        except ValueError as exc:
            self._error = str(exc)
            return False
        return True

    def fill_bitmask(self, words: np.ndarray) -> None:
        words.fill(0)  # it sets the allowed bits only
        self._guide.write_mask_into(words.ctypes.data, words.size, words.itemsize)

    def is_accepting(self) -> bool:
        return self._guide.is_finished()

    def error(self) -> str:
        return self._error


class OutlinesGrammar:
    def __init__(self, index: Any) -> None:
        self._index = index

    def matcher(self) -> OutlinesMatcher:
        from outlines_core import Guide

        return OutlinesMatcher(Guide(self._index))


class OutlinesBackend:
    name = "outlines-core"

    def vocabulary(self, tokenizer: Any, vocab_size: int, eos_ids: list[int]) -> Any:
        """Every token's bytes, as llguidance's tokenizer reader decodes them
        (byte-level BPE, SentencePiece with byte fallback, ...). outlines-core
        takes one EOS: the tokenizer's own, else the first end token."""
        import llguidance.hf
        from outlines_core import Vocabulary

        reader = llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab_size, eos_token=eos_ids)
        eos = tokenizer.eos_token_id if tokenizer.eos_token_id in eos_ids else eos_ids[0]
        tokens: dict[bytes, list[int]] = {}
        for token_id in range(vocab_size):
            if token_id in eos_ids or reader.is_special_token(token_id):
                continue
            text = reader.decode_bytes([token_id])
            if text:
                tokens.setdefault(text, []).append(token_id)
        return Vocabulary(eos, tokens)

    def json_schema(self, schema: dict[str, Any], vocabulary: Any) -> OutlinesGrammar:
        from outlines_core.json_schema import build_regex_from_schema

        _check_enforceable(schema, "#")
        try:
            regex = build_regex_from_schema(json.dumps(schema), whitespace_pattern="")
        except ValueError as exc:
            raise GrammarError(str(exc).splitlines()[0]) from None
        return _compile(ascii_classes(regex, "dw"), vocabulary)

    def rules(self, rules: Rules, vocabulary: Any) -> OutlinesGrammar:
        return _compile(to_regex(rules), vocabulary)


def _compile(regex: str, vocabulary: Any) -> OutlinesGrammar:
    from outlines_core import Index

    try:
        return OutlinesGrammar(Index(regex, vocabulary))
    except ValueError as exc:
        raise GrammarError(f"outlines-core cannot compile the regex: {exc}") from None


def _check_enforceable(schema: Any, path: str) -> None:
    """GrammarError naming the first keyword (with its JSON pointer) that
    outlines-core would not enforce."""
    if isinstance(schema, bool):
        return
    if not isinstance(schema, dict):
        raise GrammarError(f"expected a schema object at {path}, got {json.dumps(schema)}")
    for key, value in schema.items():
        where = f"{path}/{key}"
        if key not in _ENFORCED and key not in _ANNOTATIONS:
            raise GrammarError(f"outlines-core does not enforce `{key}` (at {where}); "
                               "use the llguidance backend")
        if key == "format" and value in _WRONG_FORMATS:
            raise GrammarError(f"outlines-core does not enforce format `{value}` (at {where}): "
                               f"{_WRONG_FORMATS[value]}; use the llguidance backend")
        kind = _SUBSCHEMA.get(key)
        if kind == "one":
            _check_enforceable(value, where)
        elif kind == "list" and isinstance(value, list):
            for index, member in enumerate(value):
                _check_enforceable(member, f"{where}/{index}")
        elif kind == "map" and isinstance(value, dict):
            for name, member in value.items():
                _check_enforceable(member, f"{where}/{name}")
