"""generate over stdio: every sampling param honoured, streams, cancel, concurrency."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from runtime_client import RuntimeClient

PROMPT = "The little fox"


def _greedy(client: RuntimeClient, **params) -> tuple[list[int], str, dict]:
    """(token ids, text, stream/end params) of a greedy streaming generation."""
    if "maxTokens" not in params:
        params.setdefault("max_tokens", 24)
    accepted = client.result("generate", {"model": "tiny", "prompt": PROMPT, "temperature": 0,
                                          **params})
    end = client.stream_end(accepted["stream_id"])
    ids = [t["id"] for t in client.stream_tokens(accepted["stream_id"])]
    return ids, client.stream_text(accepted["stream_id"]), end["params"]


@pytest.fixture(scope="module")
def reference(models: Path) -> list[int]:
    """Greedy token ids from mlx-lm itself, for the same model and prompt."""
    from mlx_lm import load, stream_generate

    model, tokenizer = load(str(models / "tiny"))
    return [r.token for r in stream_generate(model, tokenizer, PROMPT, max_tokens=24)]


def test_greedy_matches_mlx_lm(shared_tiny: RuntimeClient, reference: list[int]) -> None:
    ids, _, end = _greedy(shared_tiny)
    assert ids == reference[: len(ids)]
    assert end["finish_reason"] == "length" and len(ids) == 24


def test_stream_end_stats(shared_tiny: RuntimeClient) -> None:
    ids, _, end = _greedy(shared_tiny, max_tokens=10)
    stats = end["stats"]
    expected_prompt = len(shared_tiny.result("tokenize", {"model": "tiny", "text": PROMPT})["tokens"])
    assert stats["prompt_tokens"] == expected_prompt
    assert stats["generated_tokens"] == len(ids) == 10
    assert stats["ttft_ms"] > 0 and stats["tokens_per_second"] > 0
    assert stats["total_ms"] >= stats["ttft_ms"]


def test_non_streaming_returns_the_same_text(shared_tiny: RuntimeClient) -> None:
    _, streamed, _ = _greedy(shared_tiny)
    result = shared_tiny.result("generate", {"model_id": "tiny", "prompt": PROMPT, "max_tokens": 24,
                                             "temperature": 0, "stream": False})
    assert result["text"] == streamed and result["finish_reason"] == "length"
    assert result["stats"]["generated_tokens"] == 24


def test_same_seed_same_output(shared_tiny: RuntimeClient) -> None:
    def sample(seed: int) -> list[int]:
        return _greedy(shared_tiny, temperature=1.0, seed=seed)[0]

    assert sample(11) == sample(11)
    assert sample(11) != sample(12)


def test_top_k_1_is_greedy(shared_tiny: RuntimeClient) -> None:
    greedy = _greedy(shared_tiny)[0]
    assert _greedy(shared_tiny, temperature=1.5, topK=1, seed=3)[0] == greedy


def test_tiny_top_p_is_greedy(shared_tiny: RuntimeClient) -> None:
    greedy = _greedy(shared_tiny)[0]
    assert _greedy(shared_tiny, temperature=1.5, top_p=1e-6, seed=3)[0] == greedy


def test_min_p_1_is_greedy(shared_tiny: RuntimeClient) -> None:
    greedy = _greedy(shared_tiny)[0]
    assert _greedy(shared_tiny, temperature=1.5, min_p=1.0, seed=3)[0] == greedy


def test_unfiltered_sampling_differs_from_greedy(shared_tiny: RuntimeClient) -> None:
    # The filter tests above would pass trivially if sampling were greedy anyway.
    greedy = _greedy(shared_tiny)[0]
    assert _greedy(shared_tiny, temperature=1.5, seed=3)[0] != greedy


def test_repetition_penalty(shared_tiny: RuntimeClient) -> None:
    plain = _greedy(shared_tiny, max_tokens=30)[0]
    assert len(set(plain)) < len(plain)  # greedy on random weights repeats itself
    penalised = _greedy(shared_tiny, max_tokens=30, repetition_penalty=50.0,
                        penalty_context_size=64)[0]
    assert len(set(penalised)) == len(penalised)


@pytest.mark.parametrize("penalty", ["presence_penalty", "frequency_penalty"])
def test_presence_and_frequency_penalties(shared_tiny: RuntimeClient, penalty: str) -> None:
    plain = _greedy(shared_tiny, max_tokens=30)[0]
    penalised = _greedy(shared_tiny, max_tokens=30, **{penalty: 2.0})[0]
    assert penalised != plain
    assert len(set(penalised)) > len(set(plain))


def test_max_tokens(shared_tiny: RuntimeClient) -> None:
    ids, _, end = _greedy(shared_tiny, maxTokens=3)
    assert len(ids) == 3 and end["finish_reason"] == "length"


def test_stop_token_ids(shared_tiny: RuntimeClient) -> None:
    ids, _, _ = _greedy(shared_tiny)
    stop = ids[5]
    first = ids.index(stop)
    stopped, text, end = _greedy(shared_tiny, stop_token_ids=[stop])
    assert end["finish_reason"] == "stop"
    assert stopped == ids[: first + 1]  # the stop token is reported, its text is not shown
    expected = shared_tiny.result("detokenize", {"model": "tiny", "tokens": ids[:first]})["text"]
    assert text == expected


# Seeded sampling: varied text to place stop strings in (greedy just repeats).
VARIED = {"temperature": 1.0, "seed": 5, "max_tokens": 40}


def _token_texts(client: RuntimeClient) -> list[str]:
    accepted = client.result("generate", {"model": "tiny", "prompt": PROMPT, **VARIED})
    client.stream_end(accepted["stream_id"])
    return [t["text"] for t in client.stream_tokens(accepted["stream_id"])]


def test_stop_sequence_inside_one_token(shared_tiny: RuntimeClient) -> None:
    texts = _token_texts(shared_tiny)
    full = "".join(texts)
    for i, token_text in enumerate(texts):
        stop = token_text[1:3]
        start = len("".join(texts[:i])) + 1
        if len(token_text) >= 3 and full.find(stop) == start:
            break
    else:
        pytest.fail(f"no token of 3+ characters to stop inside of in {texts}")
    _, text, end = _greedy(shared_tiny, stop_sequences=[stop], **VARIED)
    assert end["finish_reason"] == "stop"
    assert text == full[: full.find(stop)]


def test_stop_sequence_split_across_tokens(shared_tiny: RuntimeClient) -> None:
    texts = _token_texts(shared_tiny)
    full = "".join(texts)
    for i in range(1, len(texts) - 1):
        stop = texts[i][-2:] + texts[i + 1][:2]
        boundary = len("".join(texts[: i + 1]))
        if len(texts[i]) >= 2 and len(texts[i + 1]) >= 2 and full.find(stop) == boundary - 2:
            break
    else:
        pytest.fail(f"no stop string straddles two tokens in {texts}")
    _, text, end = _greedy(shared_tiny, stopSequences=[stop], **VARIED)
    assert end["finish_reason"] == "stop"
    assert text == full[: boundary - 2]
    assert stop not in text


def test_stop_sequence_that_never_completes_is_released(shared_tiny: RuntimeClient) -> None:
    plain_ids, full, plain_end = _greedy(shared_tiny, **VARIED)
    tail = full[-2:] + "\u2603"  # begins like the end of the output, never completes
    ids, text, end = _greedy(shared_tiny, stop_sequences=[tail], **VARIED)
    assert text == full and ids == plain_ids
    assert end["finish_reason"] == plain_end["finish_reason"]


def test_add_bos(shared_tiny: RuntimeClient) -> None:
    with_bos = _greedy(shared_tiny, max_tokens=2)[2]["stats"]["prompt_tokens"]
    without = _greedy(shared_tiny, max_tokens=2, add_bos=False)[2]["stats"]["prompt_tokens"]
    assert with_bos == without + 1


def test_token_id_prompt(shared_tiny: RuntimeClient) -> None:
    tokens = shared_tiny.result("tokenize", {"model": "tiny", "text": PROMPT})["tokens"]
    assert _greedy(shared_tiny, prompt=tokens)[0] == _greedy(shared_tiny)[0]


def test_chat_messages_use_the_chat_template(shared_tiny: RuntimeClient, models: Path) -> None:
    from transformers import AutoTokenizer

    messages = [{"role": "user", "content": "Where is the fox going?"}]
    rendered = AutoTokenizer.from_pretrained(str(models / "tiny")).apply_chat_template(
        messages, add_generation_prompt=True, tokenize=False)
    expected = shared_tiny.result("tokenize", {"model": "tiny", "text": rendered,
                                               "add_bos": False})["tokens"]
    result = shared_tiny.result("generate", {"model": "tiny", "messages": messages,
                                             "max_tokens": 4, "streaming": False})
    assert result["stats"]["prompt_tokens"] == len(expected)


def test_logprobs(shared_tiny: RuntimeClient) -> None:
    accepted = shared_tiny.result("generate", {"model": "tiny", "prompt": PROMPT, "max_tokens": 5,
                                               "logprobs": True, "temperature": 0})  # no early EOS
    shared_tiny.stream_end(accepted["stream_id"])
    tokens = shared_tiny.stream_tokens(accepted["stream_id"])
    assert len(tokens) == 5 and all(t["logprob"] <= 0 for t in tokens)
    plain = shared_tiny.result("generate", {"model": "tiny", "prompt": PROMPT, "max_tokens": 2})
    shared_tiny.stream_end(plain["stream_id"])
    assert all("logprob" not in t for t in shared_tiny.stream_tokens(plain["stream_id"]))


def test_four_concurrent_streams_interleave(shared_tiny: RuntimeClient) -> None:
    ids = [f"c{i}" for i in range(4)]
    for i, stream_id in enumerate(ids):
        shared_tiny.result("generate", {"model": "tiny", "prompt": f"{PROMPT} {i}",
                                        "stream_id": stream_id, "max_tokens": 40, "seed": i})
    for stream_id in ids:
        end = shared_tiny.stream_end(stream_id)
        assert end["params"]["finish_reason"] == "length"
        assert len(shared_tiny.stream_tokens(stream_id)) == 40
    order = [n["params"]["stream_id"] for n in shared_tiny.notifications
             if n["method"] == "stream/chunk" and n["params"]["stream_id"] in ids]
    switches = sum(1 for a, b in itertools.pairwise(order) if a != b)
    assert switches > len(ids)  # batched: not one stream after another


def test_cancel_stops_only_its_stream(shared_tiny: RuntimeClient) -> None:
    for stream_id in ("keep", "drop"):
        shared_tiny.result("generate", {"model": "tiny", "prompt": PROMPT, "stream_id": stream_id,
                                        "max_tokens": 200, "temperature": 0})
    shared_tiny.wait_for(lambda: shared_tiny.stream_tokens("drop"))
    cancelled = shared_tiny.result("generate/cancel", {"stream_id": "drop"})
    assert cancelled == {"stream_id": "drop", "cancelled": True}
    assert shared_tiny.stream_end("drop")["params"]["finish_reason"] == "cancelled"
    keep = shared_tiny.stream_end("keep")["params"]
    assert keep["finish_reason"] == "length" and keep["stats"]["generated_tokens"] == 200
    # A cancel that races the natural end is not an error.
    assert shared_tiny.result("generate/cancel", {"stream_id": "keep"})["cancelled"] is False


def test_a_paused_stream_emits_nothing_and_resumes_token_for_token(
        shared_tiny: RuntimeClient) -> None:
    reference, _, _ = _greedy(shared_tiny, max_tokens=300, stream_id="unpaused")
    common = {"model": "tiny", "prompt": PROMPT, "temperature": 0, "max_tokens": 300}
    shared_tiny.result("generate", {**common, "stream_id": "slow"})
    shared_tiny.wait_for(lambda: shared_tiny.stream_tokens("slow"))
    assert shared_tiny.result("generate/pause", {"stream_id": "slow"}) == {
        "stream_id": "slow", "paused": True}
    at_pause = len(shared_tiny.stream_tokens("slow"))
    # Another stream runs to its end meanwhile; the paused one emits nothing.
    _, end = shared_tiny.generate_stream({**common, "stream_id": "other"})
    assert end["params"]["stats"]["generated_tokens"] == 300
    assert len(shared_tiny.stream_tokens("slow")) == at_pause < 300
    assert shared_tiny.result("generate/resume", {"stream_id": "slow"})["paused"] is False
    assert shared_tiny.stream_end("slow")["params"]["finish_reason"] == "length"
    assert [t["id"] for t in shared_tiny.stream_tokens("slow")] == reference


def test_a_paused_stream_can_be_cancelled(shared_tiny: RuntimeClient) -> None:
    shared_tiny.result("generate", {"model": "tiny", "prompt": PROMPT, "stream_id": "parked",
                                    "max_tokens": 300, "temperature": 0})
    shared_tiny.result("generate/pause", {"stream_id": "parked"})
    assert shared_tiny.result("generate/cancel", {"stream_id": "parked"})["cancelled"] is True
    end = shared_tiny.stream_end("parked")["params"]
    assert end["finish_reason"] == "cancelled" and end["stats"]["generated_tokens"] < 300
    # Pausing or resuming a stream that has finished is no error; an unknown one is.
    assert shared_tiny.result("generate/resume", {"stream_id": "parked"})["paused"] is False
    error = shared_tiny.error("generate/pause", {"stream_id": "never-started"})
    assert error["data"]["code"] == "STREAM_NOT_FOUND"


def test_cancel_of_a_non_streaming_request(shared_tiny: RuntimeClient) -> None:
    request = shared_tiny.start("generate", {"model": "tiny", "prompt": PROMPT, "stream_id": "ns",
                                             "max_tokens": 400, "streaming": False})
    shared_tiny.result("generate/cancel", {"stream_id": "ns"})
    result = shared_tiny.response(request)["result"]
    assert result["finish_reason"] == "cancelled" and result["stream_id"] == "ns"


def test_generation_stops_at_the_context_window(shared_tiny: RuntimeClient) -> None:
    prompt = shared_tiny.result("tokenize", {"model": "tiny", "text": PROMPT})["tokens"]
    ids, _, end = _greedy(shared_tiny, max_tokens=1000)
    assert end["finish_reason"] == "length"
    assert len(prompt) + len(ids) == 512
