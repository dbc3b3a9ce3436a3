"""Start-up, shell piping, EOF, signals and shutdown."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from runtime_client import RUNTIME, RuntimeClient


def _lines(stdout: bytes) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_echo_runtime_info_prints_one_line_and_exits_0() -> None:
    done = subprocess.run([sys.executable, str(RUNTIME)], capture_output=True, timeout=60,
                          input=b'{"jsonrpc":"2.0","id":1,"method":"runtime/info"}\n')
    assert done.returncode == 0
    (line,) = done.stdout.splitlines()
    info = json.loads(line)
    assert info["id"] == 1 and info["result"]["name"] == "mlx-serving"
    assert info["result"]["device"]["type"] in ("cpu", "gpu")


def test_printf_session(models: Path) -> None:
    """The scripted shell session of the README: everything piped in at once."""
    tiny = models / "tiny"
    script = (
        "printf '%s\\n' "
        f"'{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"model/load\",\"params\":{{\"model\":\"{tiny}\",\"model_id\":\"tiny\"}}}}' "
        "'{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"generate\",\"params\":{\"model\":\"tiny\",\"prompt\":\"The fox\",\"stream_id\":\"a\",\"max_tokens\":8,\"temperature\":0}}' "
        "'{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"generate\",\"params\":{\"model\":\"tiny\",\"prompt\":\"The fox\",\"stream_id\":\"b\",\"max_tokens\":500}}' "
        "'{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"generate/cancel\",\"params\":{\"stream_id\":\"b\"}}' "
        "'{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tokenize\",\"params\":{\"model\":\"tiny\",\"text\":\"The fox\"}}' "
        "'{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"runtime/shutdown\"}' "
        f"| {sys.executable} {RUNTIME}"
    )
    done = subprocess.run(["bash", "-c", script], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    messages = _lines(done.stdout)
    responses = {m["id"]: m for m in messages if "id" in m}
    assert all("result" in responses[i] for i in range(1, 7)), responses
    assert responses[4]["result"]["cancelled"] is True
    ends = {m["params"]["stream_id"]: m["params"]["finish_reason"]
            for m in messages if m.get("method") == "stream/end"}
    assert ends == {"a": "length", "b": "cancelled"}
    # The accept response of a stream comes before its first chunk.
    first_chunk = next(i for i, m in enumerate(messages) if m.get("method") == "stream/chunk")
    assert messages.index(responses[2]) < first_chunk


def test_eof_mid_stream_finishes_the_stream_then_exits_0(tiny: RuntimeClient) -> None:
    tiny.result("generate", {"model": "tiny", "prompt": "x", "stream_id": "s", "max_tokens": 300,
                             "temperature": 0})
    tiny.close_stdin()
    assert tiny.wait_exit() == 0
    end = tiny.stream_end("s")["params"]
    assert end["finish_reason"] == "length" and end["stats"]["generated_tokens"] == 300


def test_sigterm_cancels_streams_and_exits_0(tiny: RuntimeClient) -> None:
    tiny.result("generate", {"model": "tiny", "prompt": "x", "stream_id": "s", "max_tokens": 100000,
                             "temperature": 0})
    tiny.wait_for(lambda: tiny.stream_tokens("s"))
    tiny.proc.send_signal(signal.SIGTERM)
    assert tiny.wait_exit() == 0
    assert tiny.stream_end("s")["params"]["finish_reason"] == "cancelled"


def test_shutdown_without_drain_cancels(tiny: RuntimeClient) -> None:
    tiny.result("generate", {"model": "tiny", "prompt": "x", "stream_id": "s", "max_tokens": 100000,
                             "temperature": 0})
    result = tiny.result("runtime/shutdown", {"drain": False})
    assert result == {"status": "stopping", "active_streams": 1}
    assert tiny.wait_exit() == 0
    assert tiny.stream_end("s")["params"]["finish_reason"] == "cancelled"


def test_shutdown_drains_and_refuses_new_work(tiny: RuntimeClient) -> None:
    tiny.result("generate", {"model": "tiny", "prompt": "x", "stream_id": "s", "max_tokens": 200,
                             "temperature": 0})
    assert tiny.result("shutdown")["status"] == "draining"  # legacy name
    refused = tiny.call("generate", {"model": "tiny", "prompt": "x"})
    assert refused["error"]["data"]["code"] == "SHUTTING_DOWN"
    assert tiny.wait_exit() == 0
    assert tiny.stream_end("s")["params"]["finish_reason"] == "length"


def test_a_drain_resumes_paused_streams_and_pauses_none(tiny: RuntimeClient) -> None:
    for stream_id in ("paused", "later"):
        tiny.result("generate", {"model": "tiny", "prompt": "x", "stream_id": stream_id,
                                 "max_tokens": 200, "temperature": 0})
    assert tiny.result("generate/pause", {"stream_id": "paused"})["paused"] is True
    assert tiny.result("runtime/shutdown")["status"] == "draining"
    assert tiny.result("generate/pause", {"stream_id": "later"})["paused"] is False
    assert tiny.wait_exit() == 0
    for stream_id in ("paused", "later"):
        end = tiny.stream_end(stream_id)["params"]
        assert end["finish_reason"] == "length" and end["stats"]["generated_tokens"] == 200


def test_logs_never_reach_stdout(models: Path) -> None:
    client = RuntimeClient("--log-level", "debug")
    try:
        client.result("model/load", {"model": str(models / "tiny"), "model_id": "tiny"})
        client.generate_stream({"model": "tiny", "prompt": "x", "max_tokens": 3})
        client.result("runtime/shutdown")
        assert client.wait_exit() == 0
    finally:
        client.stop()
    assert any(" DEBUG " in line for line in client.stderr_lines)
    assert client.raw_lines and all(line.startswith((b"{", b"[")) for line in client.raw_lines)
    client.assert_conforms()


def test_bad_config_stops_start_up_with_a_clear_message(tmp_path: Path) -> None:
    config = tmp_path / "runtime.yaml"
    config.write_text("batching:\n  max_batch_sise: 4\n")
    done = subprocess.run([sys.executable, str(RUNTIME), "--config", str(config)],
                          capture_output=True, timeout=60, input=b"")
    assert done.returncode == 2 and done.stdout == b""
    assert b"max_batch_sise" in done.stderr
