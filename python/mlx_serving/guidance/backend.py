"""What a guidance backend provides, and the backends by name.

A backend compiles a constraint once per tokenizer into a Grammar (immutable,
cached, shared by every stream that asks for it); each stream then takes its
own Matcher from it, which follows the tokens that stream samples.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from .rules import Rules


class Matcher(Protocol):
    """One stream's position in the grammar."""

    def consume(self, token: int) -> bool:
        """Advance past `token`; False when the grammar does not allow it."""
        ...

    def fill_bitmask(self, words: np.ndarray) -> None:
        """Write the tokens allowed next into `words` (int32, bit i of word
        i // 32 is token i); EOS is allowed where the output may end."""
        ...

    def is_accepting(self) -> bool:
        """Whether the text so far is a whole valid output."""
        ...

    def error(self) -> str:
        """Why the matcher cannot go on ("" when it can)."""
        ...


class Grammar(Protocol):
    def matcher(self) -> Matcher: ...


class Backend(Protocol):
    name: str

    def vocabulary(self, tokenizer: Any, vocab_size: int, eos_ids: list[int]) -> Any:
        """The backend's view of a model's tokenizer (costly: cache it).
        `tokenizer` is the Hugging Face tokenizer; raises ValueError when
        the backend cannot read it."""
        ...

    def json_schema(self, schema: dict[str, Any], vocabulary: Any) -> Grammar:
        """Raises GrammarError when the schema is malformed or not enforceable."""
        ...

    def rules(self, rules: Rules, vocabulary: Any) -> Grammar:
        """Raises GrammarError when the grammar is malformed or not expressible."""
        ...


def backend_named(name: str) -> Backend:
    if name == "llguidance":
        from .llguidance_backend import LlguidanceBackend

        return LlguidanceBackend()
    if name == "outlines-core":
        from .outlines_backend import OutlinesBackend

        return OutlinesBackend()
    raise ValueError(f"unknown guidance backend {name!r}")
