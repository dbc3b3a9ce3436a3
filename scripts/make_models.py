"""Build the local models that tests, the demo and the benchmarks use.

No hub, no download: a byte-level BPE tokenizer is trained with `tokenizers`
on text generated here from a small English grammar, and llama-architecture
models are written in the folder format `mlx_lm.load(path)` reads
(config.json, model.safetensors, tokenizer files with a chat template).

    python scripts/make_models.py --out models            # the default set
    python scripts/make_models.py --out models demo       # just these

Models (the text ones share one tokenizer, so any of them can draft for another):
    tiny        random weights, 2 layers, 64 wide, 512-token context: fast tests
    tiny-draft  random weights, 1 layer: a draft model for tiny
    tiny-4bit   tiny quantized to 4 bits
    demo        2 layers, 64 wide, trained for a few seconds on the grammar
                text so that it writes word-like sentences
    demo-draft  1 layer, trained on the same text: a draft that often agrees
    demo-deep   demo plus 30 random layers: a costly target that demo drafts
                for well (see DeepRecipe); for bench/speculative.py
    tiny-vision a vision-language model for mlx-vlm (see below)
    tiny-llama3 tiny with Llama 3.1's rope_theta and llama3 rope_scaling (same weights)
    small       tiny's shape with a 4096-token context (room for long prompts):
                decodes about 900 tokens/s on 2 CPU cores, so that the runtime's
                own overhead shows in benchmarks
    small-vocab small with Llama 3's 128256-token vocabulary: the per-token
                work over the whole vocabulary (bench/top_logprobs.py) weighs
                as much as it can beside a decode step

tiny-vision is a Qwen2-VL model with random weights: a 2-layer, 64-wide Qwen2
text tower and a 1-block, 32-wide vision tower (patch 14, 2x2 merge), made
with mlx-vlm's own model class and saved with its tokenizer (the grammar BPE
plus Qwen's vision tokens, a Qwen-style chat template) and the processor
files mlx-vlm reads: preprocessor_config.json (images scaled to at most 56x56
pixels, so an image is 4 tokens) and processor_config.json. Qwen2-VL is the
family picked because mlx-vlm prepares its images with its own numpy
processor: the llava path goes through a transformers image processor that
rejects the `padding` argument mlx-vlm passes (transformers 5.24).

GGUF fixtures (llama.cpp's format, written with the `gguf` package; each
folder holds one model.gguf with the grammar tokenizer in its metadata,
pre-tokenizer "gpt-2", so its token ids are the folder models'):
    tiny-gguf        tiny's own weights as float32 GGUF, Q/K rows permuted into
                     llama.cpp's rotary order as its converter does: it must
                     compute exactly what tiny computes
    tiny-gguf-qwen2  a qwen2 model (attention biases, no permutation), random
    tiny-gguf-qwen3  a qwen3 model (RMSNorm on each head's queries and keys), random
    tiny-gguf-llama3 tiny-llama3's weights (tiny's, with Llama 3.1's rope_scaling) and
                     the rope_freqs.weight factors llama.cpp's converter computes from
                     that rope_scaling: it must compute what tiny-llama3 computes
    tiny-gguf-spm    a 1-layer llama with a SentencePiece BPE tokenizer (llama.cpp's
                     "llama" model: scores, <0xNN> byte fallback, the \u2581 space) trained
                     with `sentencepiece` on the grammar text as Llama 2's was
                     (identity normalization, split digits); its tokenizer.model
                     beside it, for tests to compare ids with sentencepiece's
    tiny-gguf-phi3   a phi3 model (fused QKV and gate/up matrices) with that
                     SentencePiece tokenizer, as Phi-3's files have, random
    tiny-gguf-gemma2 a gemma2 model (norms stored plus one, as llama.cpp's converter
                     does; soft caps) with that SentencePiece tokenizer without the
                     space prefix, as Gemma's files have it, random
    tiny-gguf-gemma3 a gemma3 text model, 6 layers (the 6th global, the others in a
                     64-token sliding window), per-head norms, that tokenizer, random
    tiny-gguf-TYPE   a 256-wide, 1-layer llama whose matrices are of GGUF type
                     TYPE, one per type the runtime loads: q4_0, q4_1, q8_0 (kept
                     quantized), f16, bf16, q2_k, q4_k, q6_k (loaded as float16);
                     random weights (the K-quants: random blocks with small scales)

Benchmark models with the shapes of real ones (random weights, never built by
the tests; see bench/README.md):
    llama-1b        Llama-3.2-1B: 16 layers, 2048 wide, 32 heads (8 KV), MLP 8192,
                    4-bit (group 64, bfloat16 scales); about 0.7 GB
    llama-1b-bf16   the same in bfloat16; about 2.5 GB
    llama-1b-f32    llama-1b with float32 scales and activations, for CPUs: MLX's
                    CPU backend runs half-precision types 10-40x slower; about 0.8 GB
    llama-8b        Llama-3.1-8B: 32 layers, 4096 wide, 32 heads (8 KV), MLP 14336,
                    untied output layer, 4-bit; about 4.5 GB (for GPU runs)
    llama-8b-bf16   the same in bfloat16; about 16 GB (for GPU runs)
Their vocabulary has the real size, 128256 entries, so the embedding and output
layer weigh what they weigh in the real models (a fifth of the 1B): the 512
tokens of our tokenizer plus filler entries, short made-up words that decode
like ordinary tokens (the prompt never contains them; random weights emit them).

Each folder is rebuilt only when missing or when its recipe changed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL_TOKENS = ["<s>", "</s>", "<pad>", "<|im_start|>", "<|im_end|>"]
VISION_TOKENS = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
# Qwen2-VL's layout: each image part of a message becomes one placeholder,
# which the processor expands to the image's tokens.
VISION_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}"
    "<|vision_start|><|image_pad|><|vision_end|>{% elif part['type'] == 'text' %}"
    "{{ part['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
VOCAB_SIZE = 512
# tiny-gguf-gemma3's sliding window: shorter than test prompts, so that it shows.
GEMMA3_WINDOW = 64
SPM_VOCAB_SIZE = 400  # the SentencePiece fixture's: 265 unknown, control and byte pieces, 135 learned
# Phi-3's chat markers, control pieces of the SentencePiece fixture beside ours: llama.cpp
# gives them Phi-3's whitespace stripping in files named phi-3/phi3 (tiny-gguf-phi3).
PHI3_TOKENS = ["<|endoftext|>", "<|user|>", "<|assistant|>", "<|end|>"]
RECIPE_VERSION = 1


# --- text -------------------------------------------------------------------

_SUBJECTS = ["the fox", "a small bird", "the old man", "my sister", "the river", "a tired dog",
             "the teacher", "our neighbour", "the little cat", "a quiet child", "the farmer",
             "the wind", "a young girl", "the baker", "the moon", "every student"]
_VERBS = ["walks to", "looks at", "sings about", "runs past", "dreams of", "waits for",
          "talks to", "remembers", "finds", "carries", "paints", "follows", "builds", "reads"]
_OBJECTS = ["the green hill", "a red apple", "the open door", "a long letter", "the warm bread",
            "the dark forest", "a bright star", "the empty road", "the blue sea",
            "a wooden boat", "the tall tree", "an old song", "the morning light", "a quiet town"]
_ENDINGS = ["", " every morning", " in the rain", " before dinner", " at night",
            " with a smile", " again and again", " near the market", " after school"]
_QUESTIONS = ["What does {s} do?", "Where is {s} going?", "Who {v} {o}?", "Why does {s} wait?"]


def _sentence(rng: random.Random) -> str:
    subject, verb, obj = rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS)
    text = f"{subject} {verb} {obj}{rng.choice(_ENDINGS)}."
    return text[0].upper() + text[1:]


def _chat(rng: random.Random) -> str:
    question = rng.choice(_QUESTIONS).format(
        s=rng.choice(_SUBJECTS), v=rng.choice(_VERBS), o=rng.choice(_OBJECTS))
    answer = " ".join(_sentence(rng) for _ in range(rng.randint(1, 3)))
    return (f"<s><|im_start|>user\n{question[0].upper() + question[1:]}<|im_end|>\n"
            f"<|im_start|>assistant\n{answer}<|im_end|>\n")


def corpus(seed: int, documents: int) -> list[str]:
    """Paragraphs of plain sentences and short chats, the same for a seed."""
    rng = random.Random(seed)
    docs = []
    for _ in range(documents):
        if rng.random() < 0.3:
            docs.append(_chat(rng))
        else:
            docs.append("<s>" + " ".join(_sentence(rng) for _ in range(rng.randint(2, 6))) + "</s>")
    return docs


# --- tokenizer --------------------------------------------------------------


def train_tokenizer(texts: list[str], special_tokens: list[str] = SPECIAL_TOKENS,
                    add_bos: bool = True):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=special_tokens,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    if add_bos:
        bos = tokenizer.token_to_id("<s>")
        tokenizer.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)])
    return tokenizer


def save_tokenizer(tokenizer, folder: Path) -> None:
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>",
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "add_bos_token": True,
        "clean_up_tokenization_spaces": False,
        "model_max_length": 1 << 20,
        "chat_template": CHAT_TEMPLATE,
    }, indent=2))


# --- models -----------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    context: int
    seed: int
    train_steps: int = 0
    quantize_bits: int = 0
    group_size: int = 32
    intermediate: int = 0  # 0: twice `hidden`
    vocab_size: int = 0  # 0: the tokenizer's; larger: padded with filler tokens
    tie_embeddings: bool = True
    dtype: str = "float32"
    llama3_rope: bool = False  # Llama 3.x rope_theta and rope_scaling

    def config(self, tokenizer) -> dict:
        config = {
            "model_type": "llama",
            "architectures": ["LlamaForCausalLM"],
            "hidden_size": self.hidden,
            "num_hidden_layers": self.layers,
            "intermediate_size": self.intermediate or self.hidden * 2,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads,
            "rms_norm_eps": 1e-5,
            "vocab_size": tokenizer.get_vocab_size(),
            "max_position_embeddings": self.context,
            "rope_theta": 10000.0,
            "tie_word_embeddings": self.tie_embeddings,
            "bos_token_id": tokenizer.token_to_id("<s>"),
            "eos_token_id": [tokenizer.token_to_id("</s>"), tokenizer.token_to_id("<|im_end|>")],
            "torch_dtype": self.dtype,
        }
        if self.llama3_rope:
            config["rope_theta"] = 500000.0
            config["rope_scaling"] = {"rope_type": "llama3", "factor": 32.0,
                                      "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                      "original_max_position_embeddings": 8192}
        return config

    @property
    def large(self) -> bool:
        """Built lazily, tensor by tensor, never held whole in float32."""
        return self.hidden >= 1024


@dataclass(frozen=True)
class GgufRecipe:
    """A GGUF fixture (see the module docstring)."""

    architecture: str  # "llama", "qwen2", "qwen3", "phi3", "gemma2" or "gemma3"
    tensor_type: str  # GGUF type of the 2-D weights ("F32", "Q4_K", ...)
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    seed: int
    base: str = ""  # a llama folder model whose weights (and RoPE) it takes
    tokenizer: str = "gpt2"  # "gpt2": the grammar BPE; "llama": a SentencePiece BPE


@dataclass(frozen=True)
class DeepRecipe:
    """A target that writes almost what the trained `base` writes, at many times
    its cost: the base's layers, then `extra_layers` layers of random weights
    (MLX's default initialization). The residual stream of the trained layers
    outweighs what the random ones add, so they nudge the base's predictions
    rather than replace them: the base model itself is then a draft that
    agrees often (about 85% of proposals), being this target truncated to its
    first layers.

    A pair for benchmarking speculative decoding on a CPU. There a tiny model's
    step costs about the same for 1 token as for 5 (launch-bound: per layer,
    not per flop) while wide layers cost about as much per token for 5 tokens
    as for 1 (the CPU matmul is compute-bound): so the target is deep and
    narrow, like a large model on a GPU, where checking 5 tokens costs about
    what 1 does (memory-bound)."""

    base: str
    extra_layers: int
    seed: int


@dataclass(frozen=True)
class VisionRecipe:
    """A Qwen2-VL model with random weights (see the module docstring)."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    context: int
    vision_depth: int
    vision_width: int
    vision_heads: int
    max_pixels: int  # images are scaled to at most this many pixels (28x28 per token)
    seed: int

    def config(self, tokenizer) -> dict:
        ids = {token: tokenizer.token_to_id(token) for token in SPECIAL_TOKENS + VISION_TOKENS}
        head_dim = self.hidden // self.heads
        return {
            "model_type": "qwen2_vl",
            "architectures": ["Qwen2VLForConditionalGeneration"],
            "hidden_size": self.hidden,
            "num_hidden_layers": self.layers,
            "intermediate_size": self.hidden * 2,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads,
            "rms_norm_eps": 1e-6,
            "vocab_size": tokenizer.get_vocab_size(),
            "max_position_embeddings": self.context,
            "rope_theta": 10000.0,
            # Multimodal RoPE: temporal, height and width sections of head_dim / 2.
            "rope_scaling": {"type": "mrope", "mrope_section": [
                head_dim // 8, head_dim // 2 - head_dim // 8 - head_dim // 4, head_dim // 4]},
            "tie_word_embeddings": True,
            "vision_config": {
                "depth": self.vision_depth, "embed_dim": self.vision_width,
                "hidden_size": self.hidden, "num_heads": self.vision_heads, "mlp_ratio": 2,
                "patch_size": 14, "spatial_patch_size": 14, "spatial_merge_size": 2,
                "temporal_patch_size": 2, "in_channels": 3,
            },
            "image_token_id": ids["<|image_pad|>"],
            "video_token_id": ids["<|video_pad|>"],
            "vision_start_token_id": ids["<|vision_start|>"],
            "eos_token_id": [ids["<|im_end|>"], ids["</s>"]],
            "torch_dtype": "float32",
        }

    def processor_files(self) -> dict[str, dict]:
        return {
            "preprocessor_config.json": {
                "image_processor_type": "Qwen2VLImageProcessor", "patch_size": 14,
                "temporal_patch_size": 2, "merge_size": 2, "min_pixels": 28 * 28,
                "max_pixels": self.max_pixels, "image_mean": [0.5, 0.5, 0.5],
                "image_std": [0.5, 0.5, 0.5]},
            "processor_config.json": {"processor_class": "Qwen2VLProcessor"},
        }


RECIPES: dict[str, Recipe | DeepRecipe | VisionRecipe | GgufRecipe] = {
    "tiny": Recipe(hidden=64, layers=2, heads=4, kv_heads=2, context=512, seed=1),
    "tiny-draft": Recipe(hidden=64, layers=1, heads=4, kv_heads=2, context=512, seed=2),
    "tiny-4bit": Recipe(hidden=64, layers=2, heads=4, kv_heads=2, context=512, seed=1,
                        quantize_bits=4),
    "demo": Recipe(hidden=64, layers=2, heads=4, kv_heads=2, context=1024, seed=3,
                   train_steps=200),
    "demo-draft": Recipe(hidden=64, layers=1, heads=4, kv_heads=2, context=1024, seed=4,
                         train_steps=150),
    "demo-deep": DeepRecipe(base="demo", extra_layers=30, seed=5),
    "tiny-vision": VisionRecipe(hidden=64, layers=2, heads=4, kv_heads=2, context=1024,
                                vision_depth=1, vision_width=32, vision_heads=2,
                                max_pixels=56 * 56, seed=6),
    "small": Recipe(hidden=64, layers=2, heads=4, kv_heads=2, context=4096, seed=5),
    "tiny-llama3": Recipe(hidden=64, layers=2, heads=4, kv_heads=2, context=131072, seed=1,
                          llama3_rope=True),
    "small-vocab": Recipe(hidden=64, layers=2, heads=4, kv_heads=2, context=4096, seed=5,
                          vocab_size=128256),
}
_LLAMA_1B = Recipe(hidden=2048, layers=16, heads=32, kv_heads=8, context=131072, seed=6,
                   intermediate=8192, vocab_size=128256, dtype="bfloat16", llama3_rope=True,
                   quantize_bits=4, group_size=64)
_LLAMA_8B = replace(_LLAMA_1B, hidden=4096, layers=32, intermediate=14336, seed=8,
                    tie_embeddings=False)
RECIPES.update({
    "llama-1b": _LLAMA_1B,
    "llama-1b-bf16": replace(_LLAMA_1B, quantize_bits=0),
    "llama-1b-f32": replace(_LLAMA_1B, dtype="float32"),
    "llama-8b": _LLAMA_8B,
    "llama-8b-bf16": replace(_LLAMA_8B, quantize_bits=0),
})
GGUF_TYPES = ["q4_0", "q4_1", "q8_0", "f16", "bf16", "q2_k", "q4_k", "q6_k"]
RECIPES.update({
    "tiny-gguf": GgufRecipe("llama", "F32", hidden=64, layers=2, heads=4, kv_heads=2, seed=1,
                            base="tiny"),
    "tiny-gguf-qwen2": GgufRecipe("qwen2", "F32", hidden=64, layers=2, heads=4, kv_heads=2,
                                  seed=9),
    "tiny-gguf-qwen3": GgufRecipe("qwen3", "F32", hidden=64, layers=2, heads=4, kv_heads=2,
                                  seed=20),
    "tiny-gguf-llama3": GgufRecipe("llama", "F32", hidden=64, layers=2, heads=4, kv_heads=2,
                                   seed=1, base="tiny-llama3"),
    "tiny-gguf-spm": GgufRecipe("llama", "F32", hidden=64, layers=1, heads=4, kv_heads=2,
                                seed=21, tokenizer="llama"),
    "tiny-gguf-phi3": GgufRecipe("phi3", "F32", hidden=64, layers=2, heads=4, kv_heads=4,
                                 seed=22, tokenizer="llama"),
    "tiny-gguf-gemma2": GgufRecipe("gemma2", "F32", hidden=64, layers=2, heads=4, kv_heads=2,
                                   seed=23, tokenizer="llama"),
    "tiny-gguf-gemma3": GgufRecipe("gemma3", "F32", hidden=64, layers=6, heads=4, kv_heads=2,
                                   seed=24, tokenizer="llama"),
    **{f"tiny-gguf-{kind}": GgufRecipe("llama", kind.upper(), hidden=256, layers=1, heads=4,
                                       kv_heads=2, seed=10 + index)
       for index, kind in enumerate(GGUF_TYPES)},
})
GGUF_SET = ["tiny-gguf", "tiny-gguf-qwen2", "tiny-gguf-qwen3", "tiny-gguf-llama3",
            "tiny-gguf-spm", "tiny-gguf-phi3", "tiny-gguf-gemma2", "tiny-gguf-gemma3", *(f"tiny-gguf-{kind}" for kind in GGUF_TYPES)]
DEFAULT_SET = ["tiny", "tiny-draft", "tiny-4bit", "demo", "demo-draft"]


def _stamp(name: str, recipe: Recipe | DeepRecipe | VisionRecipe | GgufRecipe) -> str:
    fields = asdict(recipe)
    if isinstance(recipe, (DeepRecipe, GgufRecipe)) and recipe.base:  # rebuilt when its base is
        fields["base_stamp"] = _stamp(recipe.base, RECIPES[recipe.base])
    text = json.dumps({"name": name, "version": RECIPE_VERSION, **fields}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _train(model, config: dict, tokenizer, recipe: Recipe) -> float:
    """A few hundred steps of next-token prediction on the grammar text."""
    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim

    ids: list[int] = []
    for doc in corpus(seed=7, documents=6000):
        ids.extend(tokenizer.encode(doc, add_special_tokens=False).ids)
    data = mx.array(ids, dtype=mx.int32)
    seq, batch = 64, 16
    rng = random.Random(recipe.seed)

    def loss_fn(m, x, y):
        return nn.losses.cross_entropy(m(x), y, reduction="mean")

    step = nn.value_and_grad(model, loss_fn)
    optimizer = optim.AdamW(learning_rate=optim.cosine_decay(3e-3, recipe.train_steps, 3e-4))
    loss = mx.array(0.0)
    for _ in range(recipe.train_steps):
        starts = mx.array([rng.randrange(0, len(ids) - seq - 1) for _ in range(batch)])
        window = starts[:, None] + mx.arange(seq + 1)[None, :]
        tokens = data[window]
        loss, grads = step(model, tokens[:, :-1], tokens[:, 1:])
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
    return loss.item()


def pad_vocabulary(tokenizer, size: int):
    """`tokenizer` with filler entries up to `size` tokens: made-up words
    (" ab", " ac", ...) that decode like ordinary tokens but that no merge
    produces, so encoding text is unchanged."""
    from tokenizers import Tokenizer

    data = json.loads(tokenizer.to_str())
    vocab = data["model"]["vocab"]
    letters = "abcdefghijklmnopqrstuvwxyz"
    n = 0
    while len(vocab) < size:
        n += 1
        word, rest = "", n
        while rest:
            rest, digit = divmod(rest, len(letters))
            word += letters[digit]
        vocab.setdefault("\u0120" + word, len(vocab))  # Ġ: byte-level for a leading space
    return Tokenizer.from_str(json.dumps(data))


def _make_llama(folder: Path, recipe: Recipe, tokenizer) -> str:
    import mlx.core as mx
    from mlx_lm.models import llama
    from mlx_lm.utils import quantize_model, save_config, save_model

    if recipe.vocab_size > tokenizer.get_vocab_size():
        tokenizer = pad_vocabulary(tokenizer, recipe.vocab_size)
    config = recipe.config(tokenizer)
    mx.random.seed(recipe.seed)
    model = llama.Model(llama.ModelArgs.from_dict(config))
    if recipe.dtype != "float32":
        model.set_dtype(getattr(mx, recipe.dtype))
    if not recipe.large:  # large ones stay lazy: each tensor is made as it is saved
        mx.eval(model.parameters())
    note = "random weights"
    if recipe.train_steps:
        note = f"trained {recipe.train_steps} steps, loss {_train(model, config, tokenizer, recipe):.2f}"
    if recipe.quantize_bits:
        model, config = quantize_model(model, config, group_size=recipe.group_size,
                                       bits=recipe.quantize_bits)
        note += f", {recipe.quantize_bits}-bit"
    save_model(folder, model)
    save_config(config, folder / "config.json")
    save_tokenizer(tokenizer, folder)
    return note


def _permute_rope(weight, heads: int):
    """llama.cpp's converter stores Llama Q/K rows in the interleaved rotary
    order (its `permute`): the same rows, each head's halves interleaved."""
    rows = weight.shape[0]
    return (weight.reshape(heads, 2, rows // heads // 2, *weight.shape[1:])
            .swapaxes(1, 2).reshape(weight.shape))


# mlx-lm parameter path parts -> llama.cpp tensor names.
_GGUF_NAMES = {
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm", "self_attn.q_norm": "attn_q_norm",
    "self_attn.k_norm": "attn_k_norm", "self_attn.qkv_proj": "attn_qkv",
    "mlp.gate_up_proj": "ffn_up",
}
# Gemma 2 has a norm after attention as well as one before the MLP.
_GEMMA2_NAMES = {"post_attention_layernorm": "post_attention_norm",
                 "pre_feedforward_layernorm": "ffn_norm",
                 "post_feedforward_layernorm": "post_ffw_norm"}


def _gguf_name(path: str, arch: str) -> str:
    stem, _, suffix = path.rpartition(".")
    if stem == "model.embed_tokens":
        return f"token_embd.{suffix}"
    if stem == "model.norm":
        return f"output_norm.{suffix}"
    if stem == "lm_head":
        return f"output.{suffix}"
    _, _, layer, part = stem.split(".", 3)  # model.layers.N.<part>
    names = {**_GGUF_NAMES, **_GEMMA2_NAMES} if arch.startswith("gemma") else _GGUF_NAMES
    return f"blk.{layer}.{names[part]}.{suffix}"


def _k_quant_blocks(kind, rows: int, columns: int, rng):
    """Random K-quant blocks whose float16 scales are small and finite (random
    bytes there would be NaNs and huge values)."""
    import gguf
    import numpy as np

    block, size = gguf.GGML_QUANT_SIZES[kind]
    blocks = rng.integers(0, 256, size=(rows * columns // block, size), dtype=np.uint8)
    scale = np.frombuffer(np.float16(0.002).tobytes(), dtype=np.uint8)
    at = {gguf.GGMLQuantizationType.Q2_K: [80, 82], gguf.GGMLQuantizationType.Q4_K: [0, 2],
          gguf.GGMLQuantizationType.Q6_K: [208]}[kind]
    for offset in at:
        blocks[:, offset:offset + 2] = scale
    return blocks.reshape(rows, columns // block * size)


def _gguf_tensor(writer, name: str, array, kind, rng) -> None:
    import gguf
    import numpy as np

    types = gguf.GGMLQuantizationType
    if array.ndim == 1 or kind == types.F32:
        writer.add_tensor(name, array.astype(np.float32))
    elif kind == types.F16:
        writer.add_tensor(name, array.astype(np.float16))
    elif kind in (types.Q2_K, types.Q4_K, types.Q6_K):
        writer.add_tensor(name, _k_quant_blocks(kind, *array.shape, rng), raw_dtype=kind)
    else:
        writer.add_tensor(name, gguf.quants.quantize(array.astype(np.float32), kind),
                          raw_dtype=kind)


def _make_gguf(folder: Path, name: str, recipe: GgufRecipe, tokenizers: Tokenizers,
               out: Path) -> str:
    import gguf
    import mlx.core as mx
    import numpy as np
    from mlx.utils import tree_flatten

    intermediate = recipe.hidden * 2
    head_dim = recipe.hidden // recipe.heads
    spm = tokenizers.sentencepiece() if recipe.tokenizer == "llama" else None
    vocab_size = spm.get_piece_size() if spm else tokenizers.text().get_vocab_size()
    config: dict = {"rope_theta": 10000.0, "max_position_embeddings": 512}
    if recipe.base:
        config = json.loads((out / recipe.base / "config.json").read_text())
        weights = {key: np.array(value, dtype=np.float32)
                   for key, value in mx.load(str(out / recipe.base / "model.safetensors")).items()}
    else:
        import importlib

        # mlx-lm's module for the file's architecture (Gemma 3's text model has its own).
        module = importlib.import_module(
            f"mlx_lm.models.{ {'gemma3': 'gemma3_text'}.get(recipe.architecture, recipe.architecture)}")
        mx.random.seed(recipe.seed)
        model = module.Model(module.ModelArgs.from_dict({
            "model_type": recipe.architecture, "hidden_size": recipe.hidden,
            "num_hidden_layers": recipe.layers, "intermediate_size": intermediate,
            "num_attention_heads": recipe.heads, "num_key_value_heads": recipe.kv_heads,
            "head_dim": head_dim, "rms_norm_eps": 1e-5, "vocab_size": vocab_size,
            "tie_word_embeddings": True, "query_pre_attn_scalar": head_dim,
            "sliding_window": GEMMA3_WINDOW, **config}))
        weights = {key: np.array(value.astype(mx.float32))
                   for key, value in tree_flatten(model.parameters())
                   if key != "lm_head.weight"}  # tied (gemma3_text makes one regardless)
        # Norm weights around 1, not all 1: a mix-up of two norms shows in the logits.
        noise = np.random.default_rng(recipe.seed)
        weights = {key: value + noise.normal(0, 0.2, value.shape).astype(np.float32)
                   if key.endswith("norm.weight") else value for key, value in weights.items()}
    kind = gguf.GGMLQuantizationType[recipe.tensor_type]
    arch = recipe.architecture
    writer = gguf.GGUFWriter(str(folder / "model.gguf"), arch)
    writer.add_name(name)
    writer.add_block_count(recipe.layers)
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(recipe.hidden)
    writer.add_feed_forward_length(intermediate)
    writer.add_head_count(recipe.heads)
    writer.add_head_count_kv(recipe.kv_heads)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_rope_dimension_count(head_dim)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(config["rope_theta"])
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    if arch == "gemma2":
        writer.add_sliding_window(4096)
        writer.add_attn_logit_softcapping(50.0)
        writer.add_final_logit_softcapping(30.0)
    if arch == "gemma3":
        writer.add_sliding_window(GEMMA3_WINDOW)
    if spm:
        _gguf_sentencepiece(writer, spm, space_prefix=not arch.startswith("gemma"))
        (folder / "tokenizer.model").write_bytes(spm.serialized_model_proto())
    else:
        _gguf_tokenizer(writer, tokenizers.text())
    rng = np.random.default_rng(recipe.seed)
    for path, array in sorted(weights.items()):
        if arch == "llama" and path.endswith(("q_proj.weight", "k_proj.weight")):
            array = _permute_rope(array, recipe.heads if "q_proj" in path else recipe.kv_heads)
        if arch.startswith("gemma") and path.endswith("norm.weight"):
            array = array + 1  # Gemma's RMSNorm scales by 1 + weight; the file holds that

        _gguf_tensor(writer, _gguf_name(path, arch), array, kind, rng)
    scaling = config.get("rope_scaling")
    if scaling:
        writer.add_tensor("rope_freqs.weight",
                          _llama3_rope_factors(scaling, config["rope_theta"], head_dim))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return f"{arch}, {recipe.tensor_type} matrices" + (f", {recipe.base}'s weights"
                                                       if recipe.base else ", random weights")


def _llama3_rope_factors(scaling: dict, base: float, dims: int):
    """What llama.cpp's converter stores as rope_freqs.weight for a llama3
    rope_scaling: per rotated pair, the divisor of its frequency."""
    import math

    import numpy as np

    assert scaling["rope_type"] == "llama3", scaling
    factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    context = scaling["original_max_position_embeddings"]
    factors = []
    for freq in 1.0 / base ** (np.arange(0, dims, 2, dtype=np.float32) / dims):
        wavelen = 2 * math.pi / freq
        if wavelen < context / high:
            factors.append(1.0)
        elif wavelen > context / low:
            factors.append(factor)
        else:
            smooth = (context / wavelen - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(factors, dtype=np.float32)


def train_sentencepiece(texts: list[str]):
    """A SentencePiece BPE trained as Llama 2's was (byte fallback, digits split,
    identity normalization, whitespace kept), with the chat markers as
    control pieces (and Phi-3's)."""
    import io

    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=model, vocab_size=SPM_VOCAB_SIZE,
        model_type="bpe", byte_fallback=True, split_digits=True,
        normalization_rule_name="identity", remove_extra_whitespaces=False,
        add_dummy_prefix=True, allow_whitespace_only_pieces=True, character_coverage=1.0,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, control_symbols=SPECIAL_TOKENS[3:] + PHI3_TOKENS,
        num_threads=1, minloglevel=2)
    return sentencepiece.SentencePieceProcessor(model_proto=model.getvalue())


def _gguf_sentencepiece(writer, spm, space_prefix: bool) -> None:
    """A SentencePiece model in llama.cpp's metadata keys, typed as its converter types them."""
    import gguf

    types = gguf.TokenType
    count = spm.get_piece_size()

    def token_type(index: int):
        if spm.is_unknown(index):
            return types.UNKNOWN
        if spm.is_control(index):
            return types.CONTROL
        if spm.is_unused(index):
            return types.UNUSED
        return types.BYTE if spm.is_byte(index) else types.NORMAL

    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list([spm.id_to_piece(index) for index in range(count)])
    writer.add_token_scores([spm.get_score(index) for index in range(count)])
    writer.add_token_types([token_type(index) for index in range(count)])
    writer.add_bos_token_id(spm.bos_id())
    writer.add_eos_token_id(spm.eos_id())
    writer.add_unk_token_id(spm.unk_id())
    writer.add_eot_token_id(spm.piece_to_id("<|im_end|>"))
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_add_space_prefix(space_prefix)
    writer.add_chat_template(CHAT_TEMPLATE)


def _gguf_tokenizer(writer, tokenizer) -> None:
    """The grammar BPE in llama.cpp's metadata keys."""
    import gguf

    vocab = tokenizer.get_vocab()
    tokens = sorted(vocab, key=vocab.get)
    merges = json.loads(tokenizer.to_str())["model"]["merges"]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_merges([" ".join(pair) if isinstance(pair, list) else pair
                             for pair in merges])
    writer.add_token_types([gguf.TokenType.CONTROL if token in SPECIAL_TOKENS
                            else gguf.TokenType.NORMAL for token in tokens])
    writer.add_bos_token_id(vocab["<s>"])
    writer.add_eos_token_id(vocab["</s>"])
    writer.add_eot_token_id(vocab["<|im_end|>"])
    writer.add_pad_token_id(vocab["<pad>"])
    writer.add_add_bos_token(True)
    writer.add_chat_template(CHAT_TEMPLATE)


def _make_deep(folder: Path, recipe: DeepRecipe, base_folder: Path) -> str:
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.models import llama
    from mlx_lm.utils import load_model, save_config, save_model

    base, config = load_model(base_folder)
    base_layers = config["num_hidden_layers"]
    config = {**config, "num_hidden_layers": base_layers + recipe.extra_layers}
    mx.random.seed(recipe.seed)
    model = llama.Model(llama.ModelArgs.from_dict(config))
    # The base's weights replace the random ones of its layers (same names).
    model.load_weights(tree_flatten(base.parameters()), strict=False)
    mx.eval(model.parameters())
    save_model(folder, model)
    save_config(config, folder / "config.json")
    for tokenizer_file in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(base_folder / tokenizer_file, folder / tokenizer_file)
    return f"{recipe.base} + {recipe.extra_layers} layers of random weights"


def _make_vision(folder: Path, recipe: VisionRecipe, tokenizer) -> str:
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_vlm.utils import get_model_and_args

    config = recipe.config(tokenizer)
    module, _ = get_model_and_args(config)
    # from_dict edits what it is given: hand it a copy.
    model_config = module.ModelConfig.from_dict(json.loads(json.dumps(config)))
    model_config.text_config = module.TextConfig.from_dict(config)
    model_config.vision_config = module.VisionConfig.from_dict(config["vision_config"])
    mx.random.seed(recipe.seed)
    model = module.Model(model_config)
    weights = dict(tree_flatten(model.parameters()))
    mx.save_safetensors(str(folder / "model.safetensors"), weights, metadata={"format": "mlx"})
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    for name, content in recipe.processor_files().items():
        (folder / name).write_text(json.dumps(content, indent=2))
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "eos_token": "<|im_end|>", "pad_token": "<pad>",
        "additional_special_tokens": SPECIAL_TOKENS[3:] + VISION_TOKENS,
        "clean_up_tokenization_spaces": False,
        "model_max_length": 1 << 20,
        "chat_template": VISION_CHAT_TEMPLATE,
    }, indent=2))
    return f"random weights, {sum(v.size for v in weights.values()) / 1e3:.0f}K parameters"


def build(name: str, out: Path, tokenizers: Tokenizers) -> Path:
    """out/name, rebuilt when missing or when its recipe changed."""
    recipe = RECIPES[name]
    folder = out / name
    stamp = _stamp(name, recipe)
    marker = folder / ".recipe"
    if marker.exists() and marker.read_text() == stamp:
        return folder
    base = build(recipe.base, out, tokenizers) \
        if isinstance(recipe, (DeepRecipe, GgufRecipe)) and recipe.base else None
    started = time.perf_counter()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    if isinstance(recipe, VisionRecipe):
        note = _make_vision(folder, recipe, tokenizers.vision())
    elif isinstance(recipe, DeepRecipe):
        note = _make_deep(folder, recipe, base)
    elif isinstance(recipe, GgufRecipe):
        note = _make_gguf(folder, name, recipe, tokenizers, out)
    else:
        note = _make_llama(folder, recipe, tokenizers.text())
    marker.write_text(stamp)
    print(f"built {folder} ({note}) in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return folder


class Tokenizers:
    """The tokenizers, each trained (in a second or so) when first needed."""

    def __init__(self) -> None:
        self._text = self._vision = self._sentencepiece = None

    def text(self):
        if self._text is None:
            self._text = train_tokenizer(corpus(seed=7, documents=6000))
        return self._text

    def vision(self):
        # Qwen-style: no BOS, and the vision tokens among the special ones.
        if self._vision is None:
            self._vision = train_tokenizer(corpus(seed=7, documents=6000),
                                           SPECIAL_TOKENS + VISION_TOKENS, add_bos=False)
        return self._vision

    def sentencepiece(self):
        # The grammar text without its special tokens (SentencePiece would learn them as text).
        if self._sentencepiece is None:
            texts = corpus(seed=7, documents=3000)
            for token in SPECIAL_TOKENS:
                texts = [text.replace(token, "") for text in texts]
            self._sentencepiece = train_sentencepiece(texts)
        return self._sentencepiece


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("models"))
    parser.add_argument("names", nargs="*", default=DEFAULT_SET, choices=[*RECIPES, []])
    args = parser.parse_args(argv)
    tokenizers = Tokenizers()
    for name in args.names or DEFAULT_SET:
        build(name, args.out, tokenizers)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
