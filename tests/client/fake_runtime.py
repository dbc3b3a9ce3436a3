"""A stand-in runtime for faults the real one never shows: garbage on stdout,
a slow or failed start, a call it never answers, a stream faster than any
consumer from a runtime that cannot pause it, a runtime that cannot start
again once it died. Run as the engine's
`runtime_path`; FAKE_RUNTIME_MODE picks the fault.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

MODE = os.environ.get("FAKE_RUNTIME_MODE", "garbage")
out = sys.stdout.buffer

INFO = {
    "name": "fake-runtime", "version": "0.0.0", "protocol_version": os.environ.get("FAKE_PROTOCOL", "1.0"),
    "pid": os.getpid(), "python": "fake", "platform": sys.platform, "device": {"type": "cpu", "name": "fake"},
    "versions": {}, "models": [], "limits": {"max_message_bytes": 1 << 20, "max_batch_size": 1, "max_tokens": 1 << 20},
    "methods": [],
}
STATE = {"status": "ready", "uptime_s": 0.0, "active_streams": 0, "models": [],
         "memory": {"active_bytes": 0, "peak_bytes": 0, "cache_bytes": 0}}
STATS = {"prompt_tokens": 1, "cached_tokens": 0, "generated_tokens": 0, "ttft_ms": 1.0, "tokens_per_second": 1.0,
         "total_ms": 1.0}
GARBAGE = [
    "this is not json",
    '{"jsonrpc":"2.0","id":4242,"result":{}}',
    "[]",
    '{"foo":1}',
    '{"jsonrpc":"2.0","method":"stream/chunk","params":{"stream_id":"x","tokens":"not a list"}}',
    '{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error: bad line","data":{"code":"PARSE_ERROR"}}}',
    '{"jsonrpc":"2.0","method":"qos/violation","params":{"model":"m"}}',
]


def write(message: Any) -> None:
    out.write((message if isinstance(message, str) else json.dumps(message)).encode() + b"\n")
    out.flush()


def answer(request_id: Any, result: Any) -> None:
    write({"jsonrpc": "2.0", "id": request_id, "result": result})


def fail(request_id: Any, code: int, name: str, message: str) -> None:
    write({"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message, "data": {"code": name}}})


def flood(stream_id: str, count: int) -> None:
    for index in range(count):
        write({"jsonrpc": "2.0", "method": "stream/chunk",
               "params": {"stream_id": stream_id, "tokens": [{"id": index, "text": "x"}]}})
    write({"jsonrpc": "2.0", "method": "stream/end", "params": {
        "stream_id": stream_id, "finish_reason": "length", "stats": {**STATS, "generated_tokens": count},
        "model": "fake", "variant": "stable"}})


def handle(request: dict[str, Any]) -> None:
    request_id, method, params = request.get("id"), request["method"], request.get("params") or {}
    if method == "runtime/info":
        if MODE == "slow-start":
            time.sleep(float(os.environ.get("FAKE_DELAY_S", "30")))
        answer(request_id, INFO)
    elif method == "runtime/state":
        answer(request_id, STATE)
    elif method == "runtime/shutdown":
        answer(request_id, {"status": "stopping", "active_streams": 0})
        sys.exit(0)
    elif method == "tokenize" and MODE == "garbage":
        for line in GARBAGE:
            write(line)
        write({"jsonrpc": "2.0", "method": "qos/violation", "params": {
            "slo": "max_queue_depth", "model": "m", "observed": 3, "threshold": 1, "window_s": 60, "samples": 3,
            "policy": "shed", "action": "shed", "dry_run": False}})
        write({"jsonrpc": "2.0", "method": "some/newNotice", "params": {"x": 1}})
        answer(request_id, {"tokens": [1, 2, 3]})
    elif method == "metrics/get" and MODE == "silent":
        pass  # never answered
    elif method == "generate" and MODE == "flood":
        answer(request_id, {"stream_id": params["stream_id"], "model": "fake", "variant": "stable"})
        flood(params["stream_id"], int(os.environ.get("FAKE_TOKENS", "20000")))
    else:
        fail(request_id, -32601, "METHOD_NOT_FOUND", f"no method {method} here")


def main() -> None:
    marker = os.environ.get("FAKE_STARTED_MARKER")
    if MODE == "dies-after-first-start" and marker:
        if os.path.exists(marker):  # every start after the first fails at once
            sys.stderr.write("fake runtime: cannot start again (on purpose)\n")
            sys.exit(4)
        open(marker, "w").close()
    if MODE == "exit-at-start":
        sys.stderr.write("fake runtime: cannot start (on purpose)\n")
        sys.stderr.flush()
        sys.exit(3)
    for line in sys.stdin:
        if line.strip():
            handle(json.loads(line))


if __name__ == "__main__":
    main()
