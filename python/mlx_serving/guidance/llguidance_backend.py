"""The default backend: llguidance (a Rust Earley parser with a lazy lexer).

JSON Schemas compile with compact separators (no whitespace between tokens)
unless the schema's own `x-guidance` options say otherwise, and with exact
date/time formats (json_schema.py); keywords
llguidance does not implement (`not`, `if`/`then`, `uniqueItems`, ...) are
errors, never ignored. Grammars compile to a template matcher; each stream
gets a deep copy, which shares the compiled lexer and parser tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import GrammarError
from .json_schema import with_strict_formats
from .rules import Rules, to_lark

if TYPE_CHECKING:
    from llguidance import LLMatcher
    from llguidance._lib import JsonCompileOptions  # the stubs define it, the package does not export it

# Compact JSON; a schema's "x-guidance" object may still turn whitespace on.
_JSON_DEFAULTS: JsonCompileOptions = {"whitespace_flexible": False}


class LlguidanceMatcher:
    def __init__(self, matcher: LLMatcher) -> None:
        self._matcher = matcher

    def consume(self, token: int) -> bool:
        return self._matcher.consume_token(token)

    def fill_bitmask(self, words: np.ndarray) -> None:
        self._matcher.unsafe_compute_mask_ptr(words.ctypes.data, words.nbytes)

    def is_accepting(self) -> bool:
        return self._matcher.is_accepting()

    def error(self) -> str:
        return self._matcher.get_error()


class LlguidanceGrammar:
    def __init__(self, template: Any) -> None:
        self._template = template

    def matcher(self) -> LlguidanceMatcher:
        return LlguidanceMatcher(self._template.deep_copy())


class LlguidanceBackend:
    name = "llguidance"

    def vocabulary(self, tokenizer: Any, vocab_size: int, eos_ids: list[int]) -> Any:
        import llguidance.hf

        return llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab_size, eos_token=eos_ids)

    def json_schema(self, schema: dict[str, Any], vocabulary: Any) -> LlguidanceGrammar:
        from llguidance import LLMatcher

        try:
            grammar = LLMatcher.grammar_from_json_schema(with_strict_formats(schema),
                                                         defaults=_JSON_DEFAULTS)
        except ValueError as exc:
            raise GrammarError(str(exc)) from None
        return _compile(grammar, vocabulary)

    def rules(self, rules: Rules, vocabulary: Any) -> LlguidanceGrammar:
        from llguidance import LLMatcher

        return _compile(LLMatcher.grammar_from_lark(to_lark(rules)), vocabulary)


def _compile(grammar: str, vocabulary: Any) -> LlguidanceGrammar:
    from llguidance import LLMatcher

    template = LLMatcher(vocabulary, grammar, log_level=0)
    if template.is_error():
        raise GrammarError(template.get_error())
    return LlguidanceGrammar(template)
