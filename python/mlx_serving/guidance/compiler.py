"""From a request's `guidance` to a compiled grammar, before the stream is accepted.

A cached grammar is a dictionary lookup, done where the request is read; a
compile runs on a worker (service/generation.py asks `is_cached` first), so
neither the reader nor the engine thread ever waits on one. Grammars are
cached by (backend, mode, canonical hash of the constraint, tokenizer).

What a compile may cost is bounded: guidance past `max_guidance_bytes` is
refused unread, DTD/XSD conversion caps what it writes out, llguidance caps
its own lexer and parser work, and a compile still running after
`compile_timeout_s` is answered GUIDANCE_INVALID. A grammar that can produce nothing (an empty
character class, a $ref to itself) or never finish (an element that must
contain itself) is refused with GUIDANCE_INVALID before the stream starts,
never run to a silent empty `stop`.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np
from msgspec import UNSET

from ..api.errors import ErrorCode, ServingError
from ..api.messages import Guidance, JsonSchemaGuidance, RegexGuidance
from ..config import GuidanceConfig
from .backend import Grammar, backend_named
from .cache import LruCache
from .dtd import dtd_rules
from .errors import GrammarError
from .json_schema import check_schema
from .processor import GuidedDecoding, Thinking
from .regex import ascii_classes
from .rules import Pattern, Rules, check_way_out
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
    thinking: Thinking | None = None  # a reasoning model: the grammar applies after it

    def start(self, stop_token_ids: list[int], prompt: list[int] | None = None) -> GuidedDecoding:
        """A fresh matcher for one stream, as its logits processor."""
        thinking = self.thinking
        return GuidedDecoding(self.grammar.matcher(), self.vocab_size,
                              self.eos_ids | frozenset(stop_token_ids), thinking,
                              thinking is not None and prompt is not None
                              and thinking.open_in(prompt))


class GuidanceCompiler:
    def __init__(self, config: GuidanceConfig) -> None:
        self.backend = backend_named(config.backend)
        self._max_bytes = config.max_guidance_bytes
        self._timeout_s = config.compile_timeout_s
        # Compiles run here so that one past its time can be given up (a
        # thread cannot be stopped: it finishes in the background, bounded
        # by the backend's own limits, and its grammar is dropped).
        self._compiles = ThreadPoolExecutor(max_workers=2, thread_name_prefix="compile")
        self._grammars: LruCache[Grammar] = LruCache(config.cache_size)
        self._vocabularies: LruCache[Any] = LruCache(_TOKENIZERS_KEPT)

    def compile(self, model: LoadedModel, guidance: Guidance) -> CompiledGuidance:
        """Raises ServingError: GUIDANCE_INVALID naming the problem, or UNSUPPORTED
        for a model that cannot take guidance."""
        model.require_text("structured output (guidance)")
        mode = _mode(guidance)
        key = self._key(model, guidance)
        grammar = self._grammars.get(key)
        eos_ids = frozenset(model.tokenizer.eos_token_ids)
        if grammar is None:
            vocabulary = self.vocabulary(model)
            compiling = self._compiles.submit(self._checked_compile, guidance, vocabulary,
                                              model.vocab_size, eos_ids)
            try:
                grammar = compiling.result(timeout=self._timeout_s)
            except TimeoutError:
                raise ServingError(ErrorCode.GUIDANCE_INVALID,
                                   f"invalid guidance ({mode}): compiling it took longer than "
                                   f"{self._timeout_s:g} s (guidance.compile_timeout_s)",
                                   mode=mode, backend=self.backend.name) from None
            except GrammarError as exc:
                raise ServingError(ErrorCode.GUIDANCE_INVALID, f"invalid guidance ({mode}): {exc}",
                                   mode=mode, backend=self.backend.name) from None
            except RecursionError:
                raise ServingError(ErrorCode.GUIDANCE_INVALID,
                                   f"invalid guidance ({mode}): nested too deeply to compile",
                                   mode=mode, backend=self.backend.name) from None
            self._grammars.put(key, grammar)
        return CompiledGuidance(grammar, model.vocab_size, eos_ids, guidance,
                                _thinking_of(model.tokenizer))

    def is_cached(self, model: LoadedModel, guidance: Guidance) -> bool:
        """Whether compile() is a lookup (else it compiles: run it on a worker).
        Raises GUIDANCE_INVALID for guidance over max_guidance_bytes."""
        return self._grammars.get(self._key(model, guidance)) is not None

    def _key(self, model: LoadedModel, guidance: Guidance) -> tuple[str, str, str, Any]:
        encoded = msgspec.json.encode(guidance, order="sorted")
        mode = _mode(guidance)
        if len(encoded) > self._max_bytes:
            raise ServingError(ErrorCode.GUIDANCE_INVALID,
                               f"invalid guidance ({mode}): {len(encoded)} bytes is over the limit "
                               f"of {self._max_bytes} (guidance.max_guidance_bytes)",
                               mode=mode, backend=self.backend.name)
        return (self.backend.name, mode, hashlib.sha256(encoded).hexdigest(),
                _tokenizer_key(model))

    def _checked_compile(self, guidance: Guidance, vocabulary: Any, vocab_size: int,
                         eos_ids: frozenset[int]) -> Grammar:
        grammar = self._compile(guidance, vocabulary)
        _check_output_possible(grammar, vocab_size, eos_ids)
        return grammar

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
        check_way_out(rules)
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
                raise ServingError(ErrorCode.UNSUPPORTED,
                                   f"guidance cannot read the tokenizer of {model.model_id!r}: {exc}",
                                   model=model.model_id, param="guidance") from None
            self._vocabularies.put(key, vocabulary)
        return vocabulary


def _thinking_of(tokenizer: Any) -> Thinking | None:
    """mlx-lm's thinking markers of the model family, when each is one token."""
    if not getattr(tokenizer, "has_thinking", False):
        return None
    try:
        start, end = tokenizer.think_start_id, tokenizer.think_end_id
    except ValueError:  # a marker of several tokens: not handled, the grammar starts at once
        return None
    return None if start is None or end is None else Thinking(start, end)


def _tokenizer_key(model: LoadedModel) -> tuple[str, int]:
    return (model.path, model.vocab_size)


def _mode(guidance: Guidance) -> str:
    return str(type(guidance).__struct_config__.tag)


def _check_output_possible(grammar: Grammar, vocab_size: int, eos_ids: frozenset[int]) -> None:
    """GrammarError when a fresh matcher allows no token but an end, and no
    end is valid yet: the grammar accepts no output at all."""
    matcher = grammar.matcher()
    words = np.zeros((vocab_size + 31) // 32, dtype=np.int32)
    matcher.fill_bitmask(words)
    allowed = np.unpackbits(words.view(np.uint8), bitorder="little")[:vocab_size]
    allowed[[token for token in eos_ids if 0 <= token < vocab_size]] = 0
    if not allowed.any() and not matcher.is_accepting():
        raise GrammarError("the grammar accepts no output at all (an empty character class, a "
                           "$ref that only refers to itself, ...)")
