"""Aggregate decode speed at N concurrent streams: the runtime over stdio beside mlx_lm.server over HTTP.

For each N, N greedy requests with distinct prompts go at once to the
runtime (python/runtime.py, its default config: on a GPU the batch size
and buckets it picks for the model) and to `mlx_lm.server
--decode-concurrency N` (its /v1/completions, not streamed, on
127.0.0.1), in alternating runs. Aggregate speed is all tokens generated
over the time from the first request sent to the last answer. The server
gets the prompts as text (the runtime's token ids decoded) and reports its
token counts in `usage`. Both warm up each N before timing.

    python3 bench/vs_server.py --model llama-8b --streams 1 8 32 --tokens 128
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import BENCH_CONFIG, BenchError, Runtime, free_port, median, parser, prompt_tokens, start, stop_process


class Server:
    """mlx_lm.server as a child process."""

    def __init__(self, path: Path, concurrency: int) -> None:
        self.port = free_port()
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 -- the server's log for its whole life
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlx_lm.server", "--model", str(path), "--host", "127.0.0.1",
             "--port", str(self.port), "--decode-concurrency", str(concurrency),
             "--prompt-concurrency", str(min(concurrency, 8)), "--log-level", "WARNING"],
            stdout=self._log, stderr=self._log)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"mlx_lm.server exited: {self.output()}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", "/v1/models")
                connection.getresponse().read()
                return
            except OSError:
                time.sleep(0.5)
        raise BenchError("mlx_lm.server did not start in 600 s")

    def complete(self, prompt: str, max_tokens: int) -> int:
        """One completion; the tokens it generated. Its HTTP server listens
        with a backlog of 5, so a burst of connections can be reset: those
        try again."""
        body = json.dumps({"prompt": prompt, "max_tokens": max_tokens, "temperature": 0.0})
        for _ in range(50):
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1800)
            try:
                connection.request("POST", "/v1/completions", body,
                                   {"Content-Type": "application/json"})
                answer = json.loads(connection.getresponse().read())
                return int(answer["usage"]["completion_tokens"])
            except (ConnectionResetError, ConnectionRefusedError, http.client.RemoteDisconnected):
                time.sleep(0.05)
            finally:
                connection.close()
        raise BenchError("mlx_lm.server kept resetting the connection")

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-3000:]

    def close(self) -> None:
        stop_process(self.proc)


def server_rate(server: Server, prompts: list[str], tokens: int) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(len(prompts)) as pool:
        generated = sum(pool.map(lambda prompt: server.complete(prompt, tokens), prompts))
    return generated / (time.perf_counter() - started)


def runtime_rate(runtime: Runtime, prompts: list[list[int]], tokens: int) -> float:
    started = time.perf_counter()
    streams = [runtime.start(prompt, tokens) for prompt in prompts]
    for stream in streams:
        runtime.finish(stream)
    elapsed = max(stream.finished_at for stream in streams) - started
    return sum(len(stream.tokens) for stream in streams) / elapsed


def main() -> None:
    args_parser = parser(__doc__.splitlines()[0], model="small", tokens=128, runs=2)
    args_parser.add_argument("--streams", type=int, nargs="+", default=[1, 8, 32])
    args_parser.add_argument("--prompt-tokens", type=int, default=32)
    args, path, report = start("vs_server", args_parser)
    from mlx_lm.utils import load_tokenizer

    tokenizer = load_tokenizer(path)
    results: dict[int, tuple[list[float], list[float]]] = {n: ([], []) for n in args.streams}
    prompts = {n: [prompt_tokens(tokenizer, args.prompt_tokens, variant=i) for i in range(n)]
               for n in args.streams}
    # One runtime for all N (as it serves); one server per N (its concurrency is fixed).
    with Runtime(BENCH_CONFIG) as runtime:
        loaded = runtime.load(path)
        for n in args.streams:
            runtime_rate(runtime, prompts[n], 8)
            server = Server(path, n)
            try:
                texts = [tokenizer.decode(ids) for ids in prompts[n]]
                server_rate(server, texts, 8)
                for _ in range(args.runs):
                    results[n][0].append(runtime_rate(runtime, prompts[n], args.tokens))
                    results[n][1].append(server_rate(server, texts, args.tokens))
            finally:
                server.close()
            ours, theirs = results[n]
            report.emit(f"aggregate_tok_s@{n}", median(ours), "tok/s", baseline=median(theirs),
                        baseline_of=f"mlx_lm.server --decode-concurrency {n}",
                        ratio=median(ours) / median(theirs), streams=n, tokens=args.tokens,
                        runs=ours, baseline_runs=theirs)
    if 1 in results and len(results) > 1:
        most = max(results)
        report.emit(f"scaling@{most}_vs_1", median(results[most][0]) / median(results[1][0]),
                    "x", baseline=median(results[most][1]) / median(results[1][1]),
                    baseline_of="mlx_lm.server's own scaling",
                    quantization=loaded.get("quantization"))


if __name__ == "__main__":
    main()
