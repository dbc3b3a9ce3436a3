"""A real model on the CPU: SmolLM2-135M-Instruct (Q4_1 GGUF) through the runtime, raw mlx-lm and node-llama-cpp.

One greedy stream from a 40-token chat prompt (the model's own chat
template), the same token ids to each, in alternating runs: the runtime
(python/runtime.py over stdio, default config: float32 on the CPU, OpenBLAS
from the install when it has one), raw mlx-lm (`stream_generate` in this
process on the weights the runtime's GGUF loader reads, nothing else: MLX's
bundled BLAS, the file's float16 scales) and node-llama-cpp 3.22.1 on the
same file (bench/llama-cpp/stream.mjs; a bench-only dependency:
`npm install --prefix bench/llama-cpp`). Figures: decode tok/s (tokens
after the first over the time between the first and the last) and time to
the first token, each with every run, so the spread shows: the machine is
shared.

    .venv/bin/python bench/real_model.py --tokens 32 --runs 3
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import BENCH_CONFIG, MODELS, ROOT, Reporter, Runtime, decode_rate, median, parse, parser

sys.path.insert(0, str(ROOT / "python"))
SMOLLM2 = MODELS / "SmolLM2-135M-Instruct.Q4_1.gguf"
LLAMA_CPP = ROOT / "bench" / "llama-cpp"
QUESTION = ("In one short sentence: which river flows through Paris, and which sea "
            "does it reach?")


class LlamaCpp:
    def __init__(self, path: Path, threads: int) -> None:
        node = shutil.which("node")
        if node is None or not (LLAMA_CPP / "node_modules" / "node-llama-cpp").is_dir():
            sys.exit("bench: node-llama-cpp is missing: npm install --prefix bench/llama-cpp")
        self.proc = subprocess.Popen([node, str(LLAMA_CPP / "stream.mjs"), str(path), str(threads)],
                                     cwd=LLAMA_CPP, text=True, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)
        self.threads = self._read()["threads"]

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            sys.exit(f"bench: bench/llama-cpp/stream.mjs exited ({self.proc.wait()})")
        return dict(json.loads(line))

    def stream(self, prompt: list[int], tokens: int) -> tuple[float, list[float], list[int]]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"prompt": prompt, "maxTokens": tokens}) + "\n")
        self.proc.stdin.flush()
        run = self._read()
        times = [t / 1000 for t in run["times"]]
        return times[0] - run["sentAt"] / 1000, times, run["ids"]

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(60)


def main() -> None:
    args_parser = parser(__doc__.splitlines()[0], tokens=32, runs=3)
    args_parser.add_argument("--gguf", type=Path, default=SMOLLM2)
    args_parser.add_argument("--threads", type=int, default=2, help="node-llama-cpp threads")
    args = parse(args_parser)
    if not args.gguf.is_file():
        sys.exit(f"bench: no {args.gguf}; fetch it with node scripts/setup.mjs --models bench")
    from mlx_lm import stream_generate

    from mlx_serving.engine.models import load_text_model

    raw = load_text_model(str(args.gguf), "raw")
    messages = [{"role": "user", "content": QUESTION}]
    prompt = list(raw.tokenizer.apply_chat_template(messages, add_generation_prompt=True))
    report = Reporter("real_model", args.gguf.name, args.quick)

    def raw_stream() -> tuple[float, list[float], list[int]]:
        started = time.perf_counter()
        times, ids = [], []
        for response in stream_generate(raw.model, raw.tokenizer, prompt, max_tokens=args.tokens):
            times.append(time.perf_counter())
            ids.append(response.token)
        return times[0] - started, times, ids

    figures: dict[str, dict[str, list[float]]] = {
        name: {"ttft": [], "decode": []} for name in ("runtime", "mlx_lm", "llama_cpp")}
    same: dict[str, bool] = {"mlx_lm": True, "llama_cpp": True}
    llama = LlamaCpp(args.gguf, args.threads)
    with Runtime(BENCH_CONFIG) as runtime:
        runtime.load(args.gguf)
        runtime.generate(prompt, 4)  # warm up each
        raw_stream()
        llama.stream(prompt, 4)
        for _ in range(args.runs):
            stream = runtime.generate(prompt, args.tokens)
            ours = stream.tokens
            figures["runtime"]["ttft"].append(stream.ttft)
            figures["runtime"]["decode"].append(decode_rate(stream.times))
            for name, measure in (("mlx_lm", raw_stream),
                                  ("llama_cpp", lambda: llama.stream(prompt, args.tokens))):
                ttft, times, ids = measure()
                figures[name]["ttft"].append(ttft)
                figures[name]["decode"].append(decode_rate(times))
                same[name] &= ids[:8] == ours[:8]
    llama.close()
    decode = {name: median(f["decode"]) for name, f in figures.items()}
    ttft = {name: median(f["ttft"]) * 1000 for name, f in figures.items()}
    common = {"prompt_tokens": len(prompt), "tokens": args.tokens,
              "llama_cpp_threads": llama.threads,
              "same_first_8_tokens_as_runtime": same}
    report.emit("decode_tok_s", decode["runtime"], "tok/s", baseline=decode["llama_cpp"],
                baseline_of="node-llama-cpp 3.22.1", ratio=decode["runtime"] / decode["llama_cpp"],
                target=">= 0.5", met=decode["runtime"] >= 0.5 * decode["llama_cpp"],
                mlx_lm=decode["mlx_lm"], runs=figures["runtime"]["decode"],
                mlx_lm_runs=figures["mlx_lm"]["decode"],
                baseline_runs=figures["llama_cpp"]["decode"], **common)
    report.emit("first_token_ms", ttft["runtime"], "ms", baseline=ttft["llama_cpp"],
                baseline_of="node-llama-cpp 3.22.1", ratio=ttft["runtime"] / ttft["llama_cpp"],
                target="<= 500", met=ttft["runtime"] <= 500, mlx_lm=ttft["mlx_lm"],
                runs=[t * 1000 for t in figures["runtime"]["ttft"]],
                mlx_lm_runs=[t * 1000 for t in figures["mlx_lm"]["ttft"]],
                baseline_runs=[t * 1000 for t in figures["llama_cpp"]["ttft"]], **common)


if __name__ == "__main__":
    main()
