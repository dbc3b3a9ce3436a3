"""top_logprobs over stdio: each token's most likely alternatives, from the row
it was sampled from, on the solo path, in the batch, guided and not."""

from __future__ import annotations

import math

import pytest

from runtime_client import RuntimeClient

PROMPT = "The little fox"
# The penalty makes the random tiny model write varied tokens, and it shows
# which row is reported: a greedy pick is the top of the penalized row only.
VARIED = {"temperature": 0, "repetition_penalty": 1.5, "max_tokens": 12}


def run(client: RuntimeClient, **params) -> list[dict]:
    accepted = client.result("generate", {"model": "tiny", "prompt": PROMPT, **params})
    end = client.stream_end(accepted["stream_id"])
    assert end["method"] == "stream/end", end
    return client.stream_tokens(accepted["stream_id"])


def check_ranked(token: dict, k: int) -> None:
    """What holds for any token's alternatives: k of them, most likely first,
    log-probabilities of one distribution, the token's own among them when it ranks."""
    top = token["top_logprobs"]
    values = [alternative["logprob"] for alternative in top]
    assert len(top) == k and len({alternative["id"] for alternative in top}) == k
    assert values == sorted(values, reverse=True) and all(v <= 0 for v in values)
    assert sum(math.exp(v) for v in values) <= 1 + 1e-5
    assert token["logprob"] <= 0
    for alternative in top:
        if alternative["id"] == token["id"]:
            assert alternative["logprob"] == pytest.approx(token["logprob"], abs=1e-5)


def test_greedy_picks_the_top_alternative(shared_tiny: RuntimeClient) -> None:
    tokens = run(shared_tiny, top_logprobs=5, **VARIED)
    assert len(tokens) == 12
    for token in tokens:
        check_ranked(token, 5)
        best = token["top_logprobs"][0]
        assert best["id"] == token["id"] and best["logprob"] == pytest.approx(token["logprob"])
    # An alternative's text is the token's text at that position: for the
    # chosen token, what it released.
    released = [t for t in tokens if t["text"]]
    assert released and all(t["top_logprobs"][0]["text"] == t["text"] for t in released)
    ids = [alternative["id"] for alternative in tokens[0]["top_logprobs"]]
    texts = [shared_tiny.result("detokenize", {"model": "tiny", "tokens": [i]})["text"]
             for i in ids]
    assert [a["text"] for a in tokens[0]["top_logprobs"]] == texts


def test_temperature_does_not_move_the_figures(shared_tiny: RuntimeClient) -> None:
    """The first position's row is the same whatever the sampler does with it."""
    greedy = run(shared_tiny, top_logprobs=4, temperature=0, max_tokens=1)[0]
    sampled = run(shared_tiny, top_logprobs=4, temperature=1.5, top_k=3, seed=3, max_tokens=6)
    for token in sampled:
        check_ranked(token, 4)
    assert [a["id"] for a in sampled[0]["top_logprobs"]] == \
        [a["id"] for a in greedy["top_logprobs"]]
    for a, b in zip(sampled[0]["top_logprobs"], greedy["top_logprobs"], strict=True):
        assert a["logprob"] == pytest.approx(b["logprob"], abs=1e-5)


def test_the_batch_reports_what_a_lone_stream_does(shared_tiny: RuntimeClient) -> None:
    alone = run(shared_tiny, top_logprobs=3, **VARIED)
    started = [shared_tiny.result("generate", {"model": "tiny", "prompt": PROMPT,
                                               "top_logprobs": 3, **VARIED})["stream_id"]
               for _ in range(3)]
    for stream_id in started:
        shared_tiny.stream_end(stream_id)
        batched = shared_tiny.stream_tokens(stream_id)
        assert [t["id"] for t in batched] == [t["id"] for t in alone]
        for a, b in zip(batched, alone, strict=True):
            assert [x["id"] for x in a["top_logprobs"]] == [x["id"] for x in b["top_logprobs"]]
            for x, y in zip(a["top_logprobs"], b["top_logprobs"], strict=True):
                assert x["logprob"] == pytest.approx(y["logprob"], abs=1e-4)


def test_guidance_leaves_out_what_it_rules_out(shared_tiny: RuntimeClient) -> None:
    accepted = shared_tiny.result("generate", {
        "model": "tiny", "prompt": "x", "max_tokens": 20, "top_logprobs": 20,
        "guidance": {"mode": "regex", "pattern": "(yes|no)!"}})
    shared_tiny.stream_end(accepted["stream_id"])
    tokens = shared_tiny.stream_tokens(accepted["stream_id"])
    text = ""
    for token in tokens[:-1]:  # the last is the end of sequence, after the "!"
        top = token["top_logprobs"]
        assert 1 <= len(top) < 20
        assert all("yes!".startswith(text + a["text"]) or "no!".startswith(text + a["text"])
                   for a in top)
        assert sum(math.exp(a["logprob"]) for a in top) == pytest.approx(1.0, abs=1e-4)
        text += token["text"]
    assert text in ("yes!", "no!")


def test_the_whole_result_carries_its_tokens(shared_tiny: RuntimeClient) -> None:
    result = shared_tiny.result("generate", {"model": "tiny", "prompt": PROMPT, "stream": False,
                                             "topLogprobs": 2, **VARIED})
    tokens = result["tokens"]
    assert len(tokens) == 12 and "".join(t["text"] for t in tokens) == result["text"]
    for token in tokens:
        check_ranked(token, 2)
    plain = shared_tiny.result("generate", {"model": "tiny", "prompt": PROMPT, "stream": False,
                                            "max_tokens": 2})
    assert "tokens" not in plain


def test_none_unless_asked(shared_tiny: RuntimeClient) -> None:
    tokens = run(shared_tiny, logprobs=True, top_logprobs=0, max_tokens=3, temperature=0)
    assert all("logprob" in t and "top_logprobs" not in t for t in tokens)


@pytest.mark.parametrize("value", [21, -1, 2.5, "3"])
def test_out_of_range_is_refused(shared_tiny: RuntimeClient, value: object) -> None:
    error = shared_tiny.error("generate", {"model": "tiny", "prompt": PROMPT, "max_tokens": 2,
                                           "top_logprobs": value})
    assert error["code"] == -32602 and error["data"]["code"] == "INVALID_PARAMS"
    assert "top_logprobs" in error["message"]
    assert shared_tiny.result("generate", {"model": "tiny", "prompt": PROMPT, "max_tokens": 1,
                                           "streaming": False})["text"] is not None
