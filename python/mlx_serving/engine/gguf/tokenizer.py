"""The tokenizer stored in a GGUF file's metadata, rebuilt as a Hugging Face
fast tokenizer that splits text the way llama.cpp does.

Byte-level BPE (`tokenizer.ggml.model` "gpt2") only. llama.cpp picks its
pre-tokenizer regexes from the `tokenizer.ggml.pre` name (llama-vocab.cpp);
the table below follows it, and a name it does not hold is an error, never a
silent default: a wrong split gives other token ids than llama.cpp's and a
model that reads garbage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...api.errors import ErrorCode, ServingError
from .header import GgufHeader


@dataclass(frozen=True)
class PreTokenizer:
    regexes: tuple[str, ...]  # applied one after the other, each splitting the pieces of the last
    ignore_merges: bool = False  # a piece that is a whole vocabulary entry is one token
    add_bos: bool = False  # llama.cpp's default when the file has no add_bos_token
    clean_spaces: bool = True  # detokenization removes spaces before punctuation


_GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
_LLAMA3 = ("(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+"
           "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
_QWEN2 = ("(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+"
          "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")

_LLAMA3_PRE = PreTokenizer((_LLAMA3,), ignore_merges=True, add_bos=True)
_SMAUG_PRE = PreTokenizer((_LLAMA3,))
_QWEN2_PRE = PreTokenizer((_QWEN2,), clean_spaces=False)
_STARCODER_PRE = PreTokenizer(("\\p{N}", _GPT2))
_GPT2_PRE = PreTokenizer((_GPT2,))

# tokenizer.ggml.pre -> how llama.cpp splits text (its families whose regexes
# the `tokenizers` library runs as written; others are refused).
PRE_TOKENIZERS: dict[str, PreTokenizer] = {
    **dict.fromkeys(["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral",
                     "midm-2.0", "lfm2"], _LLAMA3_PRE),
    **dict.fromkeys(["dbrx", "smaug-bpe"], _SMAUG_PRE),
    **dict.fromkeys(["qwen2", "deepseek-r1-qwen", "kormo"], _QWEN2_PRE),
    "megrez": PreTokenizer((_QWEN2,)),
    "stablelm2": PreTokenizer((_QWEN2,)),
    **dict.fromkeys(["starcoder", "refact", "codeshell", "exaone", "minerva-7b"], _STARCODER_PRE),
    **dict.fromkeys(["command-r", "smollm"], PreTokenizer(("\\p{N}", _GPT2), clean_spaces=False)),
    **dict.fromkeys(["gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es",
                     "jina-v2-de", "a.x-4.0", "mellum", "mpt", "olmo", "jais", "exaone4"],
                    _GPT2_PRE),
    **dict.fromkeys(["trillion", "granite-docling"], PreTokenizer((_GPT2,), clean_spaces=False)),
}

# llama.cpp's token types (tokenizer.ggml.token_type).
_CONTROL = 3
_USER_DEFINED = 4


def _unsupported(header: GgufHeader, message: str, **details: Any) -> ServingError:
    return ServingError(ErrorCode.UNSUPPORTED_MODEL, f"{str(header.path)!r}: {message}",
                        model=str(header.path), **details)


def pre_tokenizer_of(header: GgufHeader) -> PreTokenizer:
    kind = header.get("tokenizer.ggml.model")
    if kind != "gpt2":
        raise _unsupported(header, f"tokenizer.ggml.model is {kind!r}; only byte-level BPE "
                                   "('gpt2') tokenizers are supported", tokenizer=kind)
    name = header.get("tokenizer.ggml.pre")
    spec = PRE_TOKENIZERS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise _unsupported(header, f"tokenizer.ggml.pre {name!r} names no pre-tokenizer the "
                                   f"runtime knows; supported: {', '.join(sorted(PRE_TOKENIZERS))}",
                           pre_tokenizer=name)
    return spec


def _strings(header: GgufHeader, key: str, required: bool = True) -> list[str]:
    value = header.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ServingError(ErrorCode.MODEL_LOAD_FAILED,
                           f"{str(header.path)!r}: metadata {key!r} is not a list of strings",
                           model=str(header.path))
    return value


def _token_id(header: GgufHeader, key: str, vocabulary: int) -> int | None:
    value = header.get(key)
    if isinstance(value, int) and 0 <= value < vocabulary:
        return value
    return None


def load_tokenizer(header: GgufHeader) -> Any:
    """An mlx-lm TokenizerWrapper built from the file's metadata."""
    from mlx_lm.tokenizer_utils import BPEStreamingDetokenizer, TokenizerWrapper
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    spec = pre_tokenizer_of(header)
    tokens = _strings(header, "tokenizer.ggml.tokens")
    merges = _strings(header, "tokenizer.ggml.merges")
    types = header.get("tokenizer.ggml.token_type") or [1] * len(tokens)
    if len(types) != len(tokens):
        raise ServingError(ErrorCode.MODEL_LOAD_FAILED,
                           f"{str(header.path)!r}: {len(types)} token types for {len(tokens)} tokens",
                           model=str(header.path))
    pairs = []
    for merge in merges:
        left, space, right = merge.partition(" ")
        if not space:
            raise ServingError(ErrorCode.MODEL_LOAD_FAILED,
                               f"{str(header.path)!r}: the merge {merge!r} is not two tokens",
                               model=str(header.path))
        pairs.append((left, right))
    vocab = {token: index for index, token in enumerate(tokens)}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=pairs, ignore_merges=spec.ignore_merges))
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(regex), behavior="isolated") for regex in spec.regexes]
        + [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    backend.decoder = decoders.ByteLevel()
    # Control tokens are matched in text as llama.cpp's parse_special does;
    # user-defined ones always are.
    backend.add_special_tokens([AddedToken(token, special=True, normalized=False)
                                for token, kind in zip(tokens, types, strict=True)
                                if kind == _CONTROL])
    backend.add_tokens([AddedToken(token, special=False, normalized=False)
                        for token, kind in zip(tokens, types, strict=True)
                        if kind == _USER_DEFINED])

    bos = _token_id(header, "tokenizer.ggml.bos_token_id", len(tokens))
    eos = _token_id(header, "tokenizer.ggml.eos_token_id", len(tokens))
    add_bos = header.get("tokenizer.ggml.add_bos_token", spec.add_bos)
    if add_bos and bos is not None:
        backend.post_processor = TemplateProcessing(
            single=f"{tokens[bos]} $A", pair=f"{tokens[bos]} $A {tokens[bos]} $B",
            special_tokens=[(tokens[bos], bos)])

    def named(key: str) -> str | None:
        index = _token_id(header, key, len(tokens))
        return None if index is None else tokens[index]

    hf = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=None if bos is None else tokens[bos],
        eos_token=None if eos is None else tokens[eos],
        unk_token=named("tokenizer.ggml.unknown_token_id"),
        pad_token=named("tokenizer.ggml.padding_token_id"),
        chat_template=header.get("tokenizer.chat_template"),
        clean_up_tokenization_spaces=spec.clean_spaces,
        model_max_length=10**9,
    )
    # End of turn as well as end of text: chat models stop on either.
    stops = {index for key in ("tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id",
                               "tokenizer.ggml.eom_token_id")
             if (index := _token_id(header, key, len(tokens))) is not None}
    return TokenizerWrapper(hf, BPEStreamingDetokenizer, eos_token_ids=sorted(stops))
