"""/v1/chat/completions and /v1/completions through the official OpenAI SDK."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest
from http_runtime import HttpRuntime

HELLO = [{"role": "user", "content": "Tell me about the fox and the dog."}]
# Long enough for the prompt cache (min_prefix_tokens) to reuse it.
LONG = [{"role": "system", "content": "You are a helpful assistant who answers briefly. " * 4},
        {"role": "user", "content": "Name a colour."}]


def test_chat_answers_with_text_and_usage(oai: openai.OpenAI) -> None:
    reply = oai.chat.completions.create(model="tiny", messages=HELLO, max_tokens=6,
                                        temperature=0)
    choice = reply.choices[0]
    assert reply.object == "chat.completion" and reply.model == "tiny"
    assert choice.message.role == "assistant" and isinstance(choice.message.content, str)
    assert choice.finish_reason in ("length", "stop")
    assert reply.usage is not None and reply.usage.prompt_tokens > 0
    assert 1 <= reply.usage.completion_tokens <= 6
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_stream_matches_the_whole_answer_and_reports_usage(oai: openai.OpenAI) -> None:
    whole = oai.chat.completions.create(model="tiny", messages=HELLO, max_tokens=12,
                                        temperature=0)
    chunks = list(oai.chat.completions.create(
        model="tiny", messages=HELLO, max_tokens=12, temperature=0, stream=True,
        stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == whole.choices[0].finish_reason and set(finishes[:-1]) == {None}
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_repeated_prompt_reports_cached_tokens(oai: openai.OpenAI) -> None:
    first = oai.chat.completions.create(model="tiny", messages=LONG, max_tokens=2)
    second = oai.chat.completions.create(model="tiny", messages=LONG, max_tokens=2)
    assert first.usage.prompt_tokens == second.usage.prompt_tokens
    details = second.usage.prompt_tokens_details
    assert details is not None and 0 < details.cached_tokens < second.usage.prompt_tokens


def test_sampling_params_and_stop(oai: openai.OpenAI) -> None:
    base = oai.chat.completions.create(model="tiny", messages=HELLO, max_tokens=8,
                                       temperature=0)
    text = base.choices[0].message.content
    assert len(text) > 2
    stop = text[1:3]
    cut = oai.chat.completions.create(model="tiny", messages=HELLO, max_tokens=8,
                                      temperature=0, stop=[stop])
    assert stop not in cut.choices[0].message.content
    assert cut.choices[0].finish_reason == "stop"
    seeded = [oai.chat.completions.create(
        model="tiny", messages=HELLO, max_completion_tokens=8, temperature=1.0, top_p=0.9,
        seed=7, presence_penalty=0.5, frequency_penalty=0.5).choices[0].message.content
        for _ in range(2)]
    assert seeded[0] == seeded[1]


def test_logprobs_of_the_sampled_tokens(oai: openai.OpenAI) -> None:
    reply = oai.chat.completions.create(model="tiny", messages=HELLO, max_tokens=5,
                                        temperature=0, logprobs=True)
    content = reply.choices[0].logprobs.content
    assert len(content) == reply.usage.completion_tokens
    assert all(entry.logprob <= 0 for entry in content)


def test_json_schema_response_format_is_enforced(oai: openai.OpenAI) -> None:
    schema = {"type": "object", "properties": {"colour": {"enum": ["red", "green"]}},
              "required": ["colour"], "additionalProperties": False}
    reply = oai.chat.completions.create(
        model="tiny", messages=HELLO, max_tokens=40,
        response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": schema}})
    assert json.loads(reply.choices[0].message.content)["colour"] in ("red", "green")


def test_json_object_response_format_starts_an_object(oai: openai.OpenAI) -> None:
    reply = oai.chat.completions.create(model="tiny", messages=HELLO, max_tokens=30,
                                        response_format={"type": "json_object"})
    content = reply.choices[0].message.content
    assert content.lstrip().startswith("{")
    if reply.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(content), dict)


def test_completions_endpoint(oai: openai.OpenAI) -> None:
    whole = oai.completions.create(model="tiny", prompt="The fox", max_tokens=6, temperature=0)
    assert whole.object == "text_completion" and whole.usage.completion_tokens <= 6
    parts = list(oai.completions.create(model="tiny", prompt="The fox", max_tokens=6,
                                        temperature=0, stream=True))
    assert "".join(p.choices[0].text for p in parts if p.choices) == whole.choices[0].text
    assert parts[-1].choices[0].finish_reason == whole.choices[0].finish_reason


def test_models_are_listed(oai: openai.OpenAI) -> None:
    assert [m.id for m in oai.models.list()] == ["tiny"]
    assert oai.models.retrieve("tiny").id == "tiny"
    with pytest.raises(openai.NotFoundError):
        oai.models.retrieve("nope")


def test_sixteen_concurrent_streams(server: HttpRuntime) -> None:
    client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0)

    async def one(index: int) -> tuple[str, int]:
        stream = await client.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": f"Story number {index}"}],
            max_tokens=10, temperature=0, stream=True, stream_options={"include_usage": True})
        text, used = "", 0
        async for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
            if chunk.usage:
                used = chunk.usage.completion_tokens
        return text, used

    async def run() -> list[tuple[str, int]]:
        try:
            return await asyncio.gather(*(one(i) for i in range(16)))
        finally:
            await client.close()

    results = asyncio.run(run())
    assert len(results) == 16 and all(1 <= used <= 10 for _, used in results)
    assert len({text for text, _ in results}) > 1  # different prompts, different answers
    server.wait_idle()
