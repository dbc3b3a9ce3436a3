"""config/runtime.yaml: typed, validated once at start-up.

Unknown keys, wrong types and out-of-range values stop the runtime with a
message naming the key, before it reads a single request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, TypeVar

import msgspec
import yaml
from msgspec import Meta

from .api.messages import MAX_DRAFT_TOKENS, MAX_TOKENS_LIMIT, DistributedParams
from .ops.settings import (
    CanaryConfig,
    DebugConfig,
    MetricsConfig,
    QosConfig,
    check_canary_routes,
)

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parents[2] / "config" / "runtime.yaml"

PositiveInt = Annotated[int, Meta(ge=1)]


class _Section(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class TransportConfig(_Section):
    max_message_bytes: Annotated[int, Meta(ge=1024)] = 8 * 1024 * 1024
    writer_backlog_tokens: PositiveInt = 65536
    chunk_interval_ms: Annotated[float, Meta(ge=0, le=1000)] = 4.0
    stop_grace_s: Annotated[float, Meta(gt=0, le=600)] = 10.0


class SamplingDefaults(_Section):
    max_tokens: Annotated[int, Meta(ge=1, le=MAX_TOKENS_LIMIT)] = 256
    temperature: Annotated[float, Meta(ge=0.0)] = 0.7
    top_p: Annotated[float, Meta(gt=0.0, le=1.0)] = 1.0
    top_k: Annotated[int, Meta(ge=0)] = 0
    min_p: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.0
    repetition_penalty: Annotated[float, Meta(gt=0.0)] = 1.0
    presence_penalty: Annotated[float, Meta(ge=-2.0, le=2.0)] = 0.0
    frequency_penalty: Annotated[float, Meta(ge=-2.0, le=2.0)] = 0.0
    penalty_context_size: Annotated[int, Meta(ge=1, le=65536)] = 20


class GenerationConfig(_Section):
    defaults: SamplingDefaults = msgspec.field(default_factory=SamplingDefaults)


class BatchingConfig(_Section):
    enabled: bool = True
    # "auto": chosen per model from its size and the device (engine/batch_sizing.py).
    max_batch_size: PositiveInt | Literal["auto"] = "auto"
    prefill_batch_size: PositiveInt = 8
    prefill_step_size: PositiveInt = 2048
    adaptive_sizing: bool = True
    target_step_ms: Annotated[float, Meta(gt=0.0)] = 200.0
    min_prefill_chunk: PositiveInt = 32
    buckets: Literal["auto", "on", "off"] | Annotated[
        list[PositiveInt], Meta(min_length=1)] = "auto"
    solo: bool = True  # a stream alone decodes outside the batch (engine/solo.py)

    def __post_init__(self) -> None:
        if isinstance(self.buckets, list) and sorted(set(self.buckets)) != self.buckets:
            raise ValueError(f"batching.buckets must be strictly increasing, got {self.buckets}")


class QuantizedConfig(_Section):
    """How quantized layers run (engine/quantized_layers.py)."""

    rows: Literal["auto", "on", "off"] = "auto"
    dense: Literal["auto", "on", "off"] = "auto"
    dense_memory_share: Annotated[float, Meta(gt=0.0, le=1.0)] = 0.5


class PromptCacheConfig(_Section):
    enabled: bool = True
    max_bytes: Annotated[int, Meta(ge=0)] = 1 << 30
    max_entries: Annotated[int, Meta(ge=0)] = 16
    min_prefix_tokens: PositiveInt = 16


class PreloadModel(_Section):
    path: Annotated[str, Meta(min_length=1)]
    model_id: Annotated[str, Meta(min_length=1)] | None = None
    warmup_requests: Annotated[int, Meta(ge=0, le=64)] = 1
    max_tokens: Annotated[int, Meta(ge=1, le=4096)] = 8
    warmup_prompt_tokens: Annotated[list[PositiveInt], Meta(min_length=1)] = \
        msgspec.field(default_factory=lambda: [32])
    distributed: DistributedParams | None = None  # shard it, as model/load `distributed`


class PreloadConfig(_Section):
    models: list[PreloadModel] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        ids = [entry.model_id or entry.path for entry in self.models]
        duplicates = sorted({model_id for model_id in ids if ids.count(model_id) > 1})
        if duplicates:
            raise ValueError(f"model_preload.models names model_id {duplicates[0]!r} twice")


class GuidanceConfig(_Section):
    backend: Literal["llguidance", "outlines-core"] = "llguidance"
    cache_size: PositiveInt = 64
    # A request's guidance, as JSON, past this many bytes is refused before
    # it is compiled (GUIDANCE_INVALID): the compile's cost grows with it.
    max_guidance_bytes: Annotated[int, Meta(ge=1024)] = 1 << 20
    compile_timeout_s: Annotated[float, Meta(gt=0.0, le=600.0)] = 10.0


class SpeculativeConfig(_Section):
    num_draft_tokens: Annotated[int, Meta(ge=0, le=MAX_DRAFT_TOKENS)] = 3


class VisionConfig(_Section):
    max_images: PositiveInt = 8
    max_image_side: Annotated[int, Meta(ge=16)] = 1536
    max_image_bytes: Annotated[int, Meta(ge=1024)] = 20 * 1024 * 1024
    fetch_timeout_s: Annotated[float, Meta(gt=0.0, le=600.0)] = 10.0
    # Checked on each image's header, before it is decoded.
    max_image_pixels: PositiveInt = 64_000_000
    max_request_pixels: PositiveInt = 128_000_000
    # Where http(s) images may come from (engine/url_fetch.py): host names,
    # addresses or CIDR networks, allowed past the default deny of
    # non-public ranges, or denied as well.
    fetch_allow: list[str] = msgspec.field(default_factory=list)
    fetch_deny: list[str] = msgspec.field(default_factory=list)
    fetch_max_redirects: Annotated[int, Meta(ge=0, le=20)] = 3


class HttpConfig(_Section):
    """The OpenAI/Anthropic HTTP front (--http)."""

    max_body_bytes: Annotated[int, Meta(ge=1024)] = 32 * 1024 * 1024
    stream_buffer_tokens: PositiveInt = 1024
    cors_origins: list[str] = msgspec.field(default_factory=list)


class DistributedConfig(_Section):
    # How long forming the group and loading every rank's shard may take.
    start_timeout_s: Annotated[float, Meta(gt=0.0, le=3600.0)] = 300.0
    # A decode step that takes longer than this means a rank hung: it is stopped.
    rank_timeout_s: Annotated[float, Meta(gt=0.0, le=3600.0)] = 30.0
    # First TCP port of the ring (and the jaccl/nccl coordinator) on remote hosts;
    # 127.0.0.1 ranks take free ports.
    first_port: Annotated[int, Meta(ge=1024, le=65000)] = 32323


class LoggingConfig(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"


class RuntimeConfig(_Section):
    transport: TransportConfig = msgspec.field(default_factory=TransportConfig)
    generation: GenerationConfig = msgspec.field(default_factory=GenerationConfig)
    batching: BatchingConfig = msgspec.field(default_factory=BatchingConfig)
    quantized: QuantizedConfig = msgspec.field(default_factory=QuantizedConfig)
    guidance: GuidanceConfig = msgspec.field(default_factory=GuidanceConfig)
    speculative: SpeculativeConfig = msgspec.field(default_factory=SpeculativeConfig)
    vision: VisionConfig = msgspec.field(default_factory=VisionConfig)
    prompt_cache: PromptCacheConfig = msgspec.field(default_factory=PromptCacheConfig)
    model_preload: PreloadConfig = msgspec.field(default_factory=PreloadConfig)
    distributed: DistributedConfig = msgspec.field(default_factory=DistributedConfig)
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)
    http: HttpConfig = msgspec.field(default_factory=HttpConfig)
    # Ops features (ops/settings.py): reloadable by config/reload and SIGHUP.
    metrics: MetricsConfig = msgspec.field(default_factory=MetricsConfig)
    qos: QosConfig = msgspec.field(default_factory=QosConfig)
    canary: dict[str, CanaryConfig] = msgspec.field(default_factory=dict)
    debug: DebugConfig = msgspec.field(default_factory=DebugConfig)


# The sections config/reload and SIGHUP apply to a running runtime; a change
# to any other section is reported as needing a restart.
RELOADABLE_SECTIONS = ("metrics", "qos", "canary", "debug")


class ConfigError(ValueError):
    pass


S = TypeVar("S", bound=msgspec.Struct)


def load_yaml_struct(path: Path, struct: type[S]) -> S:
    """A YAML file decoded and validated into `struct`; ConfigError names the bad key."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    try:
        return msgspec.convert(raw, struct)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def load_config(path: Path) -> RuntimeConfig:
    config = load_yaml_struct(path, RuntimeConfig)
    try:
        check_canary_routes(config.canary)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    for entry in config.model_preload.models:
        # A relative path names a folder beside the config file, if there is one.
        beside = path.parent / entry.path
        if not Path(entry.path).expanduser().is_absolute() and beside.is_dir():
            entry.path = str(beside.resolve())
    return config
