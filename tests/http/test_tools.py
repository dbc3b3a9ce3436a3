"""Tool calling through both SDKs: every tool_choice, streamed arguments and
a two-turn loop that sends the tool's result back."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"enum": ["Paris", "Rome"]}},
                   "required": ["city"], "additionalProperties": False}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "description": "The time in a zone.",
    "parameters": {"type": "object", "properties": {"zone": {"enum": ["UTC", "CET"]}},
                   "required": ["zone"], "additionalProperties": False}}}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


def _args(call: object) -> dict:
    return json.loads(call.function.arguments)  # type: ignore[attr-defined]


def test_required_calls_one_of_the_tools(oai: openai.OpenAI) -> None:
    reply = oai.chat.completions.create(model="tiny", messages=ASK, tools=[WEATHER, TIME],
                                        tool_choice="required", max_tokens=60)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name in ("get_weather", "get_time")
    arguments = _args(call)
    assert arguments in ({"city": "Paris"}, {"city": "Rome"}, {"zone": "UTC"}, {"zone": "CET"})
    key = "city" if call.function.name == "get_weather" else "zone"
    assert list(arguments) == [key]


def test_named_choice_calls_that_function(oai: openai.OpenAI) -> None:
    reply = oai.chat.completions.create(
        model="tiny", messages=ASK, tools=[WEATHER, TIME], max_tokens=60,
        tool_choice={"type": "function", "function": {"name": "get_time"}})
    (call,) = reply.choices[0].message.tool_calls
    assert call.function.name == "get_time" and _args(call)["zone"] in ("UTC", "CET")


def test_named_choice_streams_its_arguments(oai: openai.OpenAI) -> None:
    chunks = list(oai.chat.completions.create(
        model="tiny", messages=ASK, tools=[WEATHER], max_tokens=60, stream=True,
        tool_choice={"type": "function", "function": {"name": "get_weather"}}))
    deltas = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or []]
    # The call opens first (id and name), its arguments follow as they are generated.
    assert deltas[0].function.name == "get_weather" and deltas[0].id
    assert deltas[0].function.arguments == "" and len(deltas) >= 2
    arguments = "".join(d.function.arguments or "" for d in deltas)
    assert json.loads(arguments)["city"] in ("Paris", "Rome")
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_none_and_auto_answer_in_text(oai: openai.OpenAI) -> None:
    for choice in ("none", "auto"):
        # The tiny model's family writes no tool calls: text it is.
        reply = oai.chat.completions.create(model="tiny", messages=ASK, tools=[WEATHER],
                                            tool_choice=choice, max_tokens=5)
        assert reply.choices[0].message.tool_calls is None
        assert reply.choices[0].finish_reason in ("stop", "length")


def test_unknown_named_tool_is_a_bad_param(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(
            model="tiny", messages=ASK, tools=[WEATHER], max_tokens=5,
            tool_choice={"type": "function", "function": {"name": "nope"}})
    assert caught.value.body["param"] == "tool_choice"


def test_two_turn_tool_loop(oai: openai.OpenAI) -> None:
    first = oai.chat.completions.create(model="tiny", messages=ASK, tools=[WEATHER],
                                        tool_choice="required", max_tokens=60)
    call = first.choices[0].message.tool_calls[0]
    turns = [*ASK, first.choices[0].message.model_dump(exclude_none=True),
             {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 24 C"}]
    second = oai.chat.completions.create(model="tiny", messages=turns, tools=[WEATHER],
                                         tool_choice="none", max_tokens=8)
    assert isinstance(second.choices[0].message.content, str)
    # The call and its result went into the prompt.
    assert second.usage.prompt_tokens > first.usage.prompt_tokens + 5


ANTHROPIC_TOOLS = [{"name": t["function"]["name"], "description": t["function"]["description"],
                    "input_schema": t["function"]["parameters"]} for t in (WEATHER, TIME)]


def test_anthropic_any_and_named_tool_use(claude: anthropic.Anthropic) -> None:
    reply = claude.messages.create(model="tiny", max_tokens=60, messages=ASK,
                                   tools=ANTHROPIC_TOOLS, tool_choice={"type": "any"})
    assert reply.stop_reason == "tool_use"
    (use,) = [b for b in reply.content if b.type == "tool_use"]
    assert use.name in ("get_weather", "get_time") and isinstance(use.input, dict)
    named = claude.messages.create(model="tiny", max_tokens=60, messages=ASK,
                                   tools=ANTHROPIC_TOOLS,
                                   tool_choice={"type": "tool", "name": "get_weather"})
    (use,) = [b for b in named.content if b.type == "tool_use"]
    assert use.name == "get_weather" and use.input["city"] in ("Paris", "Rome")


def test_anthropic_streamed_tool_use_and_loop(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(model="tiny", max_tokens=60, messages=ASK,
                                tools=ANTHROPIC_TOOLS,
                                tool_choice={"type": "tool", "name": "get_time"}) as stream:
        message = stream.get_final_message()
    (use,) = [b for b in message.content if b.type == "tool_use"]
    assert use.name == "get_time" and use.input["zone"] in ("UTC", "CET")
    assert message.stop_reason == "tool_use"
    turns = [*ASK, {"role": "assistant", "content": [b.model_dump() for b in message.content]},
             {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                           "content": "12:00"}]}]
    second = claude.messages.create(model="tiny", max_tokens=8, messages=turns,
                                    tools=ANTHROPIC_TOOLS, tool_choice={"type": "none"})
    assert second.stop_reason in ("end_turn", "max_tokens")
    assert all(b.type == "text" for b in second.content)
    def prompt(usage: anthropic.types.Usage) -> int:  # cache reads are not input_tokens
        return usage.input_tokens + (usage.cache_read_input_tokens or 0)

    assert prompt(second.usage) > prompt(message.usage) + 3
