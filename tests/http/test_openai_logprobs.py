"""logprobs and top_logprobs through the official OpenAI SDK: chat completions
(`logprobs.content[i].top_logprobs`) and completions (the legacy shape),
whole and streamed."""

from __future__ import annotations

import math

import openai
import pytest

HELLO = [{"role": "user", "content": "Tell me about the fox and the dog."}]
PROMPT = "The little fox"
# Greedy, with a penalty so the random tiny model writes varied tokens: the
# chosen token is then the top of the (penalized) row it was sampled from.
GREEDY = {"temperature": 0, "extra_body": {"repetition_penalty": 1.5}}


def check_alternatives(token: str, logprob: float, top: list, k: int, greedy: bool) -> None:
    values = [alternative.logprob for alternative in top]
    assert len(top) == k and values == sorted(values, reverse=True)
    assert all(v <= 0 for v in values) and logprob <= 0
    assert sum(math.exp(v) for v in values) <= 1 + 1e-5
    for alternative in top:
        assert alternative.bytes == list(alternative.token.encode())
    if greedy:
        assert top[0].logprob == pytest.approx(logprob, abs=1e-5)
        if token:  # its text released with it (none was held back)
            assert top[0].token == token


def test_chat_top_logprobs(oai: openai.OpenAI) -> None:
    reply = oai.chat.completions.create(model="tiny", messages=HELLO, max_tokens=10,
                                        logprobs=True, top_logprobs=5, **GREEDY)
    content = reply.choices[0].logprobs.content
    assert len(content) == reply.usage.completion_tokens
    assert "".join(entry.token for entry in content) == reply.choices[0].message.content
    for entry in content:
        assert entry.bytes == list(entry.token.encode())
        check_alternatives(entry.token, entry.logprob, entry.top_logprobs, 5, greedy=True)


def test_chat_stream_matches_the_whole_reply(oai: openai.OpenAI) -> None:
    whole = oai.chat.completions.create(model="tiny", messages=HELLO, max_tokens=10,
                                        logprobs=True, top_logprobs=3, **GREEDY)
    chunks = list(oai.chat.completions.create(model="tiny", messages=HELLO, max_tokens=10,
                                              logprobs=True, top_logprobs=3, stream=True,
                                              **GREEDY))
    streamed = [entry for chunk in chunks if chunk.choices and chunk.choices[0].logprobs
                for entry in chunk.choices[0].logprobs.content]
    expected = whole.choices[0].logprobs.content
    assert [e.token for e in streamed] == [e.token for e in expected]
    for a, b in zip(streamed, expected, strict=True):
        assert [x.token for x in a.top_logprobs] == [x.token for x in b.top_logprobs]
        assert a.logprob == pytest.approx(b.logprob, abs=1e-5)


def test_sampled_chat_reports_the_same_distribution(oai: openai.OpenAI) -> None:
    reply = oai.chat.completions.create(model="tiny", messages=HELLO, max_tokens=8,
                                        temperature=1.2, seed=5, logprobs=True, top_logprobs=4)
    for entry in reply.choices[0].logprobs.content:
        check_alternatives(entry.token, entry.logprob, entry.top_logprobs, 4, greedy=False)


def test_logprobs_alone_have_no_alternatives(oai: openai.OpenAI) -> None:
    reply = oai.chat.completions.create(model="tiny", messages=HELLO, max_tokens=3,
                                        logprobs=True, top_logprobs=0, temperature=0)
    assert all(entry.top_logprobs == [] for entry in reply.choices[0].logprobs.content)
    plain = oai.chat.completions.create(model="tiny", messages=HELLO, max_tokens=3)
    assert plain.choices[0].logprobs is None


@pytest.mark.parametrize(("extra", "why"), [
    ({"logprobs": True, "top_logprobs": 21}, "<= 20"),
    ({"logprobs": True, "top_logprobs": -1}, ">= 0"),
    ({"top_logprobs": 3}, "needs logprobs"),
])
def test_bad_top_logprobs_are_refused(oai: openai.OpenAI, extra: dict, why: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model="tiny", messages=HELLO, max_tokens=2, **extra)
    assert caught.value.status_code == 400 and caught.value.body["param"] == "top_logprobs"
    assert why in caught.value.body["message"]


def test_completion_logprobs(oai: openai.OpenAI) -> None:
    reply = oai.completions.create(model="tiny", prompt=PROMPT, max_tokens=10, logprobs=3,
                                   **GREEDY)
    choice = reply.choices[0]
    logprobs = choice.logprobs
    assert logprobs is not None and len(logprobs.tokens) == reply.usage.completion_tokens
    assert "".join(logprobs.tokens) == choice.text
    assert logprobs.text_offset == [sum(map(len, logprobs.tokens[:i]))
                                    for i in range(len(logprobs.tokens))]
    for token, logprob, top in zip(logprobs.tokens, logprobs.token_logprobs,
                                   logprobs.top_logprobs, strict=True):
        # The three alternatives and the sampled token, which greedy ranks first.
        assert 3 <= len(top) <= 4 and logprob <= 0 and all(v <= 0 for v in top.values())
        assert sum(math.exp(v) for v in top.values()) <= 1 + 1e-5
        assert logprob == pytest.approx(max(top.values()), abs=1e-5)
        assert top[token] == pytest.approx(logprob, abs=1e-5)


def test_completion_stream_logprobs(oai: openai.OpenAI) -> None:
    whole = oai.completions.create(model="tiny", prompt=PROMPT, max_tokens=10, logprobs=2,
                                   **GREEDY)
    chunks = list(oai.completions.create(model="tiny", prompt=PROMPT, max_tokens=10,
                                         logprobs=2, stream=True, **GREEDY))
    parts = [chunk.choices[0].logprobs for chunk in chunks if chunk.choices[0].logprobs]
    tokens = [token for part in parts for token in part.tokens]
    offsets = [offset for part in parts for offset in part.text_offset]
    expected = whole.choices[0].logprobs
    assert tokens == expected.tokens and offsets == expected.text_offset
    assert [len(top) for part in parts for top in part.top_logprobs] == \
        [len(top) for top in expected.top_logprobs]
    assert "".join(chunk.choices[0].text for chunk in chunks) == whole.choices[0].text


def test_completion_without_logprobs(oai: openai.OpenAI) -> None:
    reply = oai.completions.create(model="tiny", prompt=PROMPT, max_tokens=3)
    assert reply.choices[0].logprobs is None
    with pytest.raises(openai.BadRequestError) as caught:
        oai.completions.create(model="tiny", prompt=PROMPT, max_tokens=2, logprobs=21)
    assert caught.value.body["param"] == "logprobs" and "0 to 20" in caught.value.body["message"]
