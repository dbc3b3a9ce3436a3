"""GGUF files against llama.cpp: the same token ids and next-token probabilities.

For each GGUF fixture (llama with tiny's weights, qwen2, qwen3, phi3, gemma2, Llama 3.1's
rope_freqs, a SentencePiece tokenizer, Q8_0) and SmolLM2 when it is there:
the runtime's loader (python/mlx_serving/engine/gguf) and node-llama-cpp 3.22.1
(bench/llama-cpp/parity.mjs; `npm install --prefix bench/llama-cpp`) tokenize
the same texts (sentences, chat markup with special tokens, whitespace runs,
characters outside the vocabulary, random strings) and score the same
prompt of about 250 tokens. Figures per model: the texts whose ids differ
(target 0) and the largest difference of a next-token probability, in
millionths (float32 files agree to a few; quantized ones less closely, as
llama.cpp quantizes the activations of its Q8_0/Q4_1 matrix products too).

    .venv/bin/python bench/gguf_parity.py
    .venv/bin/python bench/gguf_parity.py --models tiny-gguf-spm tiny-gguf-phi3
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys

from common import MODELS, ROOT, Reporter, preflight

sys.path.insert(0, str(ROOT / "python"))
FIXTURES = ["tiny-gguf", "tiny-gguf-qwen2", "tiny-gguf-qwen3", "tiny-gguf-phi3", "tiny-gguf-gemma2", "tiny-gguf-gemma3",
            "tiny-gguf-llama3", "tiny-gguf-spm", "tiny-gguf-q8_0", "SmolLM2-135M-Instruct.Q4_1"]
LLAMA_CPP = ROOT / "bench" / "llama-cpp"
PROMPT = " ".join(["The old man walks to the river every morning. What does the fox do?"] * 12)


def texts(count: int) -> list[str]:
    rng = random.Random(0)
    alphabet = "abc XYZ  \n\t.,!?\u00e9\u2603\U0001f6000123\u2581"
    fixed = ["Hello world  123", "  two", "caf\u00e9 \u2603 \U0001f600 end", "tabs\tand\nnew\n\n",
             "<|im_start|>user\nWhere is the fox?<|im_end|>\n<|im_start|>assistant\n",
             "<|user|>\nWhere?<|end|>\n<|assistant|>\n", "a<|im_end|>b", "<s>The fox</s> walks",
             "<unk>the", "x<|end|>\t\n y", "<|im_start|>  user", " ", "What's 4567 + 89?"]
    return fixed + ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
                    for _ in range(count)]


def path_of(name: str) -> str:
    single = MODELS / f"{name}.gguf"
    return str(single if single.is_file() else MODELS / name / "model.gguf")


def main() -> int:
    args_parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args_parser.add_argument("--models", nargs="*", default=FIXTURES)
    args_parser.add_argument("--texts", type=int, default=200, help="random strings besides the fixed ones")
    args = args_parser.parse_args()
    preflight()
    node = shutil.which("node")
    if node is None or not (LLAMA_CPP / "node_modules" / "node-llama-cpp").is_dir():
        sys.exit("bench: node-llama-cpp is missing: npm install --prefix bench/llama-cpp")
    import mlx.core as mx

    from mlx_serving.engine.models import load_text_model

    names = [name for name in args.models if (MODELS / f"{name}.gguf").is_file()
             or (MODELS / name / "model.gguf").is_file()]
    strings = texts(args.texts)
    loaded = {name: load_text_model(path_of(name), name) for name in names}
    prompts = {name: model.tokenizer.encode(PROMPT) for name, model in loaded.items()}
    request = {"models": {name: {"path": path_of(name), "texts": strings, "prompt": prompts[name]}
                          for name in names}}
    done = subprocess.run([node, str(LLAMA_CPP / "parity.mjs")], cwd=LLAMA_CPP, check=True, text=True,
                          input=json.dumps(request), stdout=subprocess.PIPE)
    theirs = json.loads(done.stdout.splitlines()[-1])
    for name, model in loaded.items():
        reporter = Reporter("gguf_parity", name, quick=False)
        differing = [text for text, ids in zip(strings, theirs[name]["ids"], strict=True)
                     if model.tokenizer.encode(text, add_special_tokens=False) != ids]
        reporter.emit("token_ids_differing", len(differing), "texts", baseline_of="node-llama-cpp 3.22.1",
                      target="== 0", met=not differing, texts=len(strings), first=differing[:3])
        logits = model.model(mx.array([prompts[name]]))[0, -1].astype(mx.float32)
        ours = mx.softmax(logits).tolist()
        reference = theirs[name]["probabilities"]
        gap = max(abs(p - reference.get(str(token), 0.0)) for token, p in enumerate(ours))
        reporter.emit("next_token_probability_max_diff", gap * 1e6, "ppm",
                      baseline_of="node-llama-cpp 3.22.1", prompt_tokens=len(prompts[name]),
                      top_probability=max(ours),
                      same_top_token=int(max(reference, key=lambda token: reference[token]))
                      == ours.index(max(ours)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
