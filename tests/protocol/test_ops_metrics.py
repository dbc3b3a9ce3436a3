"""metrics/get and the Prometheus exposition over the real runtime."""

from __future__ import annotations

import socket
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ops_runtime import generate, start
from runtime_client import RuntimeClient


def test_metrics_count_every_outcome(tmp_path: Path, models: Path) -> None:
    client = start(tmp_path)
    try:
        for _ in range(3):
            client.generate_stream({"model": "tiny", "prompt": "The fox", "max_tokens": 6,
                                    "temperature": 0})
        assert "result" in generate(client)
        client.result("generate", {"model": "tiny", "prompt": "x", "stream_id": "long",
                                   "max_tokens": 100000})
        client.wait_for(lambda: client.stream_tokens("long"))
        live = client.result("metrics/get", {"model": "tiny"})["models"]["tiny"]
        assert live["active_streams"] == 1 and live["queue_depth"] == 0
        client.result("generate/cancel", {"stream_id": "long"})
        client.stream_end("long")
        too_long = client.call("generate", {"model": "tiny", "prompt": "x " * 5000})
        assert too_long["error"]["data"]["code"] == "CONTEXT_LENGTH_EXCEEDED"
        assert client.call("generate", {"model": "ghost", "prompt": "x"})["error"]
        assert client.call("generate", {"model": "tiny", "max_tokens": 0})["error"]

        snapshot = client.result("metrics/get")
        tiny = snapshot["models"]["tiny"]
        for period in ("lifetime", "window"):
            figures = tiny[period]
            assert figures["requests"] == {"total": 6, "completed": 4, "cancelled": 1,
                                           "failed": 0, "rejected": 1}
            assert figures["errors_by_code"] == {"CONTEXT_LENGTH_EXCEEDED": 1}
            assert figures["error_rate"] == 0.0
            assert figures["ttft_ms"]["count"] == 5  # the cancelled stream had its first token
            assert figures["e2e_ms"]["count"] == 4 and figures["tokens_per_s"]["count"] == 4
            assert figures["inter_token_ms"]["count"] == 3 * 5 + 1
            ttft = figures["ttft_ms"]
            assert 0 < ttft["min"] <= ttft["p50"] <= ttft["p95"] <= ttft["p99"] <= ttft["max"]
        assert tiny["active_streams"] == 0 and tiny["queue_depth"] == 0
        overall = snapshot["overall"]["lifetime"]
        assert overall["requests"]["rejected"] == 2  # + the request for a model never loaded
        assert overall["errors_by_code"] == {"CONTEXT_LENGTH_EXCEEDED": 1, "MODEL_NOT_LOADED": 1}
        assert snapshot["rpc_errors_by_code"] == {"CONTEXT_LENGTH_EXCEEDED": 1,
                                                  "INVALID_PARAMS": 1, "MODEL_NOT_LOADED": 1}
        assert snapshot["qos"]["breaches"] == [] and snapshot["canary"] == []

        unknown = client.call("metrics/get", {"model": "ghost"})
        assert unknown["error"]["data"]["code"] == "MODEL_NOT_LOADED"

        exposition = client.result("metrics/prometheus")
        assert exposition["content_type"].startswith("text/plain; version=0.0.4")
        families = {f.name: f for f in text_string_to_metric_families(exposition["text"])}
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for f in families.values() for s in f.samples}
        assert samples[("mlx_serving_requests_total",
                        (("model", "tiny"), ("outcome", "completed")))] == 4
        assert families["mlx_serving_ttft_seconds"].type == "summary"
        assert samples[("mlx_serving_ttft_seconds_count", (("model", "tiny"),))] == 5
        p99 = samples[("mlx_serving_ttft_seconds", (("model", "tiny"), ("quantile", "0.99")))]
        assert p99 * 1000 == pytest.approx(tiny["window"]["ttft_ms"]["p99"])
    finally:
        client.stop()
    client.assert_conforms()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_prometheus_http_endpoint_on_loopback(tmp_path: Path, models: Path) -> None:
    port = _free_port()
    config = f"metrics:\n  prometheus: {{http_enabled: true, port: {port}}}\n"
    client = start(tmp_path, config)
    try:
        client.generate_stream({"model": "tiny", "prompt": "x", "max_tokens": 3})
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            text = reply.read().decode()
            assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert 'mlx_serving_requests_total{model="tiny",outcome="completed"} 1.0' in text
        # A reload that turns it off closes the port.
        (tmp_path / "runtime.yaml").write_text("")
        assert client.result("config/reload")["changed"] == ["metrics.prometheus.http_enabled",
                                                            "metrics.prometheus.port"]
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0
    finally:
        client.stop()
    client.assert_conforms()


def test_generate_says_who_served_it(shared_tiny: RuntimeClient) -> None:
    accepted = shared_tiny.result("generate", {"model": "tiny", "prompt": "x", "max_tokens": 2})
    assert (accepted["model"], accepted["variant"]) == ("tiny", "stable")
    end = shared_tiny.stream_end(accepted["stream_id"])["params"]
    assert (end["model"], end["variant"]) == ("tiny", "stable")
    result = shared_tiny.result("generate", {"model": "tiny", "prompt": "x", "max_tokens": 2,
                                             "stream": False})
    assert (result["model"], result["variant"]) == ("tiny", "stable")


def test_a_stall_inside_a_stream_shows_in_the_inter_token_p99(tmp_path: Path,
                                                              models: Path) -> None:
    # One 400 ms pause in each of two streams of 30 tokens: 2 gaps of 58. A
    # per-stream mean gap would spread each pause over its stream's 29 gaps.
    client = start(tmp_path, "debug:\n  faults:\n    tiny: {stall_ms: 400, stall_at_token: 10}\n")
    try:
        for _ in range(2):
            _, end = client.generate_stream({"model": "tiny", "prompt": "x", "max_tokens": 30,
                                             "temperature": 0})
            assert end["params"]["stats"]["generated_tokens"] == 30
        tiny = client.result("metrics/get", {"model": "tiny"})["models"]["tiny"]
        gaps = tiny["lifetime"]["inter_token_ms"]
        assert gaps["count"] == 58
        assert gaps["p99"] >= 390 and gaps["max"] >= 400  # within the sketch's 1% (+1/16%)
        assert gaps["p50"] < 390
        assert tiny["window"]["inter_token_ms"]["p99"] == gaps["p99"]
    finally:
        client.stop()
    client.assert_conforms()


def test_a_pause_is_no_inter_token_gap(tmp_path: Path, models: Path) -> None:
    # The reader holds the stream 1.5 s: its own wait, not the engine's latency.
    client = start(tmp_path)
    try:
        client.result("generate", {"model": "tiny", "prompt": "x", "stream_id": "held",
                                   "max_tokens": 300, "temperature": 0})
        client.wait_for(lambda: client.stream_tokens("held"))
        assert client.result("generate/pause", {"stream_id": "held"})["paused"] is True
        time.sleep(1.5)
        assert client.result("generate/resume", {"stream_id": "held"})["paused"] is False
        end = client.stream_end("held")["params"]
        assert end["finish_reason"] == "length" and end["stats"]["total_ms"] >= 1500
        gaps = client.result("metrics/get", {"model": "tiny"})["models"]["tiny"][
            "lifetime"]["inter_token_ms"]
        assert gaps["count"] == 299 and gaps["max"] < 1000
    finally:
        client.stop()
    client.assert_conforms()
