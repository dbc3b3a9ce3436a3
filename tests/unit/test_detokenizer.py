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
