"""From a request's `guidance` to a compiled grammar, before the stream is accepted.

Runs where generate requests are validated (the reader thread), so a bad
schema is answered at once with GUIDANCE_INVALID and the engine thread never
waits on a compile. Grammars are cached by (backend, mode, canonical hash of
the constraint, tokenizer): a repeated schema costs a dictionary lookup.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from msgspec import UNSET

from ..api.errors import ErrorCode, RpcError
from ..api.messages import Guidance, JsonSchemaGuidance, RegexGuidance
from ..config import GuidanceConfig
from .backend import Grammar, backend_named
from .cache import LruCache
from .dtd import dtd_rules
from .errors import GrammarError
from .json_schema import check_schema
from .processor import GuidedDecoding
from .regex import ascii_classes
from .rules import Pattern, Rules
from .xsd import is_xsd, xsd_rules

if TYPE_CHECKING:
    from ..engine.models import LoadedModel

_TOKENIZERS_KEPT = 8


@dataclass(frozen=True)
class CompiledGuidance:
    """A compiled grammar for one model; shared, immutable."""

    grammar: Grammar
    vocab_size: int
    eos_ids: frozenset[int]
    spec: Guidance  # as the request gave it: the ranks of a sharded model compile it too

    def start(self, stop_token_ids: list[int]) -> GuidedDecoding:
        """A fresh matcher for one stream, as its logits processor."""
        return GuidedDecoding(self.grammar.matcher(), self.vocab_size,
                              self.eos_ids | frozenset(stop_token_ids))


class GuidanceCompiler:
    def __init__(self, config: GuidanceConfig) -> None:
        self.backend = backend_named(config.backend)
        self._grammars: LruCache[Grammar] = LruCache(config.cache_size)
        self._vocabularies: LruCache[Any] = LruCache(_TOKENIZERS_KEPT)

    def compile(self, model: LoadedModel, guidance: Guidance) -> CompiledGuidance:
        """Raises RpcError: GUIDANCE_INVALID naming the problem, or UNSUPPORTED
        for a model that cannot take guidance."""
        model.require_text("structured output (guidance)")
        mode = _mode(guidance)
        digest = hashlib.sha256(msgspec.json.encode(guidance, order="sorted")).hexdigest()
        key = (self.backend.name, mode, digest, _tokenizer_key(model))
        grammar = self._grammars.get(key)
        if grammar is None:
            vocabulary = self.vocabulary(model)
            try:
                grammar = self._compile(guidance, vocabulary)
            except GrammarError as exc:
                raise RpcError(ErrorCode.GUIDANCE_INVALID, f"invalid guidance ({mode}): {exc}",
                               mode=mode, backend=self.backend.name) from None
            self._grammars.put(key, grammar)
        return CompiledGuidance(grammar, model.vocab_size,
                                frozenset(model.tokenizer.eos_token_ids), guidance)

    def _compile(self, guidance: Guidance, vocabulary: Any) -> Grammar:
        if isinstance(guidance, JsonSchemaGuidance):
            check_schema(guidance.schema)
            return self.backend.json_schema(guidance.schema, vocabulary)
        if isinstance(guidance, RegexGuidance):
            pattern = Pattern(ascii_classes(guidance.pattern))
            rules = Rules(start="pattern", rules={"pattern": pattern})
        else:
            root = None if guidance.root is UNSET else guidance.root
            bound = None if guidance.max_text_length is UNSET else guidance.max_text_length
            to_rules = xsd_rules if is_xsd(guidance.schema) else dtd_rules
            rules = to_rules(guidance.schema, root, bound)
        return self.backend.rules(rules, vocabulary)

    def vocabulary(self, model: LoadedModel) -> Any:
        """The backend's view of the model's tokenizer: built once per tokenizer."""
        key = _tokenizer_key(model)
        vocabulary = self._vocabularies.get(key)
        if vocabulary is None:
            tokenizer = getattr(model.tokenizer, "_tokenizer", model.tokenizer)
            try:
                vocabulary = self.backend.vocabulary(tokenizer, model.vocab_size,
                                                     sorted(model.tokenizer.eos_token_ids))
            except ValueError as exc:
                raise RpcError(ErrorCode.UNSUPPORTED,
                               f"guidance cannot read the tokenizer of {model.model_id!r}: {exc}",
                               model=model.model_id, param="guidance") from None
            self._vocabularies.put(key, vocabulary)
        return vocabulary


def _tokenizer_key(model: LoadedModel) -> tuple[str, int]:
    return (model.path, model.vocab_size)


def _mode(guidance: Guidance) -> str:
    return type(guidance).__struct_config__.tag
