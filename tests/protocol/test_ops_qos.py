"""QoS over the real runtime: a model made slow by the test-only debug delay
breaks an SLO; the policies shed, lower the batch size, or only alert."""

from __future__ import annotations

import time
from pathlib import Path

from ops_runtime import generate, notifications, start, wait_notification
from runtime_client import RuntimeClient

QOS = """
qos:
  window_s: 2.5
  evaluate_interval_s: 0.1
  min_samples: 2
  dry_run: {dry_run}
  slos:
    - {{slo: {slo}, threshold: {threshold}, policy: {policy}, model: tiny}}
"""
SLOW = """
debug:
  faults:
    tiny: {token_delay_ms: 150}
"""


def _drive_past_the_slo(client: RuntimeClient) -> dict:
    for _ in range(2):
        assert "result" in generate(client)
    return wait_notification(client, "qos/violation")


def test_shed_refuses_with_overloaded_until_the_window_recovers(tmp_path: Path,
                                                                models: Path) -> None:
    client = start(tmp_path, QOS.format(slo="ttft_p50_ms", dry_run="false", threshold=100,
                                        policy="shed") + SLOW)
    try:
        violation = _drive_past_the_slo(client)
        assert violation["slo"] == "ttft_p50_ms" and violation["model"] == "tiny"
        assert violation["observed"] > 100 and violation["threshold"] == 100
        assert (violation["policy"], violation["action"], violation["dry_run"]) == (
            "shed", "shed", False)
        assert violation["window_s"] == 2.5 and violation["samples"] == 2

        refused = generate(client)["error"]
        assert refused["code"] == -32006 and refused["data"]["code"] == "OVERLOADED"
        assert refused["data"]["slo"] == "ttft_p50_ms" and "retry later" in refused["message"]
        assert (refused["data"]["model"], refused["data"]["variant"]) == ("tiny", "stable")
        qos = client.result("metrics/get")["qos"]
        assert qos["shedding"] == ["tiny"] and qos["breaches"][0]["action"] == "shed"

        recovered = wait_notification(client, "qos/recovered", timeout=30)
        assert recovered["slo"] == "ttft_p50_ms" and recovered["action"] == "shed"
        assert recovered["observed"] is None and recovered["duration_s"] > 0
        assert "result" in generate(client)
        snapshot = client.result("metrics/get", {"model": "tiny"})
        assert snapshot["models"]["tiny"]["lifetime"]["errors_by_code"] == {"OVERLOADED": 1}
        assert snapshot["qos"]["shedding"] == []
    finally:
        client.stop()
    client.assert_conforms()


def test_shed_on_ttft_p99(tmp_path: Path, models: Path) -> None:
    client = start(tmp_path, QOS.format(slo="ttft_p99_ms", dry_run="false", threshold=100,
                                        policy="shed") + SLOW)
    try:
        violation = _drive_past_the_slo(client)
        assert (violation["slo"], violation["model"], violation["action"]) == (
            "ttft_p99_ms", "tiny", "shed")
        assert violation["observed"] > 100  # every TTFT waited the 150 ms delay
        refused = generate(client)["error"]["data"]
        assert (refused["code"], refused["slo"], refused["model"], refused["variant"]) == (
            "OVERLOADED", "ttft_p99_ms", "tiny", "stable")
        assert client.result("metrics/get")["qos"]["shedding"] == ["tiny"]
    finally:
        client.stop()
    client.assert_conforms()


def test_min_tokens_per_s_breach_alerts(tmp_path: Path, models: Path) -> None:
    # 100 ms before each token: no stream decodes faster than 10 tokens/s.
    slow = "debug:\n  faults:\n    tiny: {token_delay_ms: 100}\n"
    client = start(tmp_path, QOS.format(slo="min_tokens_per_s", dry_run="false", threshold=20,
                                        policy="alert") + slow)
    try:
        violation = _drive_past_the_slo(client)
        assert (violation["slo"], violation["model"], violation["action"]) == (
            "min_tokens_per_s", "tiny", "alert")
        assert violation["threshold"] == 20 and 0 < violation["observed"] <= 10
        assert violation["samples"] == 2
        assert "result" in generate(client)  # alert only: still served
        breach = client.result("metrics/get")["qos"]["breaches"][0]
        assert (breach["slo"], breach["action"]) == ("min_tokens_per_s", "alert")
    finally:
        client.stop()
    client.assert_conforms()


def test_dry_run_only_alerts(tmp_path: Path, models: Path) -> None:
    client = start(tmp_path, QOS.format(slo="ttft_p50_ms", dry_run="true", threshold=100,
                                        policy="shed") + SLOW)
    try:
        violation = _drive_past_the_slo(client)
        assert (violation["policy"], violation["action"], violation["dry_run"]) == (
            "shed", "alert", True)
        assert "result" in generate(client)
        assert client.result("metrics/get")["qos"]["shedding"] == []
    finally:
        client.stop()
    client.assert_conforms()


def _order(client: RuntimeClient, first: str, second: str) -> tuple[int, int]:
    """(index of the last chunk of `first`, index of the first chunk of `second`)."""
    chunks = [(i, n["params"]["stream_id"]) for i, n in enumerate(client.notifications)
              if n["method"] == "stream/chunk"]
    last_first = max(i for i, stream in chunks if stream == first)
    first_second = min(i for i, stream in chunks if stream == second)
    return last_first, first_second


def run_two_streams(client: RuntimeClient, prefix: str, model: str = "tiny") -> tuple[int, int]:
    """Start two streams of `model` at once; returns _order of them."""
    a, b = f"{prefix}-a", f"{prefix}-b"
    for stream_id in (a, b):
        client.result("generate", {"model": model, "prompt": "The fox", "stream_id": stream_id,
                                   "max_tokens": 40, "temperature": 0})
    client.stream_end(a), client.stream_end(b)
    return _order(client, a, b)


def test_reduce_batch_lowers_the_batch_while_breached(tmp_path: Path, models: Path) -> None:
    config = QOS.format(slo="ttft_p50_ms", dry_run="false", threshold=0.001,
                        policy="reduce_batch")
    client = start(tmp_path, "batching: {max_batch_size: 2}\n" + config)
    try:
        last_a, first_b = run_two_streams(client, "before")
        assert first_b < last_a  # batched: b joined while a ran
        violation = wait_notification(client, "qos/violation")
        assert violation["action"] == "reduce_batch"
        assert client.result("metrics/get")["qos"]["batch_limits"] == {"tiny": 1}
        last_a, first_b = run_two_streams(client, "during")
        assert last_a < first_b  # one at a time: b waited for a
    finally:
        client.stop()
    client.assert_conforms()
    assert not notifications(client, "qos/recovered")


def test_queue_depth_sheds_and_recovers_as_the_queue_drains(tmp_path: Path,
                                                            models: Path) -> None:
    # Slow, greedy streams: neither an early EOS nor the end of the context
    # window may empty the queue before the evaluator looks.
    config = ("qos:\n  evaluate_interval_s: 0.1\n"
              "  slos: [{slo: max_queue_depth, threshold: 0, policy: shed}]\n"
              "debug:\n  faults:\n    tiny: {token_delay_ms: 20}\n")
    client = start(tmp_path, config, flags="flags:\n  batching: {enabled: false}\n")
    endless = {"model": "tiny", "prompt": "x", "max_tokens": 100000, "temperature": 0}
    try:
        client.result("generate", {**endless, "stream_id": "a"})
        client.wait_for(lambda: client.stream_tokens("a"))
        # `a` itself counted as queued until its first token: let that breach clear.
        _poll(client, lambda: not client.result("metrics/get")["qos"]["shedding"])
        client.result("generate", {**endless, "stream_id": "b"})  # waits: one at a time
        _poll(client, lambda: client.result("metrics/get")["qos"]["shedding"] == ["tiny"])
        violation = notifications(client, "qos/violation")[-1]
        assert (violation["slo"], violation["observed"]) == ("max_queue_depth", 1)
        tiny = client.result("metrics/get")["models"]["tiny"]
        assert (tiny["active_streams"], tiny["queue_depth"]) == (2, 1)
        assert generate(client)["error"]["data"]["code"] == "OVERLOADED"
        client.result("generate/cancel", {"stream_id": "b"})
        _poll(client, lambda: not client.result("metrics/get")["qos"]["shedding"])
        assert notifications(client, "qos/recovered")[-1]["slo"] == "max_queue_depth"
        client.result("generate/cancel", {"stream_id": "a"})
        assert "result" in generate(client)
    finally:
        client.stop()
    client.assert_conforms()


def _poll(client: RuntimeClient, condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
