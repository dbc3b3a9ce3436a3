"""Loading text models through mlx-lm, and the table of loaded models."""

from __future__ import annotations

import gc
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from ..api.errors import ErrorCode, ServingError
from ..api.messages import DraftInfo, GgufInfo, ModelDefaults, ModelInfo, Quantization
from ..config import SamplingDefaults
from .detokenizer import Decode, decoder_of
from .files import FileRefused, check_model_folder, checked_size
from .progress import LoadProgress, no_progress

if TYPE_CHECKING:
    from .distributed.group import ShardGroup

log = logging.getLogger(__name__)

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_FALLBACK_CONTEXT = 4096


@dataclass
class LoadedModel:
    model_id: str
    source: str  # as the client named it: a path or a hub id
    path: str  # the resolved local folder
    model: Any  # mlx.nn.Module
    tokenizer: Any  # mlx_lm TokenizerWrapper
    context_length: int
    vocab_size: int
    parameters: int
    quantization: Quantization | None
    longest_token_chars: int  # bounds the tokens any text can make: len(text) / this
    decode: Decode  # exact, fast decode of token ids, for streaming
    # Whether its KV cache can be rewound (trimmed), as speculative decoding needs.
    rewindable_cache: bool = False
    kind: Literal["text", "vision"] = "text"
    processor: Any = None  # vision models: the mlx-vlm processor (images + text -> inputs)
    draft: LoadedModel | None = None  # attached by model/loadDraft
    memory_bytes: int = 0  # the weights' bytes in memory
    gguf: GgufInfo | None = None  # loaded from a GGUF file: what it held
    warnings: list[str] = field(default_factory=list)  # told to the client at load
    # Streams decoded together unless batching.max_batch_size names a number:
    # chosen for the device at load (engine/device_fit.py).
    max_batch_size: int = 32
    group: ShardGroup | None = None  # a sharded model: the ranks it runs on (distributed/)
    # Sampling defaults: config generation.defaults with those model/load gave.
    defaults: SamplingDefaults | None = None

    @property
    def is_vision(self) -> bool:
        return self.kind == "vision"

    def require_text(self, feature: str) -> None:
        """Refuse `feature` on a vision model: for what only the text lanes do
        (draft models, structured output), not mlx-vlm's decode loop."""
        if self.is_vision:
            raise ServingError(ErrorCode.UNSUPPORTED,
                               f"model {self.model_id!r} is a vision model; {feature} needs a text "
                               "model (model/load)", model=self.model_id)

    def is_from(self, source: str) -> bool:
        local = Path(source).expanduser()
        return source == self.source or (local.exists() and str(local.resolve()) == self.path)

    def info(self) -> ModelInfo:
        return ModelInfo(
            model_id=self.model_id,
            path=self.path,
            kind=self.kind,
            context_length=self.context_length,
            vocab_size=self.vocab_size,
            parameters=self.parameters,
            quantization=self.quantization,
            eos_token_ids=sorted(self.tokenizer.eos_token_ids),
            draft=None if self.draft is None else self.draft.draft_info(),
            memory_bytes=self.memory_bytes,
            gguf=self.gguf,
            group=None if self.group is None else self.group.info(),
            defaults=None if self.defaults is None else ModelDefaults(
                **{name: getattr(self.defaults, name) for name in ModelDefaults.__struct_fields__}),
            processor_type=None if self.processor is None else type(self.processor).__name__,
        )

    def draft_info(self) -> DraftInfo:
        """How this model shows as the draft of another."""
        return DraftInfo(model=self.source, path=self.path, context_length=self.context_length,
                         vocab_size=self.vocab_size, parameters=self.parameters,
                         quantization=self.quantization)


class ModelRegistry:
    """Loaded models by id. Written on the engine thread, read from any."""

    def __init__(self) -> None:
        self._models: dict[str, LoadedModel] = {}
        self._loading: dict[str, int] = {}  # model_id -> loads queued or running
        self._lock = threading.Lock()

    def loading(self, model_id: str) -> bool:
        return self._loading.get(model_id, 0) > 0

    def loading_ids(self) -> list[str]:
        """Models whose load is queued or running."""
        return [model_id for model_id, loads in list(self._loading.items()) if loads > 0]

    def begin_load(self, model_id: str) -> None:
        with self._lock:
            self._loading[model_id] = self._loading.get(model_id, 0) + 1

    def end_load(self, model_id: str) -> None:
        with self._lock:
            left = self._loading.pop(model_id) - 1
            if left:
                self._loading[model_id] = left

    def get(self, model_id: str) -> LoadedModel:
        model = self._models.get(model_id)
        if model is None:
            loaded = ", ".join(sorted(self._models)) or "none"
            raise ServingError(ErrorCode.MODEL_NOT_LOADED,
                               f"model {model_id!r} is not loaded (loaded: {loaded}); "
                               "call model/load first", model=model_id)
        return model

    def find(self, model_id: str) -> LoadedModel | None:
        return self._models.get(model_id)

    def add(self, model: LoadedModel) -> None:
        with self._lock:
            self._models[model.model_id] = model

    def remove(self, model_id: str) -> LoadedModel:
        with self._lock:
            model = self.get(model_id)
            del self._models[model_id]
            return model

    def all(self) -> list[LoadedModel]:
        return list(self._models.values())


def resolve_model_path(source: str, hub_files: list[str] | None = None) -> Path:
    """A local model folder for `source`: a path, or a hub id fetched on demand
    (the files matching `hub_files`; by default those mlx-lm loads)."""
    path = Path(source).expanduser()
    if path.is_dir():
        return path.resolve()
    if not _HUB_ID.match(source) or path.exists():
        # One answer for a missing path and a file: no oracle of what exists.
        raise ServingError(ErrorCode.MODEL_NOT_FOUND,
                           f"no model folder at {source!r} (expected a folder or a .gguf file)",
                           model=source)
    return _download(source, hub_files)


def _download(repo_id: str, hub_files: list[str] | None) -> Path:
    from huggingface_hub import snapshot_download
    from mlx_lm.utils import DEFAULT_ALLOW_PATTERNS

    try:
        return Path(snapshot_download(repo_id, allow_patterns=hub_files or DEFAULT_ALLOW_PATTERNS))
    except Exception as exc:  # no network, no such repo, gated repo, ...
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ServingError(
            ErrorCode.MODEL_NOT_FOUND,
            f"{repo_id!r} is not a local folder and could not be fetched from the "
            f"Hugging Face Hub ({reason})",
            model=repo_id,
        ) from None


def model_folder(source: str, hub_files: list[str] | None = None) -> Path:
    """The local folder of a model (fetched when `source` is a hub id), checked
    to look like one."""
    path = resolve_model_path(source, hub_files)
    try:
        check_model_folder(path)  # before any loader opens a FIFO or reads a huge file
    except FileRefused as exc:
        raise ServingError(ErrorCode.MODEL_LOAD_FAILED, f"cannot load {source!r}: {exc}",
                           model=source) from None
    if not (path / "config.json").is_file():
        raise ServingError(ErrorCode.MODEL_LOAD_FAILED,
                           f"{str(path)!r} has no config.json; expected a Hugging Face / MLX "
                           "model folder", model=source)
    return path


@contextmanager
def load_errors(source: str) -> Iterator[None]:
    """A loader's failure as the client sees it: OUT_OF_MEMORY or MODEL_LOAD_FAILED."""
    try:
        yield
    except ServingError:
        raise
    except MemoryError:
        raise ServingError(ErrorCode.OUT_OF_MEMORY, f"out of memory loading {source!r}",
                           model=source) from None
    except Exception as exc:
        log.debug("load of %s failed", source, exc_info=True)
        raise ServingError(ErrorCode.MODEL_LOAD_FAILED,
                           f"could not load {source!r}: {type(exc).__name__}: {exc}",
                           model=source) from None


def describe_model(model_id: str, source: str, path: Path, model: Any, tokenizer: Any,
                   config: dict[str, Any], **extra: Any) -> LoadedModel:
    """A LoadedModel for weights and a tokenizer (an mlx-lm TokenizerWrapper) just loaded."""
    from mlx_lm.utils import get_total_parameters

    vocab = config.get("vocab_size") or (config.get("text_config") or {}).get("vocab_size")
    return LoadedModel(
        model_id=model_id,
        source=source,
        path=str(path),
        model=model,
        tokenizer=tokenizer,
        context_length=_context_length(config, tokenizer),
        vocab_size=int(vocab or len(tokenizer)),
        parameters=int(get_total_parameters(model)),
        quantization=_quantization(config.get("quantization")),
        longest_token_chars=_longest_token_chars(tokenizer),
        decode=decoder_of(tokenizer),
        memory_bytes=sum(array.nbytes for array in weight_arrays(model)),
        **extra,
    )


def _quantization(config: dict[str, Any] | None) -> Quantization | None:
    """The wire's view of mlx-lm's config `quantization` (its module entries
    hold per-module settings)."""
    if not config:
        return None
    modules = {path: int(entry["bits"]) for path, entry in config.items()
               if isinstance(entry, dict) and entry.get("bits") not in (None, config["bits"])}
    return Quantization(bits=config["bits"], group_size=config["group_size"],
                        **({"module_bits": modules} if modules else {}))


def load_text_model(source: str, model_id: str,
                    progress: LoadProgress = no_progress) -> LoadedModel:
    """A model folder (mlx-lm) or a GGUF file, loaded, evaluated and warmed up
    by one forward pass (so a broken model fails here, not on a request)."""
    from mlx_lm.models.cache import can_trim_prompt_cache, make_prompt_cache

    from .gguf import is_gguf_path, load_gguf_model

    gguf: GgufInfo | None = None
    if is_gguf_path(source):
        path = gguf_file(source)
        with load_errors(source):
            model, tokenizer, config, gguf = load_gguf_model(path, progress)
    else:
        path = model_folder(source)
        with load_errors(source):
            model, tokenizer, config = _load_folder(path, progress)
    with load_errors(source):
        _warm_up(model, progress)
    loaded = describe_model(model_id, source, path, model, tokenizer, config,
                            rewindable_cache=can_trim_prompt_cache(make_prompt_cache(model)),
                            gguf=gguf)
    if gguf is not None and gguf.dequantized_types:
        loaded.warnings.append(
            f"MLX loads the GGUF tensors of type {', '.join(gguf.dequantized_types)} "
            f"dequantized to float16, at full size: the weights take "
            f"{_size(loaded.memory_bytes)} in memory, the file {_size(gguf.file_bytes)}")
        log.warning("%s: %s", model_id, loaded.warnings[-1])
    return loaded


def _size(nbytes: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes} bytes"


def gguf_file(source: str) -> Path:
    path = Path(source).expanduser()
    try:
        checked_size(path)  # a regular file: never a FIFO or a device
    except FileRefused as exc:
        # One answer for a missing path and any other file: no oracle.
        raise ServingError(ErrorCode.MODEL_NOT_FOUND, f"no GGUF file at {source!r}: {exc}",
                           model=source) from None
    return path.resolve()


def _load_folder(path: Path, progress: LoadProgress) -> tuple[Any, Any, dict[str, Any]]:
    """mlx_lm.load, lazily, then the weights read in one tensor after another
    (so the bytes read can be reported)."""
    import mlx.core as mx
    import mlx_lm

    model, tokenizer, config = cast(tuple[Any, Any, dict[str, Any]], mlx_lm.load(
        str(path), lazy=True, return_config=True))
    arrays = weight_arrays(model)
    total = sum(array.nbytes for array in arrays)
    done = 0
    progress("reading", 0, total)
    for array in arrays:
        mx.eval(array)
        done += array.nbytes
        progress("reading", done, total)
    model.eval()
    return model, tokenizer, config


def weight_arrays(model: Any) -> list[Any]:
    """The model's parameter arrays (mx.array), in a stable order."""
    from mlx.utils import tree_flatten

    return [array for _, array in cast(list[tuple[str, Any]], tree_flatten(model.parameters()))]


def _warm_up(model: Any, progress: LoadProgress) -> None:
    import mlx.core as mx

    progress("warming_up", 0, 1)
    mx.eval(model(mx.array([[0]])))
    progress("warming_up", 1, 1)


def release_memory() -> None:
    """Give freed model and cache memory back (call after dropping models)."""
    import mlx.core as mx

    gc.collect()
    mx.clear_cache()


def _context_length(config: dict[str, Any], tokenizer: Any) -> int:
    for key in ("max_position_embeddings", "max_sequence_length", "n_positions", "seq_length"):
        value = config.get(key) or (config.get("text_config") or {}).get(key)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < 10**8:
        return limit
    return _FALLBACK_CONTEXT


def _longest_token_chars(tokenizer: Any) -> int:
    vocab = tokenizer.get_vocab()
    return max((len(piece) for piece in vocab), default=1) or 1
