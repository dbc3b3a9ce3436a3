"""Feature flags and config/reload over the real runtime: start-up validation,
each flag flipped changes behaviour, reload (method and SIGHUP) keeps streams."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_ops_qos import run_two_streams

from mlx_serving.ops.buckets import in_rollout
from ops_runtime import MODELS, start
from runtime_client import RUNTIME, RuntimeClient


def test_bad_flags_file_stops_start_up_naming_the_key(tmp_path: Path) -> None:
    flags = tmp_path / "flags.yaml"
    flags.write_text("flags:\n  canary: {rollout_percentage: 101}\n")
    done = subprocess.run([sys.executable, str(RUNTIME), "--flags", str(flags)],
                          capture_output=True, timeout=60, input=b"")
    assert done.returncode == 2 and done.stdout == b""
    assert b"rollout_percentage" in done.stderr and b"<= 100" in done.stderr


def test_flags_file_from_the_environment(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text("kill_switch: true\n")
    client = RuntimeClient(env={"MLX_SERVING_FLAGS": str(tmp_path / "mine.yaml")})
    try:
        flags = client.result("flags/get", {"request_key": "k"})
        assert flags["path"] == str(tmp_path / "mine.yaml") and flags["kill_switch"] is True
        assert flags["flags"]["canary"]["enabled"] is False
        assert flags["flags"]["batching"]["on_for_key"] is False
    finally:
        client.stop()
    client.assert_conforms()


def test_batching_flag_and_kill_switch(tmp_path: Path, models: Path) -> None:
    client = start(tmp_path, flags="flags:\n  batching: {enabled: false}\n")
    try:
        last_a, first_b = run_two_streams(client, "off")
        assert last_a < first_b  # one stream at a time
        assert client.result("metrics/get")["qos"]["batch_limits"] == {"tiny": 1}
        (tmp_path / "flags.yaml").write_text("")
        assert client.result("config/reload")["flags_changed"] == ["flags.batching.enabled"]
        last_a, first_b = run_two_streams(client, "on")
        assert first_b < last_a  # batched again
        (tmp_path / "flags.yaml").write_text("kill_switch: true\n")
        client.result("config/reload")
        last_a, first_b = run_two_streams(client, "killed")
        assert last_a < first_b
    finally:
        client.stop()
    client.assert_conforms()


def test_batching_rollout_is_by_model_id(tmp_path: Path, models: Path) -> None:
    ids = (f"model-{n}" for n in range(1000))
    inside = next(model_id for model_id in ids if in_rollout("batching", model_id, 50))
    outside = next(model_id for model_id in ids if not in_rollout("batching", model_id, 50))
    client = start(tmp_path, flags="flags:\n  batching: {rollout_percentage: 50}\n", load=False)
    try:
        for model_id in (inside, outside):
            client.result("model/load", {"model": str(MODELS / "tiny"), "model_id": model_id})
        last_a, first_b = run_two_streams(client, "inside", inside)
        assert first_b < last_a  # batched
        last_a, first_b = run_two_streams(client, "outside", outside)
        assert last_a < first_b  # one stream at a time
        assert client.result("metrics/get")["qos"]["batch_limits"] == {outside: 1}
    finally:
        client.stop()
    client.assert_conforms()


def test_kill_switch_turns_off_prompt_cache_and_guidance_too(tmp_path: Path,
                                                              models: Path) -> None:
    client = start(tmp_path, flags="kill_switch: true\n")
    regex = {"model": "tiny", "prompt": "x", "max_tokens": 20, "stream": False,
             "guidance": {"mode": "regex", "pattern": "xyz"}}
    try:
        refused = client.call("generate", regex)["error"]
        assert (refused["data"]["code"], refused["data"]["flag"]) == ("UNSUPPORTED", "kill_switch")
        assert [_reused(client) for _ in range(2)] == [0, 0]  # nothing kept, nothing reused
        assert client.result("runtime/state")["models"][0]["prompt_cache"]["entries"] == 0
        assert client.result("metrics/get")["qos"]["batch_limits"] == {"tiny": 1}

        (tmp_path / "flags.yaml").write_text("")
        assert client.result("config/reload")["flags_changed"] == ["kill_switch"]
        assert client.result("generate", regex)["text"] == "xyz"
        assert _reused(client) == 0 and _reused(client) > 0
        assert client.result("metrics/get")["qos"]["batch_limits"] == {}
    finally:
        client.stop()
    client.assert_conforms()


@pytest.mark.parametrize(("mode", "guidance"), [
    ("json_schema", {"mode": "json_schema", "schema": {"type": "boolean"}}),
    ("xml", {"mode": "xml", "schema": "<!ELEMENT a (#PCDATA)>", "max_text_length": 4}),
])
def test_guidance_sub_flags_refuse_their_mode(tmp_path: Path, models: Path, mode: str,
                                              guidance: dict) -> None:
    client = start(tmp_path, flags=f"flags:\n  guidance: {{sub_flags: {{{mode}: false}}}}\n")
    request = {"model": "tiny", "prompt": "x", "max_tokens": 30, "stream": False,
               "guidance": guidance}
    try:
        refused = client.call("generate", request)["error"]
        assert refused["data"] == {"code": "UNSUPPORTED", "flag": f"guidance.sub_flags.{mode}",
                                   "model": "tiny", "variant": "stable"}
        assert f"structured output ({mode}) is turned off" in refused["message"]
        streamed = client.call("generate", {**request, "stream": True})["error"]
        assert streamed["data"]["flag"] == f"guidance.sub_flags.{mode}"  # streaming too
        regex = {**request, "guidance": {"mode": "regex", "pattern": "xyz"}}
        assert client.result("generate", regex)["text"] == "xyz"  # other modes still run

        (tmp_path / "flags.yaml").write_text("")
        client.result("config/reload")
        assert client.result("generate", request)["guidance"] == {"complete": True}
    finally:
        client.stop()
    client.assert_conforms()


def test_sighup_reload_keeps_a_stream_in_flight(tmp_path: Path, models: Path) -> None:
    # 20 ms a token: the stream runs ~10 s to the context's end unless cancelled.
    client = start(tmp_path, "debug:\n  faults:\n    tiny: {token_delay_ms: 20}\n")
    params = {"model": "tiny", "prompt": "x", "max_tokens": 100000, "temperature": 0}
    try:
        client.result("generate", {**params, "stream_id": "s"})
        client.wait_for(lambda: client.stream_tokens("s"))
        # The reload lowers the model's batch size to 1 under the running stream.
        (tmp_path / "flags.yaml").write_text("flags:\n  batching: {enabled: false}\n")
        client.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while client.result("metrics/get")["qos"]["batch_limits"] != {"tiny": 1}:
            assert time.monotonic() < deadline, "SIGHUP did not reload the flags"
            time.sleep(0.05)
        client.result("generate/cancel", {"stream_id": "s"})  # fails if it had ended
        end = client.stream_end("s")["params"]
        assert end["finish_reason"] == "cancelled"
        ids = [token["id"] for token in client.stream_tokens("s")]
        assert len(ids) == end["stats"]["generated_tokens"] > 1
        accepted = client.result("generate", {**params, "max_tokens": len(ids)})
        client.stream_end(accepted["stream_id"])
        # Greedy: the same tokens, so none was lost or repeated across the reload.
        assert [token["id"] for token in client.stream_tokens(accepted["stream_id"])] == ids
    finally:
        client.stop()
    client.assert_conforms()


def test_reload_reports_changes_and_keeps_streams(tmp_path: Path, models: Path) -> None:
    client = start(tmp_path, "qos:\n  window_s: 60\n")
    try:
        client.result("generate", {"model": "tiny", "prompt": "x", "stream_id": "s",
                                   "max_tokens": 400, "temperature": 0})
        (tmp_path / "runtime.yaml").write_text(
            "qos:\n  window_s: 30\n  slos: [{slo: error_rate, threshold: 0.5}]\n"
            "batching: {max_batch_size: 4}\nmetrics: {relative_accuracy: 0.02}\n")
        (tmp_path / "flags.yaml").write_text(
            "flags:\n  canary: {rollout_percentage: 10, sub_flags: {auto_advance: false}}\n")
        result = client.result("config/reload")
        assert result["changed"] == ["qos.slos", "qos.window_s"]
        assert result["restart_required"] == ["batching.max_batch_size",
                                              "metrics.relative_accuracy"]
        assert result["flags_changed"] == ["flags.canary.rollout_percentage",
                                           "flags.canary.sub_flags.auto_advance"]
        assert result["config_path"] == str(tmp_path / "runtime.yaml")
        metrics = client.result("metrics/get")
        assert metrics["window_s"] == 30 and metrics["qos"]["slos"] == 1
        flags = client.result("flags/get")["flags"]["canary"]
        assert flags["rollout_percentage"] == 10 and flags["sub_flags"]["auto_advance"] is False
        end = client.stream_end("s")["params"]
        assert end["finish_reason"] == "length" and end["stats"]["generated_tokens"] == 400
    finally:
        client.stop()
    client.assert_conforms()


def test_invalid_reload_is_refused_and_the_old_config_stays(tmp_path: Path, models: Path) -> None:
    client = start(tmp_path, flags="flags:\n  canary: {rollout_percentage: 20}\n")
    try:
        (tmp_path / "flags.yaml").write_text("flags:\n  canary: {rollout_percentage: 150}\n")
        error = client.call("config/reload")["error"]
        assert error["code"] == -32020 and error["data"]["code"] == "CONFIG_INVALID"
        assert "rollout_percentage" in error["message"] and "stays" in error["message"]
        (tmp_path / "flags.yaml").write_text("")
        (tmp_path / "runtime.yaml").write_text("qos:\n  slos: [{slo: ttft_p99_ms}]\n")
        error = client.call("config/reload")["error"]
        assert error["data"]["code"] == "CONFIG_INVALID" and "threshold" in error["message"]
        flags = client.result("flags/get")["flags"]["canary"]
        assert flags["rollout_percentage"] == 20  # neither file was applied
        assert client.result("metrics/get")["qos"]["slos"] == 0
        assert client.generate_stream({"model": "tiny", "prompt": "x", "max_tokens": 2})
    finally:
        client.stop()
    client.assert_conforms()


def test_sighup_reloads(tmp_path: Path, models: Path) -> None:
    client = start(tmp_path, load=False)
    try:
        client.result("runtime/info")  # up, with its signal handlers in place
        (tmp_path / "flags.yaml").write_text("flags:\n  batching: {rollout_percentage: 0}\n")
        client.proc.send_signal(signal.SIGHUP)

        def rollout() -> float:
            return client.result("flags/get")["flags"]["batching"]["rollout_percentage"]

        deadline = time.monotonic() + 30
        while rollout() != 0:
            assert time.monotonic() < deadline, "SIGHUP did not reload the flags"
            time.sleep(0.05)
        client.result("runtime/shutdown")
        assert client.wait_exit() == 0
    finally:
        client.stop()
    client.assert_conforms()


def test_guidance_flag_refuses_rather_than_ignores(tmp_path: Path, models: Path) -> None:
    client = start(tmp_path, flags="flags:\n  guidance: {enabled: false}\n")
    regex = {"model": "tiny", "prompt": "x", "max_tokens": 20, "stream": False,
             "guidance": {"mode": "regex", "pattern": "xyz"}}
    schema = {**regex, "guidance": {"mode": "json_schema", "schema": {"type": "boolean"}}}
    try:
        refused = client.call("generate", regex)["error"]
        assert refused["data"] == {"code": "UNSUPPORTED", "flag": "guidance", "model": "tiny",
                                   "variant": "stable"}
        assert "turned off" in refused["message"] and "feature flag `guidance`" in refused["message"]
        plain = {key: value for key, value in regex.items() if key != "guidance"}
        assert "guidance" not in client.result("generate", plain)  # plain requests still run

        (tmp_path / "flags.yaml").write_text(
            "flags:\n  guidance: {sub_flags: {regex: false}}\n")
        client.result("config/reload")
        refused = client.call("generate", regex)["error"]
        assert refused["data"] == {"code": "UNSUPPORTED", "flag": "guidance.sub_flags.regex",
                                   "model": "tiny", "variant": "stable"}
        assert client.result("generate", schema)["guidance"] == {"complete": True}

        (tmp_path / "flags.yaml").write_text("")
        client.result("config/reload")
        result = client.result("generate", regex)
        assert result["text"] == "xyz" and result["guidance"] == {"complete": True}
        errors = client.result("metrics/get")["models"]["tiny"]["lifetime"]["errors_by_code"]
        assert errors == {"UNSUPPORTED": 2}
    finally:
        client.stop()
    client.assert_conforms()


STORY = " ".join(f"The old man walks to the hill number {i}." for i in range(12))


def _reused(client: RuntimeClient, **params: object) -> int:
    _, end = client.generate_stream({"model": "tiny", "prompt": STORY, "max_tokens": 4,
                                     "temperature": 0, **params})
    return end["params"]["stats"]["cached_tokens"]


def test_prompt_cache_flag(tmp_path: Path, models: Path) -> None:
    client = start(tmp_path, flags="flags:\n  prompt_cache: {enabled: false}\n")
    try:
        assert [_reused(client) for _ in range(3)] == [0, 0, 0]  # nothing reused, nothing kept
        assert client.result("runtime/state")["models"][0]["prompt_cache"]["entries"] == 0
        (tmp_path / "flags.yaml").write_text("flags:\n  prompt_cache: {rollout_percentage: 50}\n")
        client.result("config/reload")
        keys = [f"user-{n}" for n in range(12)]
        on = [key for key in keys if in_rollout("prompt_cache", key, 50)]
        off = [key for key in keys if key not in on]
        assert _reused(client, request_key=on[0]) == 0  # the first one fills the cache
        assert _reused(client, request_key=on[1]) > 0
        assert _reused(client, request_key=off[0]) == 0  # outside the rollout: no reuse
        metrics = client.result("metrics/get", {"model": "tiny"})["models"]["tiny"]
        assert metrics["lifetime"]["cached_tokens"] > 0
    finally:
        client.stop()
    client.assert_conforms()
