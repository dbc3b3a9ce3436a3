"""What the benchmarks share: a runtime client with receive timestamps, raw
mlx-lm baselines, prompts, statistics and the one-JSON-line-per-figure output.

Every bench runs the real runtime (python/runtime.py) as a child process over
stdio, and raw mlx-lm in the bench process itself, one after the other (never
at the same time), on the same model, prompt and token count.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "python" / "runtime.py"
MODELS = ROOT / "models"

# What the runtime and the bench import (mlx-lm 0.32.2 declares numpy,
# transformers, pyyaml, sentencepiece, protobuf and jinja2; the last three
# only serve tokenizers and chat templates the bench does not use).
REQUIRED = {"mlx": "mlx (mlx[cpu] or mlx-cuda)", "mlx_lm": "mlx-lm==0.32.2",
            "msgspec": "msgspec", "yaml": "pyyaml", "numpy": "numpy",
            "transformers": "transformers", "tokenizers": "tokenizers"}
OPTIONAL = {"jinja2": "chat templates", "sentencepiece": "SentencePiece tokenizers",
            "google.protobuf": "SentencePiece tokenizers"}


def preflight() -> None:
    """Stop with a clear message when a module the bench needs is missing."""
    missing = [pip for module, pip in REQUIRED.items() if _absent(module)]
    if missing:
        sys.exit(f"bench: missing Python packages: {', '.join(missing)}.\n"
                 f"Install them into {sys.executable} (on a machine without a package "
                 "index: pip install --no-index --target DIR <wheels>, then PYTHONPATH=DIR).")
    for module, purpose in OPTIONAL.items():
        if _absent(module):
            log(f"note: {module} is missing ({purpose}); the benchmarks do not need it")


def _absent(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except ModuleNotFoundError:
        return True


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --- arguments and output ---------------------------------------------------


def parser(description: str, model: str = "small", tokens: int = 128, runs: int = 3
           ) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", default=model,
                        help=f"a name under models/ or a model folder (default: {model})")
    parser.add_argument("--tokens", type=int, default=tokens, help="tokens to generate")
    parser.add_argument("--runs", type=int, default=runs, help="repeats; the median is reported")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: one short run (figures are not meaningful)")
    return parser


def parse(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = 1
        args.tokens = min(args.tokens, 16)
    preflight()
    return args


def start(bench: str, args_parser: argparse.ArgumentParser
          ) -> tuple[argparse.Namespace, Path, Reporter]:
    """Parse the arguments; (arguments, model folder, reporter) of a bench."""
    args = parse(args_parser)
    return args, model_path(args.model), Reporter(bench, args.model, args.quick)


def model_path(name: str) -> Path:
    path = Path(name) if Path(name).is_dir() else MODELS / name
    if not (path / "config.json").is_file():
        sys.exit(f"bench: no model at {path}; build it with "
                 f"python scripts/make_models.py --out models {name}")
    return path.resolve()


def _commit() -> str:
    # A lent GPU machine gets a copy of the work tree whose .git may be stale:
    # bench/gpu.sh callers name the commit instead.
    if named := os.environ.get("BENCH_COMMIT"):
        return named
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "python", "bench/*.py"],
                               cwd=ROOT, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "unknown") + ("-dirty" if dirty.strip() else "")


def device() -> str:
    import mlx.core as mx

    kind = "gpu" if mx.default_device().type == mx.gpu else "cpu"
    info = mx.device_info()
    name = info.get("device_name") or info.get("architecture") or ""
    return f"{kind}:{name}" if name else kind


@dataclass
class Reporter:
    bench: str
    model: str
    quick: bool
    context: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.context = {"commit": _commit(), "device": device(), **self.context}

    def emit(self, figure: str, value: float, unit: str, *, baseline: float | None = None,
             baseline_of: str | None = None, ratio: float | None = None,
             target: str | None = None, met: bool | None = None, **extra: Any) -> None:
        """Print one figure as one JSON line on stdout."""
        line = {"bench": self.bench, "figure": figure, "model": self.model,
                "value": _round(value), "unit": unit, "baseline": _round(baseline),
                "baseline_of": baseline_of, "ratio": _round(ratio), "target": target,
                "met": None if self.quick else met, "quick": self.quick, **self.context,
                **{key: _round(item) for key, item in extra.items()}}
        print(json.dumps(line), flush=True)


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, list):
        return [_round(item) for item in value]
    return value


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def decode_rate(times: list[float]) -> float:
    """Tokens per second after the first token, from the times tokens arrived."""
    if len(times) < 2 or times[-1] <= times[0]:
        return 0.0
    return (len(times) - 1) / (times[-1] - times[0])


# --- prompts ----------------------------------------------------------------

_TEXT = ("The old man walks to the green hill every morning. A small bird sings about the "
         "open door. The teacher reads a long letter near the market. ")


def prompt_tokens(tokenizer: Any, count: int, variant: int = 0) -> list[int]:
    """`count` token ids of plain text. Each variant starts with its own token
    (ids 0-4 are special), so no two variants share a prefix."""
    body = tokenizer.encode(_TEXT * (count // 8 + 2), add_special_tokens=False)
    return [5 + variant % 500, *body[variant % 7:]][:count]


# --- raw mlx-lm ---------------------------------------------------------------


class Raw:
    """The same model through mlx-lm directly, in this process."""

    def __init__(self, path: Path) -> None:
        from mlx_lm import load

        self.model, self.tokenizer = load(str(path))

    def stream(self, prompt: list[int], max_tokens: int, **options: Any
               ) -> tuple[float, list[float], list[int]]:
        """(seconds to the first token, arrival time of each token, token ids);
        `options` go to stream_generate (draft_model=..., for one)."""
        from mlx_lm import stream_generate

        started = time.perf_counter()
        times, tokens = [], []
        for response in stream_generate(self.model, self.tokenizer, prompt,
                                        max_tokens=max_tokens, **options):
            times.append(time.perf_counter())
            tokens.append(response.token)
        return times[0] - started, times, tokens

    def batch(self, prompts: list[list[int]], max_tokens: int) -> tuple[float, int]:
        """mlx-lm's own batch_generate: (seconds, tokens generated)."""
        from mlx_lm.generate import batch_generate

        started = time.perf_counter()
        result = batch_generate(self.model, self.tokenizer, prompts, max_tokens=max_tokens,
                                return_token_ids=True)
        return time.perf_counter() - started, sum(len(ids) for ids in result.token_ids)


# --- the runtime ----------------------------------------------------------------


@dataclass
class Stream:
    stream_id: str
    sent_at: float
    times: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    end: dict[str, Any] | None = None
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def ttft(self) -> float:
        return self.times[0] - self.sent_at

    @property
    def finished_at(self) -> float:
        return self.times[-1] if self.times else self.sent_at


class BenchError(Exception):
    pass


def free_port() -> int:
    """A loopback port nothing listens on now, for a server the bench starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL if it is still there after 30 s; reaped either way."""
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


class Runtime:
    """python/runtime.py as a child process, with a config of our choosing
    (`runtime`: another checkout's runtime.py, for before/after figures)."""

    def __init__(self, config: dict[str, Any] | None = None, runtime: Path = RUNTIME) -> None:
        import msgspec
        import yaml

        self._decode = msgspec.json.Decoder().decode
        self._config = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)  # noqa: SIM115 -- outlives this method: the runtime reads it, close() unlinks it
        yaml.safe_dump(config or {}, self._config)
        self._config.close()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 -- the runtime's stderr for its whole life
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[threading.Event, list[Any]]] = {}
        self.streams: dict[str, Stream] = {}
        self.notifications: list[tuple[float, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, str(runtime), "--config", self._config.name],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr)
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            now = time.perf_counter()
            message = self._decode(line)
            if isinstance(message, list):
                for item in message:
                    self._answer(item)
            elif "id" in message:
                self._answer(message)
            else:
                self._notify(now, message)
        with self._lock:
            for event, box in self._pending.values():
                box.append({"error": {"message": "the runtime exited"}})
                event.set()
            for stream in self.streams.values():
                stream.done.set()

    def _answer(self, message: dict[str, Any]) -> None:
        with self._lock:
            event, box = self._pending.pop(message["id"])
        box.append(message)
        event.set()

    def _notify(self, now: float, message: dict[str, Any]) -> None:
        method, params = message["method"], message["params"]
        if method == "runtime/ready":
            self.notifications.append((now, message))
            self.ready.set()
            return
        stream = self.streams.get(params.get("stream_id", ""))
        if stream is None:
            self.notifications.append((now, message))
        elif method == "stream/chunk":
            for token in params["tokens"]:
                stream.times.append(now)
                stream.tokens.append(token["id"])
        else:
            stream.end = params
            stream.done.set()

    def send(self, method: str, params: dict[str, Any] | None = None
             ) -> tuple[threading.Event, list[Any]]:
        request_id = next(self._ids)
        waiter: tuple[threading.Event, list[Any]] = (threading.Event(), [])
        with self._lock:
            self._pending[request_id] = waiter
        line = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method,
                           "params": params or {}}).encode() + b"\n"
        assert self.proc.stdin is not None
        self.proc.stdin.write(line)
        self.proc.stdin.flush()
        return waiter

    def call(self, method: str, params: dict[str, Any] | None = None,
             timeout: float = 600.0) -> Any:
        event, box = self.send(method, params)
        if not event.wait(timeout):
            raise TimeoutError(f"{method}: no answer in {timeout} s; stderr:\n{self.stderr()}")
        if "error" in box[0]:
            raise BenchError(f"{method} failed: {box[0]['error']}\nstderr:\n{self.stderr()}")
        return box[0]["result"]

    def load(self, path: Path, model_id: str = "m") -> dict[str, Any]:
        return self.call("model/load", {"model": str(path), "model_id": model_id})

    def start(self, prompt: list[int], max_tokens: int, stream_id: str | None = None,
              model_id: str = "m", **params: Any) -> Stream:
        """Send a greedy streaming generate; returns its Stream at once."""
        stream_id = stream_id or f"s{len(self.streams)}"
        stream = self.streams[stream_id] = Stream(stream_id, time.perf_counter())
        self.send("generate", {"model": model_id, "prompt": prompt, "max_tokens": max_tokens,
                               "temperature": 0, "stream_id": stream_id, **params})
        return stream

    def finish(self, stream: Stream, timeout: float = 1800.0) -> Stream:
        if not stream.done.wait(timeout) or stream.end is None:
            raise BenchError(f"stream {stream.stream_id} did not end; stderr:\n{self.stderr()}")
        return stream

    def generate(self, prompt: list[int], max_tokens: int, **params: Any) -> Stream:
        return self.finish(self.start(prompt, max_tokens, **params))

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-4000:]

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.call("runtime/shutdown", {"drain": False}, timeout=30)
                self.proc.wait(30)
            except (TimeoutError, BenchError, OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(10)
        os.unlink(self._config.name)

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class Bridge:
    """The runtime through the TypeScript bridge: bench/bridge_stream.mjs under
    node drives createEngine + createGenerator and reports when each token
    chunk reached it. Needs node and the built bridge (npm run build)."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        import yaml

        node = shutil.which("node")
        if node is None:
            sys.exit("bench: --client bridge needs node (>= 20) on PATH")
        if not (ROOT / "bridge-ts" / "dist" / "index.js").is_file():
            sys.exit("bench: --client bridge needs the built bridge: npm run build")
        self._node = node
        self._config = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)  # noqa: SIM115 -- outlives this method: the runtime reads it, close() unlinks it
        yaml.safe_dump(config or {}, self._config)
        self._config.close()
        self.proc: subprocess.Popen[str] | None = None

    def load(self, path: Path) -> None:
        spec = {"pythonPath": sys.executable, "configPath": self._config.name, "model": str(path)}
        self.proc = subprocess.Popen([self._node, str(ROOT / "bench" / "bridge_stream.mjs"),
                                      json.dumps(spec)], cwd=ROOT, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._read()

    def generate(self, prompt: list[int], max_tokens: int) -> Stream:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"prompt": prompt, "maxTokens": max_tokens}) + "\n")
        self.proc.stdin.flush()
        run = self._read()
        stream = Stream("bridge", run["sentAt"] / 1000, [t / 1000 for t in run["times"]],
                        run["ids"], {"finish_reason": run["finishReason"]})
        stream.done.set()
        return stream

    def _read(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise BenchError(f"bench/bridge_stream.mjs exited ({self.proc.wait()})")
        return json.loads(line)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()  # the script disposes of the engine and exits
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        os.unlink(self._config.name)

    def __enter__(self) -> Bridge:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class PythonClient:
    """The runtime through the Python client (mlx_serving.Engine, its own
    subprocess), timed as each token chunk reaches the caller."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        import yaml

        sys.path.insert(0, str(ROOT / "python"))
        from mlx_serving import create_engine

        self._config = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)  # noqa: SIM115 -- outlives this method: the runtime reads it, close() unlinks it
        yaml.safe_dump(config or {}, self._config)
        self._config.close()
        self.engine = create_engine(config_path=self._config.name)

    def load(self, path: Path) -> None:
        self.engine.load_model(str(path), model_id="m")

    def generate(self, prompt: list[int], max_tokens: int) -> Stream:
        stream = Stream("python", time.perf_counter())
        for chunk in self.engine.create_generator(model="m", prompt=prompt, max_tokens=max_tokens,
                                                  temperature=0):
            if chunk.type == "token":
                stream.times.append(time.perf_counter())
                stream.tokens.append(chunk.token_id)
            elif chunk.type == "metadata":
                stream.end = {"finish_reason": chunk.finish_reason}
            elif chunk.type == "error":
                raise BenchError(f"the Python client failed the stream: {chunk.error}")
        stream.done.set()
        return stream

    def close(self) -> None:
        self.engine.close()
        os.unlink(self._config.name)

    def __enter__(self) -> PythonClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


BENCH_CONFIG: dict[str, Any] = {
    # Figures 1-3 and 6 measure the batch itself: no prompt cache in the way.
    "prompt_cache": {"enabled": False},
    "logging": {"level": "warning"},
}


def interleave(runs: int, *measures: Callable[[], float]) -> Iterator[tuple[float, ...]]:
    """Run the measures in turn, `runs` times: noise from other work on the
    machine falls on all of them alike."""
    for _ in range(runs):
        yield tuple(measure() for measure in measures)
