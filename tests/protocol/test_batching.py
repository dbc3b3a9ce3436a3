"""Continuous batching over stdio: batched streams give what they give alone.

Every comparison here is exact: the same request (greedy or seeded) yields
the same token ids whether it runs alone or inside a batch, with or without
the prompt cache, with batching on or off.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from runtime_client import RuntimeClient

PROMPT = "The little fox"


@pytest.fixture
def start(models: Path, tmp_path: Path) -> Iterator[Callable[..., RuntimeClient]]:
    """start(config) -> a runtime with that config and "tiny" loaded."""
    clients: list[RuntimeClient] = []

    def start_runtime(config: dict[str, Any] | None = None) -> RuntimeClient:
        path = tmp_path / f"runtime-{len(clients)}.yaml"
        path.write_text(yaml.safe_dump(config or {}))
        client = RuntimeClient("--config", str(path))
        clients.append(client)
        client.result("model/load", {"model": str(models / "tiny"), "model_id": "tiny"})
        return client

    yield start_runtime
    for client in clients:
        client.stop()
        client.assert_conforms()


def _alone(client: RuntimeClient, requests: list[dict[str, Any]]) -> list[tuple]:
    """Each request run by itself: (token ids, text, finish_reason)."""
    results = []
    for params in requests:
        text, end = client.generate_stream({"model": "tiny", **params})
        ids = [t["id"] for t in client.stream_tokens(end["params"]["stream_id"])]
        results.append((ids, text, end["params"]["finish_reason"]))
    return results


def _together(client: RuntimeClient, requests: list[dict[str, Any]], tag: str) -> list[tuple]:
    """All requests at once: (token ids, text, finish_reason) of each."""
    ids = [f"{tag}{i}" for i in range(len(requests))]
    for stream_id, params in zip(ids, requests, strict=False):
        client.result("generate", {"model": "tiny", "stream_id": stream_id, **params})
    results = []
    for stream_id in ids:
        end = client.stream_end(stream_id)["params"]
        results.append(([t["id"] for t in client.stream_tokens(stream_id)],
                        client.stream_text(stream_id), end["finish_reason"]))
    return results


def _switches(client: RuntimeClient, stream_ids: list[str]) -> int:
    order = [n["params"]["stream_id"] for n in client.notifications
             if n["method"] == "stream/chunk" and n["params"]["stream_id"] in stream_ids]
    return sum(1 for a, b in itertools.pairwise(order) if a != b)


def test_same_seed_same_tokens_batched_or_alone(start) -> None:
    client = start()
    requests = [{"prompt": f"{PROMPT} {i}", "max_tokens": 30, "seed": i,
                 "temperature": 0.0 if i % 2 else 0.9} for i in range(8)]
    alone = _alone(client, requests)
    assert _together(client, requests, "b") == alone
    assert _switches(client, [f"b{i}" for i in range(len(requests))]) > len(requests)


def test_cancel_inside_a_batch_leaves_the_others_intact(start) -> None:
    client = start()
    requests = [{"prompt": f"{PROMPT} {i}", "max_tokens": 60, "temperature": 0.7, "seed": i}
                for i in range(6)]
    alone = _alone(client, requests)
    for i, params in enumerate(requests):
        client.result("generate", {"model": "tiny", "stream_id": f"c{i}", **params})
    client.wait_for(lambda: client.stream_tokens("c1") and client.stream_tokens("c4"))
    for stream_id in ("c1", "c4"):
        assert client.result("generate/cancel", {"stream_id": stream_id})["cancelled"] is True
    for i in range(6):
        end = client.stream_end(f"c{i}")["params"]
        ids = [t["id"] for t in client.stream_tokens(f"c{i}")]
        if i in (1, 4):
            assert end["finish_reason"] == "cancelled" and ids == alone[i][0][: len(ids)]
        else:
            assert (ids, end["finish_reason"]) == (alone[i][0], "length")


def _mixed_requests(stop_text: str) -> list[dict[str, Any]]:
    """32 requests that differ in every sampling param."""
    variants: list[dict[str, Any]] = [
        {"temperature": 0},
        {"temperature": 0.7, "top_k": 20},
        {"temperature": 1.2, "top_p": 0.9},
        {"temperature": 0.8, "min_p": 0.1},
        {"temperature": 0, "repetition_penalty": 1.3, "penalty_context_size": 32},
        {"temperature": 0.9, "presence_penalty": 0.8, "frequency_penalty": 0.4},
        {"temperature": 0, "stop_sequences": [stop_text], "prompt": f"{PROMPT} 6",
         "max_tokens": 40},
        {"temperature": 0.6, "logprobs": True, "stop_token_ids": [7, 9]},
    ]
    return [{"prompt": f"{PROMPT} {i % 5}", "seed": 100 + i, "max_tokens": 4 + (i * 7) % 45,
             **variants[i % len(variants)]} for i in range(32)]


def test_32_concurrent_requests_with_mixed_params_all_finish_correctly(start) -> None:
    client = start()
    greedy_text = _alone(client, [{"prompt": f"{PROMPT} 6", "max_tokens": 40,
                                   "temperature": 0}])[0][1]
    stop_text = greedy_text[10:13]
    requests = _mixed_requests(stop_text)
    alone = _alone(client, requests)
    together = _together(client, requests, "m")
    assert together == alone
    assert client.result("runtime/state")["models"][0]["batch"]["decoding"] == 0
    reasons = {finish for _, _, finish in together}
    assert reasons == {"length", "stop"}
    for params, (ids, text, finish) in zip(requests, together, strict=False):
        assert len(ids) <= params["max_tokens"]
        assert finish == "stop" or len(ids) == params["max_tokens"]
        if "stop_sequences" in params:
            assert finish == "stop" and stop_text not in text


def test_prompt_cache_reuse_gives_the_same_greedy_tokens(start) -> None:
    cached, uncached = start(), start({"prompt_cache": {"enabled": False}})
    story = " ".join(f"The old man walks to the hill number {i}." for i in range(12))
    first = {"prompt": story, "max_tokens": 20, "temperature": 0}
    follow_up = {"prompt": story + " Then the fox", "max_tokens": 20, "temperature": 0}

    def run(client: RuntimeClient) -> list[tuple[list[int], int]]:
        results = []
        for params in (first, follow_up, first):
            _, end = client.generate_stream({"model": "tiny", **params})
            stream_id = end["params"]["stream_id"]
            results.append(([t["id"] for t in client.stream_tokens(stream_id)],
                            end["params"]["stats"]["cached_tokens"]))
        return results

    with_cache, without = run(cached), run(uncached)
    assert [ids for ids, _ in with_cache] == [ids for ids, _ in without]
    prompt_tokens = len(cached.result("tokenize", {"model": "tiny", "text": story})["tokens"])
    assert [reused for _, reused in without] == [0, 0, 0]
    assert with_cache[0][1] == 0
    assert with_cache[1][1] >= prompt_tokens - 1  # the whole story came from the cache
    assert with_cache[2][1] == prompt_tokens - 1  # all but the last prompt token
    stats = cached.result("runtime/state")["models"][0]["prompt_cache"]
    assert stats["hits"] == 2 and stats["reused_tokens"] == with_cache[1][1] + with_cache[2][1]


def test_prompt_cache_keeps_to_its_budget(start) -> None:
    client = start({"prompt_cache": {"max_entries": 2, "min_prefix_tokens": 4}})
    _alone(client, [{"prompt": f"{word} walks to the green hill", "max_tokens": 8}
                    for word in ("Anna", "Bert", "Carl", "Dora")])
    assert client.result("runtime/state")["models"][0]["prompt_cache"]["entries"] == 2
    tight = start({"prompt_cache": {"max_bytes": 40000}})
    _alone(tight, [{"prompt": f"{word} walks to the green hill", "max_tokens": 60}
                   for word in ("Anna", "Bert", "Carl")])
    state = tight.result("runtime/state")["models"][0]["prompt_cache"]
    assert 0 < state["bytes"] <= 40000 and state["entries"] == 1


def test_batching_disabled_still_serves_concurrent_requests(start) -> None:
    client = start({"batching": {"enabled": False}})
    requests = [{"prompt": f"{PROMPT} {i}", "max_tokens": 12, "temperature": 0.5, "seed": i}
                for i in range(4)]
    alone = _alone(client, requests)
    assert _together(client, requests, "d") == alone
    assert _switches(client, [f"d{i}" for i in range(4)]) == 3  # one stream after another


def test_runtime_state_shows_the_batch(start) -> None:
    client = start()
    client.result("generate", {"model": "tiny", "prompt": PROMPT, "stream_id": "long",
                               "max_tokens": 400})
    client.wait_for(lambda: client.stream_tokens("long"))
    batch = client.result("runtime/state")["models"][0]["batch"]
    assert batch["decoding"] == 1 and batch["waiting"] == 0 and batch["buckets"] == []
    assert batch["solo"] is True  # alone: the single-stream path
    assert batch["prefill_chunk"] > 0
    assert batch["max_batch_size"] == 32  # auto, on the CPU
    assert client.result("runtime/info")["limits"]["max_batch_size"] == 32
    client.result("generate/cancel", {"stream_id": "long"})


def test_a_configured_max_batch_size_overrides_the_choice(start) -> None:
    client = start({"batching": {"max_batch_size": 3}})
    client.result("generate", {"model": "tiny", "prompt": PROMPT, "stream_id": "s",
                               "max_tokens": 4})
    client.stream_end("s")
    assert client.result("runtime/state")["models"][0]["batch"]["max_batch_size"] == 3
    assert client.result("runtime/info")["limits"]["max_batch_size"] == 3
