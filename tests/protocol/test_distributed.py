"""A model sharded over 2 ranks (mx.distributed ring backend, 127.0.0.1, CPU).

The runtime is rank 0 and starts the follower itself. The sharded model must
give what the single-process model gives, token for token, alone and in a
batch; a follower that dies fails that model's streams with RANK_FAILED and
nothing else; no follower outlives its model or the runtime.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from runtime_client import RuntimeClient

LOCAL_PAIR = {"backend": "ring", "hosts": ["127.0.0.1", "127.0.0.1"]}
PROMPTS = ["The little fox", "Once upon a time there was", "a b c d e f g"]
FOLLOWER_MODULE = b"mlx_serving.engine.distributed.follower"


def followers_of(pid: int) -> list[int]:
    """The follower ranks a runtime started (its children running the follower module)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and FOLLOWER_MODULE in cmdline:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pids: list[int], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in pids):
        assert time.monotonic() < deadline, f"follower processes left behind: {pids}"
        time.sleep(0.1)


def load_pair(client: RuntimeClient, models: Path) -> dict[str, Any]:
    """tiny as "local" (one process) and as "sharded" (2 ranks)."""
    client.result("model/load", {"model": str(models / "tiny"), "model_id": "local"})
    return client.result("model/load", {"model": str(models / "tiny"), "model_id": "sharded",
                                        "distributed": LOCAL_PAIR}, timeout=120)


def run(client: RuntimeClient, model: str, params: dict[str, Any]) -> tuple[list[int], str, str]:
    text, end = client.generate_stream({"model": model, **params})
    ids = [token["id"] for token in client.stream_tokens(end["params"]["stream_id"])]
    return ids, text, end["params"]["finish_reason"]


def together(client: RuntimeClient, model: str, requests: list[dict[str, Any]],
             tag: str) -> list[tuple[list[int], str, str]]:
    ids = [f"{tag}-{i}" for i in range(len(requests))]
    for stream_id, params in zip(ids, requests, strict=True):
        client.result("generate", {"model": model, "stream_id": stream_id, **params})
    results = []
    for stream_id in ids:
        end = client.stream_end(stream_id)["params"]
        assert end["finish_reason"] in ("stop", "length"), end
        results.append(([t["id"] for t in client.stream_tokens(stream_id)],
                        client.stream_text(stream_id), end["finish_reason"]))
    return results


@contextmanager
def running_pair(models: Path, *args: str) -> Iterator[RuntimeClient]:
    """A runtime (started with `args`) holding load_pair's two models; stopped
    on the way out."""
    client = RuntimeClient(*args)
    try:
        load_pair(client, models)
        yield client
    finally:
        client.stop()


OwnPair = Callable[..., AbstractContextManager[RuntimeClient]]


@pytest.fixture
def own_pair(models: Path) -> OwnPair:
    """`with own_pair(*args) as client:` a running_pair of the test's own."""
    return partial(running_pair, models)


@pytest.fixture(scope="module")
def pair(models: Path) -> Iterator[RuntimeClient]:
    with running_pair(models) as client:
        yield client
    client.assert_conforms()


def endless_stream(client: RuntimeClient, stream_id: str) -> int:
    """Start a greedy stream on "sharded" that runs until it is stopped and wait
    for its first token; returns the pid of the follower rank."""
    (follower,) = followers_of(client.proc.pid)
    client.result("generate", {"model": "sharded", "stream_id": stream_id,
                               "prompt": PROMPTS[0], "max_tokens": 100_000,
                               "temperature": 0})
    client.wait_for(lambda: len(client.stream_tokens(stream_id)) > 0)
    return follower


def test_the_group_shows_in_model_list_and_runtime_info(pair: RuntimeClient) -> None:
    listed = {m["model_id"]: m for m in pair.result("model/list")["models"]}
    assert listed["local"]["group"] is None
    assert listed["sharded"]["group"] == {
        "backend": "ring", "parallel": "tensor", "ranks": 2,
        "hosts": ["127.0.0.1", "127.0.0.1"], "state": "ready", "failure": None}
    info = {m["model_id"]: m for m in pair.result("runtime/info")["models"]}
    assert info["sharded"]["group"]["ranks"] == 2
    assert len(followers_of(pair.proc.pid)) == 1


def test_greedy_output_is_the_single_process_output_token_for_token(pair: RuntimeClient) -> None:
    for prompt in PROMPTS:
        params = {"prompt": prompt, "max_tokens": 40, "temperature": 0}
        local = run(pair, "local", params)
        assert len(local[0]) > 0
        assert run(pair, "sharded", params) == local
    non_streaming = pair.result("generate", {"model": "sharded", "prompt": PROMPTS[0],
                                             "max_tokens": 40, "temperature": 0,
                                             "streaming": False})
    assert non_streaming["text"] == run(pair, "local", {"prompt": PROMPTS[0], "max_tokens": 40,
                                                         "temperature": 0})[1]


MIXED = [
    {"prompt": PROMPTS[0], "max_tokens": 48, "temperature": 0},
    {"prompt": PROMPTS[1], "max_tokens": 32, "temperature": 0.9, "top_p": 0.9, "seed": 7,
     "logprobs": True},
    {"prompt": PROMPTS[2], "max_tokens": 40, "temperature": 0.7, "top_k": 20, "seed": 11,
     "repetition_penalty": 1.3, "stop_sequences": ["e"]},
    {"prompt": PROMPTS[0] + " ran", "max_tokens": 24, "temperature": 0, "guidance":
     {"mode": "regex", "pattern": "[a-z ]{3,20}"}},
]


def test_four_concurrent_streams_with_mixed_params_match_the_single_process(
        pair: RuntimeClient) -> None:
    local = together(pair, "local", MIXED, "local-mixed")
    sharded = together(pair, "sharded", MIXED, "sharded-mixed")
    assert sharded == local
    assert [r[2] for r in sharded].count("length") >= 1


def test_top_logprobs_of_the_group_are_the_single_process_ones(pair: RuntimeClient) -> None:
    """Rank 0 ranks the row its shards computed together, as one process does."""
    params = {"prompt": PROMPTS[1], "max_tokens": 12, "temperature": 0, "top_logprobs": 4}

    def tokens(model: str) -> list[dict[str, Any]]:
        _, end = pair.generate_stream({"model": model, **params})
        return pair.stream_tokens(end["params"]["stream_id"])

    local, sharded = tokens("local"), tokens("sharded")
    assert [t["id"] for t in sharded] == [t["id"] for t in local]
    for a, b in zip(sharded, local, strict=True):
        assert [x["id"] for x in a["top_logprobs"]] == [x["id"] for x in b["top_logprobs"]]
        for x, y in zip(a["top_logprobs"], b["top_logprobs"], strict=True):
            assert x["logprob"] == pytest.approx(y["logprob"], abs=1e-4)


def test_a_lowered_batch_limit_reaches_the_followers(own_pair: OwnPair, tmp_path: Path) -> None:
    # The batching flag off lowers every model's max batch size to 1; rank 0
    # must tell its follower, or the two ranks admit differently and part ways.
    flags = tmp_path / "flags.yaml"
    flags.write_text("flags:\n  batching: {enabled: false}\n")
    with own_pair("--flags", str(flags)) as client:
        assert client.result("metrics/get")["qos"]["batch_limits"] == {"local": 1, "sharded": 1}
        assert together(client, "sharded", MIXED, "one") == together(client, "local", MIXED,
                                                                     "one-local")
        flags.write_text("")
        client.result("config/reload")
        assert client.result("metrics/get")["qos"]["batch_limits"] == {}
        assert together(client, "sharded", MIXED, "all") == together(client, "local", MIXED,
                                                                     "all-local")
    client.assert_conforms()


def test_a_stream_paused_and_resumed_gives_the_same_tokens(pair: RuntimeClient) -> None:
    params = {"prompt": PROMPTS[1], "max_tokens": 60, "temperature": 0.8, "seed": 3}
    expected = run(pair, "local", params)
    pair.result("generate", {"model": "sharded", "stream_id": "paused", **params})
    pair.result("generate/pause", {"stream_id": "paused"})
    time.sleep(0.3)  # it stays paused; the group keeps serving others meanwhile
    assert run(pair, "sharded", {"prompt": PROMPTS[2], "max_tokens": 8, "temperature": 0})[0]
    pair.result("generate/resume", {"stream_id": "paused"})
    pair.stream_end("paused")
    assert [t["id"] for t in pair.stream_tokens("paused")] == expected[0]


def test_cancel_in_the_group_leaves_it_serving(pair: RuntimeClient) -> None:
    pair.result("generate", {"model": "sharded", "stream_id": "long", "prompt": PROMPTS[0],
                             "max_tokens": 400, "temperature": 0})
    pair.wait_for(lambda: len(pair.stream_tokens("long")) > 0)
    assert pair.result("generate/cancel", {"stream_id": "long"})["cancelled"] is True
    assert pair.stream_end("long")["params"]["finish_reason"] == "cancelled"
    params = {"prompt": PROMPTS[2], "max_tokens": 24, "temperature": 0}
    assert run(pair, "sharded", params) == run(pair, "local", params)


def test_the_prompt_cache_serves_a_sharded_model_and_metrics_count_it(
        pair: RuntimeClient) -> None:
    long_prompt = " ".join(["the little fox runs to the old green hill"] * 6)
    params = {"prompt": long_prompt, "max_tokens": 16, "temperature": 0}
    expected = run(pair, "local", params)
    first = run(pair, "sharded", params)
    again = pair.result("generate", {"model": "sharded", "streaming": False, **params})
    assert first == expected and again["text"] == expected[1]
    assert again["stats"]["cached_tokens"] > 0  # both ranks kept and reused their KV shards
    metrics = pair.result("metrics/get", {"model": "sharded"})["models"]["sharded"]
    assert metrics["lifetime"]["generated_tokens"] > 0
    assert metrics["lifetime"]["cached_tokens"] >= again["stats"]["cached_tokens"]


def test_refusals_come_before_any_rank_starts(pair: RuntimeClient, models: Path) -> None:
    def refused(distributed: dict[str, Any], model: str = "tiny",
                method: str = "model/load") -> dict[str, Any]:
        error = pair.error(method, {"model": str(models / model), "model_id": "x",
                                    "distributed": distributed})
        assert followers_of(pair.proc.pid) == followers_before
        return error

    followers_before = followers_of(pair.proc.pid)
    heads = refused({"hosts": ["127.0.0.1"] * 3})
    assert heads["data"]["code"] == "UNSUPPORTED" and "not divisible by 3" in heads["message"]
    pipeline = refused({**LOCAL_PAIR, "parallel": "pipeline"})
    assert "no pipeline()" in pipeline["message"]
    assert "send/recv" in refused({**LOCAL_PAIR, "backend": "nccl",
                                   "parallel": "pipeline"})["message"]
    assert "mpirun" in refused({**LOCAL_PAIR, "backend": "mpi"})["message"]
    assert refused({"hosts": ["127.0.0.1"]})["data"]["code"] == "INVALID_PARAMS"
    assert "exactly one" in refused({"backend": "ring"})["message"]
    assert "needs an IP" in refused({"hosts": ["127.0.0.1", "mac-studio.local"]})["message"]
    vision = refused(LOCAL_PAIR, model="tiny-vision", method="model/loadVision")
    assert vision["data"]["code"] == "UNSUPPORTED"
    draft = pair.error("model/loadDraft", {"model": "sharded",
                                           "draft_model": str(models / "tiny-draft")})
    assert draft["data"]["code"] == "DRAFT_INCOMPATIBLE" and "sharded" in draft["message"]
    # MLX forms one group per process: a second sharded model is refused with the way out.
    second = refused(LOCAL_PAIR)
    assert second["data"]["code"] == "UNSUPPORTED" and "restart the runtime" in second["message"]


def test_a_killed_follower_fails_its_streams_and_the_runtime_serves_on(
        own_pair: OwnPair) -> None:
    with own_pair() as client:
        follower = endless_stream(client, "doomed")
        killed_at = time.monotonic()
        os.kill(follower, signal.SIGKILL)
        end = client.stream_end("doomed", timeout=60)
        assert time.monotonic() - killed_at < 60
        assert end["method"] == "stream/error"
        error = end["params"]["error"]
        assert error["data"]["code"] == "RANK_FAILED"
        assert error["data"]["rank"] == 1 and error["data"]["host"] == "127.0.0.1"
        assert "rank 1 (127.0.0.1)" in error["message"] and "signal 9" in error["message"]
        # The single-process model serves on; the sharded one refuses, saying why.
        assert run(client, "local", {"prompt": PROMPTS[1], "max_tokens": 8,
                                     "temperature": 0})[0]
        refused = client.error("generate", {"model": "sharded", "prompt": "hi"})
        assert refused["data"]["code"] == "RANK_FAILED"
        listed = {m["model_id"]: m for m in client.result("model/list")["models"]}
        assert listed["sharded"]["group"]["state"] == "failed"
        assert "signal 9" in listed["sharded"]["group"]["failure"]
        client.result("model/unload", {"model": "sharded"})
        assert run(client, "local", {"prompt": PROMPTS[2], "max_tokens": 8,
                                     "temperature": 0})[0]
    client.assert_conforms()


def test_a_hung_follower_fails_its_streams_after_rank_timeout(own_pair: OwnPair,
                                                             tmp_path: Path) -> None:
    config = tmp_path / "runtime.yaml"
    config.write_text(yaml.safe_dump({"distributed": {"rank_timeout_s": 3}}))
    with own_pair("--config", str(config)) as client:
        follower = endless_stream(client, "stuck")
        os.kill(follower, signal.SIGSTOP)  # alive, but it answers nothing
        end = client.stream_end("stuck", timeout=60)
        error = end["params"]["error"]
        assert error["data"]["code"] == "RANK_FAILED"
        assert error["data"]["rank"] == 1 and error["data"]["host"] == "127.0.0.1"
        assert "stopped answering" in error["message"]
        wait_gone([follower], timeout=15)  # the hung rank is stopped for good
        assert run(client, "local", {"prompt": PROMPTS[1], "max_tokens": 8,
                                     "temperature": 0})[0]
    client.assert_conforms()


def test_no_follower_outlives_unload_or_a_crash_of_the_runtime(own_pair: OwnPair) -> None:
    with own_pair() as client:
        unloaded = followers_of(client.proc.pid)
        assert len(unloaded) == 1
        client.result("model/unload", {"model": "sharded"})
        wait_gone(unloaded, timeout=15)
        assert followers_of(client.proc.pid) == []
    with own_pair() as stopping:
        stopped = followers_of(stopping.proc.pid)
        stopping.result("runtime/shutdown", {"drain": True})
        assert stopping.wait_exit() == 0
    wait_gone(stopped, timeout=15)
    # On the way out the runtime gets SIGKILL: it has no say; the follower sees its stdin close.
    with own_pair() as crashing:
        orphans = followers_of(crashing.proc.pid)
        assert len(orphans) == 1
    wait_gone(orphans, timeout=30)
