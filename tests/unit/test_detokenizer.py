"""Streamed text is exactly the tokenizer's decode of all tokens."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from mlx_serving.engine.detokenizer import IncrementalDetokenizer


@pytest.fixture(scope="module")
def tokenizer(models: Path) -> Tokenizer:
    return Tokenizer.from_file(str(models / "tiny" / "tokenizer.json"))


def _stream(tokenizer: Tokenizer, ids: list[int]) -> list[str]:
    detokenizer = IncrementalDetokenizer(lambda window: tokenizer.decode(window, skip_special_tokens=False))
    pieces = [detokenizer.add(token) for token in ids]
    return [*pieces, detokenizer.flush()]


@pytest.mark.parametrize("text", [
    " The fox runs.", "  two leading spaces", "café, naïve, 東京, 🦊🦊 and done",
    "line one\nline two\n\n", "<|im_start|>user\nhi<|im_end|>",
])
def test_streamed_text_equals_decode(tokenizer: Tokenizer, text: str) -> None:
    ids = tokenizer.encode(text, add_special_tokens=False).ids
    assert "".join(_stream(tokenizer, ids)) == text


def test_no_piece_splits_a_character(tokenizer: Tokenizer) -> None:
    ids = tokenizer.encode("🦊東", add_special_tokens=False).ids
    assert len(ids) > 2  # byte-level: several tokens per character
    assert all("\ufffd" not in piece for piece in _stream(tokenizer, ids))


def test_random_texts(tokenizer: Tokenizer) -> None:
    rng = random.Random(1)
    alphabet = "ab cdé東🦊\n.,"
    for _ in range(200):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        assert "".join(_stream(tokenizer, ids)) == text


def test_an_alternative_reads_as_it_would_release(tokenizer: Tokenizer) -> None:
    """texts_of (top_logprobs' text) before a token is what adding it releases,
    or, while a character is incomplete, the part so far ending in U+FFFD."""
    ids = tokenizer.encode(" The fox 🦊 runs to 東京.", add_special_tokens=False).ids
    detokenizer = IncrementalDetokenizer(lambda window: tokenizer.decode(window, skip_special_tokens=False))
    held = 0
    for token in ids:
        (peek,) = detokenizer.texts_of([token])
        released = detokenizer.add(token)
        assert peek == released or (released == "" and peek.endswith("\ufffd"))
        held += released == ""
    assert held > 0  # the emoji and the kanji span several tokens
    assert detokenizer.texts_of([ids[1], ids[2]]) == [tokenizer.decode([ids[1]]), tokenizer.decode([ids[2]])]
