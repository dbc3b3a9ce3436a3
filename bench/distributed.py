"""A model sharded over 2 ranks against the same model in one process, in the same run.

    .venv/bin/python bench/distributed.py                   # demo, ring over 127.0.0.1
    .venv/bin/python bench/distributed.py --model demo-deep --tokens 64
    .venv/bin/python bench/distributed.py --backend nccl     # a multi-GPU host

One runtime loads the model twice: "local" (one process) and "sharded"
(model/load `distributed`, 2 ranks on this machine: the runtime and one
follower). Each measure alternates the two, prompt by prompt, so a busy
machine slows both alike, and prints the sharded figure against the local one:

    decode_tok_s        one greedy stream: tokens after the first, per second
    ttft_ms             time to the first token of a --prompt-tokens prompt
    batch_tok_s         4 concurrent streams: tokens of all, per second of the whole
    ring_ms_per_step    what sharding adds to a decode step: 1/sharded - 1/local
                        decode rates; per_collective_us divides it by the
                        collectives of a step (2 per layer in the model, 1 for
                        rank 0's step message)
    all_sum_us          the floor under that: one all_sum of a step's hidden
                        state between two bare processes on the same backend
                        (this bench and a child, no runtime), beside the ring's
                        share of a sharded step

On a CPU the ranks share one machine's cores and a tiny model's step is mostly
fixed overhead, so sharding there costs what the ring adds and wins nothing;
it pays where a model does not fit one device, or where each rank has its own
accelerator (--backend nccl on a multi-GPU host, jaccl between Macs).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import BENCH_CONFIG, Reporter, Runtime, decode_rate, log, median, model_path, parse, parser

MODELS = ("local", "sharded")
CONCURRENT = 4


def load_both(runtime: Runtime, path: Path, backend: str) -> None:
    runtime.call("model/load", {"model": str(path), "model_id": "local"})
    started = time.perf_counter()
    runtime.call("model/load", {"model": str(path), "model_id": "sharded",
                                "distributed": {"backend": backend,
                                                "hosts": ["127.0.0.1", "127.0.0.1"]}})
    log(f"sharded load (group formed, 2 shards): {time.perf_counter() - started:.1f} s")


def prompt_of(runtime: Runtime, count: int, variant: int) -> list[int]:
    """`count` token ids, distinct per variant (no prompt cache hits between runs)."""
    ids = runtime.call("tokenize", {"model": "local", "text": "The old man walks to the green "
                                    "hill every morning. " * (count // 8 + 2)})["tokens"]
    return [5 + variant % 500, *ids][:count]


def single(runtime: Runtime, model: str, prompt: list[int], tokens: int) -> tuple[float, float]:
    """(decode tok/s, ttft ms) of one greedy stream."""
    stream = runtime.generate(prompt, tokens, model_id=model)
    return decode_rate(stream.times), stream.ttft * 1000


def batch(runtime: Runtime, model: str, prompts: list[list[int]], tokens: int) -> float:
    """Tokens per second of `prompts` decoded together."""
    started = time.perf_counter()
    streams = [runtime.start(prompt, tokens, model_id=model) for prompt in prompts]
    for stream in streams:
        runtime.finish(stream)
    return sum(len(s.tokens) for s in streams) / (time.perf_counter() - started)


def bare_all_sum_us(backend: str, width: int, repeats: int) -> float:
    """Median microseconds of one all_sum of `width` floats between this
    process and a child, over 127.0.0.1 (ring only: the others need devices)."""
    import mlx.core as mx

    ports = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as hostfile:
        json.dump([[f"127.0.0.1:{port}"] for port in ports], hostfile)
    env = {**os.environ, "MLX_HOSTFILE": hostfile.name}
    child = subprocess.Popen([sys.executable, __file__, "--all-sum-peer", str(width),
                              str(repeats)], env={**env, "MLX_RANK": "1"})
    os.environ.update(MLX_HOSTFILE=hostfile.name, MLX_RANK="0")
    group = mx.distributed.init(strict=True, backend=backend)
    times = _all_sums(group, width, repeats)
    child.wait(60)
    os.unlink(hostfile.name)
    return median(times) * 1e6


def _all_sums(group: Any, width: int, repeats: int) -> list[float]:
    import mlx.core as mx

    x = mx.ones((1, width))
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        mx.eval(mx.distributed.all_sum(x, group=group))
        times.append(time.perf_counter() - started)
    return times


def _all_sum_peer(width: int, repeats: int) -> None:
    import mlx.core as mx

    _all_sums(mx.distributed.init(strict=True, backend="ring"), width, repeats)


def main(argv: list[str] | None = None) -> None:
    args_parser = parser(__doc__.splitlines()[0], model="demo", tokens=96, runs=5)
    args_parser.add_argument("--backend", default="ring", choices=["ring", "nccl", "jaccl"])
    args_parser.add_argument("--prompt-tokens", type=int, default=128)
    args = parse(args_parser, argv)
    path = model_path(args.model)
    layers = json.loads((path / "config.json").read_text())["num_hidden_layers"]
    report = Reporter("distributed", args.model, args.quick,
                      {"ranks": 2, "backend": args.backend, "tokens": args.tokens})
    config = {**BENCH_CONFIG, "generation": {"defaults": {"temperature": 0}}}
    with Runtime(config) as runtime:
        load_both(runtime, path, args.backend)
        runs = max(args.runs, 1)
        rates: dict[str, list[float]] = {m: [] for m in MODELS}
        ttfts: dict[str, list[float]] = {m: [] for m in MODELS}
        batched: dict[str, list[float]] = {m: [] for m in MODELS}
        for run in range(runs + 1):  # run 0 warms both up and is not counted
            for model in MODELS:
                prompt = prompt_of(runtime, args.prompt_tokens, 2 * run + (model == "sharded"))
                rate, ttft = single(runtime, model, prompt, args.tokens)
                prompts = [prompt_of(runtime, 16, 100 + 10 * run + i) for i in range(CONCURRENT)]
                together = batch(runtime, model, prompts, args.tokens)
                if run:
                    rates[model].append(rate)
                    ttfts[model].append(ttft)
                    batched[model].append(together)
        local_rate, sharded_rate = median(rates["local"]), median(rates["sharded"])
        report.emit("decode_tok_s", sharded_rate, "tok/s", baseline=local_rate,
                    baseline_of="local", ratio=sharded_rate / local_rate)
        local_ttft, sharded_ttft = median(ttfts["local"]), median(ttfts["sharded"])
        report.emit("ttft_ms", sharded_ttft, "ms", baseline=local_ttft, baseline_of="local",
                    ratio=sharded_ttft / local_ttft, prompt_tokens=args.prompt_tokens)
        local_batch, sharded_batch = median(batched["local"]), median(batched["sharded"])
        report.emit("batch_tok_s", sharded_batch, "tok/s", baseline=local_batch,
                    baseline_of="local", ratio=sharded_batch / local_batch,
                    streams=CONCURRENT)
        added_ms = (1 / sharded_rate - 1 / local_rate) * 1000
        collectives = 2 * layers + 1
        report.emit("ring_ms_per_step", added_ms, "ms", baseline=1000 / local_rate,
                    baseline_of="local step ms", ratio=added_ms * local_rate / 1000,
                    collectives_per_step=collectives,
                    per_collective_us=added_ms * 1000 / collectives)
    if args.backend == "ring":
        width = json.loads((path / "config.json").read_text())["hidden_size"]
        bare = bare_all_sum_us("ring", width, 20 if args.quick else 200)
        report.emit("all_sum_us", bare, "us", baseline=added_ms * 1000 / collectives,
                    baseline_of="per collective in a sharded step",
                    ratio=bare / (added_ms * 1000 / collectives), width=width)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--all-sum-peer"]:
        _all_sum_peer(int(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit(main())
