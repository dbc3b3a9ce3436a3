"""Structured output over stdio: every output the runtime calls complete is valid.

The tiny model has random weights, so whatever structure its outputs have
comes from the grammar mask alone. The corpus (tests/guidance_corpus.py) runs
as concurrent requests, so guided streams share batches.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from guidance_corpus import CASES, INVALID, Case
from runtime_client import RuntimeClient

GUIDANCE_INVALID = -32007
PERSON = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 4},
                                           "ok": {"type": "boolean"}},
          "required": ["name", "ok"], "additionalProperties": False}


def _generate(case: Case, seed: int) -> dict[str, Any]:
    return {"model": "tiny", "prompt": "Answer:", "max_tokens": case.max_tokens, "seed": seed,
            "temperature": 1.0, "stream": False, "guidance": case.guidance}


def _run_corpus(client: RuntimeClient, cases: list[Case], seeds: int
                ) -> list[tuple[Case, dict[str, Any]]]:
    """Every case with every seed, all sent at once; (case, response) pairs."""
    started = [(case, client.start("generate", _generate(case, seed)))
               for case in cases for seed in range(seeds)]
    return [(case, client.response(request_id, timeout=300)) for case, request_id in started]


def _check_results(results: list[tuple[Case, dict[str, Any]]]) -> None:
    complete: Counter[str] = Counter()
    runs: Counter[str] = Counter()
    for case, response in results:
        assert "result" in response, (case.name, response)
        result = response["result"]
        runs[case.name] += 1
        if result["guidance"]["complete"]:
            complete[case.name] += 1
            case.check(result["text"])  # complete means valid
        else:  # nothing cut the stream here but the token budget
            assert result["finish_reason"] == "length", (case.name, result)
        if result["finish_reason"] == "stop":  # the grammar ended it: EOS was allowed
            assert result["guidance"]["complete"], (case.name, result)
    # The grammar ends nearly every output within the budget (each case's
    # max_tokens is set for that); the few it does not are flagged, never
    # passed off as complete.
    assert sum(complete.values()) >= 0.95 * sum(runs.values()), dict(complete)
    short = {name: f"{complete[name]}/{runs[name]}" for name in runs
             if complete[name] < 0.8 * runs[name]}
    assert not short, f"cases completing under 80% of their runs: {short}"


@pytest.fixture(scope="module")
def outlines_tiny(models: Path, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[RuntimeClient]:
    config = tmp_path_factory.mktemp("config") / "runtime.yaml"
    config.write_text("guidance:\n  backend: outlines-core\n")
    client = RuntimeClient("--config", str(config))
    client.result("model/load", {"model": str(models / "tiny"), "model_id": "tiny"})
    yield client
    client.stop()
    client.assert_conforms()


def test_corpus_llguidance(shared_tiny: RuntimeClient) -> None:
    _check_results(_run_corpus(shared_tiny, CASES, seeds=20))


def test_corpus_outlines_core(outlines_tiny: RuntimeClient) -> None:
    refused = [case for case in CASES if case.outlines_refuses]
    for case in refused:  # refused up front, saying why, never generated loosely
        error = outlines_tiny.error("generate", _generate(case, seed=0))
        assert error["code"] == GUIDANCE_INVALID, (case.name, error)
        assert case.outlines_refuses in error["message"], (case.name, error["message"])
        assert error["data"]["backend"] == "outlines-core"
    supported = [case for case in CASES if not case.outlines_refuses]
    assert len(supported) >= 25
    _check_results(_run_corpus(outlines_tiny, supported, seeds=20))


def _assert_refuses_invalid(client: RuntimeClient, backend: str, streaming: bool) -> None:
    for guidance, named in INVALID:
        response = client.call("generate", {"model": "tiny", "prompt": "x",
                                            "streaming": streaming, "stream_id": "bad",
                                            "guidance": guidance})
        error = response.get("error")
        assert error and error["code"] == GUIDANCE_INVALID, (guidance, response)
        assert error["data"]["code"] == "GUIDANCE_INVALID"
        assert error["data"]["backend"] == backend
        assert named in error["message"], (named, error["message"])
    assert not client.stream_messages("bad")  # no stream was ever accepted
    # ... and the runtime keeps serving.
    result = client.result("generate", {"model": "tiny", "prompt": "x", "stream": False,
                                        "max_tokens": 40, "seed": 1,
                                        "guidance": {"mode": "json_schema", "schema": PERSON}})
    assert result["guidance"]["complete"]


@pytest.mark.parametrize("streaming", [False, True])
def test_bad_constraints_are_refused_up_front(shared_tiny: RuntimeClient, streaming: bool) -> None:
    _assert_refuses_invalid(shared_tiny, "llguidance", streaming)


def test_outlines_core_refuses_bad_constraints_up_front(outlines_tiny: RuntimeClient) -> None:
    _assert_refuses_invalid(outlines_tiny, "outlines-core", streaming=False)


def test_malformed_guidance_param_is_invalid_params(shared_tiny: RuntimeClient) -> None:
    for guidance in [{"mode": "yaml", "schema": "x"}, {"mode": "regex"},
                     {"mode": "json_schema", "schema": "not an object"},
                     {"mode": "regex", "pattern": "a", "extra": 1}]:
        error = shared_tiny.error("generate",
                                  {"model": "tiny", "prompt": "x", "guidance": guidance})
        assert error["data"]["code"] == "INVALID_PARAMS", (guidance, error)
        assert "guidance" in error["message"]


def test_streaming_guided_output(shared_tiny: RuntimeClient) -> None:
    text, end = shared_tiny.generate_stream({
        "model": "tiny", "prompt": "Who?", "max_tokens": 60, "seed": 4, "temperature": 1.0,
        "guidance": {"mode": "json_schema", "schema": PERSON}})
    assert end["method"] == "stream/end"
    assert end["params"]["finish_reason"] == "stop"
    assert end["params"]["guidance"] == {"complete": True}
    Case("person", {"mode": "json_schema", "schema": PERSON}).check(text)


def test_unguided_streams_carry_no_guidance_field(shared_tiny: RuntimeClient) -> None:
    _, end = shared_tiny.generate_stream({"model": "tiny", "prompt": "x", "max_tokens": 3})
    assert "guidance" not in end["params"]
    result = shared_tiny.result("generate", {"model": "tiny", "prompt": "x", "max_tokens": 3,
                                             "stream": False})
    assert "guidance" not in result


@pytest.mark.parametrize("streaming", [False, True])
def test_max_tokens_before_completion_is_flagged(shared_tiny: RuntimeClient,
                                                 streaming: bool) -> None:
    params = {"model": "tiny", "prompt": "x", "max_tokens": 4, "seed": 2,
              "guidance": {"mode": "json_schema", "schema": PERSON}}
    if streaming:
        text, end = shared_tiny.generate_stream(params)
        outcome = end["params"]
    else:
        outcome = shared_tiny.result("generate", {**params, "stream": False})
        text = outcome["text"]
    assert outcome["finish_reason"] == "length"
    assert outcome["guidance"] == {"complete": False}
    forced = '{"name":"'  # a prefix of valid output, flagged as cut
    assert text and (text.startswith(forced) or forced.startswith(text)), text


def test_stop_sequence_cut_is_flagged(shared_tiny: RuntimeClient) -> None:
    result = shared_tiny.result("generate", {
        "model": "tiny", "prompt": "x", "max_tokens": 20, "stream": False, "stop_sequences": ["b"],
        "guidance": {"mode": "regex", "pattern": "abab"}})
    assert result["text"] == "a" and result["finish_reason"] == "stop"
    assert result["guidance"] == {"complete": False}


def test_stop_token_id_cut_is_flagged(shared_tiny: RuntimeClient) -> None:
    tokenized = shared_tiny.result("tokenize", {"model": "tiny", "text": "q", "add_bos": False})
    (q,) = tokenized["tokens"]
    cut = shared_tiny.result("generate", {
        "model": "tiny", "prompt": "x", "max_tokens": 20, "stream": False, "stop_token_ids": [q],
        "guidance": {"mode": "regex", "pattern": "q"}})
    assert cut["text"] == "" and cut["finish_reason"] == "stop"
    assert cut["guidance"] == {"complete": False}
    # A stop token the grammar never allows changes nothing.
    whole = shared_tiny.result("generate", {
        "model": "tiny", "prompt": "x", "max_tokens": 20, "stream": False, "stop_token_ids": [q],
        "guidance": {"mode": "regex", "pattern": "xyz"}})
    assert whole["text"] == "xyz" and whole["guidance"] == {"complete": True}


def test_guidance_with_greedy_and_penalties(shared_tiny: RuntimeClient) -> None:
    result = shared_tiny.result("generate", {
        "model": "tiny", "prompt": "x", "max_tokens": 60, "stream": False, "temperature": 0,
        "repetition_penalty": 1.3, "logprobs": True,
        "guidance": {"mode": "json_schema", "schema": PERSON}})
    assert result["guidance"] == {"complete": True}
    Case("person", {"mode": "json_schema", "schema": PERSON}).check(result["text"])


def test_cancelled_guided_stream(shared_tiny: RuntimeClient) -> None:
    accepted = shared_tiny.result("generate", {
        "model": "tiny", "prompt": "x", "max_tokens": 100_000, "stream_id": "endless",
        "guidance": {"mode": "json_schema", "schema": {"type": "string"}}})
    shared_tiny.wait_for(lambda: shared_tiny.stream_tokens(accepted["stream_id"]))
    assert shared_tiny.result("generate/cancel", {"stream_id": "endless"})["cancelled"]
    end = shared_tiny.stream_end("endless")
    assert end["params"]["finish_reason"] == "cancelled"
    assert end["params"]["guidance"] == {"complete": False}
