"""/v1/messages and /v1/messages/count_tokens through the official Anthropic SDK."""

from __future__ import annotations

import json

import anthropic
import pytest

ASK = [{"role": "user", "content": "Tell me about the fox and the dog."}]
# The SDK has no sampling arguments any more; the server still takes them.
GREEDY = {"temperature": 0}


def test_message_with_system_and_usage(claude: anthropic.Anthropic) -> None:
    reply = claude.messages.create(model="tiny", max_tokens=6, messages=ASK,
                                   system="Answer briefly.", extra_body=GREEDY)
    assert reply.type == "message" and reply.role == "assistant" and reply.model == "tiny"
    assert [b.type for b in reply.content] in (["text"], [])
    assert reply.stop_reason in ("end_turn", "max_tokens")
    assert 1 <= reply.usage.output_tokens <= 6 and reply.usage.input_tokens > 0
    plain = claude.messages.create(model="tiny", max_tokens=6, messages=ASK, extra_body=GREEDY)
    # The system prompt is part of the prompt.
    assert (reply.usage.input_tokens + (reply.usage.cache_read_input_tokens or 0)
            > plain.usage.input_tokens + (plain.usage.cache_read_input_tokens or 0))


def test_stream_events_and_text_match_the_whole_message(claude: anthropic.Anthropic) -> None:
    whole = claude.messages.create(model="tiny", max_tokens=10, messages=ASK, extra_body=GREEDY)
    with claude.messages.stream(model="tiny", max_tokens=10, messages=ASK,
                                extra_body=GREEDY) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "content_block_start" in kinds and "message_delta" in kinds
    text = "".join(b.text for b in final.content if b.type == "text")
    assert text == "".join(b.text for b in whole.content if b.type == "text")
    assert final.stop_reason == whole.stop_reason
    assert final.usage.output_tokens == whole.usage.output_tokens


def test_content_blocks_and_stop_sequences(claude: anthropic.Anthropic) -> None:
    blocks = [{"role": "user", "content": [{"type": "text", "text": "The fox"},
                                           {"type": "text", "text": "and the dog."}]}]
    base = claude.messages.create(model="tiny", max_tokens=8, messages=blocks, extra_body=GREEDY)
    text = base.content[0].text
    cut = claude.messages.create(model="tiny", max_tokens=8, messages=blocks, extra_body=GREEDY,
                                 stop_sequences=[text[1:3]])
    assert text[1:3] not in "".join(b.text for b in cut.content)
    assert (cut.stop_reason, cut.stop_sequence) == ("stop_sequence", text[1:3])
    assert (base.stop_reason, base.stop_sequence) in (("end_turn", None), ("max_tokens", None))
    with claude.messages.stream(model="tiny", max_tokens=8, messages=blocks, extra_body=GREEDY,
                                stop_sequences=["zzz", text[1:3]]) as stream:
        final = stream.get_final_message()
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", text[1:3])


def test_output_config_format_is_enforced(claude: anthropic.Anthropic) -> None:
    schema = {"type": "object", "properties": {"colour": {"enum": ["red", "green"]}},
              "required": ["colour"], "additionalProperties": False}
    reply = claude.messages.create(model="tiny", max_tokens=40, messages=ASK,
                                   output_config={"format": {"type": "json_schema",
                                                             "schema": schema}})
    assert json.loads(reply.content[0].text)["colour"] in ("red", "green")


def test_count_tokens_is_the_prompt_a_message_prefills(claude: anthropic.Anthropic) -> None:
    messages = [{"role": "user", "content": "Count these words for me please."}]
    counted = claude.messages.count_tokens(model="tiny", messages=messages, system="Be short.")
    reply = claude.messages.create(model="tiny", max_tokens=1, messages=messages,
                                   system="Be short.")
    used = reply.usage.input_tokens + (reply.usage.cache_read_input_tokens or 0)
    assert counted.input_tokens == used > 0


def test_errors_in_anthropics_envelope(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as missing:
        claude.messages.create(model="nope", max_tokens=4, messages=ASK)
    assert missing.value.body["type"] == "error"
    assert missing.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.BadRequestError) as bad:
        claude.messages.create(model="tiny", max_tokens=0, messages=ASK)
    assert bad.value.body["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in bad.value.body["error"]["message"]
