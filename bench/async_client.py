"""AsyncEngine against its peers: N generate() calls gathered on one event loop,
against the same N calls through Engine on N threads, and through
asyncio.to_thread(engine.generate) (the way before AsyncEngine), in
alternating runs, each engine with a runtime of its own (one busy at a time).

    .venv/bin/python bench/async_client.py --model tiny --streams 8 --tokens 64 --runs 5

Figures: the wall time of the N calls (ratio: AsyncEngine / threads), and the
longest stall of the event loop while they run, seen by a heartbeat task
(ratio: AsyncEngine / to_thread).
"""

from __future__ import annotations

import asyncio
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from common import log, median, parser, start
from mlx_serving import AsyncEngine, Engine

PROMPT = "The old man"


def params(index: int, tokens: int) -> dict[str, Any]:
    # The same seeds in every contender: the same tokens, so the same work (sampling is per seed).
    return {"model": "m", "prompt": PROMPT, "max_tokens": tokens, "seed": index}


TICK = 0.001


class Heartbeat:
    """The longest gap between the loop's turns at a task that sleeps a millisecond at a time (a
    task that only yielded would spin, and take the GIL from the client's reader thread)."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._task = asyncio.get_running_loop().create_task(self._beat())

    async def _beat(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(TICK)
            now = time.perf_counter()
            self.longest = max(self.longest, now - last - TICK)
            last = now

    def stop(self) -> float:
        self._task.cancel()
        return self.longest


async def gathered(engine: AsyncEngine, streams: int, tokens: int) -> tuple[float, float]:
    heartbeat = Heartbeat()
    started = time.perf_counter()
    await asyncio.gather(*(engine.generate(params(i, tokens)) for i in range(streams)))
    return time.perf_counter() - started, heartbeat.stop()


async def to_thread(engine: Engine, streams: int, tokens: int) -> tuple[float, float]:
    heartbeat = Heartbeat()
    started = time.perf_counter()
    await asyncio.gather(*(asyncio.to_thread(engine.generate, params(i, tokens)) for i in range(streams)))
    return time.perf_counter() - started, heartbeat.stop()


async def threads(engine: Engine, pool: ThreadPoolExecutor, streams: int, tokens: int) -> tuple[float, float]:
    """No loop needed; the loop waits for them only to run the same heartbeat beside them."""
    heartbeat = Heartbeat()
    started = time.perf_counter()
    await asyncio.to_thread(lambda: list(pool.map(lambda i: engine.generate(params(i, tokens)), range(streams))))
    return time.perf_counter() - started, heartbeat.stop()


async def run(model: Path, streams: int, tokens: int, runs: int) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {f"{name}_{what}": [] for name in ("async", "threads", "to_thread")
                                       for what in ("s", "gap")}
    with Engine() as sync_engine, ThreadPoolExecutor(streams) as pool:
        sync_engine.load_model(str(model), model_id="m")
        async with AsyncEngine() as engine:
            await engine.load_model(str(model), model_id="m")
            # Warm both (compilation, the first batch shapes).
            await gathered(engine, streams, tokens)
            await threads(sync_engine, pool, streams, tokens)
            for _ in range(runs):
                for name, contender in (("async", gathered(engine, streams, tokens)),
                                        ("threads", threads(sync_engine, pool, streams, tokens)),
                                        ("to_thread", to_thread(sync_engine, streams, tokens))):
                    wall, gap = await contender
                    figures[f"{name}_s"].append(wall)
                    figures[f"{name}_gap"].append(gap)
                log(f"async {figures['async_s'][-1]:.3f} s, threads {figures['threads_s'][-1]:.3f} s, "
                    f"to_thread {figures['to_thread_s'][-1]:.3f} s")
    return figures


def main() -> None:
    args_parser = parser(__doc__.splitlines()[0], model="tiny", tokens=64, runs=5)
    args_parser.add_argument("--streams", type=int, default=8, help="calls at once")
    args, model, report = start("async_client", args_parser)
    figures = asyncio.run(run(model, args.streams, args.tokens, args.runs))
    ours, peer = figures["async_s"], figures["threads_s"]
    report.emit("gathered_generate_s", median(ours), "s", baseline=median(peer),
                baseline_of=f"Engine.generate on {args.streams} threads",
                ratio=median([a / b for a, b in zip(ours, peer, strict=True)]), streams=args.streams,
                tokens=args.tokens, runs=ours, baseline_runs=peer)
    ours, peer = figures["async_gap"], figures["to_thread_gap"]
    report.emit("loop_longest_stall_ms", median(ours) * 1000, "ms", baseline=median(peer) * 1000,
                baseline_of="asyncio.to_thread(Engine.generate)",
                ratio=median([a / b for a, b in zip(ours, peer, strict=True)]), streams=args.streams,
                tokens=args.tokens, runs=[gap * 1000 for gap in ours], baseline_runs=[gap * 1000 for gap in peer],
                to_thread_s=median(figures["to_thread_s"]), threads_stall_ms=median(figures["threads_gap"]) * 1000)


if __name__ == "__main__":
    main()
