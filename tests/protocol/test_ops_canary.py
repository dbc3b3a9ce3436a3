"""Canary routing over the real runtime: split and stickiness by request key,
progressive advance, rollback on errors, on slowness and on a failed load."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlx_serving.ops.buckets import in_rollout
from ops_runtime import MODELS, generate, notifications, start, wait_notification
from runtime_client import RuntimeClient


def _canary(schedule: str, *, min_requests: int = 1000, rollback: str = "{}",
            model: str | None = None) -> str:
    return (f"canary:\n  tiny:\n    model: {model or MODELS / 'tiny-4bit'}\n"
            f"    schedule: {schedule}\n    min_requests: {min_requests}\n"
            f"    min_healthy_s: 0\n    rollback: {rollback}\n")


def _active(client: RuntimeClient) -> dict:
    return wait_notification(client, "canary/update", lambda p: p["state"] == "active")


def _variant(response: dict) -> tuple[str, str]:
    result = response["result"]
    return result["variant"], result["model"]


def test_split_follows_the_key_hash_and_sticks(tmp_path: Path, models: Path) -> None:
    # No rollback by TTFT: on a busy machine the canary's p99 may pass twice the
    # stable's, and a rollback would move every key back to stable mid-test.
    client = start(tmp_path, _canary("[30]", rollback="{ttft_p99_ratio: null}"))
    try:
        active = _active(client)
        assert (active["stable_model"], active["canary_model"], active["percentage"]) == (
            "tiny", "tiny@canary", 30)
        keys = [f"user-{n}" for n in range(60)]
        served = {key: _variant(generate(client, user_id=key)) for key in keys}
        for key, (variant, model) in served.items():
            canary = in_rollout("canary:tiny", key, 30)
            assert (variant, model) == (("canary", "tiny@canary") if canary else ("stable", "tiny"))
        assert {variant for variant, _ in served.values()} == {"stable", "canary"}
        for key in keys[:10]:  # the same key, the same variant
            assert _variant(generate(client, request_key=key)) == served[key]
        stream_key = next(key for key in keys if served[key][0] == "canary")
        accepted = client.result("generate", {"model": "tiny", "prompt": "x", "max_tokens": 2,
                                              "stream_id": stream_key})
        assert accepted["variant"] == "canary"  # no request_key: the stream_id routes
        end = client.stream_end(stream_key)["params"]
        assert (end["variant"], end["model"]) == ("canary", "tiny@canary")
        metrics = client.result("metrics/get")
        assert metrics["models"]["tiny@canary"]["lifetime"]["requests"]["completed"] > 0
        assert metrics["canary"][0]["stage_requests"] >= 1

        # The flag off: everything goes to stable; the canary stays loaded.
        (tmp_path / "flags.yaml").write_text("flags:\n  canary: {enabled: false}\n")
        assert client.result("config/reload")["flags_changed"] == ["flags.canary.enabled"]
        assert {_variant(generate(client, user_id=key))[0] for key in keys[:20]} == {"stable"}
    finally:
        client.stop()
    client.assert_conforms()


def test_progressive_advance_to_promotion(tmp_path: Path, models: Path) -> None:
    client = start(tmp_path, _canary("[20, 60, 100]", min_requests=2,
                                     rollback="{min_requests: 2, ttft_p99_ratio: null}"))
    try:
        _active(client)
        for n in range(200):
            generate(client, user_id=f"k{n}")
            if any(p["state"] == "promoted" for p in notifications(client, "canary/update")):
                break
        updates = [(p["state"], p["stage"], p["percentage"])
                   for p in notifications(client, "canary/update")]
        assert updates == [("loading", 0, 0.0), ("active", 0, 20.0), ("active", 1, 60.0),
                           ("active", 2, 100.0), ("promoted", 2, 100.0)]
        assert _variant(generate(client, user_id="anyone")) == ("canary", "tiny@canary")
    finally:
        client.stop()
    client.assert_conforms()


ERRORS = ("{max_error_rate: 0.1, ttft_p99_ratio: null, min_requests: 2}",
          "debug:\n  faults:\n    tiny@canary: {error_rate: 1.0}\n", "error rate 1.00")
SLOW = ("{ttft_p99_ms: 80, ttft_p99_ratio: null, min_requests: 2}",
        "debug:\n  faults:\n    tiny@canary: {token_delay_ms: 120}\n", "p99 TTFT")


@pytest.mark.parametrize(("rollback", "faults", "reason"), [ERRORS, SLOW], ids=["errors", "slow"])
def test_forced_rollback(tmp_path: Path, models: Path, rollback: str, faults: str,
                         reason: str) -> None:
    client = start(tmp_path, _canary("[50]", rollback=rollback) + faults)
    try:
        _active(client)
        keys = [f"user-{n}" for n in range(40)]
        canary_keys = [key for key in keys if in_rollout("canary:tiny", key, 50)]
        for key in canary_keys[:2]:
            response = generate(client, user_id=key)
            if reason.startswith("error"):
                data = response["error"]["data"]  # a failure says who served it, as a result does
                assert (data["code"], data["model"], data["variant"]) == (
                    "GENERATION_FAILED", "tiny@canary", "canary")
            else:
                assert _variant(response) == ("canary", "tiny@canary")
        rolled = wait_notification(client, "canary/update", lambda p: p["state"] == "rolled_back")
        assert reason in rolled["reason"] and rolled["percentage"] == 0
        assert {_variant(generate(client, user_id=key)) for key in canary_keys} == {
            ("stable", "tiny")}
        # Once idle, the canary model is unloaded.
        client.wait_for(lambda: "tiny@canary" not in [
            m["model_id"] for m in client.result("model/list")["models"]], timeout=30)
        assert client.result("metrics/get")["canary"][0]["state"] == "rolled_back"
    finally:
        client.stop()
    client.assert_conforms()


def test_failing_stream_reports_its_variant(tmp_path: Path, models: Path) -> None:
    client = start(tmp_path, _canary("[100]", rollback="{min_requests: 50}")
                   + ERRORS[1])
    try:
        _active(client)
        accepted = client.result("generate", {"model": "tiny", "prompt": "x", "max_tokens": 3})
        end = client.stream_end(accepted["stream_id"])
        assert end["method"] == "stream/error"
        assert (end["params"]["variant"], end["params"]["model"]) == ("canary", "tiny@canary")
        data = end["params"]["error"]["data"]
        assert (data["variant"], data["model"]) == ("canary", "tiny@canary")
        failed = client.result("metrics/get", {"model": "tiny@canary"})["models"]["tiny@canary"]
        assert failed["lifetime"]["requests"]["failed"] == 1
        assert failed["lifetime"]["error_rate"] == 1.0
    finally:
        client.stop()
    client.assert_conforms()


def test_a_canary_that_cannot_load_rolls_back(tmp_path: Path, models: Path) -> None:
    client = start(tmp_path, _canary("[50]", model=str(tmp_path / "no-such-model")))
    try:
        rolled = wait_notification(client, "canary/update", lambda p: p["state"] == "rolled_back")
        assert "failed to load" in rolled["reason"] and "no-such-model" in rolled["reason"]
        assert {_variant(generate(client, user_id=f"u{n}"))[0] for n in range(10)} == {"stable"}
    finally:
        client.stop()
    client.assert_conforms()


def _canary_keys(count: int, percentage: float) -> list[str]:
    keys = (f"user-{n}" for n in range(100000))
    return [key for key in keys if in_rollout("canary:tiny", key, percentage)][:count]


def test_split_over_1000_keys_on_the_runtime(tmp_path: Path, models: Path) -> None:
    client = start(tmp_path, _canary("[10]", rollback="{ttft_p99_ratio: null}"))
    keys = [f"key-{n}" for n in range(1000)]

    def served_all() -> dict[str, tuple[str, str]]:
        # Pipelined: every request is on the wire before the first answer is read.
        ids = {key: client.start("generate", {"model": "tiny", "prompt": "x", "max_tokens": 1,
                                              "streaming": False, "request_key": key})
               for key in keys}
        return {key: _variant(client.response(request_id)) for key, request_id in ids.items()}

    try:
        _active(client)
        first = served_all()
        canary_share = sum(variant == "canary" for variant, _ in first.values()) / 10
        assert abs(canary_share - 10) <= 3, canary_share
        assert served_all() == first  # each key sticks to its variant
        assert client.result("metrics/get")["canary"][0]["state"] == "active"
    finally:
        client.stop()
    client.assert_conforms()


def test_canary_refusals_name_it_and_do_not_advance_it(tmp_path: Path, models: Path) -> None:
    # An SLO on the canary alone makes it shed load after its first request;
    # its OVERLOADED refusals must not count as healthy canary requests.
    qos = ("qos:\n  evaluate_interval_s: 0.1\n  min_samples: 1\n"
           "  slos: [{slo: ttft_p50_ms, threshold: 0, policy: shed, model: tiny@canary}]\n")
    client = start(tmp_path, _canary("[50, 100]", min_requests=3,
                                     rollback="{min_requests: 3, ttft_p99_ratio: null}") + qos)
    try:
        _active(client)
        first, *refused_keys = _canary_keys(5, 50)
        assert _variant(generate(client, user_id=first)) == ("canary", "tiny@canary")
        wait_notification(client, "qos/violation", lambda p: p["model"] == "tiny@canary")
        for key in refused_keys:
            data = generate(client, user_id=key)["error"]["data"]
            assert (data["code"], data["model"], data["variant"]) == (
                "OVERLOADED", "tiny@canary", "canary")
        state = client.result("metrics/get")["canary"][0]
        assert (state["state"], state["stage"], state["stage_requests"]) == ("active", 0, 1)
        assert [p["stage"] for p in notifications(client, "canary/update")] == [0, 0]
    finally:
        client.stop()
    client.assert_conforms()


def test_auto_rollback_off_keeps_a_failing_canary(tmp_path: Path, models: Path) -> None:
    client = start(tmp_path, _canary("[50]", rollback=ERRORS[0]) + ERRORS[1],
                   flags="flags:\n  canary: {sub_flags: {auto_rollback: false}}\n")
    try:
        _active(client)
        for key in _canary_keys(4, 50):
            data = generate(client, user_id=key)["error"]["data"]
            assert (data["code"], data["variant"]) == ("GENERATION_FAILED", "canary")
        # Each outcome was judged before its answer went out: none rolled it back.
        state = client.result("metrics/get")["canary"][0]
        assert (state["state"], state["stage_requests"], state["stage_failures"]) == (
            "active", 4, 4)
        assert [p["state"] for p in notifications(client, "canary/update")] == [
            "loading", "active"]
        (tmp_path / "flags.yaml").write_text("")
        client.result("config/reload")  # the flag back on: the next evaluation rolls back
        rolled = wait_notification(client, "canary/update", lambda p: p["state"] == "rolled_back")
        assert "error rate 1.00" in rolled["reason"]
    finally:
        client.stop()
    client.assert_conforms()


def test_auto_advance_off_holds_the_stage(tmp_path: Path, models: Path) -> None:
    client = start(tmp_path, _canary("[50, 100]", min_requests=2,
                                     rollback="{min_requests: 2, ttft_p99_ratio: null}"),
                   flags="flags:\n  canary: {sub_flags: {auto_advance: false}}\n")
    try:
        _active(client)
        for key in _canary_keys(4, 50):
            assert _variant(generate(client, user_id=key)) == ("canary", "tiny@canary")
        state = client.result("metrics/get")["canary"][0]
        assert (state["state"], state["stage"], state["percentage"], state["stage_requests"]) == (
            "active", 0, 50, 4)
        (tmp_path / "flags.yaml").write_text("")
        client.result("config/reload")  # the flag back on: the next evaluation advances
        advanced = wait_notification(client, "canary/update", lambda p: p["stage"] == 1)
        assert (advanced["state"], advanced["percentage"]) == ("active", 100)
    finally:
        client.stop()
    client.assert_conforms()
