"""The second backend: outlines-core (a regex compiled into a token automaton).

Everything becomes one regular expression, so only regular languages can be
enforced: JSON Schema goes through outlines-core's own schema-to-regex
translation, which drops some keywords without a word (numeric bounds,
oneOf's exclusivity, required properties that `properties` does not
list). Schemas using a keyword outside the ones it keeps are refused here,
naming the keyword, instead of producing output that does not validate.
`\\d` and `\\w` in the regex are made ASCII, as JSON Schema means them.
XML works for DTDs and XSDs that do not nest an element inside itself.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from .errors import GrammarError
from .json_schema import required_unlisted, subschemas, with_strict_formats
from .regex import ascii_classes
from .rules import Rules, to_regex

# Keywords whose meaning outlines-core's translation keeps.
_ENFORCED = {
    "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems",
    "enum", "const", "anyOf", "$ref", "minLength", "maxLength", "pattern", "format",
}
_CONTAINERS = {"$defs", "definitions"}  # hold subschemas for $ref; checked where they are
# Keywords that constrain nothing.
_ANNOTATIONS = {
    "$schema", "$id", "$comment", "title", "description", "default", "examples", "readOnly",
    "writeOnly", "deprecated", "contentEncoding", "contentMediaType",
}


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
        return bool(self._guide.is_finished())

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

        _check_enforceable(schema)
        try:
            regex = build_regex_from_schema(json.dumps(with_strict_formats(schema)),
                                            whitespace_pattern="")
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
        reason = _syntax_error(regex) or str(exc)
        raise GrammarError(f"outlines-core cannot compile the regex: {reason}") from None


def _syntax_error(regex: str) -> str | None:
    """What is wrong with `regex`, in the words of the Rust regex parser.

    outlines-core says only "Failed to build DFA"; llguidance (installed with
    either backend) parses the same syntax and names the problem."""
    from llguidance import LLMatcher, grammar_from

    error = LLMatcher.validate_grammar(grammar_from("regex", regex))
    found = _PARSER_ERROR.search(error)
    return found.group(1) if found else None


_PARSER_ERROR = re.compile(r"^error: (.+)$", re.MULTILINE)


def _check_enforceable(schema: dict[str, Any]) -> None:
    """GrammarError naming the first keyword (with its JSON pointer) that
    outlines-core would not enforce."""
    for path, node in subschemas(schema):
        problem = _unenforced(node)
        if problem:
            raise GrammarError(f"outlines-core {problem} (at {path}); use the llguidance backend")


def _unenforced(node: dict[str, Any]) -> str | None:
    keys = set(node) - _ANNOTATIONS - _CONTAINERS
    unknown = sorted(keys - _ENFORCED)
    if unknown:
        return f"does not enforce `{unknown[0]}`"
    unlisted = required_unlisted(node)
    if unlisted:
        return (f"writes only the properties `properties` lists, so it cannot enforce "
                f"required `{unlisted}`")
    if "anyOf" in keys and keys != {"anyOf"}:
        return f"reads only `anyOf` and drops `{sorted(keys - {'anyOf'})[0]}` beside it"
    for only in ("enum", "const"):
        if only in keys:
            others = sorted(keys - {only, "type"})
            if others:
                return f"reads only `{only}` and drops `{others[0]}` beside it"
            values = node[only] if only == "enum" else [node[only]]
            if "type" in keys and not all(_has_type(value, node["type"]) for value in values):
                return f"does not check `{only}` values against `type`"
    lengths, shapes = keys & {"minLength", "maxLength"}, keys & {"pattern", "format"}
    if lengths and shapes:
        return f"drops `{min(shapes)}` when `{min(lengths)}` is set"
    if shapes == {"pattern", "format"}:
        return "cannot enforce both `pattern` and `format`"
    if isinstance(node.get("items"), list):
        return "does not enforce tuple `items`"
    return None


def _has_type(value: Any, types: Any) -> bool:
    names = types if isinstance(types, list) else [types]
    return any(_JSON_TYPES.get(name, lambda _: False)(value) for name in names)


_JSON_TYPES = {
    "string": lambda value: isinstance(value, str),
    "boolean": lambda value: isinstance(value, bool),
    "null": lambda value: value is None,
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "number": lambda value: isinstance(value, (int, float)) and not isinstance(value, bool),
    "integer": lambda value: (isinstance(value, int) and not isinstance(value, bool))
    or (isinstance(value, float) and value.is_integer()),
}
