"""Incremental detokenization: the text of a growing token sequence.

Each token decodes a short window (the tokens since the last release, plus
the ones before them for context) with the tokenizer's own decoder, so the
streamed text is exactly `tokenizer.decode(all tokens)` for every tokenizer
family (byte-level BPE, SentencePiece, byte fallback), with no space lost at
the start and no broken UTF-8 in the middle. Through the Rust decoder of a
fast tokenizer this costs about 1.5 us a token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Decode = Callable[[list[int]], str]


def decoder_of(tokenizer: Any) -> Decode:
    """The cheapest exact decode function of an mlx-lm TokenizerWrapper."""
    hf = getattr(tokenizer, "_tokenizer", tokenizer)
    backend = getattr(hf, "backend_tokenizer", None)
    if backend is not None:
        return lambda ids: backend.decode(ids, skip_special_tokens=False)
    return lambda ids: hf.decode(ids, skip_special_tokens=False)


class IncrementalDetokenizer:
    def __init__(self, decode: Decode) -> None:
        self._decode = decode
        self._tokens: list[int] = []
        self._prefix = 0  # window start: context for the decoder
        self._read = 0  # tokens before this are released

    def add(self, token: int) -> str:
        """Text this token releases ("" while a character is incomplete)."""
        self._tokens.append(token)
        prefix_text = self._decode(self._tokens[self._prefix:self._read])
        text = self._decode(self._tokens[self._prefix:])
        if len(text) <= len(prefix_text) or text.endswith("\ufffd"):
            return ""
        self._prefix, self._read = self._read, len(self._tokens)
        return text[len(prefix_text):]

    def texts_of(self, tokens: list[int]) -> list[str]:
        """The text each of `tokens` would release next, were it the one sampled
        (held-back bytes it completes included; a character it leaves incomplete
        shows as U+FFFD): the alternatives' text, decoded in context so that a
        SentencePiece token keeps its leading space."""
        window = self._tokens[self._prefix:]
        prefix_text = self._decode(self._tokens[self._prefix:self._read])
        return [self._decode([*window, token])[len(prefix_text):] for token in tokens]

    def flush(self) -> str:
        """Whatever is still held back, decoded as it is."""
        prefix_text = self._decode(self._tokens[self._prefix:self._read])
        text = self._decode(self._tokens[self._prefix:])
        self._prefix = self._read = len(self._tokens)
        return text[len(prefix_text):]
