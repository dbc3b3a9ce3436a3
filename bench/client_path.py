"""The Python client's cost per token, in process (no runtime, no model): a
one-token stream/chunk line routed by the client (RpcClient.handle_line into
the stream's TokenGenerator) and taken by a `for` loop over the generator,
against decoding the same line with msgspec and nothing else (the least any
client does), in alternating runs.

    .venv/bin/python bench/client_path.py --tokens 50000 --runs 5
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import msgspec

from common import ROOT, Reporter, median, parse, parser

sys.path.insert(0, str(ROOT / "python"))

from mlx_serving.client.flow import FlowControl
from mlx_serving.client.generator import TokenGenerator
from mlx_serving.client.rpc import RpcClient

CHUNK = json.dumps({"jsonrpc": "2.0", "method": "stream/chunk",
                    "params": {"stream_id": "s", "tokens": [{"id": 301, "text": " finds"}]}}).encode()
STATS = {"prompt_tokens": 1, "cached_tokens": 0, "generated_tokens": 1, "ttft_ms": 1.0,
         "tokens_per_second": 1.0, "total_ms": 1.0}
END = json.dumps({"jsonrpc": "2.0", "method": "stream/end", "params": {
    "stream_id": "s", "finish_reason": "length", "stats": STATS, "model": "m", "variant": "stable"}}).encode()


class _Wire:
    def send(self, data: bytes) -> bool:
        return True

    def pause(self) -> None:
        pass

    def resume(self) -> None:
        pass


class _Handlers:
    def protocol_error(self, error: Exception) -> None:
        raise error

    def notification(self, method: str, params: Any) -> None:
        pass


class _Host:
    def __init__(self, session: Any) -> None:
        self.flow = FlowControl(10**9, lambda _paused: None)
        self._session = session

    def session_now(self) -> Any:
        return self._session

    def connect(self, timeout: float | None) -> Any:
        return self._session

    def finished(self, generator: TokenGenerator) -> None:
        pass


def client_run(tokens: int) -> float:
    """µs per token: route every line, then read the stream to its end."""
    client = RpcClient(_Wire(), _Handlers())
    generator = TokenGenerator(_Host(_Session(client)), {"stream_id": "s", "model": "m"}, None)
    generator.start()
    started = time.perf_counter()
    for _ in range(tokens):
        client.handle_line(CHUNK)
    client.handle_line(END)
    taken = sum(1 for chunk in generator if chunk.type == "token")
    elapsed = time.perf_counter() - started
    assert taken == tokens
    return elapsed / tokens * 1e6


class _Session:
    def __init__(self, client: RpcClient) -> None:
        self.client = client


def decode_run(tokens: int) -> float:
    decode = msgspec.json.Decoder().decode
    started = time.perf_counter()
    for _ in range(tokens):
        decode(CHUNK)
    return (time.perf_counter() - started) / tokens * 1e6


def main() -> None:
    args = parse(parser(__doc__.splitlines()[0], model="none", tokens=50_000, runs=5))
    report = Reporter("client_path", "none", args.quick)
    ours, theirs = [], []
    for _ in range(args.runs):
        ours.append(client_run(args.tokens))
        theirs.append(decode_run(args.tokens))
    report.emit("client_us_per_token", median(ours), "us/token", baseline=median(theirs),
                baseline_of="msgspec.json.decode of the line", ratio=median([a / b for a, b in zip(ours, theirs, strict=False)]),
                tokens=args.tokens, runs=ours, baseline_runs=theirs)


if __name__ == "__main__":
    main()
