"""Typed params, results and notification payloads of every wire method.

These Structs are the contract: the dispatcher decodes params straight into
them (one pass validates and builds), and protocol/schema.json is generated
from them (tests/unit/test_contract.py fails when the two drift apart).
Names on the wire are snake_case; camelCase twins are folded in by
rpc/params.py before decoding.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

MAX_TOKENS_LIMIT = 1_000_000
MAX_DRAFT_TOKENS = 32
MAX_TOP_LOGPROBS = 20  # OpenAI's bound on top_logprobs

NonEmptyStr = Annotated[str, Meta(min_length=1)]
StreamId = Annotated[str, Meta(min_length=1, max_length=256)]
TokenId = Annotated[int, Meta(ge=0)]


class Params(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of every params Struct: unknown names are an error, never ignored."""


class Result(msgspec.Struct, kw_only=True):
    """Base of every result and notification payload."""


# --- runtime ---------------------------------------------------------------


class NoParams(Params):
    pass


class ShutdownParams(Params):
    drain: Annotated[
        bool,
        Meta(description="true: finish in-flight streams first; false: cancel them."),
    ] = True


class DeviceInfo(Result):
    type: Literal["cpu", "gpu"]
    name: str


class Limits(Result):
    max_message_bytes: int
    max_batch_size: int
    max_tokens: int


class Quantization(Result, omit_defaults=True):
    bits: Annotated[int, Meta(description="The bits of most quantized modules.")]
    group_size: int
    module_bits: Annotated[dict[str, int], Meta(
        description="Modules quantized with other bits than `bits` (module path -> bits), as "
                    "GGUF files often have (an 8-bit embedding beside 4-bit layers); absent "
                    "when all agree.")] | UnsetType = UNSET


class GgufInfo(Result):
    """What a GGUF file held and how it was loaded."""

    architecture: str
    tensor_types: Annotated[dict[str, int], Meta(
        description="Tensors of each GGUF type in the file (\"Q4_1\": 210, ...).")]
    quantized_types: Annotated[list[str], Meta(
        description="Types kept quantized in memory (Q4_0, Q4_1, Q8_0: MLX affine, group 32).")]
    dequantized_types: Annotated[list[str], Meta(
        description="Types MLX loads dequantized to float16 (BF16, Q2_K, Q4_K, Q6_K): these "
                    "tensors take their full size in memory.")]
    file_bytes: int


class DraftInfo(Result):
    """The draft model attached to a target for speculative decoding."""

    model: Annotated[str, Meta(description="The draft as the client named it (path or hub id).")]
    path: str
    context_length: int
    vocab_size: int
    parameters: int
    quantization: Quantization | None


class GroupInfo(Result):
    """The process group a sharded model runs on (model/load `distributed`)."""

    backend: Literal["ring", "jaccl", "mpi", "nccl"]
    parallel: Literal["tensor", "pipeline"]
    ranks: int
    hosts: Annotated[list[str], Meta(description="The host of each rank; rank 0 is the runtime.")]
    state: Annotated[Literal["ready", "failed"], Meta(
        description="failed: a rank died or hung; its requests fail with RANK_FAILED "
                    "until the model is unloaded.")]
    failure: str | None = None


class ModelDefaults(Result):
    """A model's sampling defaults: what model/load gave, else config generation.defaults;
    a request's own params win."""

    max_tokens: int
    temperature: float
    top_p: float
    top_k: int
    min_p: float
    repetition_penalty: float
    presence_penalty: float
    frequency_penalty: float


class ModelInfo(Result):
    model_id: str
    path: str
    kind: Literal["text", "vision"]
    context_length: int
    vocab_size: int
    parameters: int
    quantization: Quantization | None
    eos_token_ids: list[int]
    draft: Annotated[
        DraftInfo | None, Meta(description="The attached draft model (model/loadDraft), or null.")
    ] = None
    memory_bytes: Annotated[int, Meta(
        description="Bytes the model's weights take in memory.")] = 0
    gguf: Annotated[GgufInfo | None, Meta(
        description="Set when the model was loaded from a GGUF file.")] = None
    group: Annotated[
        GroupInfo | None, Meta(description="The ranks of a sharded model, or null.")
    ] = None
    defaults: ModelDefaults | None = None
    processor_type: Annotated[str | None, Meta(
        description="Vision models: the class of their mlx-vlm processor; null for text models.")
    ] = None


class BatchingInfo(Result):
    """Config batching: how streams share a model's decode steps."""

    enabled: bool
    max_batch_size: int
    adaptive_sizing: Annotated[bool, Meta(description="Prefill chunks sized to target_step_ms.")]
    target_step_ms: float
    solo: bool


class RuntimeInfo(Result):
    name: str
    version: str
    protocol_version: str
    pid: int
    python: str
    platform: str
    device: DeviceInfo
    versions: dict[str, str]
    models: list[ModelInfo]
    limits: Limits
    methods: list[str]
    batching: BatchingInfo | None = None


class MemoryInfo(Result):
    active_bytes: int
    peak_bytes: int
    cache_bytes: int


class BatchState(Result):
    """A model's continuous batch."""

    waiting: Annotated[int, Meta(description="Streams accepted, waiting for a batch slot.")]
    prefilling: int
    decoding: int
    solo: Annotated[bool, Meta(description=(
        "The only stream decodes on its own, outside the batch (batching.solo): "
        "as fast as mlx_lm.stream_generate."))]
    pad_rows: Annotated[int, Meta(description="Idle rows that keep the decode batch at a bucket size.")]
    max_batch_size: Annotated[int, Meta(description=(
        "Streams decoded together at most: batching.max_batch_size, or chosen for "
        "the model and the device at load."))]
    buckets: Annotated[list[int], Meta(description="Decode batch sizes in use; [] when buckets are off.")]
    prefill_chunk: Annotated[int, Meta(description="Prompt tokens per prefilling stream in the next step (adaptive sizing).")]
    decode_step_ms: float
    prefill_tokens_per_s: float
    decode_steps: Annotated[int, Meta(description="Decode steps run since the model loaded.")] = 0
    decoded_tokens: Annotated[int, Meta(description=(
        "Stream tokens those steps made: decoded_tokens / decode_steps is the mean batch size."))] = 0


class PromptCacheState(Result):
    """A model's prompt (KV) cache."""

    entries: int = 0
    bytes: int = 0
    hits: int = 0
    misses: int = 0
    reused_tokens: int = 0


class ModelState(Result):
    model_id: str
    active_streams: int
    batch: BatchState | None = None
    prompt_cache: PromptCacheState | None = None


class RuntimeState(Result):
    status: Annotated[
        Literal["starting", "ready", "draining", "stopping"],
        Meta(description="\"starting\" while the models of config model_preload load and warm up."),
    ]
    uptime_s: float
    active_streams: int
    models: list[ModelState]
    memory: MemoryInfo


class PreloadedModel(Result):
    model_id: str
    load_ms: float
    warmup_ms: float
    batch_sizes: Annotated[list[int], Meta(description="Decode batch sizes run during warm-up.")]
    warmup_requests: Annotated[int, Meta(description="Warm-up rounds run (config warmup_requests).")] = 0


class RuntimeReady(Result):
    preload_ms: float
    models: list[PreloadedModel]


class ShutdownResult(Result):
    status: Literal["draining", "stopping"]
    active_streams: int


# --- models ----------------------------------------------------------------


class DistributedParams(Params):
    """Shard the model over several processes with mx.distributed; the runtime is rank 0."""

    backend: Annotated[Literal["ring", "jaccl", "mpi", "nccl"], Meta(
        description="Default: the hostfile's `backend`, else ring.")] | UnsetType = UNSET
    hosts: Annotated[list[NonEmptyStr], Meta(
        min_length=2, description="One entry per rank, rank 0 first (this machine): an IP "
        "for the ring backend, an ssh host name otherwise; 127.0.0.1 ranks run locally, "
        "the others through ssh.")] | UnsetType = UNSET
    hostfile: Annotated[str, Meta(
        min_length=1, description="An mlx.launch hostfile (JSON) instead of `hosts`.")
    ] | UnsetType = UNSET
    parallel: Literal["tensor", "pipeline"] = "tensor"


class LoadModelParams(Params):
    model: Annotated[str, Meta(
        min_length=1, description="Local folder, local .gguf file or hub id.")]
    model_id: Annotated[
        str, Meta(min_length=1, description="Name to refer to the model by; default: `model`.")
    ] | UnsetType = UNSET
    progress: Annotated[bool, Meta(
        description="Send model/progress notifications while the model loads.")] = False
    distributed: DistributedParams | UnsetType = UNSET
    local_path: Annotated[str, Meta(
        min_length=1,
        description="Load from this local folder; `model` (or model_id) then names it.")
    ] | UnsetType = UNSET
    # Sampling defaults of this model (a request's own params win).
    max_tokens: Annotated[int, Meta(ge=1, le=MAX_TOKENS_LIMIT)] | UnsetType = UNSET
    temperature: Annotated[float, Meta(ge=0.0)] | UnsetType = UNSET
    top_p: Annotated[float, Meta(gt=0.0, le=1.0)] | UnsetType = UNSET
    top_k: Annotated[int, Meta(ge=0)] | UnsetType = UNSET
    min_p: Annotated[float, Meta(ge=0.0, le=1.0)] | UnsetType = UNSET
    repetition_penalty: Annotated[float, Meta(gt=0.0)] | UnsetType = UNSET
    presence_penalty: Annotated[float, Meta(ge=-2.0, le=2.0)] | UnsetType = UNSET
    frequency_penalty: Annotated[float, Meta(ge=-2.0, le=2.0)] | UnsetType = UNSET
    # Options of the original mlx-serving that have no effect here: accepted
    # with a warning in the result that says what happens instead.
    revision: Annotated[str, Meta(description="Inert (no hub at run time): warned.")] | UnsetType = UNSET
    quantization: Annotated[Any, Meta(
        description="Inert (weights load as stored): warned.")] | UnsetType = UNSET
    trust_remote_code: Annotated[bool, Meta(
        description="Inert (no model code is run): warned.")] | UnsetType = UNSET
    draft: Annotated[bool, Meta(
        description="Inert (use model/loadDraft): warned.")] | UnsetType = UNSET


class LoadModelResult(ModelInfo, kw_only=True):
    load_ms: float
    already_loaded: bool
    warnings: Annotated[list[str], Meta(
        description="What the client should know about how the model was loaded (e.g. GGUF "
                    "tensors dequantized to float16), and options accepted without effect, "
                    "each with what happens instead.")] = []


LoadPhase = Literal["reading", "converting", "warming_up"]


class ModelProgress(Result):
    model_id: str
    phase: Annotated[LoadPhase, Meta(
        description="reading: the weight files (unit bytes); converting: weights made ready "
                    "in memory (unit tensors); warming_up: a first forward pass (unit steps).")]
    done: int
    total: int
    unit: Literal["bytes", "tensors", "steps"]


class ModelRefParams(Params):
    model: NonEmptyStr


class UnloadModelResult(Result):
    model_id: str
    cancelled_streams: int


class ListModelsResult(Result):
    models: list[ModelInfo]


# --- draft models ----------------------------------------------------------


class DraftModelParams(Params):
    model: Annotated[str, Meta(min_length=1, description="The loaded target model's id.")]
    draft_model: Annotated[str, Meta(
        min_length=1,
        description="The draft: a local folder or hub id (model/isDraftCompatible also "
                    "takes the id of a loaded model).")]


class LoadDraftResult(Result):
    model_id: str
    draft: DraftInfo
    load_ms: float
    already_loaded: Annotated[
        bool, Meta(description="true when this draft was already attached (nothing loaded).")]


class UnloadDraftResult(Result):
    model_id: str
    draft: DraftInfo
    continued_streams: Annotated[int, Meta(
        description="Streams that were decoding with the draft; they go on without it.")]


class DraftCompatibility(Result):
    model_id: str
    draft_model: str
    compatible: bool
    reasons: Annotated[list[str], Meta(description="Why not; empty when compatible.")]


# --- tokens ----------------------------------------------------------------


class TokenizeParams(Params):
    model: NonEmptyStr
    text: str
    add_bos: bool | UnsetType = UNSET


class TokenizeResult(Result):
    tokens: list[int]
    token_strings: Annotated[list[str], Meta(description="Each token's own text.")] = []


class BatchTokenizeParams(Params):
    model: NonEmptyStr
    texts: list[str]
    add_bos: bool | UnsetType = UNSET


class BatchTokenizeResult(Result):
    tokens: list[list[int]]


class DetokenizeParams(Params):
    model: NonEmptyStr
    tokens: list[TokenId]
    skip_special_tokens: bool = False


class DetokenizeResult(Result):
    text: str


# --- generation ------------------------------------------------------------


class ToolCallFunction(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: NonEmptyStr
    arguments: Annotated[dict[str, Any], Meta(description="The call's arguments, decoded.")]


class ToolCall(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A function call an assistant message made; the chat template renders it."""

    id: str | UnsetType = UNSET
    type: Literal["function"] = "function"
    function: ToolCallFunction


class ChatMessage(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    role: NonEmptyStr
    content: str = ""
    tool_calls: Annotated[list[ToolCall], Meta(
        description="role assistant: the calls it made (answered by role tool messages).")
    ] | UnsetType = UNSET
    tool_call_id: Annotated[str, Meta(
        description="role tool: the id of the call this message answers.")] | UnsetType = UNSET
    name: Annotated[str, Meta(
        description="role tool: the function whose result this is.")] | UnsetType = UNSET

    def template_dict(self) -> dict[str, Any]:
        """The message as chat templates read it (HF's chat format; unset fields left out)."""
        turn: dict[str, Any] = msgspec.to_builtins(self)
        return turn


class JsonSchemaGuidance(msgspec.Struct, tag_field="mode", tag="json_schema", kw_only=True,
                         forbid_unknown_fields=True):
    schema: Annotated[dict[str, Any], Meta(description="A JSON Schema (draft 7) object.")]


class RegexGuidance(msgspec.Struct, tag_field="mode", tag="regex", kw_only=True,
                    forbid_unknown_fields=True):
    pattern: Annotated[str, Meta(
        min_length=1,
        description="The whole output must match it. Rust `regex` syntax, no look-around or "
                    "backreferences; \\d \\w \\s are ASCII classes.")]


class XmlGuidance(msgspec.Struct, tag_field="mode", tag="xml", kw_only=True,
                  forbid_unknown_fields=True):
    schema: Annotated[str, Meta(
        min_length=1, description="A DTD (its declarations) or an XML Schema (XSD) document.")]
    root: Annotated[str, Meta(
        min_length=1,
        description="The document element; default: the first declared (the first global "
                    "element of an XSD).")
    ] | UnsetType = UNSET
    max_text_length: Annotated[int, Meta(
        ge=1, le=65536,
        description="Longest text run and attribute value, in characters; default: unbounded.")
    ] | UnsetType = UNSET


# Structured output: the constraint the generated text must satisfy.
Guidance = JsonSchemaGuidance | RegexGuidance | XmlGuidance


class ImageSource(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An image as the original mlx-serving sends it."""

    source: Annotated[str, Meta(min_length=1, description=(
        "A file path, a data: URL, an http(s) URL or the image's bytes in base64."))]
    format: Annotated[Literal["png", "jpg", "jpeg", "webp", "bmp"], Meta(
        description="A hint; the bytes say what the image is.")] | UnsetType = UNSET


Image = NonEmptyStr | ImageSource


class GenerateParams(Params):
    model: Annotated[str, Meta(min_length=1, description=(
        "The model id; default: the only loaded model (of the kind the request needs)."))
    ] | UnsetType = UNSET
    prompt: str | list[TokenId] | UnsetType = UNSET
    prompt_tokens: Annotated[list[TokenId], Meta(
        min_length=1, description="The prompt as token ids (instead of `prompt`).")
    ] | UnsetType = UNSET
    messages: Annotated[list[ChatMessage], Meta(min_length=1)] | UnsetType = UNSET
    tools: Annotated[list[dict[str, Any]], Meta(
        max_length=128,
        description="With `messages`: function tools the chat template shows the model "
                    "(OpenAI's format: {type: \"function\", function: {name, description, "
                    "parameters}}).")
    ] | UnsetType = UNSET
    stream_id: StreamId | UnsetType = UNSET
    streaming: bool = True
    max_tokens: Annotated[int, Meta(ge=1, le=MAX_TOKENS_LIMIT)] | UnsetType = UNSET
    temperature: Annotated[float, Meta(ge=0.0)] | UnsetType = UNSET
    top_p: Annotated[float, Meta(gt=0.0, le=1.0)] | UnsetType = UNSET
    top_k: Annotated[int, Meta(ge=0)] | UnsetType = UNSET
    min_p: Annotated[float, Meta(ge=0.0, le=1.0)] | UnsetType = UNSET
    seed: Annotated[int, Meta(ge=0, le=2**63 - 1)] | UnsetType = UNSET
    repetition_penalty: Annotated[float, Meta(gt=0.0)] | UnsetType = UNSET
    presence_penalty: Annotated[float, Meta(ge=-2.0, le=2.0)] | UnsetType = UNSET
    frequency_penalty: Annotated[float, Meta(ge=-2.0, le=2.0)] | UnsetType = UNSET
    penalty_context_size: Annotated[int, Meta(ge=1, le=65536)] | UnsetType = UNSET
    stop_sequences: Annotated[list[NonEmptyStr], Meta(max_length=32)] | UnsetType = UNSET
    stop_token_ids: Annotated[list[TokenId], Meta(max_length=256)] | UnsetType = UNSET
    add_bos: bool | UnsetType = UNSET
    logprobs: bool = False
    top_logprobs: Annotated[int, Meta(
        ge=0, le=MAX_TOP_LOGPROBS,
        description="Each token also carries this many of the most likely tokens at its "
                    "position (`top_logprobs` on stream/chunk tokens); > 0 implies `logprobs`.")
    ] = 0
    prefill_progress: Annotated[bool, Meta(
        description="Streaming only: send stream/progress notifications (prompt tokens "
                    "prefilled of total) while the prompt is prefilled, before the first "
                    "token.")] = False
    guidance: Guidance | UnsetType = UNSET
    num_draft_tokens: Annotated[int, Meta(
        ge=0, le=MAX_DRAFT_TOKENS,
        description="Draft tokens per speculative round when the model has a draft; "
                    "0 = decode without it.")] | UnsetType = UNSET
    images: Annotated[list[Image] | Image, Meta(
        description="Vision models only: images (file paths, data: URLs, http(s) URLs, "
                    "base64 bytes, or {source, format?}), or a single one.")
    ] | UnsetType = UNSET
    draft_model: Annotated[str, Meta(
        min_length=1,
        description="Decode with the model's draft when this names it; warned otherwise.")
    ] | UnsetType = UNSET
    hints: Annotated[dict[str, Any], Meta(
        description="Inert (the original's TTFT pipeline hints): warned.")] | UnsetType = UNSET
    request_key: Annotated[str, Meta(
        min_length=1, max_length=256,
        description="Routes the request (canary, flag rollouts) by a deterministic hash: the "
                    "same key, the same variant. Alias: user_id. Default: the stream_id.",
    )] | UnsetType = UNSET


class GenerationStats(Result):
    prompt_tokens: int
    cached_tokens: Annotated[
        int, Meta(description="Prompt tokens whose KV cache was reused, not prefilled.")]
    generated_tokens: int
    ttft_ms: float
    tokens_per_second: float
    total_ms: float
    # Only on streams decoded with a draft model (speculative decoding).
    draft_tokens_proposed: int | UnsetType = UNSET
    draft_tokens_accepted: int | UnsetType = UNSET
    draft_acceptance_rate: Annotated[
        float, Meta(description="accepted / proposed (0 when none was proposed).")
    ] | UnsetType = UNSET


FinishReason = Literal["stop", "length", "cancelled"]
Variant = Annotated[Literal["stable", "canary"], Meta(
    description="Which side of a canary rollout served the request; \"stable\" without one.")]


class GuidanceOutcome(Result):
    complete: Annotated[bool, Meta(
        description="true: the text is a whole valid output of the grammar (JSON that "
                    "validates, a full regex match, a valid XML document); false: it is cut.")]


Warnings = Annotated[list[str], Meta(
    description="Params accepted without effect, and what happens instead.")]


class GenerateAccepted(Result):
    stream_id: str
    model: Annotated[str, Meta(description="The model id that serves the stream.")]
    variant: Variant
    warnings: Warnings | UnsetType = UNSET


class GenerateResult(Result):
    text: str
    finish_reason: FinishReason
    stats: GenerationStats
    stream_id: str
    model: str
    variant: Variant
    tokens: Annotated[list[TokenOut], Meta(
        description="With `logprobs` or `top_logprobs`: the generated tokens, as stream/chunk "
                    "carries them.")] | UnsetType = UNSET
    guidance: GuidanceOutcome | UnsetType = UNSET  # present when the request had guidance
    warnings: Warnings | UnsetType = UNSET


class CancelParams(Params):
    stream_id: StreamId


class CancelResult(Result):
    stream_id: str
    cancelled: Annotated[
        bool, Meta(description="false when the stream had already finished on its own.")
    ]


class FlowParams(Params):
    stream_id: StreamId


class FlowResult(Result):
    stream_id: str
    paused: Annotated[
        bool, Meta(description="Whether the stream is paused now (false after a resume, and "
                               "for a stream that had already finished).")
    ]


# --- notifications ---------------------------------------------------------


class TopLogprob(Result):
    """One of the most likely tokens at a position."""

    id: int
    text: Annotated[str, Meta(description=(
        "Its text at this position (a character it leaves incomplete shows as U+FFFD)."))]
    logprob: float


class TokenOut(Result, omit_defaults=True):
    id: int
    text: Annotated[str, Meta(description="Text this token released; \"\" while held back.")]
    logprob: float | UnsetType = UNSET
    top_logprobs: Annotated[list[TopLogprob], Meta(description=(
        "With top_logprobs: k: the k most likely tokens here, most likely first (fewer where "
        "guidance allows fewer). Log-probabilities, like `logprob`, are of the distribution "
        "the token was sampled from: after the penalties and the grammar mask, before "
        "temperature and top-p/top-k/min-p."))] | UnsetType = UNSET
    from_draft: Annotated[bool, Meta(
        description="Streams decoded with a draft model: true when the draft proposed this "
                    "token and the target accepted it.")] | UnsetType = UNSET
    final: Annotated[bool, Meta(
        description="true on the token that ended the stream (stop, length, or a failure); "
                    "absent otherwise (a cancelled stream has none).")] | UnsetType = UNSET


class StreamChunk(Result):
    stream_id: str
    tokens: list[TokenOut]


class StreamProgress(Result):
    stream_id: str
    processed: Annotated[int, Meta(description="Prompt tokens prefilled so far.")]
    total: Annotated[int, Meta(description="Prompt tokens to prefill (a prompt cache hit "
                                           "leaves out the cached ones).")]


class StreamEnd(Result):
    stream_id: str
    finish_reason: FinishReason
    stats: GenerationStats
    model: str
    variant: Variant
    guidance: GuidanceOutcome | UnsetType = UNSET  # present when the request had guidance


class StreamErrorInfo(Result, omit_defaults=True):
    code: int
    message: str
    data: dict[str, Any] | UnsetType = UNSET


class StreamError(Result):
    stream_id: str
    finish_reason: Literal["error"]
    error: StreamErrorInfo
    stats: GenerationStats
    model: str
    variant: Variant


# --- ops: metrics, qos, canary, flags, config ---------------------------------


class MetricsParams(Params):
    model: Annotated[
        str, Meta(min_length=1, description="Only this model in `models`; default: all.")
    ] | UnsetType = UNSET


class LatencySummary(Result):
    count: Annotated[int, Meta(description=(
        "Samples in the sketch (for inter_token_ms: gaps between two tokens the engine "
        "emitted one after the other, not between stream/chunk notifications; the time "
        "a stream was paused by generate/pause is left out)."))]
    mean: float | None
    min: float | None
    max: float | None
    p50: float | None
    p95: float | None
    p99: float | None


class RequestCounts(Result):
    total: int
    completed: Annotated[int, Meta(description="Ended with finish_reason stop or length.")]
    cancelled: int
    failed: Annotated[int, Meta(description="Accepted, then ended with stream/error.")]
    rejected: Annotated[int, Meta(description="Answered with an error, never accepted.")]


class TrafficMetrics(Result):
    requests: RequestCounts
    prompt_tokens: int
    cached_tokens: Annotated[int, Meta(
        description="Of prompt_tokens, those whose KV came from the prompt cache.")]
    generated_tokens: int
    errors_by_code: dict[str, int]
    error_rate: Annotated[float | None, Meta(
        description="Share of requests that failed by the runtime's fault "
                    "(GENERATION_FAILED, OUT_OF_MEMORY, INTERNAL_ERROR); null without requests.")]
    ttft_ms: LatencySummary
    inter_token_ms: LatencySummary
    e2e_ms: LatencySummary
    tokens_per_s: LatencySummary


class ModelMetrics(Result):
    active_streams: int
    queue_depth: Annotated[int, Meta(
        description="Accepted streams still waiting for their first token.")]
    lifetime: TrafficMetrics
    window: TrafficMetrics


class QosBreach(Result):
    slo: str
    model: str
    observed: float
    threshold: float
    policy: Literal["alert", "shed", "reduce_batch"]
    action: Literal["alert", "shed", "reduce_batch"]
    since_s: Annotated[float, Meta(description="Seconds since the breach began.")]


class QosRule(Result):
    slo: str
    threshold: float
    policy: Literal["alert", "shed", "reduce_batch"]
    model: Annotated[str | None, Meta(description="null: every model.")]


class QosState(Result):
    dry_run: bool
    window_s: float
    slos: int
    breaches: list[QosBreach]
    shedding: Annotated[list[str], Meta(description="Models whose new requests get OVERLOADED.")]
    batch_limits: Annotated[dict[str, int], Meta(
        description="Models whose max batch size is lowered now (reduce_batch, flag batching).")]
    rules: Annotated[list[QosRule], Meta(description="The SLOs of config qos.slos.")] = []


CanaryPhase = Literal["loading", "active", "promoted", "rolled_back", "stopped"]


class CanaryState(Result):
    stable_model: str
    canary_model: str
    canary_source: str
    state: CanaryPhase
    stage: Annotated[int, Meta(description="Index into schedule.")]
    percentage: Annotated[float, Meta(description="Share of request keys routed to the canary now.")]
    schedule: list[float]
    stage_requests: int
    stage_failures: int
    canary_ttft_p99_ms: float | None
    stable_ttft_p99_ms: float | None
    reason: str | None


class MetricsSnapshot(Result):
    uptime_s: float
    window_s: float
    overall: ModelMetrics
    models: dict[str, ModelMetrics]
    rpc_errors_by_code: Annotated[dict[str, int], Meta(
        description="Every error response of any method, by data.code (stream/error "
                    "notifications are in each model's errors_by_code).")]
    qos: QosState
    canary: list[CanaryState]


class PrometheusResult(Result):
    content_type: str
    text: str


class ConfigReloadResult(Result):
    config_path: str
    flags_path: str
    changed: Annotated[list[str], Meta(description="runtime.yaml keys applied, dotted.")]
    flags_changed: Annotated[list[str], Meta(description="feature-flags.yaml keys applied.")]
    restart_required: Annotated[list[str], Meta(
        description="runtime.yaml keys that changed but apply only at start-up (not applied).")]
    warnings: list[str]


class FlagsParams(Params):
    request_key: Annotated[str, Meta(
        min_length=1, max_length=256,
        description="Also say whether each flag is on for this key.")] | UnsetType = UNSET


class FlagState(Result, omit_defaults=True):
    enabled: bool
    rollout_percentage: float
    sub_flags: dict[str, bool]
    on_for_key: bool | UnsetType = UNSET


class FlagsResult(Result):
    path: str
    kill_switch: bool
    flags: dict[str, FlagState]


class QosViolation(Result):
    slo: str
    model: str
    observed: float
    threshold: float
    window_s: float
    samples: Annotated[int, Meta(description="Requests in the window the value comes from "
                                             "(max_queue_depth: the streams waiting).")]
    policy: Literal["alert", "shed", "reduce_batch"]
    action: Annotated[Literal["alert", "shed", "reduce_batch"], Meta(
        description="What the runtime did: the policy, or alert under dry_run.")]
    dry_run: bool


class QosRecovered(Result):
    slo: str
    model: str
    observed: Annotated[float | None, Meta(
        description="null: no data in the window any more, or the SLO was removed by a reload.")]
    threshold: float
    window_s: float
    action: Annotated[Literal["alert", "shed", "reduce_batch"], Meta(
        description="The remediation now lifted (alert: none was in force).")]
    duration_s: float
