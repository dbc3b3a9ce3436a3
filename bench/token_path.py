"""Figure 6: what the token path costs per 1,000 tokens: garbage collection and CPU.

The engine, the stream bookkeeping, the JSON encoder and the writer thread
run in this process, exactly as in the runtime, writing the protocol lines
to /dev/null; raw mlx_lm.stream_generate decodes the same tokens. Measured
between a stream's first and last token: garbage collections (gc.callbacks:
how many, and the time they took) and the CPU time of the generating thread
(Python work on top of the model; MLX computes on threads of its own).

    .venv/bin/python bench/token_path.py --model small --tokens 2000

`--runtime PATH` measures another checkout's python/ folder (e.g. the commit
before a change), for before/after figures.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from common import ROOT, Raw, Reporter, median, model_path, parse, parser, prompt_tokens


@dataclass
class GcMeter:
    """Garbage collections and their time, while `running`."""

    running: bool = False
    collections: int = 0
    seconds: float = 0.0
    _started: float = 0.0
    by_generation: list[int] = field(default_factory=lambda: [0, 0, 0])

    def __call__(self, phase: str, info: dict) -> None:
        if not self.running:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.collections += 1
            self.by_generation[info["generation"]] += 1
            self.seconds += time.perf_counter() - self._started


@dataclass
class Cost:
    tokens: int
    gc_collections: int
    gc_ms: float
    cpu_ms: float  # CPU time of the generating thread

    def per_1k(self) -> dict[str, float]:
        scale = 1000 / max(self.tokens - 1, 1)
        return {"gc_collections": self.gc_collections * scale, "gc_ms": self.gc_ms * scale,
                "thread_cpu_ms": self.cpu_ms * scale}


class Window:
    """Starts measuring at the first token, stops at the last."""

    def __init__(self, meter: GcMeter) -> None:
        self.meter = meter
        self.tokens = 0
        self._cpu = 0.0
        self.cost: Cost | None = None

    def token(self) -> None:
        self.tokens += 1
        if self.tokens == 1:
            self.meter.running, self.meter.collections, self.meter.seconds = True, 0, 0.0
            self._cpu = time.thread_time()

    def stop(self) -> None:
        cpu = time.thread_time() - self._cpu
        self.meter.running = False
        self.cost = Cost(self.tokens, self.meter.collections, self.meter.seconds * 1000,
                         cpu * 1000)


def measure_runtime(path: Path, prompt: list[int], tokens: int, meter: GcMeter) -> Cost:
    """The runtime's engine and writer, in this process."""
    from mlx_serving.config import RuntimeConfig
    from mlx_serving.engine import stream as stream_module
    from mlx_serving.engine.engine import Engine
    from mlx_serving.engine.sampling import SamplingSettings
    from mlx_serving.engine.stream import GenerationRequest
    try:  # where the JSON-RPC sink lives since the engine knows no front
        from mlx_serving.handlers.notifications import NotificationSink, merge_chunks
    except ImportError:  # older checkouts
        from mlx_serving.engine.stream import NotificationSink, merge_chunks  # type: ignore[attr-defined,no-redef]
    from mlx_serving.transport.stdio import MessageWriter

    window = Window(meter)

    class MeasuredSink(NotificationSink):
        def tokens(self, stream_id, tokens):  # type: ignore[no-untyped-def]
            super().tokens(stream_id, tokens)
            if stream_id == "measured":
                for _ in tokens:
                    window.token()

        def end(self, stream_id, finish_reason, stats, *more):  # type: ignore[no-untyped-def]
            if stream_id == "measured":
                window.stop()
            super().end(stream_id, finish_reason, stats, *more)  # more: guidance, where known

    # Checkouts with canary routing name who serves each stream.
    served = getattr(stream_module, "Served", None)
    sink_args = () if served is None else (served("m"),)
    config = RuntimeConfig()
    if hasattr(config, "prompt_cache"):
        config.prompt_cache.enabled = False
    with open(os.devnull, "wb") as out:
        writer = MessageWriter(out, merge=merge_chunks, on_broken=lambda: None)
        engine = Engine(config, writer)
        engine.load(str(path), "m")
        greedy = SamplingSettings(temperature=0.0, top_p=1.0, top_k=0, min_p=0.0, seed=0,
                                  repetition_penalty=1.0, presence_penalty=0.0,
                                  frequency_penalty=0.0, penalty_context_size=20)
        for stream_id, count in (("warm-up", 8), ("measured", tokens)):
            # As the generate handler does: a drain waits for reserved ids.
            engine.stream_ids.reserve(stream_id)
            engine.submit(GenerationRequest(
                stream_id=stream_id, model_id="m", prompt=prompt, max_tokens=count,
                sampling=greedy, stop_strings=[], stop_token_ids=[], logprobs=False,
                sink=MeasuredSink(writer.send, Future(), *sink_args)))
        engine.shutdown(drain=True)
        engine.run()
        writer.close()
    assert window.cost is not None
    return window.cost


def measure_raw(raw: Raw, prompt: list[int], tokens: int, meter: GcMeter) -> Cost:
    from mlx_lm import stream_generate

    window = Window(meter)
    for _ in stream_generate(raw.model, raw.tokenizer, prompt, max_tokens=tokens):
        window.token()
    window.stop()
    assert window.cost is not None
    return window.cost


def main() -> None:
    args_parser = parser(__doc__.splitlines()[0], model="small", tokens=2000)
    args_parser.add_argument("--runtime", type=Path, default=ROOT / "python",
                             help="the python/ folder of the runtime to measure")
    args = parse(args_parser)
    sys.path.insert(0, str(args.runtime.resolve()))
    path = model_path(args.model)
    raw = Raw(path)
    prompt = prompt_tokens(raw.tokenizer, 32)
    meter = GcMeter()
    gc.callbacks.append(meter)
    measure_raw(raw, prompt, 8, meter)
    ours, theirs = [], []
    for _ in range(args.runs):
        ours.append(measure_runtime(path, prompt, args.tokens, meter).per_1k())
        theirs.append(measure_raw(raw, prompt, args.tokens, meter).per_1k())
    report = Reporter("token_path", args.model, args.quick,
                      {"runtime": str(args.runtime.resolve().relative_to(ROOT))
                       if args.runtime.resolve().is_relative_to(ROOT) else str(args.runtime)})
    for key, unit in (("gc_collections", "collections/1k tokens"), ("gc_ms", "ms/1k tokens"),
                      ("thread_cpu_ms", "ms/1k tokens")):
        value = median([run[key] for run in ours])
        baseline = median([run[key] for run in theirs])
        report.emit(f"{key}_per_1k_tokens", value, unit, baseline=baseline,
                    baseline_of="mlx_lm.stream_generate",
                    ratio=value / baseline if baseline else None, tokens=args.tokens,
                    runs=[run[key] for run in ours], baseline_runs=[run[key] for run in theirs])


if __name__ == "__main__":
    main()
