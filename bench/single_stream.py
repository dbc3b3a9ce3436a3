"""Figure 1: single-stream decode speed through stdio or the TS bridge, as a ratio to mlx_lm.stream_generate.

One greedy request goes through the real runtime: with `--client stdio`
(JSON-RPC over stdio, notifications parsed here), with `--client bridge`
through the TypeScript bridge (createEngine + createGenerator in node,
bench/bridge_stream.mjs, timing each chunk as it reaches the caller), or with
`--client python` through the Python client (mlx_serving.Engine, timed
likewise). Raw
mlx-lm generates the same tokens from the same prompt in this process, in
alternating runs. Decode speed counts the tokens after the first over the
time between the first and the last token received. On a GPU the figure
also comes as a fraction of the memory-bandwidth limit: model bytes read
once per token at the HBM bandwidth.

    .venv/bin/python bench/single_stream.py --model small
    .venv/bin/python bench/single_stream.py --model small --client bridge   # npm run build first
    .venv/bin/python bench/single_stream.py --model small --client python
"""

from __future__ import annotations

from pathlib import Path

from common import BENCH_CONFIG, Bridge, PythonClient, Raw, Runtime, decode_rate, median, parser, prompt_tokens, start

# Peak HBM bandwidth in GB/s, by a piece of the device name.
HBM_GBPS = {"H200": 4800, "H100 NVL": 3900, "H100 PCIe": 2000, "H100": 3350,
            "A100-SXM4-80GB": 2039, "A100": 1555}


def hbm_gbps(device: str, given: float | None) -> float | None:
    if given:
        return given
    return next((gbps for name, gbps in HBM_GBPS.items() if name in device), None)


def model_bytes(path: Path) -> int:
    return sum(file.stat().st_size for file in path.glob("*.safetensors"))


def main() -> None:
    args_parser = parser(__doc__.splitlines()[0], model="small", tokens=256)
    args_parser.add_argument("--prompt-tokens", type=int, default=32)
    args_parser.add_argument("--target", type=float,
                             help="ratio to meet (default: 0.99 for llama-*, else 0.97)")
    args_parser.add_argument("--hbm-gbps", type=float,
                             help="memory bandwidth for the limit (default: known GPUs)")
    args_parser.add_argument("--client", choices=["stdio", "bridge", "python"], default="stdio",
                             help="talk to the runtime over stdio here, through the TS bridge, or "
                                  "through the Python client (mlx_serving.Engine)")
    args, path, report = start("single_stream", args_parser)
    raw = Raw(path)
    prompt = prompt_tokens(raw.tokenizer, args.prompt_tokens)
    ours, theirs, same_tokens = [], [], True
    client = {"stdio": Runtime, "bridge": Bridge, "python": PythonClient}[args.client]
    with client(BENCH_CONFIG) as runtime:
        runtime.load(path)
        # Compile every shape before timing: the KV cache grows in steps, and
        # each new size compiles kernels on a GPU the first time it is seen.
        runtime.generate(prompt, args.tokens)
        raw.stream(prompt, args.tokens)
        for _ in range(args.runs):
            stream = runtime.generate(prompt, args.tokens)
            _, times, tokens = raw.stream(prompt, args.tokens)
            ours.append(decode_rate(stream.times))
            theirs.append(decode_rate(times))
            same_tokens &= stream.tokens == tokens
    ratios = [a / b for a, b in zip(ours, theirs, strict=False)]
    target = args.target or (0.99 if Path(args.model).name.startswith("llama-") else 0.97)
    extra = {}
    gbps = hbm_gbps(report.context["device"], args.hbm_gbps)
    if gbps and report.context["device"].startswith("gpu"):
        limit = gbps * 1e9 / model_bytes(path)
        extra = {"bandwidth_limit_tok_s": limit, "fraction_of_limit": median(ours) / limit,
                 "baseline_fraction_of_limit": median(theirs) / limit, "hbm_gbps": gbps}
    report.emit("decode_tok_s", median(ours), "tok/s", baseline=median(theirs),
                baseline_of="mlx_lm.stream_generate", ratio=median(ratios),
                target=f">= {target}", met=median(ratios) >= target, client=args.client,
                tokens=args.tokens,
                runs=ours, baseline_runs=theirs, same_tokens=same_tokens, **extra)


if __name__ == "__main__":
    main()
