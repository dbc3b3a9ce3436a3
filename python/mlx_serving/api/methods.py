"""The method and notification table of the wire contract.

One entry per method: its params and result types, a summary, the legacy
names it also answers to, and the param aliases it accepts. Handlers bind to
these names elsewhere (handlers/); the table itself knows nothing of models.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import messages as m

PROTOCOL_VERSION = "1.0"

# Aliases every method with such a param accepts (applied after camelCase
# twins are folded to snake_case).
COMMON_PARAM_ALIASES: dict[str, str] = {
    "stream": "streaming",
    "model_id": "model",
    "add_special_tokens": "add_bos",
}


@dataclass(frozen=True)
class MethodSpec:
    name: str
    params: type[m.Params]
    result: type | tuple[type, ...]  # a tuple: one of these, depending on the params
    summary: str
    legacy_names: tuple[str, ...] = ()
    param_aliases: dict[str, str] = field(default_factory=lambda: dict(COMMON_PARAM_ALIASES))


@dataclass(frozen=True)
class NotificationSpec:
    name: str
    params: type
    summary: str


_METHODS = [
    MethodSpec("runtime/info", m.NoParams, m.RuntimeInfo,
               "Versions, device, loaded models, limits and the method list."),
    MethodSpec("runtime/state", m.NoParams, m.RuntimeState,
               "Live status: active streams per model, memory."),
    MethodSpec("runtime/shutdown", m.ShutdownParams, m.ShutdownResult,
               "Finish (drain) or cancel in-flight streams, then exit 0.",
               legacy_names=("shutdown",)),
    MethodSpec("model/load", m.LoadModelParams, m.LoadModelResult,
               "Load a text model from a local folder or a hub id; idempotent per model_id.",
               legacy_names=("load_model",)),
    MethodSpec("model/unload", m.ModelRefParams, m.UnloadModelResult,
               "Unload a model; its in-flight streams end with stream/error MODEL_UNLOADED.",
               legacy_names=("unload_model",)),
    MethodSpec("model/list", m.NoParams, m.ListModelsResult, "The loaded models."),
    MethodSpec("model/loadDraft", m.DraftModelParams, m.LoadDraftResult,
               "Attach a draft model to a loaded text model: its generations then use "
               "speculative decoding. Fails with DRAFT_INCOMPATIBLE naming the reasons."),
    MethodSpec("model/unloadDraft", m.ModelRefParams, m.UnloadDraftResult,
               "Detach and free a model's draft; streams using it go on without it."),
    MethodSpec("model/isDraftCompatible", m.DraftModelParams, m.DraftCompatibility,
               "Whether a model could draft for a loaded target, and why not; attaches nothing.",
               legacy_names=("check_draft",),
               param_aliases={**COMMON_PARAM_ALIASES, "primary_id": "model",
                              "draft_id": "draft_model"}),
    MethodSpec("model/loadVision", m.LoadModelParams, m.LoadModelResult,
               "Load a vision-language model (mlx-vlm) from a local folder or a hub id; "
               "its generate calls take `images`.",
               legacy_names=("load_vision_model",)),
    MethodSpec("tokenize", m.TokenizeParams, m.TokenizeResult,
               "Token ids of a text (add_bos defaults to the tokenizer's own rule)."),
    MethodSpec("batch_tokenize", m.BatchTokenizeParams, m.BatchTokenizeResult,
               "Token ids of several texts at once."),
    MethodSpec("detokenize", m.DetokenizeParams, m.DetokenizeResult, "Text of token ids."),
    MethodSpec("generate", m.GenerateParams, (m.GenerateAccepted, m.GenerateResult),
               "Generate text. streaming=true answers {stream_id} at once, then sends "
               "stream/chunk notifications and one stream/end or stream/error; "
               "streaming=false answers {text, finish_reason, stats} when done.",
               legacy_names=("generate_with_image",),
               param_aliases={**COMMON_PARAM_ALIASES, "image": "images",
                              "user_id": "request_key"}),
    MethodSpec("generate/cancel", m.CancelParams, m.CancelResult,
               "Cancel a stream; it ends with finish_reason \"cancelled\"."),
    MethodSpec("generate/pause", m.FlowParams, m.FlowResult,
               "Backpressure for one stream: stop decoding it (it keeps its place and its KV "
               "cache, and emits nothing) until generate/resume; the others go on."),
    MethodSpec("generate/resume", m.FlowParams, m.FlowResult,
               "Go on decoding a paused stream, exactly where it stopped."),
    MethodSpec("metrics/get", m.MetricsParams, m.MetricsSnapshot,
               "Counters, latency percentiles (lifetime and window), gauges per model; "
               "QoS breaches and canary states."),
    MethodSpec("metrics/prometheus", m.NoParams, m.PrometheusResult,
               "The metrics in the Prometheus text exposition format 0.0.4."),
    MethodSpec("config/reload", m.NoParams, m.ConfigReloadResult,
               "Re-read feature-flags.yaml and the reloadable parts of runtime.yaml (metrics, "
               "qos, canary, debug); a bad file is refused and the running config stays."),
    MethodSpec("flags/get", m.FlagsParams, m.FlagsResult,
               "The feature flags in force, and whether each is on for a request key."),
]

METHODS: dict[str, MethodSpec] = {spec.name: spec for spec in _METHODS}

# Legacy (original mlx-serving runtime) name -> our name.
LEGACY_NAMES: dict[str, str] = {
    legacy: spec.name for spec in _METHODS for legacy in spec.legacy_names
}

NOTIFICATIONS: dict[str, NotificationSpec] = {
    spec.name: spec
    for spec in [
        NotificationSpec("stream/chunk", m.StreamChunk,
                         "Tokens of a stream; several tokens coalesce when the reader is behind."),
        NotificationSpec("stream/progress", m.StreamProgress,
                         "Prefill progress of a stream that asked for it (generate "
                         "prefill_progress), before its first token."),
        NotificationSpec("model/progress", m.ModelProgress,
                         "Progress of a model/load that asked for it (progress: true): "
                         "phase, done of total."),
        NotificationSpec("stream/end", m.StreamEnd,
                         "The last message of a stream that finished: stop, length or cancelled."),
        NotificationSpec("stream/error", m.StreamError,
                         "The last message of a stream that failed; the runtime keeps serving."),
        NotificationSpec("runtime/ready", m.RuntimeReady,
                         "Sent once at start-up when the models of config model_preload are "
                         "loaded and warmed up (not sent when none are configured)."),
        NotificationSpec("qos/violation", m.QosViolation,
                         "An SLO began to be breached; its policy is in force until qos/recovered."),
        NotificationSpec("qos/recovered", m.QosRecovered,
                         "A breached SLO is met again (or was removed); its remediation is lifted."),
        NotificationSpec("canary/update", m.CanaryState,
                         "A canary rollout changed phase or stage: loaded, advanced, promoted, "
                         "rolled back, stopped."),
    ]
}


def resolve(name: str) -> MethodSpec | None:
    """The spec for a method name or one of its legacy names."""
    return METHODS.get(name) or METHODS.get(LEGACY_NAMES.get(name, ""))
