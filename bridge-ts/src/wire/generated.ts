// GENERATED from protocol/schema.json by bridge-ts/scripts/generate-wire-types.mjs; do not edit.
// Regenerate with `npm run generate` after the schema changes.

/**
 * A model's continuous batch.
 */
export interface BatchState {
  /**
   * Streams accepted, waiting for a batch slot.
   */
  waiting: number;
  prefilling: number;
  decoding: number;
  /**
   * The only stream decodes on its own, outside the batch (batching.solo): as fast as mlx_lm.stream_generate.
   */
  solo: boolean;
  /**
   * Idle rows that keep the decode batch at a bucket size.
   */
  pad_rows: number;
  /**
   * Streams decoded together at most: batching.max_batch_size, or chosen for the model and the device at load.
   */
  max_batch_size: number;
  /**
   * Decode batch sizes in use; [] when buckets are off.
   */
  buckets: number[];
  /**
   * Prompt tokens per prefilling stream in the next step (adaptive sizing).
   */
  prefill_chunk: number;
  decode_step_ms: number;
  prefill_tokens_per_s: number;
  /**
   * Decode steps run since the model loaded.
   */
  decode_steps?: number;
  /**
   * Stream tokens those steps made: decoded_tokens / decode_steps is the mean batch size.
   */
  decoded_tokens?: number;
}
export interface BatchTokenizeParams {
  model: string;
  texts: string[];
  add_bos?: boolean;
}
export interface BatchTokenizeResult {
  tokens: number[][];
}
/**
 * Config batching: how streams share a model's decode steps.
 */
export interface BatchingInfo {
  enabled: boolean;
  max_batch_size: number;
  /**
   * Prefill chunks sized to target_step_ms.
   */
  adaptive_sizing: boolean;
  target_step_ms: number;
  solo: boolean;
}
export interface CanaryState {
  stable_model: string;
  canary_model: string;
  canary_source: string;
  state: "active" | "loading" | "promoted" | "rolled_back" | "stopped";
  /**
   * Index into schedule.
   */
  stage: number;
  /**
   * Share of request keys routed to the canary now.
   */
  percentage: number;
  schedule: number[];
  stage_requests: number;
  stage_failures: number;
  canary_ttft_p99_ms: number | null;
  stable_ttft_p99_ms: number | null;
  reason: string | null;
}
export interface CancelParams {
  stream_id: string;
}
export interface CancelResult {
  stream_id: string;
  /**
   * false when the stream had already finished on its own.
   */
  cancelled: boolean;
}
export interface ChatMessage {
  role: string;
  content?: string;
  /**
   * role assistant: the calls it made (answered by role tool messages).
   */
  tool_calls?: ToolCall[];
  /**
   * role tool: the id of the call this message answers.
   */
  tool_call_id?: string;
  /**
   * role tool: the function whose result this is.
   */
  name?: string;
}
/**
 * A function call an assistant message made; the chat template renders it.
 */
export interface ToolCall {
  id?: string;
  type?: "function";
  function: ToolCallFunction;
}
export interface ToolCallFunction {
  name: string;
  /**
   * The call's arguments, decoded.
   */
  arguments: {
    [k: string]: unknown | undefined;
  };
}
export interface ConfigReloadResult {
  config_path: string;
  flags_path: string;
  /**
   * runtime.yaml keys applied, dotted.
   */
  changed: string[];
  /**
   * feature-flags.yaml keys applied.
   */
  flags_changed: string[];
  /**
   * runtime.yaml keys that changed but apply only at start-up (not applied).
   */
  restart_required: string[];
  warnings: string[];
}
export interface DetokenizeParams {
  model: string;
  tokens: number[];
  skip_special_tokens?: boolean;
}
export interface DetokenizeResult {
  text: string;
}
export interface DeviceInfo {
  type: "cpu" | "gpu";
  name: string;
}
/**
 * Shard the model over several processes with mx.distributed; the runtime is rank 0.
 */
export interface DistributedParams {
  /**
   * Default: the hostfile's `backend`, else ring.
   */
  backend?: "jaccl" | "mpi" | "nccl" | "ring";
  /**
   * One entry per rank, rank 0 first (this machine): an IP for the ring backend, an ssh host name otherwise; 127.0.0.1 ranks run locally, the others through ssh.
   *
   * @minItems 2
   */
  hosts?: string[];
  /**
   * An mlx.launch hostfile (JSON) instead of `hosts`.
   */
  hostfile?: string;
  parallel?: "pipeline" | "tensor";
}
export interface DraftCompatibility {
  model_id: string;
  draft_model: string;
  compatible: boolean;
  /**
   * Why not; empty when compatible.
   */
  reasons: string[];
}
/**
 * The draft model attached to a target for speculative decoding.
 */
export interface DraftInfo {
  /**
   * The draft as the client named it (path or hub id).
   */
  model: string;
  path: string;
  context_length: number;
  vocab_size: number;
  parameters: number;
  quantization: Quantization | null;
}
export interface Quantization {
  /**
   * The bits of most quantized modules.
   */
  bits: number;
  group_size: number;
  /**
   * Modules quantized with other bits than `bits` (module path -> bits), as GGUF files often have (an 8-bit embedding beside 4-bit layers); absent when all agree.
   */
  module_bits?: {
    [k: string]: number | undefined;
  };
}
export interface DraftModelParams {
  /**
   * The loaded target model's id.
   */
  model: string;
  /**
   * The draft: a local folder or hub id (model/isDraftCompatible also takes the id of a loaded model).
   */
  draft_model: string;
}
export interface ErrorObject {
  code: number;
  message: string;
  data?: {
    [k: string]: unknown | undefined;
  };
}
export interface FlagState {
  enabled: boolean;
  rollout_percentage: number;
  sub_flags: {
    [k: string]: boolean | undefined;
  };
  on_for_key?: boolean;
}
export interface FlagsParams {
  /**
   * Also say whether each flag is on for this key.
   */
  request_key?: string;
}
export interface FlagsResult {
  path: string;
  kill_switch: boolean;
  flags: {
    [k: string]: FlagState | undefined;
  };
}
export interface FlowParams {
  stream_id: string;
}
export interface FlowResult {
  stream_id: string;
  /**
   * Whether the stream is paused now (false after a resume, and for a stream that had already finished).
   */
  paused: boolean;
}
export interface GenerateAccepted {
  stream_id: string;
  /**
   * The model id that serves the stream.
   */
  model: string;
  /**
   * Which side of a canary rollout served the request; "stable" without one.
   */
  variant: "canary" | "stable";
  /**
   * Params accepted without effect, and what happens instead.
   */
  warnings?: string[];
}
export interface GenerateParams {
  /**
   * The model id; default: the only loaded model (of the kind the request needs).
   */
  model?: string;
  prompt?: string | number[];
  /**
   * The prompt as token ids (instead of `prompt`).
   *
   * @minItems 1
   */
  prompt_tokens?: number[];
  /**
   * @minItems 1
   */
  messages?: ChatMessage[];
  /**
   * With `messages`: function tools the chat template shows the model (OpenAI's format: {type: "function", function: {name, description, parameters}}).
   *
   * @maxItems 128
   */
  tools?: {
    [k: string]: unknown | undefined;
  }[];
  stream_id?: string;
  streaming?: boolean;
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  min_p?: number;
  seed?: number;
  repetition_penalty?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
  penalty_context_size?: number;
  /**
   * @maxItems 32
   */
  stop_sequences?: string[];
  /**
   * @maxItems 256
   */
  stop_token_ids?: number[];
  add_bos?: boolean;
  logprobs?: boolean;
  /**
   * Each token also carries this many of the most likely tokens at its position (`top_logprobs` on stream/chunk tokens); > 0 implies `logprobs`.
   */
  top_logprobs?: number;
  /**
   * Streaming only: send stream/progress notifications (prompt tokens prefilled of total) while the prompt is prefilled, before the first token.
   */
  prefill_progress?: boolean;
  guidance?: JsonSchemaGuidance | RegexGuidance | XmlGuidance;
  /**
   * Draft tokens per speculative round when the model has a draft; 0 = decode without it.
   */
  num_draft_tokens?: number;
  /**
   * Vision models only: images (file paths, data: URLs, http(s) URLs, base64 bytes, or {source, format?}), or a single one.
   */
  images?: (string | ImageSource)[] | string | ImageSource;
  /**
   * Decode with the model's draft when this names it; warned otherwise.
   */
  draft_model?: string;
  /**
   * Inert (the original's TTFT pipeline hints): warned.
   */
  hints?: {
    [k: string]: unknown | undefined;
  };
  /**
   * Routes the request (canary, flag rollouts) by a deterministic hash: the same key, the same variant. Alias: user_id. Default: the stream_id.
   */
  request_key?: string;
}
export interface JsonSchemaGuidance {
  mode: "json_schema";
  /**
   * A JSON Schema (draft 7) object.
   */
  schema: {
    [k: string]: unknown | undefined;
  };
}
export interface RegexGuidance {
  mode: "regex";
  /**
   * The whole output must match it. Rust `regex` syntax, no look-around or backreferences; \d \w \s are ASCII classes.
   */
  pattern: string;
}
export interface XmlGuidance {
  mode: "xml";
  /**
   * A DTD (its declarations) or an XML Schema (XSD) document.
   */
  schema: string;
  /**
   * The document element; default: the first declared (the first global element of an XSD).
   */
  root?: string;
  /**
   * Longest text run and attribute value, in characters; default: unbounded.
   */
  max_text_length?: number;
}
/**
 * An image as the original mlx-serving sends it.
 */
export interface ImageSource {
  /**
   * A file path, a data: URL, an http(s) URL or the image's bytes in base64.
   */
  source: string;
  /**
   * A hint; the bytes say what the image is.
   */
  format?: "bmp" | "jpeg" | "jpg" | "png" | "webp";
}
export interface GenerateResult {
  text: string;
  finish_reason: "cancelled" | "length" | "stop";
  stats: GenerationStats;
  stream_id: string;
  model: string;
  /**
   * Which side of a canary rollout served the request; "stable" without one.
   */
  variant: "canary" | "stable";
  /**
   * With `logprobs` or `top_logprobs`: the generated tokens, as stream/chunk carries them.
   */
  tokens?: TokenOut[];
  guidance?: GuidanceOutcome;
  /**
   * Params accepted without effect, and what happens instead.
   */
  warnings?: string[];
}
export interface GenerationStats {
  prompt_tokens: number;
  /**
   * Prompt tokens whose KV cache was reused, not prefilled.
   */
  cached_tokens: number;
  generated_tokens: number;
  ttft_ms: number;
  tokens_per_second: number;
  total_ms: number;
  draft_tokens_proposed?: number;
  draft_tokens_accepted?: number;
  /**
   * accepted / proposed (0 when none was proposed).
   */
  draft_acceptance_rate?: number;
}
export interface TokenOut {
  id: number;
  /**
   * Text this token released; "" while held back.
   */
  text: string;
  logprob?: number;
  /**
   * With top_logprobs: k: the k most likely tokens here, most likely first (fewer where guidance allows fewer). Log-probabilities, like `logprob`, are of the distribution the token was sampled from: after the penalties and the grammar mask, before temperature and top-p/top-k/min-p.
   */
  top_logprobs?: TopLogprob[];
  /**
   * Streams decoded with a draft model: true when the draft proposed this token and the target accepted it.
   */
  from_draft?: boolean;
  /**
   * true on the token that ended the stream (stop, length, or a failure); absent otherwise (a cancelled stream has none).
   */
  final?: boolean;
}
/**
 * One of the most likely tokens at a position.
 */
export interface TopLogprob {
  id: number;
  /**
   * Its text at this position (a character it leaves incomplete shows as U+FFFD).
   */
  text: string;
  logprob: number;
}
export interface GuidanceOutcome {
  /**
   * true: the text is a whole valid output of the grammar (JSON that validates, a full regex match, a valid XML document); false: it is cut.
   */
  complete: boolean;
}
/**
 * What a GGUF file held and how it was loaded.
 */
export interface GgufInfo {
  architecture: string;
  /**
   * Tensors of each GGUF type in the file ("Q4_1": 210, ...).
   */
  tensor_types: {
    [k: string]: number | undefined;
  };
  /**
   * Types kept quantized in memory (Q4_0, Q4_1, Q8_0: MLX affine, group 32).
   */
  quantized_types: string[];
  /**
   * Types MLX loads dequantized to float16 (BF16, Q2_K, Q4_K, Q6_K): these tensors take their full size in memory.
   */
  dequantized_types: string[];
  file_bytes: number;
}
/**
 * The process group a sharded model runs on (model/load `distributed`).
 */
export interface GroupInfo {
  backend: "jaccl" | "mpi" | "nccl" | "ring";
  parallel: "pipeline" | "tensor";
  ranks: number;
  /**
   * The host of each rank; rank 0 is the runtime.
   */
  hosts: string[];
  /**
   * failed: a rank died or hung; its requests fail with RANK_FAILED until the model is unloaded.
   */
  state: "failed" | "ready";
  failure?: string | null;
}
export interface LatencySummary {
  /**
   * Samples in the sketch (for inter_token_ms: gaps between two tokens the engine emitted one after the other, not between stream/chunk notifications; the time a stream was paused by generate/pause is left out).
   */
  count: number;
  mean: number | null;
  min: number | null;
  max: number | null;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}
export interface Limits {
  max_message_bytes: number;
  max_batch_size: number;
  max_tokens: number;
}
export interface ListModelsResult {
  models: ModelInfo[];
}
export interface ModelInfo {
  model_id: string;
  path: string;
  kind: "text" | "vision";
  context_length: number;
  vocab_size: number;
  parameters: number;
  quantization: Quantization | null;
  eos_token_ids: number[];
  /**
   * The attached draft model (model/loadDraft), or null.
   */
  draft?: DraftInfo | null;
  /**
   * Bytes the model's weights take in memory.
   */
  memory_bytes?: number;
  /**
   * Set when the model was loaded from a GGUF file.
   */
  gguf?: GgufInfo | null;
  /**
   * The ranks of a sharded model, or null.
   */
  group?: GroupInfo | null;
  defaults?: ModelDefaults | null;
  /**
   * Vision models: the class of their mlx-vlm processor; null for text models.
   */
  processor_type?: string | null;
}
/**
 * A model's sampling defaults: what model/load gave, else config generation.defaults;
 *     a request's own params win.
 */
export interface ModelDefaults {
  max_tokens: number;
  temperature: number;
  top_p: number;
  top_k: number;
  min_p: number;
  repetition_penalty: number;
  presence_penalty: number;
  frequency_penalty: number;
}
export interface LoadDraftResult {
  model_id: string;
  draft: DraftInfo;
  load_ms: number;
  /**
   * true when this draft was already attached (nothing loaded).
   */
  already_loaded: boolean;
}
export interface LoadModelParams {
  /**
   * Local folder, local .gguf file or hub id.
   */
  model: string;
  /**
   * Name to refer to the model by; default: `model`.
   */
  model_id?: string;
  /**
   * Send model/progress notifications while the model loads.
   */
  progress?: boolean;
  distributed?: DistributedParams;
  /**
   * Load from this local folder; `model` (or model_id) then names it.
   */
  local_path?: string;
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  min_p?: number;
  repetition_penalty?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
  /**
   * Inert (no hub at run time): warned.
   */
  revision?: string;
  /**
   * Inert (weights load as stored): warned.
   */
  quantization?: {
    [k: string]: unknown | undefined;
  };
  /**
   * Inert (no model code is run): warned.
   */
  trust_remote_code?: boolean;
  /**
   * Inert (use model/loadDraft): warned.
   */
  draft?: boolean;
}
export interface LoadModelResult {
  model_id: string;
  path: string;
  kind: "text" | "vision";
  context_length: number;
  vocab_size: number;
  parameters: number;
  quantization: Quantization | null;
  eos_token_ids: number[];
  /**
   * The attached draft model (model/loadDraft), or null.
   */
  draft?: DraftInfo | null;
  /**
   * Bytes the model's weights take in memory.
   */
  memory_bytes?: number;
  /**
   * Set when the model was loaded from a GGUF file.
   */
  gguf?: GgufInfo | null;
  /**
   * The ranks of a sharded model, or null.
   */
  group?: GroupInfo | null;
  defaults?: ModelDefaults | null;
  /**
   * Vision models: the class of their mlx-vlm processor; null for text models.
   */
  processor_type?: string | null;
  load_ms: number;
  already_loaded: boolean;
  /**
   * What the client should know about how the model was loaded (e.g. GGUF tensors dequantized to float16), and options accepted without effect, each with what happens instead.
   */
  warnings?: string[];
}
export interface MemoryInfo {
  active_bytes: number;
  peak_bytes: number;
  cache_bytes: number;
}
export interface MetricsParams {
  /**
   * Only this model in `models`; default: all.
   */
  model?: string;
}
export interface MetricsSnapshot {
  uptime_s: number;
  window_s: number;
  overall: ModelMetrics;
  models: {
    [k: string]: ModelMetrics | undefined;
  };
  /**
   * Every error response of any method, by data.code (stream/error notifications are in each model's errors_by_code).
   */
  rpc_errors_by_code: {
    [k: string]: number | undefined;
  };
  qos: QosState;
  canary: CanaryState[];
}
export interface ModelMetrics {
  active_streams: number;
  /**
   * Accepted streams still waiting for their first token.
   */
  queue_depth: number;
  lifetime: TrafficMetrics;
  window: TrafficMetrics;
}
export interface TrafficMetrics {
  requests: RequestCounts;
  prompt_tokens: number;
  /**
   * Of prompt_tokens, those whose KV came from the prompt cache.
   */
  cached_tokens: number;
  generated_tokens: number;
  errors_by_code: {
    [k: string]: number | undefined;
  };
  /**
   * Share of requests that failed by the runtime's fault (GENERATION_FAILED, OUT_OF_MEMORY, INTERNAL_ERROR); null without requests.
   */
  error_rate: number | null;
  ttft_ms: LatencySummary;
  inter_token_ms: LatencySummary;
  e2e_ms: LatencySummary;
  tokens_per_s: LatencySummary;
}
export interface RequestCounts {
  total: number;
  /**
   * Ended with finish_reason stop or length.
   */
  completed: number;
  cancelled: number;
  /**
   * Accepted, then ended with stream/error.
   */
  failed: number;
  /**
   * Answered with an error, never accepted.
   */
  rejected: number;
}
export interface QosState {
  dry_run: boolean;
  window_s: number;
  slos: number;
  breaches: QosBreach[];
  /**
   * Models whose new requests get OVERLOADED.
   */
  shedding: string[];
  /**
   * Models whose max batch size is lowered now (reduce_batch, flag batching).
   */
  batch_limits: {
    [k: string]: number | undefined;
  };
  /**
   * The SLOs of config qos.slos.
   */
  rules?: QosRule[];
}
export interface QosBreach {
  slo: string;
  model: string;
  observed: number;
  threshold: number;
  policy: "alert" | "reduce_batch" | "shed";
  action: "alert" | "reduce_batch" | "shed";
  /**
   * Seconds since the breach began.
   */
  since_s: number;
}
export interface QosRule {
  slo: string;
  threshold: number;
  policy: "alert" | "reduce_batch" | "shed";
  /**
   * null: every model.
   */
  model: string | null;
}
export interface ModelProgress {
  model_id: string;
  /**
   * reading: the weight files (unit bytes); converting: weights made ready in memory (unit tensors); warming_up: a first forward pass (unit steps).
   */
  phase: "converting" | "reading" | "warming_up";
  done: number;
  total: number;
  unit: "bytes" | "steps" | "tensors";
}
export interface ModelRefParams {
  model: string;
}
export interface ModelState {
  model_id: string;
  active_streams: number;
  batch?: BatchState | null;
  prompt_cache?: PromptCacheState | null;
}
/**
 * A model's prompt (KV) cache.
 */
export interface PromptCacheState {
  entries?: number;
  bytes?: number;
  hits?: number;
  misses?: number;
  reused_tokens?: number;
}
export interface NoParams {}
export interface PreloadedModel {
  model_id: string;
  load_ms: number;
  warmup_ms: number;
  /**
   * Decode batch sizes run during warm-up.
   */
  batch_sizes: number[];
  /**
   * Warm-up rounds run (config warmup_requests).
   */
  warmup_requests?: number;
}
export interface PrometheusResult {
  content_type: string;
  text: string;
}
export interface QosRecovered {
  slo: string;
  model: string;
  /**
   * null: no data in the window any more, or the SLO was removed by a reload.
   */
  observed: number | null;
  threshold: number;
  window_s: number;
  /**
   * The remediation now lifted (alert: none was in force).
   */
  action: "alert" | "reduce_batch" | "shed";
  duration_s: number;
}
export interface QosViolation {
  slo: string;
  model: string;
  observed: number;
  threshold: number;
  window_s: number;
  /**
   * Requests in the window the value comes from (max_queue_depth: the streams waiting).
   */
  samples: number;
  policy: "alert" | "reduce_batch" | "shed";
  /**
   * What the runtime did: the policy, or alert under dry_run.
   */
  action: "alert" | "reduce_batch" | "shed";
  dry_run: boolean;
}
export interface RuntimeInfo {
  name: string;
  version: string;
  protocol_version: string;
  pid: number;
  python: string;
  platform: string;
  device: DeviceInfo;
  versions: {
    [k: string]: string | undefined;
  };
  models: ModelInfo[];
  limits: Limits;
  methods: string[];
  batching?: BatchingInfo | null;
}
export interface RuntimeReady {
  preload_ms: number;
  models: PreloadedModel[];
}
export interface RuntimeState {
  /**
   * "starting" while the models of config model_preload load and warm up.
   */
  status: "draining" | "ready" | "starting" | "stopping";
  uptime_s: number;
  active_streams: number;
  models: ModelState[];
  memory: MemoryInfo;
}
export interface ShutdownParams {
  /**
   * true: finish in-flight streams first; false: cancel them.
   */
  drain?: boolean;
}
export interface ShutdownResult {
  status: "draining" | "stopping";
  active_streams: number;
}
export interface StreamChunk {
  stream_id: string;
  tokens: TokenOut[];
}
export interface StreamEnd {
  stream_id: string;
  finish_reason: "cancelled" | "length" | "stop";
  stats: GenerationStats;
  model: string;
  /**
   * Which side of a canary rollout served the request; "stable" without one.
   */
  variant: "canary" | "stable";
  guidance?: GuidanceOutcome;
}
export interface StreamError {
  stream_id: string;
  finish_reason: "error";
  error: StreamErrorInfo;
  stats: GenerationStats;
  model: string;
  /**
   * Which side of a canary rollout served the request; "stable" without one.
   */
  variant: "canary" | "stable";
}
export interface StreamErrorInfo {
  code: number;
  message: string;
  data?: {
    [k: string]: unknown | undefined;
  };
}
export interface StreamProgress {
  stream_id: string;
  /**
   * Prompt tokens prefilled so far.
   */
  processed: number;
  /**
   * Prompt tokens to prefill (a prompt cache hit leaves out the cached ones).
   */
  total: number;
}
export interface TokenizeParams {
  model: string;
  text: string;
  add_bos?: boolean;
}
export interface TokenizeResult {
  tokens: number[];
  /**
   * Each token's own text.
   */
  token_strings?: string[];
}
export interface UnloadDraftResult {
  model_id: string;
  draft: DraftInfo;
  /**
   * Streams that were decoding with the draft; they go on without it.
   */
  continued_streams: number;
}
export interface UnloadModelResult {
  model_id: string;
  cancelled_streams: number;
}
/**
 * Params and result of each wire method, by method name.
 */
export interface Methods {
  /**
   * Versions, device, loaded models, limits and the method list.
   */
  "runtime/info": {
    params: NoParams;
    result: RuntimeInfo;
  };
  /**
   * Live status: active streams per model, memory.
   */
  "runtime/state": {
    params: NoParams;
    result: RuntimeState;
  };
  /**
   * Finish (drain) or cancel in-flight streams, then exit 0.
   */
  "runtime/shutdown": {
    params: ShutdownParams;
    result: ShutdownResult;
  };
  /**
   * Load a text model from a local folder or a hub id; idempotent per model_id.
   */
  "model/load": {
    params: LoadModelParams;
    result: LoadModelResult;
  };
  /**
   * Unload a model; its in-flight streams end with stream/error MODEL_UNLOADED.
   */
  "model/unload": {
    params: ModelRefParams;
    result: UnloadModelResult;
  };
  /**
   * The loaded models.
   */
  "model/list": {
    params: NoParams;
    result: ListModelsResult;
  };
  /**
   * Attach a draft model to a loaded text model: its generations then use speculative decoding. Fails with DRAFT_INCOMPATIBLE naming the reasons.
   */
  "model/loadDraft": {
    params: DraftModelParams;
    result: LoadDraftResult;
  };
  /**
   * Detach and free a model's draft; streams using it go on without it.
   */
  "model/unloadDraft": {
    params: ModelRefParams;
    result: UnloadDraftResult;
  };
  /**
   * Whether a model could draft for a loaded target, and why not; attaches nothing.
   */
  "model/isDraftCompatible": {
    params: DraftModelParams;
    result: DraftCompatibility;
  };
  /**
   * Load a vision-language model (mlx-vlm) from a local folder or a hub id; its generate calls take `images`.
   */
  "model/loadVision": {
    params: LoadModelParams;
    result: LoadModelResult;
  };
  /**
   * Token ids of a text (add_bos defaults to the tokenizer's own rule).
   */
  tokenize: {
    params: TokenizeParams;
    result: TokenizeResult;
  };
  /**
   * Token ids of several texts at once.
   */
  batch_tokenize: {
    params: BatchTokenizeParams;
    result: BatchTokenizeResult;
  };
  /**
   * Text of token ids.
   */
  detokenize: {
    params: DetokenizeParams;
    result: DetokenizeResult;
  };
  /**
   * Generate text. streaming=true answers {stream_id} at once, then sends stream/chunk notifications and one stream/end or stream/error; streaming=false answers {text, finish_reason, stats} when done.
   */
  generate: {
    params: GenerateParams;
    result: GenerateAccepted | GenerateResult;
  };
  /**
   * Cancel a stream; it ends with finish_reason "cancelled".
   */
  "generate/cancel": {
    params: CancelParams;
    result: CancelResult;
  };
  /**
   * Backpressure for one stream: stop decoding it (it keeps its place and its KV cache, and emits nothing) until generate/resume; the others go on.
   */
  "generate/pause": {
    params: FlowParams;
    result: FlowResult;
  };
  /**
   * Go on decoding a paused stream, exactly where it stopped.
   */
  "generate/resume": {
    params: FlowParams;
    result: FlowResult;
  };
  /**
   * Counters, latency percentiles (lifetime and window), gauges per model; QoS breaches and canary states.
   */
  "metrics/get": {
    params: MetricsParams;
    result: MetricsSnapshot;
  };
  /**
   * The metrics in the Prometheus text exposition format 0.0.4.
   */
  "metrics/prometheus": {
    params: NoParams;
    result: PrometheusResult;
  };
  /**
   * Re-read feature-flags.yaml and the reloadable parts of runtime.yaml (metrics, qos, canary, debug); a bad file is refused and the running config stays.
   */
  "config/reload": {
    params: NoParams;
    result: ConfigReloadResult;
  };
  /**
   * The feature flags in force, and whether each is on for a request key.
   */
  "flags/get": {
    params: FlagsParams;
    result: FlagsResult;
  };
}
/**
 * Params of each notification the runtime sends.
 */
export interface Notifications {
  "stream/chunk": StreamChunk;
  "stream/progress": StreamProgress;
  "model/progress": ModelProgress;
  "stream/end": StreamEnd;
  "stream/error": StreamError;
  "runtime/ready": RuntimeReady;
  "qos/violation": QosViolation;
  "qos/recovered": QosRecovered;
  "canary/update": CanaryState;
}

/** Protocol version of protocol/schema.json. */
export const PROTOCOL_VERSION = "1.0" as const;

/** Error `data.code` strings of the runtime, with their JSON-RPC numeric codes. */
export const RUNTIME_ERROR_CODES = {
  "PARSE_ERROR": -32700,
  "INVALID_REQUEST": -32600,
  "METHOD_NOT_FOUND": -32601,
  "INVALID_PARAMS": -32602,
  "INTERNAL_ERROR": -32603,
  "MODEL_NOT_LOADED": -32001,
  "MODEL_NOT_FOUND": -32002,
  "MODEL_LOAD_FAILED": -32003,
  "OUT_OF_MEMORY": -32004,
  "OVERLOADED": -32006,
  "GUIDANCE_INVALID": -32007,
  "CONTEXT_LENGTH_EXCEEDED": -32008,
  "STREAM_NOT_FOUND": -32009,
  "STREAM_EXISTS": -32010,
  "SHUTTING_DOWN": -32011,
  "REQUEST_TOO_LARGE": -32012,
  "MODEL_UNLOADED": -32013,
  "GENERATION_FAILED": -32014,
  "DRAFT_INCOMPATIBLE": -32015,
  "IMAGE_INVALID": -32016,
  "UNSUPPORTED": -32017,
  "IMAGE_FETCH_FAILED": -32018,
  "DRAFT_NOT_LOADED": -32019,
  "CONFIG_INVALID": -32020,
  "UNSUPPORTED_MODEL": -32025,
  "RANK_FAILED": -32030
} as const;

/** Each method's param names (snake_case, as on the wire) and the aliases it accepts. */
export const METHOD_PARAMS = {
  "runtime/info": {
    "names": [],
    "aliases": {}
  },
  "runtime/state": {
    "names": [],
    "aliases": {}
  },
  "runtime/shutdown": {
    "names": [
      "drain"
    ],
    "aliases": {}
  },
  "model/load": {
    "names": [
      "model",
      "model_id",
      "progress",
      "distributed",
      "local_path",
      "max_tokens",
      "temperature",
      "top_p",
      "top_k",
      "min_p",
      "repetition_penalty",
      "presence_penalty",
      "frequency_penalty",
      "revision",
      "quantization",
      "trust_remote_code",
      "draft"
    ],
    "aliases": {
      "model_id": "model"
    }
  },
  "model/unload": {
    "names": [
      "model"
    ],
    "aliases": {
      "model_id": "model"
    }
  },
  "model/list": {
    "names": [],
    "aliases": {}
  },
  "model/loadDraft": {
    "names": [
      "model",
      "draft_model"
    ],
    "aliases": {
      "model_id": "model"
    }
  },
  "model/unloadDraft": {
    "names": [
      "model"
    ],
    "aliases": {
      "model_id": "model"
    }
  },
  "model/isDraftCompatible": {
    "names": [
      "model",
      "draft_model"
    ],
    "aliases": {
      "model_id": "model",
      "primary_id": "model",
      "draft_id": "draft_model"
    }
  },
  "model/loadVision": {
    "names": [
      "model",
      "model_id",
      "progress",
      "distributed",
      "local_path",
      "max_tokens",
      "temperature",
      "top_p",
      "top_k",
      "min_p",
      "repetition_penalty",
      "presence_penalty",
      "frequency_penalty",
      "revision",
      "quantization",
      "trust_remote_code",
      "draft"
    ],
    "aliases": {
      "model_id": "model"
    }
  },
  "tokenize": {
    "names": [
      "model",
      "text",
      "add_bos"
    ],
    "aliases": {
      "model_id": "model",
      "add_special_tokens": "add_bos"
    }
  },
  "batch_tokenize": {
    "names": [
      "model",
      "texts",
      "add_bos"
    ],
    "aliases": {
      "model_id": "model",
      "add_special_tokens": "add_bos"
    }
  },
  "detokenize": {
    "names": [
      "model",
      "tokens",
      "skip_special_tokens"
    ],
    "aliases": {
      "model_id": "model"
    }
  },
  "generate": {
    "names": [
      "model",
      "prompt",
      "prompt_tokens",
      "messages",
      "tools",
      "stream_id",
      "streaming",
      "max_tokens",
      "temperature",
      "top_p",
      "top_k",
      "min_p",
      "seed",
      "repetition_penalty",
      "presence_penalty",
      "frequency_penalty",
      "penalty_context_size",
      "stop_sequences",
      "stop_token_ids",
      "add_bos",
      "logprobs",
      "top_logprobs",
      "prefill_progress",
      "guidance",
      "num_draft_tokens",
      "images",
      "draft_model",
      "hints",
      "request_key"
    ],
    "aliases": {
      "stream": "streaming",
      "model_id": "model",
      "add_special_tokens": "add_bos",
      "image": "images",
      "user_id": "request_key"
    }
  },
  "generate/cancel": {
    "names": [
      "stream_id"
    ],
    "aliases": {}
  },
  "generate/pause": {
    "names": [
      "stream_id"
    ],
    "aliases": {}
  },
  "generate/resume": {
    "names": [
      "stream_id"
    ],
    "aliases": {}
  },
  "metrics/get": {
    "names": [
      "model"
    ],
    "aliases": {
      "model_id": "model"
    }
  },
  "metrics/prometheus": {
    "names": [],
    "aliases": {}
  },
  "config/reload": {
    "names": [],
    "aliases": {}
  },
  "flags/get": {
    "names": [
      "request_key"
    ],
    "aliases": {}
  }
} as const;

/** Names of the original mlx-serving runtime that the runtime accepts for its methods. */
export const LEGACY_METHOD_NAMES = {
  "shutdown": "runtime/shutdown",
  "load_model": "model/load",
  "unload_model": "model/unload",
  "check_draft": "model/isDraftCompatible",
  "load_vision_model": "model/loadVision",
  "generate_with_image": "generate"
} as const;

/** Result fields whose value is a record keyed by data (model ids, error codes, flag names): its keys stay as sent. */
export const RECORD_FIELDS = [
  "batch_limits",
  "errors_by_code",
  "flags",
  "models",
  "module_bits",
  "rpc_errors_by_code",
  "sub_flags",
  "tensor_types",
  "versions"
] as const;
