"""Stop strings on streamed text: the result never depends on how text is split."""

from __future__ import annotations

import random

import pytest

from mlx_serving.engine.stops import StopMatcher


def _run(stops: list[str], pieces: list[str]) -> tuple[str, bool]:
    matcher = StopMatcher(stops)
    out = []
    for piece in pieces:
        text, stopped = matcher.feed(piece)
        out.append(text)
        if stopped:
            return "".join(out), True
    return "".join(out) + matcher.flush(), False


def _reference(stops: list[str], text: str) -> tuple[str, bool]:
    """Character by character: cut before the first stop string to complete."""
    for end in range(1, len(text) + 1):
        for stop in sorted(stops, key=len, reverse=True):
            if text[:end].endswith(stop):
                return text[: end - len(stop)], True
    return text, False


@pytest.mark.parametrize("pieces", [["Hello wor", "ld STOP here"], ["Hello world S", "T", "OP"],
                                    ["Hello world STOP"], list("Hello world STOP")])
def test_stop_split_anywhere(pieces: list[str]) -> None:
    assert _run(["STOP"], pieces) == ("Hello world ", True)


def test_partial_stop_is_held_back_then_released() -> None:
    matcher = StopMatcher(["</end>"])
    assert matcher.feed("a </e") == ("a ", False)
    assert matcher.feed("xtra") == ("</extra", False)
    assert matcher.feed("</en") == ("", False)
    assert matcher.flush() == "</en"


def test_no_stops_passes_text_through() -> None:
    assert StopMatcher([]).feed("anything") == ("anything", False)


def test_random_splits_match_the_character_reference() -> None:
    rng = random.Random(0)
    alphabet = "ab c"
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        stops = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4)))
                 for _ in range(rng.randint(1, 3))]
        cuts = sorted(rng.sample(range(len(text) + 1), k=min(len(text) + 1, rng.randint(0, 6))))
        pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=False)]
        assert _run(stops, pieces) == _reference(stops, text), (stops, pieces)
