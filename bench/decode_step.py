"""Decode step time per batch size: mlx-lm alone (stock, quantized rows folded, dense copies) and the runtime.

In this process, for each batch size B: B prompts of the same length are
prefilled into one mlx-lm KV cache, then greedy decode steps (forward pass
of B rows and argmax, evaluated) are timed one by one. The model runs as
mlx-lm loads it (`stock`), with its quantized layers fed the batch's rows as
one matrix (`rows`, engine/quantized_rows.py), and, with --dense, with its
quantized layers replaced by bfloat16 copies (`dense`: what dequantized
copies would give). Then the runtime (python/runtime.py over stdio, its
default config) decodes B concurrent greedy streams; its step time is each
stream's time between its first and last token over the tokens between,
the median over streams. One JSON line per variant and batch size, with the
stock step as the baseline; mlx-lm's lines also say how much of a step is
spent building its graph in Python (`graph_build_ms`, before evaluation).

    python3 bench/decode_step.py --model llama-8b --batch 1 8 32 --dense
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from common import BENCH_CONFIG, ROOT, Runtime, median, parser, prompt_tokens, start

sys.path.insert(0, str(ROOT / "python"))


def _set_rows(model: Any, folded: bool) -> None:
    import mlx.nn as nn

    from mlx_serving.engine.quantized_layers import (
        RowBatchedQuantizedEmbedding,
        RowBatchedQuantizedLinear,
        batch_quantized_rows,
    )
    if folded:
        batch_quantized_rows(model, "on")
        return
    stock = {RowBatchedQuantizedLinear: nn.QuantizedLinear,
             RowBatchedQuantizedEmbedding: nn.QuantizedEmbedding}
    for _, module in model.named_modules():
        if type(module) in stock:
            module.__class__ = stock[type(module)]


def _densify(model: Any) -> None:
    """Every quantized linear layer as a bfloat16 Linear of its dequantized weight."""
    import mlx.core as mx
    import mlx.nn as nn

    def dense(_: str, module: Any) -> Any:
        if not isinstance(module, nn.QuantizedLinear):
            return module
        weight = mx.dequantize(module.weight, module.scales, module.get("biases"),
                               group_size=module.group_size, bits=module.bits,
                               mode=module.mode).astype(mx.bfloat16)
        linear = nn.Linear(weight.shape[1], weight.shape[0], bias="bias" in module)
        linear.weight = weight
        if "bias" in module:
            linear.bias = module.bias
        return linear

    from mlx.utils import tree_map_with_path
    model.update_modules(tree_map_with_path(dense, model.leaf_modules(),
                                            is_leaf=lambda m: isinstance(m, nn.Module)))
    mx.eval(model.parameters())


def step_ms(model: Any, prompts: list[list[int]], steps: int) -> float:
    """Median ms of one greedy decode step of len(prompts) rows."""
    return step_times(model, prompts, steps)[0]


def step_times(model: Any, prompts: list[list[int]], steps: int) -> tuple[float, float]:
    """(median ms of a step, median ms of it spent building the graph in Python)."""
    import mlx.core as mx
    from mlx_lm.models.cache import make_prompt_cache

    cache = make_prompt_cache(model)
    logits = model(mx.array(prompts), cache=cache)
    tokens = mx.argmax(logits[:, -1:, :], axis=-1)
    mx.eval(tokens)
    times, building = [], []
    for _ in range(steps):
        started = time.perf_counter()
        tokens = mx.argmax(model(tokens, cache=cache), axis=-1)
        built = time.perf_counter()
        mx.eval(tokens)
        times.append(time.perf_counter() - started)
        building.append(built - started)
    # The first steps can compile.
    return median(times[2:]) * 1000, median(building[2:]) * 1000


def runtime_step_ms(runtime: Runtime, prompts: list[list[int]], tokens: int) -> float:
    streams = [runtime.start(prompt, tokens) for prompt in prompts]
    for stream in streams:
        runtime.finish(stream)
    per_stream = [(s.times[-1] - s.times[0]) / (len(s.times) - 1) for s in streams
                  if len(s.times) > 1]
    return median(per_stream) * 1000


def main() -> None:
    args_parser = parser(__doc__.splitlines()[0], model="tiny-4bit", tokens=64, runs=3)
    args_parser.add_argument("--batch", type=int, nargs="+", default=[1, 8, 32])
    args_parser.add_argument("--prompt-tokens", type=int, default=32)
    args_parser.add_argument("--dense", action="store_true",
                             help="also time bfloat16 copies of the quantized layers")
    args, path, report = start("decode_step", args_parser)
    from mlx_lm import load

    model, tokenizer = load(str(path))
    batches = {size: [prompt_tokens(tokenizer, args.prompt_tokens, variant=i)
                      for i in range(size)] for size in args.batch}
    steps = args.tokens
    stock: dict[int, float] = {}
    variants = ["stock", "rows"]
    for variant in variants:
        _set_rows(model, folded=variant == "rows")
        for size, prompts in batches.items():
            step_ms(model, prompts, 4)  # compile this batch size
            timed = [step_times(model, prompts, steps) for _ in range(args.runs)]
            ms = median([each[0] for each in timed])
            stock.setdefault(size, ms)
            report.emit(f"step_ms@{size}", ms, "ms", baseline=stock[size],
                        baseline_of="mlx-lm stock step", ratio=ms / stock[size],
                        variant=variant, batch=size, tok_s=size * 1000 / ms,
                        graph_build_ms=median([each[1] for each in timed]))
    if args.dense:
        _set_rows(model, folded=False)
        _densify(model)
        for size, prompts in batches.items():
            step_ms(model, prompts, 4)
            ms = median([step_ms(model, prompts, steps) for _ in range(args.runs)])
            report.emit(f"step_ms@{size}", ms, "ms", baseline=stock[size],
                        baseline_of="mlx-lm stock step", ratio=ms / stock[size],
                        variant="dense", batch=size, tok_s=size * 1000 / ms)
    del model
    with Runtime(BENCH_CONFIG) as runtime:
        runtime.load(Path(path))
        for size, prompts in batches.items():
            runtime_step_ms(runtime, prompts, 8)  # compile this batch size
            ms = median([runtime_step_ms(runtime, prompts, args.tokens)
                         for _ in range(args.runs)])
            report.emit(f"step_ms@{size}", ms, "ms", baseline=stock[size],
                        baseline_of="mlx-lm stock step", ratio=ms / stock[size],
                        variant="runtime", batch=size, tok_s=size * 1000 / ms)


if __name__ == "__main__":
    main()
