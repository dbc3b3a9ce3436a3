"""The HTTP front against mlx_lm.server: 1, 8 and 32 concurrent streaming
chat requests (same model, prompts and token budget, greedy), aggregate
tokens/s and time to first token p50/p99, one JSON line per figure.

    .venv/bin/python bench/http_front.py --model tiny

Each server runs as its own process on 127.0.0.1 and gets the same load from
the same client (threads over http.client, usage from stream_options):
ours is `python/runtime.py --http --no-stdio --model`, theirs
`python -m mlx_lm server --decode-concurrency N`, restarted for each N.
Every level is run once to warm up (compiles), then measured.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import yaml

from common import BENCH_CONFIG, RUNTIME, free_port, log, parser, percentile, start, stop_process


class Server:
    def __init__(self, command: list[str], port: int, ready_path: str) -> None:
        self.port = port
        self._proc = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._stderr: list[bytes] = []
        threading.Thread(target=lambda: self._stderr.extend(self._proc.stderr or []),
                         daemon=True).start()
        deadline = time.monotonic() + 600
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{ready_path}",
                                            timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(b"".join(self._stderr[-20:]).decode(errors="replace"))
            time.sleep(0.2)

    def close(self) -> None:
        stop_process(self._proc)


def ours(model: Path, config: Path) -> Server:
    port = free_port()
    return Server([sys.executable, str(RUNTIME), "--config", str(config), "--no-stdio",
                   "--http", f"127.0.0.1:{port}", "--model", f"{model}=m"], port, "/health")


def theirs(model: Path, concurrency: int) -> Server:
    port = free_port()
    return Server([sys.executable, "-m", "mlx_lm", "server", "--model", str(model),
                   "--port", str(port), "--decode-concurrency", str(concurrency),
                   "--log-level", "WARNING"], port, "/v1/models")


def one_stream(port: int, model: str, prompt: str, tokens: int, started: float,
               out: list[tuple[float, float, int]], retries: list[int]) -> None:
    """(ttft s, end s, completion tokens) of one streaming chat request."""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": prompt}],
                       "max_tokens": tokens, "temperature": 0, "stream": True,
                       "stream_options": {"include_usage": True}})
    for attempt in range(20):
        # mlx_lm.server's listen backlog is 5: past it, connections are reset; retry
        # them (the time counts), as a client of either server would.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        try:
            connection.request("POST", "/v1/chat/completions", body,
                               {"Content-Type": "application/json"})
            response = connection.getresponse()
            break
        except (ConnectionResetError, ConnectionRefusedError, http.client.RemoteDisconnected):
            connection.close()
            retries.append(attempt)
            time.sleep(0.05)
    else:
        raise RuntimeError(f"the server on port {port} refused 20 connections in a row")
    first, used = None, 0
    for line in response:
        if not line.startswith(b"data: ") or line.startswith(b"data: [DONE]"):
            continue
        chunk = json.loads(line[6:])
        if chunk.get("usage"):
            used = chunk["usage"]["completion_tokens"]
        if first is None and any(c["delta"].get("content") for c in chunk.get("choices", [])):
            first = time.perf_counter() - started
    end = time.perf_counter() - started
    connection.close()
    out.append((first if first is not None else end, end, used))


Measured = tuple[float, list[float], int, int]


def load(port: int, model: str, streams: int, tokens: int) -> Measured:
    """(aggregate tok/s, TTFTs in ms, tokens, connection retries) with `streams`
    requests sent at once."""
    results: list[tuple[float, float, int]] = []
    retries: list[int] = []
    started = time.perf_counter()
    threads = [threading.Thread(target=one_stream, args=(
        port, model, f"Story {i}: the old man walks to the green hill and", tokens, started,
        results, retries)) for i in range(streams)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if len(results) != streams:
        raise RuntimeError(f"{streams - len(results)} of {streams} streams failed")
    total = sum(used for _, _, used in results)
    return (total / max(end for _, end, _ in results), [t * 1000 for t, _, _ in results], total,
            len(retries))


def main() -> None:
    args_parser = parser(__doc__.splitlines()[0], model="tiny", tokens=64, runs=1)
    args_parser.add_argument("--streams", type=int, nargs="+", default=[1, 8, 32])
    args, path, report = start("http", args_parser)
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "runtime.yaml"
        config.write_text(yaml.safe_dump(BENCH_CONFIG))
        measured: dict[int, dict[str, Measured]] = {}
        server = ours(path, config)
        try:
            for count in args.streams:
                load(server.port, "m", count, args.tokens)  # warm-up of this batch size
                measured[count] = {"ours": load(server.port, "m", count, args.tokens)}
                log(f"ours @{count}: {measured[count]['ours'][0]:.1f} tok/s")
        finally:
            server.close()
        for count in args.streams:
            baseline = theirs(path, count)
            try:
                load(baseline.port, str(path), count, args.tokens)
                measured[count]["mlx_lm"] = load(baseline.port, str(path), count, args.tokens)
                log(f"mlx_lm.server @{count}: {measured[count]['mlx_lm'][0]:.1f} tok/s")
            finally:
                baseline.close()
    on_gpu = not report.context["device"].startswith("cpu")
    for count, pair in measured.items():
        (speed, ttfts, total, _), (their_speed, their_ttfts, their_total, their_retries) = (
            pair["ours"], pair["mlx_lm"])
        ratio = speed / their_speed
        report.emit(f"aggregate_tok_s@{count}", speed, "tok/s", baseline=their_speed,
                    baseline_of="mlx_lm.server", ratio=ratio,
                    target=">= 1.5x (gpu)" if on_gpu else ">= 1.0x (cpu)",
                    met=ratio >= (1.5 if on_gpu else 1.0), streams=count, tokens=total,
                    baseline_tokens=their_total, baseline_retries=their_retries)
        for q in (50, 99):
            ours_q, theirs_q = percentile(ttfts, q), percentile(their_ttfts, q)
            report.emit(f"ttft_p{q}_ms@{count}", ours_q, "ms", baseline=theirs_q,
                        baseline_of="mlx_lm.server", ratio=ours_q / theirs_q,
                        target="lower" if q == 99 and count > 1 else None,
                        met=ours_q < theirs_q if q == 99 and count > 1 else None,
                        streams=count)


if __name__ == "__main__":
    main()
