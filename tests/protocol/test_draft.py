"""Draft models and speculative decoding over stdio.

Pairs used: tiny + tiny-draft (random weights: the draft is almost always
rejected), tiny + tiny-4bit (the target quantized: often accepted), tiny as
its own draft (always accepted) and demo + demo-draft (trained on the same
text: varied output, partial acceptance).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime_client import ROOT, RuntimeClient

PROMPT = "The little fox"
# Penalties make the random tiny model write varied tokens (greedy alone repeats one).
VARIED = {"temperature": 0, "repetition_penalty": 1.5, "max_tokens": 40}


@pytest.fixture(scope="module")
def client(shared_tiny: RuntimeClient) -> RuntimeClient:
    """The module's runtime with tiny loaded as "tiny"; tests attach and detach drafts."""
    return shared_tiny


@pytest.fixture
def drafted(client: RuntimeClient, models: Path) -> Iterator[RuntimeClient]:
    """tiny with tiny-4bit attached as its draft, detached afterwards."""
    client.result("model/loadDraft", {"model": "tiny", "draft_model": str(models / "tiny-4bit")})
    yield client
    client.call("model/unloadDraft", {"model": "tiny"})


def run(client: RuntimeClient, model: str = "tiny", **params) -> tuple[list[dict], dict]:
    """(tokens, stream/end params) of a streaming generation (greedy unless told)."""
    accepted = client.result("generate", {"model": model, "prompt": PROMPT, "temperature": 0,
                                          **params})
    end = client.stream_end(accepted["stream_id"])
    return client.stream_tokens(accepted["stream_id"]), end["params"]


def ids(tokens: list[dict]) -> list[int]:
    return [token["id"] for token in tokens]


def test_load_list_and_unload_a_draft(client: RuntimeClient, models: Path) -> None:
    path = str(models / "tiny-draft")
    loaded = client.result("model/loadDraft", {"model": "tiny", "draftModel": path})
    assert loaded["model_id"] == "tiny" and loaded["already_loaded"] is False
    assert loaded["draft"]["model"] == path and loaded["draft"]["parameters"] > 0
    again = client.result("model/loadDraft", {"model": "tiny", "draft_model": path})
    assert again["already_loaded"] is True
    assert client.result("model/list")["models"][0]["draft"] == loaded["draft"]
    assert client.result("runtime/info")["models"][0]["draft"] == loaded["draft"]
    unloaded = client.result("model/unloadDraft", {"model": "tiny"})
    assert unloaded["draft"] == loaded["draft"] and unloaded["continued_streams"] == 0
    assert client.result("model/list")["models"][0]["draft"] is None
    error = client.error("model/unloadDraft", {"model": "tiny"})
    assert error["code"] == -32019 and error["data"]["code"] == "DRAFT_NOT_LOADED"
    missing = client.error("model/loadDraft", {"model": "tiny", "draft_model": "/no/such/draft"})
    assert missing["data"]["code"] == "MODEL_NOT_FOUND"
    not_loaded = client.error("model/loadDraft", {"model": "nope", "draft_model": path})
    assert not_loaded["data"]["code"] == "MODEL_NOT_LOADED"


def _copy_with(source: Path, target: Path, edit) -> Path:
    shutil.copytree(source, target)
    edit(target)
    return target


def _swap_two_tokens(folder: Path) -> None:
    tokenizer = json.loads((folder / "tokenizer.json").read_text())
    vocab = tokenizer["model"]["vocab"]
    vocab["a"], vocab["b"] = vocab["b"], vocab["a"]
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer))


def _other_eos(folder: Path) -> None:
    config = json.loads((folder / "config.json").read_text())
    config["eos_token_id"] = [1]
    (folder / "config.json").write_text(json.dumps(config))


def test_compatibility_says_why_not(client: RuntimeClient, models: Path, tmp_path: Path) -> None:
    good = client.result("model/isDraftCompatible",
                         {"model": "tiny", "draft_model": str(models / "tiny-draft")})
    assert good == {"model_id": "tiny", "draft_model": str(models / "tiny-draft"),
                    "compatible": True, "reasons": []}

    swapped = _copy_with(models / "tiny-draft", tmp_path / "swapped", _swap_two_tokens)
    answer = client.result("model/isDraftCompatible", {"model": "tiny", "draft_model": str(swapped)})
    assert answer["compatible"] is False
    assert len(answer["reasons"]) == 1 and "2 tokens" in answer["reasons"][0]
    assert "another id" in answer["reasons"][0]

    other_eos = _copy_with(models / "tiny-draft", tmp_path / "eos", _other_eos)
    answer = client.result("model/isDraftCompatible",
                           {"model": "tiny", "draft_model": str(other_eos)})
    assert answer["compatible"] is False
    assert answer["reasons"] == ["the end-of-sequence token ids differ: [1, 4] in the target, "
                                 "[1] in the draft"]

    # Loading an incompatible draft fails, names the reasons and attaches nothing.
    error = client.error("model/loadDraft", {"model": "tiny", "draft_model": str(swapped)})
    assert error["code"] == -32015 and error["data"]["code"] == "DRAFT_INCOMPATIBLE"
    assert error["data"]["reasons"] and "another id" in error["message"]
    assert client.result("model/list")["models"][0]["draft"] is None
    tokens, end = run(client, max_tokens=3)
    assert end["finish_reason"] == "length" and len(tokens) == 3


def _edit_json(path: Path, edit) -> None:
    content = json.loads(path.read_text())
    edit(content)
    path.write_text(json.dumps(content))


def _other_bos(folder: Path) -> None:
    def edit(config: dict) -> None:
        config["bos_token"] = "<pad>"
        config["additional_special_tokens"].append("<s>")  # the same special tokens
    _edit_json(folder / "tokenizer_config.json", edit)


def _one_more_special_token(folder: Path) -> None:
    _edit_json(folder / "tokenizer_config.json",
               lambda config: config["additional_special_tokens"].append("a"))


def _one_more_token(folder: Path) -> None:
    # A piece no merge makes: the target's ids all keep their meaning.
    _edit_json(folder / "tokenizer.json",
               lambda tokenizer: tokenizer["model"]["vocab"].update({"zqzq": 512}))


def _smaller_output_layer(folder: Path) -> None:
    _edit_json(folder / "config.json", lambda config: config.update(vocab_size=400))


def _recurrent(folder: Path) -> None:
    """A Mamba model (a recurrent state, no KV cache to rewind) with tiny's
    tokenizer; no weights: neither call may need them to refuse it."""
    (folder / "config.json").write_text(json.dumps({
        "model_type": "mamba", "vocab_size": 512, "hidden_size": 64, "intermediate_size": 128,
        "state_size": 16, "num_hidden_layers": 1, "conv_kernel": 4, "use_bias": False,
        "use_conv_bias": True, "time_step_rank": "auto", "bos_token_id": 0,
        "eos_token_id": [1, 4]}))
    for weights in folder.glob("model.safetensors*"):
        weights.unlink()


@pytest.mark.parametrize("edit, reason", [
    (_swap_two_tokens, "2 tokens of the target's vocabulary have another id (or none) in the "
                       "draft's, e.g. 'a', 'b'"),
    (_other_eos, "the end-of-sequence token ids differ: [1, 4] in the target, [1] in the draft"),
    (_other_bos, "the beginning-of-sequence token ids differ: 0 in the target, 2 in the draft"),
    (_one_more_special_token, "the special tokens differ: target only [], draft only [('a', "),
    (_one_more_token, "the vocabularies differ in size: 512 tokens in the target's tokenizer, "
                      "513 in the draft's"),
    (_smaller_output_layer, "the draft's output layer covers 400 token ids, fewer than the 512 "
                            "of the target's vocabulary"),
    (_recurrent, "the draft's KV cache cannot be rewound"),
])
def test_each_reason_alone_and_load_draft_agrees(client: RuntimeClient, models: Path,
                                                 tmp_path: Path, edit, reason: str) -> None:
    draft = str(_copy_with(models / "tiny-draft", tmp_path / "draft", edit))
    answer = client.result("model/isDraftCompatible", {"model": "tiny", "draft_model": draft})
    assert answer["compatible"] is False and len(answer["reasons"]) == 1
    assert answer["reasons"][0].startswith(reason)
    error = client.error("model/loadDraft", {"model": "tiny", "draft_model": draft})
    assert error["data"]["code"] == "DRAFT_INCOMPATIBLE"
    assert error["data"]["reasons"] == answer["reasons"]
    assert client.result("model/list")["models"][0]["draft"] is None


def test_a_vision_folder_is_no_draft(client: RuntimeClient, models: Path) -> None:
    draft = str(models / "tiny-vision")
    answer = client.result("model/isDraftCompatible", {"model": "tiny", "draft_model": draft})
    assert "the draft is a vision model; a draft must be a text model" in answer["reasons"]
    error = client.error("model/loadDraft", {"model": "tiny", "draft_model": draft})
    assert error["data"]["code"] == "DRAFT_INCOMPATIBLE"
    assert error["data"]["reasons"] == answer["reasons"]


def test_legacy_check_draft_names_loaded_models(client: RuntimeClient, models: Path) -> None:
    client.result("model/load", {"model": str(models / "tiny-draft"), "model_id": "small"})
    try:
        answer = client.result("check_draft", {"primary_id": "tiny", "draft_id": "small"})
        assert answer["compatible"] is True and answer["draft_model"] == "small"
    finally:
        client.result("model/unload", {"model": "small"})


@pytest.mark.parametrize("draft", ["tiny-draft", "tiny-4bit", "tiny"])
def test_greedy_output_is_the_same_with_a_draft(client: RuntimeClient, models: Path,
                                                draft: str) -> None:
    plain = [ids(run(client, **settings)[0]) for settings in ({"temperature": 0}, VARIED)]
    client.result("model/loadDraft", {"model": "tiny", "draft_model": str(models / draft)})
    try:
        for settings, expected in zip(({"temperature": 0}, VARIED), plain, strict=False):
            for k in (1, 4):
                tokens, end = run(client, num_draft_tokens=k, **settings)
                assert ids(tokens) == expected
                assert end["stats"]["draft_tokens_proposed"] > 0
    finally:
        client.result("model/unloadDraft", {"model": "tiny"})


def test_from_draft_flags_and_acceptance_stats(client: RuntimeClient, models: Path) -> None:
    # A model drafting for itself: every proposal is accepted, so each round
    # is k draft tokens and one of the target's.
    client.result("model/loadDraft", {"model": "tiny", "draft_model": str(models / "tiny")})
    try:
        tokens, end = run(client, temperature=0, max_tokens=12, num_draft_tokens=3)
    finally:
        client.result("model/unloadDraft", {"model": "tiny"})
    assert [token["from_draft"] for token in tokens] == [True, True, True, False] * 3
    stats = end["stats"]
    assert stats["draft_tokens_proposed"] == stats["draft_tokens_accepted"] == 9
    assert stats["draft_acceptance_rate"] == 1.0

    client.result("model/loadDraft", {"model": "tiny", "draft_model": str(models / "tiny-draft")})
    try:
        tokens, end = run(client, max_tokens=30, num_draft_tokens=2, **{
            k: v for k, v in VARIED.items() if k != "max_tokens"})
    finally:
        client.result("model/unloadDraft", {"model": "tiny"})
    stats = end["stats"]
    accepted = sum(token["from_draft"] for token in tokens)
    assert stats["draft_tokens_accepted"] == accepted < stats["draft_tokens_proposed"]
    assert stats["draft_acceptance_rate"] == round(accepted / stats["draft_tokens_proposed"], 4)
    # Plain streams carry neither flags nor draft stats.
    tokens, end = run(client, max_tokens=3)
    assert all("from_draft" not in token for token in tokens)
    assert "draft_tokens_proposed" not in end["stats"]


def test_seeded_sampling_is_reproducible_and_draft_independent(drafted: RuntimeClient) -> None:
    settings = {"temperature": 1.0, "top_k": 50, "top_p": 0.95, "seed": 7, "max_tokens": 30,
                "frequency_penalty": 0.5}
    first = ids(run(drafted, num_draft_tokens=3, **settings)[0])
    assert ids(run(drafted, num_draft_tokens=3, **settings)[0]) == first
    # The sampler draws one key per emitted token, as it does without a draft.
    assert ids(run(drafted, num_draft_tokens=0, **settings)[0]) == first
    assert ids(run(drafted, num_draft_tokens=3, **{**settings, "seed": 8})[0]) != first


def test_logprobs_match_the_plain_lane(drafted: RuntimeClient) -> None:
    plain, _ = run(drafted, num_draft_tokens=0, logprobs=True, **VARIED)
    speculative, _ = run(drafted, num_draft_tokens=3, logprobs=True, **VARIED)
    assert ids(plain) == ids(speculative)
    for a, b in zip(plain, speculative, strict=False):
        assert a["logprob"] == pytest.approx(b["logprob"], abs=1e-4)


def test_top_logprobs_match_the_plain_lane(drafted: RuntimeClient) -> None:
    """Each token of a round reports the target's row it was chosen from."""
    plain, _ = run(drafted, num_draft_tokens=0, top_logprobs=4, **VARIED)
    speculative, end = run(drafted, num_draft_tokens=3, top_logprobs=4, **VARIED)
    assert end["stats"]["draft_tokens_accepted"] > 0
    assert ids(plain) == ids(speculative)
    for a, b in zip(plain, speculative, strict=True):
        assert [x["id"] for x in a["top_logprobs"]] == [x["id"] for x in b["top_logprobs"]]
        assert b["top_logprobs"][0]["id"] == b["id"]
        for x, y in zip(a["top_logprobs"], b["top_logprobs"], strict=True):
            assert x["logprob"] == pytest.approx(y["logprob"], abs=1e-4)


def test_guided_requests_run_in_the_batch_beside_the_draft(drafted: RuntimeClient) -> None:
    tokens, end = run(drafted, max_tokens=40, guidance={"mode": "regex", "pattern": "(yes|no)!"})
    assert "".join(token["text"] for token in tokens) in ("yes!", "no!")
    assert end["guidance"] == {"complete": True}
    assert all("from_draft" not in token for token in tokens)  # the plain batch served it


def test_max_tokens_and_stops_on_the_speculative_lane(drafted: RuntimeClient) -> None:
    reference, _ = run(drafted, num_draft_tokens=0, **VARIED)
    for limit in (1, 2, 7):
        tokens, end = run(drafted, num_draft_tokens=4, **{**VARIED, "max_tokens": limit})
        assert ids(tokens) == ids(reference)[:limit] and end["finish_reason"] == "length"

    stop = ids(reference)[9]
    tokens, end = run(drafted, num_draft_tokens=4, stop_token_ids=[stop], **VARIED)
    assert end["finish_reason"] == "stop"
    assert ids(tokens) == ids(reference)[:ids(reference).index(stop) + 1]

    text = "".join(token["text"] for token in reference)
    needle = text[len(text) // 2:len(text) // 2 + 3]
    tokens, end = run(drafted, num_draft_tokens=4, stop_sequences=[needle], **VARIED)
    assert end["finish_reason"] == "stop"
    assert "".join(token["text"] for token in tokens) == text[:text.index(needle)]


def test_cancel_on_the_speculative_lane(drafted: RuntimeClient) -> None:
    drafted.result("generate", {"model": "tiny", "prompt": PROMPT, "stream_id": "long",
                                "temperature": 0, "max_tokens": 100_000, "num_draft_tokens": 3})
    drafted.wait_for(lambda: drafted.stream_tokens("long"))
    assert drafted.result("generate/cancel", {"stream_id": "long"})["cancelled"] is True
    end = drafted.stream_end("long")
    assert end["method"] == "stream/end" and end["params"]["finish_reason"] == "cancelled"
    assert end["params"]["stats"]["draft_tokens_proposed"] > 0


def test_pause_and_resume_on_the_speculative_lane(drafted: RuntimeClient) -> None:
    params = {**VARIED, "max_tokens": 200, "num_draft_tokens": 3}
    expected = ids(run(drafted, **params)[0])
    drafted.result("generate", {"model": "tiny", "prompt": PROMPT, "stream_id": "held", **params})
    drafted.wait_for(lambda: drafted.stream_tokens("held"))
    drafted.result("generate/pause", {"stream_id": "held"})
    at_pause = len(drafted.stream_tokens("held"))
    run(drafted, **VARIED)  # another stream runs to its end meanwhile
    assert len(drafted.stream_tokens("held")) == at_pause < 200
    drafted.result("generate/resume", {"stream_id": "held"})
    assert drafted.stream_end("held")["params"]["finish_reason"] == "length"
    assert ids(drafted.stream_tokens("held")) == expected


def test_plain_and_speculative_streams_run_together(drafted: RuntimeClient) -> None:
    expected = ids(run(drafted, num_draft_tokens=0, **VARIED)[0])
    for stream_id, k in (("spec", 3), ("plain", 0), ("spec2", 2)):
        drafted.result("generate", {"model": "tiny", "prompt": PROMPT, "stream_id": stream_id,
                                    "num_draft_tokens": k, **VARIED})
    for stream_id in ("spec", "plain", "spec2"):
        assert drafted.stream_end(stream_id)["params"]["finish_reason"] == "length"
        assert ids(drafted.stream_tokens(stream_id)) == expected
    assert all("from_draft" not in token for token in drafted.stream_tokens("plain"))
    state = drafted.result("runtime/state")
    assert state["active_streams"] == 0


def test_unloading_the_draft_mid_stream_finishes_on_the_target(client: RuntimeClient,
                                                               models: Path) -> None:
    settings = {"temperature": 0, "max_tokens": 480}
    expected = ids(run(client, **settings)[0])
    client.result("model/loadDraft", {"model": "tiny", "draft_model": str(models / "tiny-4bit")})
    client.result("generate", {"model": "tiny", "prompt": PROMPT, "stream_id": "s",
                               "num_draft_tokens": 2, **settings})
    client.wait_for(lambda: client.stream_tokens("s"))
    unloaded = client.result("model/unloadDraft", {"model": "tiny"})
    assert unloaded["continued_streams"] == 1
    end = client.stream_end("s")
    assert end["method"] == "stream/end" and end["params"]["finish_reason"] == "length"
    tokens = client.stream_tokens("s")
    assert ids(tokens) == expected
    assert tokens[0]["from_draft"] is True and tokens[-1]["from_draft"] is False


def test_unloading_the_target_drops_its_draft(client: RuntimeClient, models: Path) -> None:
    client.result("model/load", {"model": str(models / "tiny"), "model_id": "other"})
    client.result("model/loadDraft", {"model": "other", "draft_model": str(models / "tiny-draft")})
    client.result("model/unload", {"model": "other"})
    again = client.result("model/load", {"model": str(models / "tiny"), "model_id": "other"})
    assert again["draft"] is None and again["already_loaded"] is False
    client.result("model/unload", {"model": "other"})


def test_long_prompts_are_prefilled_in_chunks(models: Path, tmp_path: Path) -> None:
    config = tmp_path / "runtime.yaml"
    config.write_text("batching:\n  prefill_step_size: 7\n")
    runtime = RuntimeClient("--config", str(config))
    try:
        runtime.result("model/load", {"model": str(models / "tiny"), "model_id": "tiny"})
        prompt = "The old man walks to the green hill in the rain. " * 6
        plain, _ = run(runtime, prompt=prompt, **VARIED)
        runtime.result("model/loadDraft", {"model": "tiny",
                                           "draft_model": str(models / "tiny-4bit")})
        tokens, end = run(runtime, prompt=prompt, num_draft_tokens=3, **VARIED)
        assert ids(tokens) == ids(plain) and end["stats"]["prompt_tokens"] > 7 * 8
    finally:
        runtime.stop()
    runtime.assert_conforms()


def test_the_configured_number_of_draft_tokens(models: Path, tmp_path: Path) -> None:
    # speculative.num_draft_tokens is the default of requests that do not say:
    # with tiny drafting for itself (every proposal accepted), each round of 1
    # is a draft token and then the target's.
    config = tmp_path / "runtime.yaml"
    config.write_text("speculative:\n  num_draft_tokens: 1\n")
    runtime = RuntimeClient("--config", str(config))
    try:
        runtime.result("model/load", {"model": str(models / "tiny"), "model_id": "tiny"})
        runtime.result("model/loadDraft", {"model": "tiny", "draft_model": str(models / "tiny")})
        tokens, end = run(runtime, max_tokens=10)
    finally:
        runtime.stop()
    runtime.assert_conforms()
    assert [token["from_draft"] for token in tokens] == [True, False] * 5
    assert end["stats"]["draft_tokens_proposed"] == end["stats"]["draft_tokens_accepted"] == 5


@pytest.fixture(scope="module")
def demo_models(models: Path) -> Path:
    """demo and demo-draft, trained on the same text (about a minute, once)."""
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_models.py"),
                    "--out", str(models), "demo", "demo-draft"], check=True)
    return models


def test_greedy_output_is_the_same_with_the_demo_draft(demo_models: Path) -> None:
    runtime = RuntimeClient()
    try:
        runtime.result("model/load", {"model": str(demo_models / "demo"), "model_id": "demo"})
        prompts = ["The old man", "A small bird looks at", "<|im_start|>user\nWhere is the fox?"]
        settings = {"temperature": 0, "max_tokens": 60}
        plain = [ids(run(runtime, "demo", prompt=p, **settings)[0]) for p in prompts]
        runtime.result("model/loadDraft", {"model": "demo",
                                           "draft_model": str(demo_models / "demo-draft")})
        rates = []
        for prompt, expected in zip(prompts, plain, strict=False):
            tokens, end = run(runtime, "demo", prompt=prompt, num_draft_tokens=3, **settings)
            assert ids(tokens) == expected
            rates.append(end["stats"]["draft_acceptance_rate"])
        # Trained on the same text, the draft is often right (and sometimes wrong).
        assert 0.2 < sum(rates) / len(rates) < 1.0
    finally:
        runtime.stop()
    runtime.assert_conforms()
