"""Speculative decoding: tokens/s with and without a draft, through the runtime
and through raw mlx-lm, in the same run.

    .venv/bin/python bench/speculative.py                      # both default pairs
    .venv/bin/python bench/speculative.py --model models/demo --draft models/demo-draft --json

For each pair and each number of draft tokens it measures four paths, greedy,
on the same prompts, interleaved round by round (so a busy machine slows all
of them alike), and reports the median decode rate (tokens after the first,
per second of decoding) of each:

    mlx-lm            mlx_lm.stream_generate(model, ...)
    mlx-lm+draft      mlx_lm.stream_generate(model, ..., draft_model=draft)
    runtime           generate over stdio, num_draft_tokens: 0 (the batch lane)
    runtime+draft     generate over stdio with the draft attached (the speculative lane)

then one summary line per pair: the speed-up a draft gives in each (ratio of
the medians), the runtime's rate relative to mlx-lm's on each path, and the
draft acceptance rate the runtime reported. `--json` prints JSON lines only.

Default pairs (built by scripts/make_models.py when missing):
    demo-deep + demo      the draft is the target truncated to its first two
                          layers: it agrees on ~85% of proposals (a speed-up
                          shows even on a CPU)
    demo + demo-draft     both briefly trained on the same text: ~45% agree;
                          on a CPU both are launch-bound (a 1-layer and a
                          2-layer 64-wide model cost about the same per step),
                          so a draft cannot speed the target up
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
DEFAULT_PAIRS = [(MODELS / "demo-deep", MODELS / "demo"), (MODELS / "demo", MODELS / "demo-draft")]
PROMPTS = ["The old man", "A small bird looks at", "My sister remembers the blue sea.",
           "<|im_start|>user\nWhere is the fox going?<|im_end|>\n<|im_start|>assistant\n"]
PATHS = ["mlx-lm", "mlx-lm+draft", "runtime", "runtime+draft"]


@dataclass
class Sample:
    tokens: int
    decode_s: float  # first token to last
    accepted: float | None = None  # runtime+draft: draft acceptance rate

    @property
    def rate(self) -> float:
        return (self.tokens - 1) / self.decode_s if self.decode_s > 0 else 0.0


class Runtime:
    """The runtime as a subprocess, spoken to over NDJSON (requests one at a time)."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, str(ROOT / "python" / "runtime.py"), "--log-level", "warning"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT)
        self._id = 0

    def call(self, method: str, params: dict[str, Any]) -> Any:
        self._id += 1
        self._send({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params})
        while True:
            message = self._read()
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']['message']}")
                return message["result"]

    def generate(self, params: dict[str, Any]) -> Sample:
        """A streaming generate, timed by the runtime's own stats (first to last token)."""
        self.call("generate", {**params, "stream_id": "bench", "streaming": True})
        while True:
            message = self._read()
            if message.get("method") == "stream/end":
                stats = message["params"]["stats"]
                rate = stats["tokens_per_second"]
                tokens = stats["generated_tokens"]
                return Sample(tokens=tokens, decode_s=(tokens - 1) / rate if rate else 0.0,
                              accepted=stats.get("draft_acceptance_rate"))
            if message.get("method") == "stream/error":
                raise RuntimeError(message["params"]["error"]["message"])

    def _send(self, message: dict[str, Any]) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(message).encode() + b"\n")
        self._proc.stdin.flush()

    def _read(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("the runtime exited")
        return json.loads(line)

    def close(self) -> None:
        self._proc.kill()
        self._proc.wait()


def mlx_lm_sample(model: Any, tokenizer: Any, prompt: str, max_tokens: int,
                  **kwargs: Any) -> Sample:
    from mlx_lm import stream_generate

    first = last = 0.0
    tokens = 0
    for _ in stream_generate(model, tokenizer, prompt, max_tokens=max_tokens, **kwargs):
        last = time.perf_counter()
        first = first or last
        tokens += 1
    return Sample(tokens=tokens, decode_s=last - first)


def bench_pair(target: str, draft: str, num_draft: list[int], max_tokens: int, rounds: int,
               emit) -> None:
    from mlx_lm import load

    model, tokenizer = load(target)
    draft_model, _ = load(draft)
    runtime = Runtime()
    try:
        runtime.call("model/load", {"model": target, "model_id": "target"})
        runtime.call("model/loadDraft", {"model": "target", "draft_model": draft})
        for k in num_draft:
            samples: dict[str, list[Sample]] = {path: [] for path in PATHS}
            runs = {
                "mlx-lm": lambda p: mlx_lm_sample(model, tokenizer, p, max_tokens),
                "mlx-lm+draft": lambda p: mlx_lm_sample(model, tokenizer, p, max_tokens,
                                                        draft_model=draft_model,
                                                        num_draft_tokens=k),
                "runtime": lambda p: runtime.generate(
                    {"model": "target", "prompt": p, "max_tokens": max_tokens,
                     "temperature": 0, "num_draft_tokens": 0}),
                "runtime+draft": lambda p: runtime.generate(
                    {"model": "target", "prompt": p, "max_tokens": max_tokens,
                     "temperature": 0, "num_draft_tokens": k}),
            }
            for path, run in runs.items():  # warm-up, not counted
                run(PROMPTS[0])
            for _ in range(rounds):
                for prompt in PROMPTS:
                    for path, run in runs.items():
                        samples[path].append(run(prompt))
            report(target, draft, k, max_tokens, samples, emit)
    finally:
        runtime.close()


def report(target: str, draft: str, k: int, max_tokens: int, samples: dict[str, list[Sample]],
           emit) -> None:
    pair = f"{Path(target).name}+{Path(draft).name}"
    rates = {path: statistics.median(s.rate for s in runs) for path, runs in samples.items()}
    for path, runs in samples.items():
        emit({"bench": "speculative", "pair": pair, "num_draft_tokens": k, "path": path,
              "tokens_per_s": round(rates[path], 1),
              "tokens": sum(s.tokens for s in runs), "runs": len(runs),
              "max_tokens": max_tokens})
    acceptance = [s.accepted for s in samples["runtime+draft"] if s.accepted is not None]
    emit({"bench": "speculative", "pair": pair, "num_draft_tokens": k, "summary": True,
          "runtime_draft_speedup": round(rates["runtime+draft"] / rates["runtime"], 3),
          "mlx_lm_draft_speedup": round(rates["mlx-lm+draft"] / rates["mlx-lm"], 3),
          "runtime_vs_mlx_lm": round(rates["runtime"] / rates["mlx-lm"], 3),
          "runtime_vs_mlx_lm_with_draft": round(rates["runtime+draft"] / rates["mlx-lm+draft"], 3),
          "acceptance_rate": round(statistics.mean(acceptance), 3) if acceptance else None,
          "machine": f"{platform.system()}-{platform.machine()}", "device": _device()})


def _device() -> str:
    import mlx.core as mx

    return str(mx.default_device())


def ensure_models(paths: list[Path]) -> None:
    """Build (or check) the project's own models among `paths` (scripts/make_models.py)."""
    names = [path.name for path in paths if path.parent == MODELS]
    if names:
        subprocess.run([sys.executable, str(ROOT / "scripts" / "make_models.py"),
                        "--out", str(MODELS), *names], check=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="target model folder (default: the two default pairs)")
    parser.add_argument("--draft", help="draft model folder (with --model)")
    parser.add_argument("--num-draft", default="2,4",
                        help="draft tokens per round, comma-separated (default: 2,4)")
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument("--rounds", type=int, default=2, help="passes over the prompts")
    parser.add_argument("--json", action="store_true", help="JSON lines only")
    args = parser.parse_args(argv)
    if (args.model is None) != (args.draft is None):
        parser.error("give both --model and --draft, or neither")
    pairs = [(Path(args.model).resolve(), Path(args.draft).resolve())] if args.model \
        else DEFAULT_PAIRS
    ensure_models([path for pair in pairs for path in pair])

    def emit(line: dict[str, Any]) -> None:
        if args.json:
            print(json.dumps(line), flush=True)
        elif line.get("summary"):
            print(f"  -> draft speed-up: runtime x{line['runtime_draft_speedup']}, mlx-lm "
                  f"x{line['mlx_lm_draft_speedup']}; runtime/mlx-lm: plain "
                  f"{line['runtime_vs_mlx_lm']}, with draft {line['runtime_vs_mlx_lm_with_draft']}; "
                  f"acceptance {line['acceptance_rate']}", flush=True)
        else:
            print(f"{line['pair']:<24} k={line['num_draft_tokens']} {line['path']:<14} "
                  f"{line['tokens_per_s']:>8.1f} tok/s", flush=True)

    for target, draft in pairs:
        bench_pair(str(target), str(draft), [int(k) for k in args.num_draft.split(",")],
                   args.max_tokens, args.rounds, emit)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
