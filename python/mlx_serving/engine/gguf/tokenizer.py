"""The tokenizer stored in a GGUF file's metadata, rebuilt as a Hugging Face
fast tokenizer that splits text the way llama.cpp does.

Two of llama.cpp's tokenizer models (`tokenizer.ggml.model`):
- "gpt2", byte-level BPE (Llama 3, Qwen, SmolLM): llama.cpp picks its
  pre-tokenizer regexes from the `tokenizer.ggml.pre` name (llama-vocab.cpp);
  the table below follows it, and a name it does not hold is an error, never
  a silent default: a wrong split gives other token ids than llama.cpp's and
  a model that reads garbage.
- "llama", SentencePiece BPE (Llama 2, Mistral, TinyLlama): llama.cpp's
  llm_tokenizer_spm merges, over the whole text with spaces as "▁", the
  adjacent pair whose union is the vocabulary entry of highest score, and
  spells what stays out of the vocabulary as <0xNN> byte tokens. A BPE model
  whose merges are every vocabulary entry's splits, ranked by that entry's
  score (transformers' generate_merges), with byte fallback, does the same;
  the one difference is the order of two different entries of equal score
  (llama.cpp takes the leftmost pair, the BPE the earlier merge), which real
  SentencePiece vocabularies do not have among their merged entries.
Other models (WordPiece, Unigram, RWKV) are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
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
# Mistral's tekken (Nemo, Small 3) and GPT-4o's (Phi-4): llama.cpp's adaptation of
# their case classes, a letter not a-z as "upper", not A-Z as "lower".
_UPPER, _LOWER = "((?=[\\p{L}])([^a-z]))", "((?=[\\p{L}])([^A-Z]))"
_CONTRACTION = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?"
_TEKKEN = (f"[^\\r\\n\\p{{L}}\\p{{N}}]?{_UPPER}*{_LOWER}+|[^\\r\\n\\p{{L}}\\p{{N}}]?{_UPPER}+{_LOWER}*"
           "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
_GPT4O = (f"[^\\r\\n\\p{{L}}\\p{{N}}]?{_UPPER}*{_LOWER}+{_CONTRACTION}"
          f"|[^\\r\\n\\p{{L}}\\p{{N}}]?{_UPPER}+{_LOWER}*{_CONTRACTION}"
          "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")

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
    "tekken": PreTokenizer((_TEKKEN,), ignore_merges=True, add_bos=True, clean_spaces=False),
    **dict.fromkeys(["gpt-4o", "llama4"], PreTokenizer((_GPT4O,), clean_spaces=False)),
    "stablelm2": PreTokenizer((_QWEN2,)),
    **dict.fromkeys(["starcoder", "refact", "codeshell", "exaone", "minerva-7b"], _STARCODER_PRE),
    **dict.fromkeys(["command-r", "smollm"], PreTokenizer(("\\p{N}", _GPT2), clean_spaces=False)),
    **dict.fromkeys(["gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es",
                     "jina-v2-de", "a.x-4.0", "mellum", "mpt", "olmo", "jais", "exaone4"],
                    _GPT2_PRE),
    **dict.fromkeys(["trillion", "granite-docling"], PreTokenizer((_GPT2,), clean_spaces=False)),
}

# llama.cpp's token types (tokenizer.ggml.token_type).
_UNKNOWN = 2
_CONTROL = 3
_USER_DEFINED = 4

# Tokens that end generation by their text alone, whatever the file names EOS/EOT,
# and are control tokens even where the file types them otherwise, as llama.cpp
# has them (llama-vocab.cpp: its end-of-generation list, the end of turn it
# finds by text, and the fill-in-the-middle pad, repository and file separator
# tokens; checked against node-llama-cpp 3.22.1's EOG list).
END_OF_GENERATION = frozenset({
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<end_of_turn>",
    "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>",
    "<\uff5cend\u2581of\u2581sentence\uff5c>",
    "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>",
    "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", "<|file_sep|>"})
_STOP_KEYS = ("eos", "eot", "eom", "fim_pad", "fim_rep", "fim_sep")
# llama.cpp gives Phi-3 files (by general.name) the whitespace stripping of Phi-3's
# own tokenizer: special tokens swallow the whitespace after them, but these.
_PHI3_NAMES = ("phi-3", "phi3")
_PHI3_UNSTRIPPED = frozenset({"<unk>", "<s>", "<|endoftext|>"})

_SPACE = "\u2581"  # SentencePiece's visible space
# llama.cpp's ids for a SentencePiece file that names none.
_SPM_DEFAULT_IDS = {"tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 2,
                    "tokenizer.ggml.unknown_token_id": 0}


def _unsupported(header: GgufHeader, message: str, **details: Any) -> ServingError:
    return ServingError(ErrorCode.UNSUPPORTED_MODEL, f"{str(header.path)!r}: {message}",
                        model=str(header.path), **details)


def pre_tokenizer_of(header: GgufHeader) -> PreTokenizer:
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
    if value is None and header.get("tokenizer.ggml.model") == "llama":
        value = _SPM_DEFAULT_IDS.get(key)
    if isinstance(value, int) and 0 <= value < vocabulary:
        return value
    return None


def _load_error(header: GgufHeader, message: str) -> ServingError:
    return ServingError(ErrorCode.MODEL_LOAD_FAILED, f"{str(header.path)!r}: {message}",
                        model=str(header.path))


@dataclass(frozen=True)
class _Backend:
    tokenizer: Any  # a tokenizers.Tokenizer without its special tokens yet
    add_bos: bool  # llama.cpp's default when the file has no add_bos_token
    clean_spaces: bool
    detokenizer: Any  # mlx-lm's streaming detokenizer class for it


def _byte_level(header: GgufHeader, tokens: list[str]) -> _Backend:
    from mlx_lm.tokenizer_utils import BPEStreamingDetokenizer
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    spec = pre_tokenizer_of(header)
    pairs = []
    for merge in _strings(header, "tokenizer.ggml.merges"):
        left, space, right = merge.partition(" ")
        if not space:
            raise _load_error(header, f"the merge {merge!r} is not two tokens")
        pairs.append((left, right))
    vocab = {token: index for index, token in enumerate(tokens)}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=pairs, ignore_merges=spec.ignore_merges))
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(regex), behavior="isolated") for regex in spec.regexes]
        + [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    backend.decoder = decoders.ByteLevel()
    return _Backend(backend, spec.add_bos, spec.clean_spaces, BPEStreamingDetokenizer)


def _sentencepiece(header: GgufHeader, tokens: list[str]) -> _Backend:
    from functools import partial

    from tokenizers import Tokenizer, decoders, models, normalizers
    from transformers.tokenization_utils_base import generate_merges

    scores = header.get("tokenizer.ggml.scores")
    if not isinstance(scores, list) or len(scores) != len(tokens) or not all(
            isinstance(score, (int, float)) and not isinstance(score, bool) for score in scores):
        raise _load_error(header, "a SentencePiece tokenizer needs tokenizer.ggml.scores, one "
                                  "number per token")
    vocab = {token: index for index, token in enumerate(tokens)}
    merges = generate_merges(vocab, dict(zip(tokens, scores, strict=True)))
    unknown = _token_id(header, "tokenizer.ggml.unknown_token_id", len(tokens))
    backend = Tokenizer(models.BPE(vocab=vocab, merges=merges, byte_fallback=True,
                                   unk_token=None if unknown is None else tokens[unknown]))
    # llama.cpp prefixes a space to the text, and again after each special token:
    # the normalizer runs on each piece between special tokens, as that does.
    prefix = bool(header.get("tokenizer.ggml.add_space_prefix", True))
    backend.normalizer = normalizers.Sequence(
        ([normalizers.Prepend(_SPACE)] if prefix else []) + [normalizers.Replace(" ", _SPACE)])
    backend.decoder = decoders.Sequence(
        [decoders.Replace(_SPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
        + ([decoders.Strip(" ", 1, 0)] if prefix else []))
    return _Backend(backend, add_bos=True, clean_spaces=False,
                    detokenizer=partial(_spm_detokenizer(), trim_space=prefix))


@cache
def _spm_detokenizer() -> type:
    """mlx-lm's SentencePiece streaming detokenizer, trimming only the one space
    SentencePiece prefixed to the text, as decoding the same ids does. (mlx-lm
    0.32.2's trims a leading space at every flush until some text came, so
    "▁▁▁x" streamed as "x", decoded as "  x".)"""
    from mlx_lm.tokenizer_utils import SPMStreamingDetokenizer

    class OneSpaceTrimmed(SPMStreamingDetokenizer):
        def reset(self) -> None:
            super().reset()  # type: ignore[no-untyped-call]
            self.trimmed = not self.trim_space

        def _try_flush(self, force: bool = False) -> None:
            text = self._unflushed.replace(self._sep, b" ").decode("utf-8", "replace")
            if not force and text.endswith("\ufffd"):
                return
            if text and not self.trimmed:
                text = text.removeprefix(" ")
                self.trimmed = True
            self.text += text
            self._unflushed = b""

    return OneSpaceTrimmed


def load_tokenizer(header: GgufHeader) -> Any:
    """An mlx-lm TokenizerWrapper built from the file's metadata."""
    from mlx_lm.tokenizer_utils import TokenizerWrapper
    from tokenizers import AddedToken
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    kind = header.get("tokenizer.ggml.model")
    builders = {"gpt2": _byte_level, "llama": _sentencepiece}
    if kind not in builders:
        raise _unsupported(header, f"tokenizer.ggml.model is {kind!r}; supported: byte-level "
                                   "BPE ('gpt2') and SentencePiece BPE ('llama')", tokenizer=kind)
    tokens = _strings(header, "tokenizer.ggml.tokens")
    types = header.get("tokenizer.ggml.token_type") or [1] * len(tokens)
    if len(types) != len(tokens):
        raise _load_error(header, f"{len(types)} token types for {len(tokens)} tokens")
    types = [_CONTROL if token in END_OF_GENERATION else token_type
             for token, token_type in zip(tokens, types, strict=True)]
    built = builders[kind](header, tokens)
    backend = built.tokenizer
    name = str(header.get("general.name", "")).lower()
    phi3 = any(marker in name for marker in _PHI3_NAMES)

    def added(token: str, special: bool) -> Any:
        return AddedToken(token, special=special, normalized=False,
                          rstrip=phi3 and token not in _PHI3_UNSTRIPPED)

    # Control and unknown tokens are matched in text as llama.cpp's parse_special
    # does; user-defined ones always are.
    backend.add_special_tokens([added(token, True)
                                for token, token_type in zip(tokens, types, strict=True)
                                if token_type in (_CONTROL, _UNKNOWN)])
    backend.add_tokens([added(token, False)
                        for token, token_type in zip(tokens, types, strict=True)
                        if token_type == _USER_DEFINED])

    bos = _token_id(header, "tokenizer.ggml.bos_token_id", len(tokens))
    eos = _token_id(header, "tokenizer.ggml.eos_token_id", len(tokens))
    add_bos = header.get("tokenizer.ggml.add_bos_token", built.add_bos)
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
        clean_up_tokenization_spaces=built.clean_spaces,
        model_max_length=10**9,
    )
    # End of turn as well as end of text: chat models stop on either.
    stops = {index for key in _STOP_KEYS
             if (index := _token_id(header, f"tokenizer.ggml.{key}_token_id", len(tokens)))
             is not None}
    stops |= {index for index, token in enumerate(tokens) if token in END_OF_GENERATION}
    return TokenizerWrapper(hf, built.detokenizer, eos_token_ids=sorted(stops))
