"""Signals are always seen: SIGTERM at idle, right after an answer, and
during a stuck engine (which the stop grace outlasts)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runtime_client import ROOT, RuntimeClient

_ROUNDS = 3


# The main thread blocks SIGTERM, so the kernel must hand it to another
# thread: with plain Python handlers it would wait, unseen, for the main
# thread's next bytecode (here: never, it waits in a lock).
_ELSEWHERE = """
import os, queue, signal, sys, threading
from mlx_serving.signals import SignalWatcher
seen = queue.SimpleQueue()
SignalWatcher({signal.SIGTERM: seen.put}, frozenset(), 5.0, lambda: os._exit(3)).install()
threading.Thread(target=threading.Event().wait, daemon=True).start()
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
print("ready", flush=True)
for _ in range(%d):
    print(seen.get(timeout=20).name, flush=True)
"""


@pytest.mark.timeout(60)
def test_a_signal_taken_by_another_thread_is_acted_on() -> None:
    rounds = 50
    child = subprocess.Popen([sys.executable, "-c", _ELSEWHERE % rounds], cwd=ROOT / "python",
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline() == "ready\n"
    for _ in range(rounds):
        child.send_signal(signal.SIGTERM)
        assert child.stdout.readline() == "SIGTERM\n"
    assert child.wait(10) == 0


def _config(tmp_path: Path, body: str) -> str:
    path = tmp_path / "runtime.yaml"
    path.write_text(body)
    return str(path)


@pytest.mark.timeout(240)
def test_sigterm_right_after_an_answer_always_exits(models: Path) -> None:
    """Each round: a non-streaming generate, its answer, SIGTERM at once."""
    for _ in range(_ROUNDS):
        client = RuntimeClient()
        try:
            client.result("model/load", {"model": str(models / "tiny"), "model_id": "tiny"})
            for _ in range(3):
                client.result("generate", {"model": "tiny", "prompt": "hi", "max_tokens": 2,
                                           "streaming": False, "temperature": 0})
                client.result("runtime/info")
            client.proc.send_signal(signal.SIGTERM)
            assert client.wait_exit(timeout=20) == 0
            assert any("SIGTERM: cancelling" in line for line in client.stderr_lines)
        finally:
            client.stop()
        client.assert_conforms()


@pytest.mark.timeout(120)
def test_sigterm_outlasts_a_stuck_engine(models: Path, tmp_path: Path) -> None:
    """The engine thread sleeps a minute inside a stream's step (a fault the
    debug config injects): SIGTERM still ends the process after the grace."""
    config = _config(tmp_path, "transport:\n  stop_grace_s: 1\n"
                               "debug:\n  faults:\n    tiny:\n      token_delay_ms: 60000\n")
    client = RuntimeClient("--config", config)
    try:
        client.result("model/load", {"model": str(models / "tiny"), "model_id": "tiny"})
        client.start("generate", {"model": "tiny", "prompt": "hi", "max_tokens": 2,
                                  "streaming": True})
        time.sleep(1.0)  # the engine thread now sleeps in the stream's first step
        client.proc.send_signal(signal.SIGTERM)
        assert client.wait_exit(timeout=30) == 1
        assert any("exiting anyway" in line for line in client.stderr_lines)
    finally:
        client.stop()
