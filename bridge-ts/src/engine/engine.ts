// The public API: one engine per runtime process (kept alive by the
// supervisor). Each method folds its params onto the wire's names, waits for
// a ready runtime, makes the call and hands back the result in camelCase.
// Every public method also answers to its snake_case twin (see twins.ts).
import { EngineError } from '../errors/engine-error.js';
import { statsOf } from '../generator/chunks.js';
import type { GeneratorChunk, Stats } from '../generator/chunks.js';
import { TokenGenerator } from '../generator/generator.js';
import { FlowControl } from '../generator/flow.js';
import { generateWhole } from '../generator/whole.js';
import type { Session } from '../supervisor/launch.js';
import { EVENT_NAMES } from '../supervisor/events.js';
import type { EngineEvents, EventName, Listener, PreloadedModelInfo } from '../supervisor/events.js';
import type { EngineStatus, Supervisor } from '../supervisor/supervisor.js';
import type { ReplayKey } from '../supervisor/replay.js';
import type {
  GenerateAccepted,
  GenerateResult,
  LatencySummary,
  ModelMetrics as WireModelMetrics,
  ModelProgress,
  PromptCacheState,
  RuntimeInfo,
  StreamProgress,
} from '../wire/generated.js';
import { camelizeKeys } from '../wire/names.js';
import type { Camelize } from '../wire/names.js';
import { canonicalMethod, toWireParams } from '../wire/params.js';
import type { Method, Params, Result, WireParams, WireResult } from '../wire/params.js';
import { GenerateCall } from './call.js';
import { RuntimeFigures } from './figures.js';
import type { BatchQueueStats, QosConfigView, QosPolicy, QosStats } from './figures.js';
import { modelHandle } from './handles.js';
import type { ModelHandle } from './handles.js';
import { wireImages } from './images.js';
import { parseJsonOutput, requireJsonSchemaGuidance } from './json.js';
import type { JsonOutput } from './json.js';
import { remaining, resolveCallOptions } from './options.js';
import type { CallOptions, ResolvedOptions, StreamCallOptions } from './options.js';
import { takeCallback } from './progress.js';
import { warnOnce } from './warnings.js';

type WireGenerateParams = Params<'generate'>;
// A JSON Schema may be any object (the original typed it `object`).
type CallerGuidance = NonNullable<WireGenerateParams['guidance']> extends infer G
  ? G extends { mode: 'json_schema' }
    ? Omit<G, 'schema'> & { schema: object }
    : G
  : never;
/**
 * What generateDetailed() resolves to: `{ text, finishReason, stats, streamId, model, variant }`, `guidance: {
 * complete }` with guidance, and `warnings` when the runtime accepted params that have no effect.
 */
export type GenerateOutput = Omit<Camelize<GenerateResult>, 'stats'> & { stats: Stats };
/** An image as the original sends it: a path, URL or base64 string, or `{ source, format? }` (a Buffer source too). */
export type ImageInput = string | { source: string | Uint8Array; format?: 'png' | 'jpg' | 'jpeg' | 'webp' | 'bmp' };
type Images = ImageInput | ImageInput[];
/**
 * generate() and createGenerator() params: every param of the wire's `generate`, in either spelling, with images in
 * every form the original took (`Buffer` sources too).
 */
export type GenerateParams = Omit<WireGenerateParams, 'images' | 'image' | 'guidance'> & { images?: Images; image?: Images; guidance?: CallerGuidance };
/** createVisionGenerator() params: generate's, with `images` (or its alias `image`) required. */
export type VisionGenerateParams = GenerateParams & ({ images: Images } | { image: Images });
/** What loadModel() and loadVisionModel() resolve to: the runtime's load result with the original's handle fields. */
export type LoadedModel = Result<'model/load'> & ModelHandle;
/** loadDraftModel() params: `{ model, draftModel }`, or the original's `{ model: draft }` for the only loaded text model. */
export type DraftParams = Params<'model/loadDraft'> | { model: string };
/** generateJson() params: generate's, with `guidance: { mode: 'json_schema', schema }` required. */
export type JsonGenerateParams = GenerateParams & { guidance: { mode: 'json_schema'; schema: object } };
/** What getMetrics() resolves to: metrics/get's snapshot in camelCase (records keep their keys: model ids, error codes). */
export type Metrics = Result<'metrics/get'>;
/** One model's figures (and `overall`'s): gauges, and `lifetime` and `window` traffic. */
export type ModelMetrics = Camelize<WireModelMetrics>;
/** A model/progress report: `{ modelId, phase: 'reading' | 'converting' | 'warming_up', done, total, unit }`. */
export type LoadProgress = Camelize<ModelProgress>;
/** A stream/progress report: `{ streamId, processed, total }` prompt tokens prefilled, before the first token. */
export type PrefillProgress = Camelize<StreamProgress>;

/** loadModel() options: a call's, and `onProgress`, called with each progress report while the model loads. */
export interface LoadOptions extends CallOptions {
  onProgress?: (progress: LoadProgress) => void;
  on_progress?: (progress: LoadProgress) => void;
}

/** createGenerator() options: a stream call's, and `onPrefillProgress`, called while the prompt is prefilled. */
export interface GeneratorOptions extends StreamCallOptions {
  onPrefillProgress?: (progress: PrefillProgress) => void;
  on_prefill_progress?: (progress: PrefillProgress) => void;
}

/** A latency (or rate) distribution: `{ count, mean, min, max, p50, p95, p99 }`, all but count null when empty. */
export type Distribution = Camelize<LatencySummary>;

export interface EngineInfo {
  status: EngineStatus;
  /** The runtime process now serving (undefined while none is). */
  pid: number | undefined;
  /** How often the runtime was restarted after it died. */
  restarts: number;
  /** runtime/info of the runtime (name, version, protocolVersion, pid, python, platform, device, limits, methods). */
  runtime: Omit<Camelize<RuntimeInfo>, 'models' | 'versions'> | undefined;
  /** Versions of the runtime's libraries (mlx, mlx-lm, ...). */
  versions: RuntimeInfo['versions'];
  /** Ids of the models (text and vision) loaded through this engine (loaded again after a restart). */
  models: string[];
  /**
   * The models the runtime preloaded from its config (`model_preload`), warm now. A restarted runtime preloads them
   * again by itself; the engine does not reload them (unless they are also in `models`: then the load finds them there).
   */
  preloaded: PreloadedModelInfo[];
  /** true while the runtime still preloads them (with `waitForPreload: false`). */
  preloading: boolean;
  /** The drafts attached through this engine, by model id, as named to loadDraftModel() (attached again after a restart). */
  drafts: Record<string, string>;
  /** Generators still streaming. */
  openStreams: number;
  /** Calls waiting for their answer. */
  pendingRequests: number;
  /**
   * Backpressure: `pausedStreams` paused on the runtime now for consumers that are behind, and `streamPauses` how often
   * one was (this engine); `paused`, whether reading the runtime's output is paused now, and `pauses` how often it was
   * (this runtime).
   */
  flow: { paused: boolean; pauses: number; pausedStreams: number; streamPauses: number };
  /** createEngine options accepted without effect, and what happens instead (each also a process warning, once). */
  warnings: string[];
}

/** getRuntimeInfo(): runtime/info in camelCase, with the original's names (version, mlxVersion, protocol, capabilities). */
export type RuntimeDetails = Camelize<RuntimeInfo> & { mlxVersion: string; protocol: string; capabilities: string[]; mlxSupported: boolean };

/** healthCheck(): the runtime's live state in the original's terms. */
export interface HealthStatus {
  /** healthy: ready; degraded: starting (preloading) or draining; unhealthy: stopping. */
  status: 'healthy' | 'degraded' | 'unhealthy';
  /** Seconds the runtime has been up. */
  uptime: number;
  activeStreams: number;
  loadedModels: number;
  runtime: { pid?: number | undefined; status: 'running' | 'stopped' | 'crashed' };
  /** Whether every model this engine loaded is loaded in the runtime. */
  stateConsistent: boolean;
  stateErrors: string[];
}

/** getCacheStats(): the prompt (KV) caches of the loaded models, and their sums. */
export interface CacheStats {
  models: Record<string, Camelize<PromptCacheState>>;
  entries: number;
  bytes: number;
  hits: number;
  misses: number;
  reusedTokens: number;
  /** hits / (hits + misses); 0 before any lookup. */
  hitRate: number;
}

/** getPreloadStats(): the models the runtime preloaded from its config (model_preload). */
export interface PreloadStats {
  preloadedModels: (PreloadedModelInfo & { preloadTimeMs: number })[];
  preloadMs: number;
  preloading: boolean;
}

export class CamelEngine {
  readonly #supervisor: Supervisor;
  readonly #options: ResolvedOptions;
  readonly #flow: FlowControl;
  readonly #open = new Set<TokenGenerator>();
  readonly #finishWaiters = new Map<TokenGenerator, (() => void)[]>();
  readonly #wholes = new Set<Promise<unknown>>();
  readonly #handles = new Map<string, ModelHandle>();
  readonly #figures: RuntimeFigures;
  #streams = 0;

  /** @internal Use createEngine(). */
  constructor(supervisor: Supervisor, options: ResolvedOptions) {
    this.#supervisor = supervisor;
    this.#options = options;
    this.#flow = new FlowControl(options.highWaterMark, (paused) => supervisor.setBackpressure(paused));
    this.#figures = new RuntimeFigures(async () => {
      const [info, state, metrics] = await Promise.all([
        this.#call('runtime/info', {}, undefined, 'figures'),
        this.#call('runtime/state', {}, undefined, 'figures'),
        this.#call('metrics/get', {}, undefined, 'figures'),
      ]);
      this.#handles.clear();
      for (const model of info.models) this.#handles.set(model.model_id, modelHandle(camelizeKeys(model)));
      return { info, state, metrics };
    });
    const events = supervisor.events;
    events.on('qos', (event) => this.#figures.countQos(event));
    events.on('ready', () => {
      this.#emit('runtime:status', { status: 'ready', timestamp: Date.now() });
      void this.#figures.afterGeneration(); // a restarted runtime's figures start over
    });
    events.on('exit', ({ expected }) => {
      this.#emit('runtime:status', { status: expected ? 'stopped' : 'error', timestamp: Date.now() });
      if (expected) return;
      for (const modelId of this.#handles.keys()) this.#emit('model:invalidated', { modelId, reason: 'python_restart', timestamp: Date.now() });
    });
  }

  /** @internal createEngine() takes the first figures before it hands the engine out (from a runtime that serves them). */
  async start(): Promise<void> {
    const methods = this.#supervisor.info?.methods ?? [];
    if (FIGURE_METHODS.every((method) => methods.includes(method))) await this.#figures.refresh();
  }

  /**
   * Loads a model (a local folder, a `.gguf` file, or a hub id where a network exists); it is loaded again after a
   * restart. `onProgress` gets the runtime's progress reports (phase, done of total) while it loads. Sampling params
   * given here (maxTokens, temperature, topP, ...) become the model's defaults (a request's own win); the result says
   * them in `defaults`, and `warnings` names options accepted without effect.
   */
  async loadModel(model: string | Params<'model/load'>, options?: LoadOptions): Promise<LoadedModel> {
    const [onProgress, callOptions] = takeCallback(options, 'onProgress', 'loadModel');
    if (onProgress === undefined) return this.#loaded(await this.#load('model/load', byId(model), callOptions, 'loadModel', modelKey));
    const wire = { ...toWireParams('model/load', byId(model), 'loadModel'), progress: true };
    const modelId = wire.model_id ?? wire.model;
    const listener = (method: string, params: unknown): void => {
      const report = params as ModelProgress;
      if (method === 'model/progress' && report.model_id === modelId) onProgress(camelizeKeys(report));
    };
    this.#supervisor.events.on('notification', listener);
    try {
      return this.#loaded(await this.#load('model/load', wire, callOptions, 'loadModel', modelKey));
    } finally {
      this.#supervisor.events.off('notification', listener);
    }
  }

  /** Unloads a model (and its draft); its streams end with a MODEL_UNLOADED error chunk. */
  async unloadModel(model: string | Params<'model/unload'>, options?: CallOptions): Promise<Result<'model/unload'>> {
    // The runtime drops a model's draft with it.
    const result = await this.#unload('model/unload', byId(model), options, 'unloadModel', (gone) => [modelKey(gone), draftKey(gone)]);
    this.#handles.delete(result.modelId);
    this.#emit('model:unloaded', { modelId: result.modelId, timestamp: Date.now() });
    return result;
  }

  /**
   * Loads a vision-language model (through mlx-vlm); its generations then take `images` (see createVisionGenerator).
   * After a restart it is loaded again as a vision model.
   */
  async loadVisionModel(model: string | Params<'model/loadVision'>, options?: CallOptions): Promise<LoadedModel> {
    return this.#loaded(await this.#load('model/loadVision', byId(model), options, 'loadVisionModel', modelKey));
  }

  /**
   * Attaches a draft model (`draftModel`: a folder) to the loaded text model `model`: its generations then decode
   * speculatively (same output, fewer passes of the model). Fails with DRAFT_INCOMPATIBLE, `data.reasons` saying why.
   * The original's `{ model: draft }` (no draftModel) attaches it to the only loaded text model. The draft is
   * attached again after a restart.
   */
  async loadDraftModel(params: DraftParams, options?: CallOptions): Promise<Result<'model/loadDraft'>> {
    const loaded = await this.#load('model/loadDraft', this.#draftParams(params, 'loadDraftModel'), options, 'loadDraftModel', draftKey);
    this.#setDraft(loaded.modelId, loaded.draft);
    return loaded;
  }

  /** Detaches and frees a model's draft; its streams go on without it. DRAFT_NOT_LOADED when it has none. */
  async unloadDraftModel(model: string | Params<'model/unloadDraft'>, options?: CallOptions): Promise<Result<'model/unloadDraft'>> {
    const unloaded = await this.#unload('model/unloadDraft', byId(model), options, 'unloadDraftModel', (gone) => [draftKey(gone)]);
    this.#setDraft(unloaded.modelId, undefined);
    return unloaded;
  }

  /**
   * Whether `draftModel` (a folder, or a loaded model's id) could draft for `model`: `{ compatible, reasons }` (and
   * the original's `errors`, the same reasons); attaches nothing. Also as `(model, draftModel)`.
   */
  async isDraftModelCompatible(
    params: Params<'model/isDraftCompatible'> | string, draftModel?: string | CallOptions, options?: CallOptions,
  ): Promise<Result<'model/isDraftCompatible'> & { errors: string[] }> {
    const [wire, callOptions] = typeof params === 'string' ? [{ model: params, draftModel }, options] : [params, draftModel];
    const report = await this.#camel('model/isDraftCompatible', wire, callOptions, 'isDraftModelCompatible');
    return { ...report, errors: report.reasons };
  }

  /** The models loaded in the runtime (as of the last load or unload, or the last start), as handles. */
  listModels(): ModelHandle[] {
    return [...this.#handles.values()];
  }

  /** A loaded model's handle (see listModels()), or undefined. */
  getModelInfo(model: string): ModelHandle | undefined {
    return this.#handles.get(model);
  }

  tokenize(params: Params<'tokenize'>, options?: CallOptions): Promise<Result<'tokenize'>> {
    return this.#camel('tokenize', params, options, 'tokenize');
  }

  detokenize(params: Params<'detokenize'>, options?: CallOptions): Promise<Result<'detokenize'>> {
    return this.#camel('detokenize', params, options, 'detokenize');
  }

  /**
   * Streams a generation: `for await (const chunk of engine.createGenerator({...}))`; breaking out cancels it.
   * With `guidance` the tokens stream as the mask lets them through, and the metadata chunk says `guidance.complete`.
   */
  createGenerator(params: GenerateParams, options?: GeneratorOptions): TokenGenerator {
    const [onPrefill, streamOptions] = takeCallback(options, 'onPrefillProgress', 'createGenerator');
    const wire = this.#generateParams(params, true, 'createGenerator');
    if (onPrefill === undefined) return this.#stream(wire, streamOptions, 'createGenerator');
    const listener = (method: string, params: unknown): void => {
      const report = params as StreamProgress;
      if (method === 'stream/progress' && report.stream_id === wire.stream_id) onPrefill(camelizeKeys(report));
    };
    this.#supervisor.events.on('notification', listener);
    const stop = (): void => void this.#supervisor.events.off('notification', listener);
    return this.#stream({ ...wire, prefill_progress: true }, streamOptions, 'createGenerator', stop);
  }

  /** createGenerator() for a vision model, with `images` required: file paths, `data:` URLs or http(s) URLs. */
  createVisionGenerator(params: VisionGenerateParams, options?: StreamCallOptions): TokenGenerator {
    const wire = this.#generateParams(params, true, 'createVisionGenerator');
    if (wire.images === undefined) {
      throw EngineError.invalidOptions(
        '`createVisionGenerator` needs `images` (file paths, data: URLs or http(s) URLs); use createGenerator() for a prompt without images.',
      );
    }
    return this.#stream(wire, options, 'createVisionGenerator');
  }

  /**
   * Generates the whole text and resolves with it (a string): `const text = await engine.generate({...})`; the path
   * for structured output (`guidance`). generateDetailed() resolves with the finish reason, stats and the rest too.
   * It is also an async iterable of the stream's tokens (`for await (const chunk of engine.generate({...}))`, each
   * with its `text`), for code written against the original. An abort cancels it on the runtime.
   */
  generate(params: GenerateParams, options?: StreamCallOptions): GenerateCall {
    let wire: WireParams<'generate'> & { stream_id: string };
    try {
      wire = this.#generateParams(params, false, 'generate');
    } catch (error) {
      return new GenerateCall(error as EngineError);
    }
    return new GenerateCall({
      whole: async () => (await this.#whole(wire, options, 'generate')).text,
      stream: () => this.#stream({ ...wire, streaming: true }, options, 'generate'),
      ended: () => this.#figures.afterGeneration(),
    });
  }

  /**
   * generate() with the whole result: `{ text, finishReason, stats, streamId, model, variant }` (and `guidance: {
   * complete }` with guidance, `warnings` for params accepted without effect). An abort cancels it on the runtime,
   * which answers with the text so far and finishReason 'cancelled'.
   */
  async generateDetailed(params: GenerateParams, options?: StreamCallOptions): Promise<GenerateOutput> {
    return this.#whole(this.#generateParams(params, false, 'generateDetailed'), options, 'generateDetailed');
  }

  /**
   * Generates JSON that validates against `guidance.schema` (the runtime masks every token, so it is valid by
   * construction) and parses it: `{ value, text, finishReason, stats, ... }`. Output cut before the JSON was whole
   * (maxTokens, a stop sequence) is never handed back: it throws GUIDANCE_INCOMPLETE, or CANCELLED when aborted, with
   * the text so far in `error.data`. `T` is the type you expect (e.g. `z.infer<typeof schema>`); it is not checked here.
   */
  async generateJson<T = unknown>(params: JsonGenerateParams, options?: StreamCallOptions): Promise<JsonOutput<T>> {
    const wire = this.#generateParams(params, false, 'generateJson');
    requireJsonSchemaGuidance(wire.guidance);
    return parseJsonOutput<T>(await this.#whole(wire, options, 'generateJson'));
  }

  /**
   * The runtime's metrics, per model and `overall`: active streams, queue depth, and over the runtime's `lifetime` and
   * the QoS `window`: request counts, tokens, errors by code, error rate, and the distributions `ttftMs`,
   * `interTokenMs`, `e2eMs`, `tokensPerS` (`{ count, mean, min, max, p50, p95, p99 }`); also `rpcErrorsByCode`, the
   * QoS breaches and shedding, and the canary rollouts. A model id (or `{ model }`) limits `models` to that one.
   * They are the current runtime's figures: they start over after a restart.
   */
  getMetrics(model?: string | Params<'metrics/get'>, options?: CallOptions): Promise<Metrics> {
    return this.#camel('metrics/get', model === undefined ? {} : byId(model), options, 'getMetrics');
  }

  /** The same metrics in the Prometheus text exposition format 0.0.4 (serve it as `text/plain; version=0.0.4`). */
  async getPrometheusMetrics(options?: CallOptions): Promise<string> {
    return (await this.#camel('metrics/prometheus', {}, options, 'getPrometheusMetrics')).text;
  }

  /**
   * Makes the runtime read its feature flags and the reloadable part of its config (qos, canary, debug, metrics) again,
   * as SIGHUP does; streams in flight go on. Resolves with what changed (`changed`, `flagsChanged`) and what needs a
   * restart (`restartRequired`); a file that does not load or validate is refused with CONFIG_INVALID naming the key,
   * and nothing changes. A restarted runtime reads the files as they are then.
   */
  reloadConfig(options?: CallOptions): Promise<Result<'config/reload'>> {
    return this.#camel('config/reload', {}, options, 'reloadConfig');
  }

  /** The feature flags in force (by flag name, as in the flags file); with `requestKey`, `onForKey` says whether each is on for that key. */
  getFlags(params?: Params<'flags/get'>, options?: CallOptions): Promise<Result<'flags/get'>> {
    return this.#camel('flags/get', params ?? {}, options, 'getFlags');
  }

  /** runtime/info with the original's names beside ours: version, mlxVersion, protocol, capabilities (the methods). */
  async getRuntimeInfo(options?: CallOptions): Promise<RuntimeDetails> {
    const info = await this.#call('runtime/info', {}, options, 'getRuntimeInfo');
    return { ...camelizeKeys(info), mlxVersion: info.versions['mlx'] ?? 'unknown', protocol: info.protocol_version, capabilities: info.methods, mlxSupported: true };
  }

  /** The runtime's live state (runtime/state): healthy when ready, and whether it holds every model this engine loaded. */
  async healthCheck(options?: CallOptions): Promise<HealthStatus> {
    const state = await this.#call('runtime/state', {}, options, 'healthCheck');
    const loaded = new Set(state.models.map((model) => model.model_id));
    const stateErrors = this.#supervisor.models.models.filter((id) => !loaded.has(id)).map((id) => `model ${id} is not loaded in the runtime`);
    const status = state.status === 'ready' ? 'healthy' : state.status === 'stopping' ? 'unhealthy' : 'degraded';
    return {
      status,
      uptime: state.uptime_s,
      activeStreams: state.active_streams,
      loadedModels: state.models.length,
      runtime: { pid: this.#supervisor.readySession?.process.pid, status: 'running' },
      stateConsistent: stateErrors.length === 0,
      stateErrors,
    };
  }

  /**
   * The runtime's continuous batching (the original's batch queue): config, streams decoding and waiting now, requests,
   * decode steps and the mean batch size, latency and throughput. As of the last generation this engine finished
   * (once a getter of figures has been used, each generation takes a new snapshot before it resolves).
   */
  getBatchQueueStats(): BatchQueueStats {
    return this.#figures.batchQueueStats();
  }

  /** getBatchQueueStats(), by the original Engine's name. */
  getBatchStats(): BatchQueueStats {
    return this.#figures.batchQueueStats();
  }

  /** The request, decode-step and token counters of getBatchQueueStats() start over from now. */
  resetBatchStats(): void {
    this.#figures.resetBatchStats();
  }

  /** Resolves once every generation this engine has started has finished (this bridge holds nothing back to flush). */
  async flushBatches(): Promise<void> {
    const open = [...this.#open].map((generator) => new Promise<void>((resolve) => this.#whenFinished(generator, resolve)));
    await Promise.allSettled([...open, ...this.#wholes]);
  }

  /** Loads a model (if it is not) and runs one short generation through it, so the next request finds it warm. */
  async warmupModel(model: string | Params<'model/load'>, options?: CallOptions): Promise<void> {
    const loaded = await this.loadModel(model, options);
    await this.generateDetailed({ model: loaded.modelId, prompt: 'Hello', maxTokens: 4 }, options);
  }

  /** The prompt (KV) caches of the loaded models (runtime/state), and their sums. */
  async getCacheStats(options?: CallOptions): Promise<CacheStats> {
    const state = await this.#call('runtime/state', {}, options, 'getCacheStats');
    const models = Object.fromEntries(state.models.map((model) => [model.model_id, camelizeKeys(model.prompt_cache ?? {})]));
    const sum = (key: 'entries' | 'bytes' | 'hits' | 'misses' | 'reusedTokens'): number =>
      Object.values(models).reduce((total, cache) => total + (cache[key] ?? 0), 0);
    const lookups = sum('hits') + sum('misses');
    return {
      models, entries: sum('entries'), bytes: sum('bytes'), hits: sum('hits'), misses: sum('misses'), reusedTokens: sum('reusedTokens'),
      hitRate: lookups > 0 ? sum('hits') / lookups : 0,
    };
  }

  /** The models the runtime preloaded from its config (model_preload), with their load and warm-up times. */
  getPreloadStats(): PreloadStats {
    const info = this.getInfo();
    const done = this.#supervisor.readySession?.preload.done;
    return {
      preloadedModels: info.preloaded.map((model) => ({ ...model, preloadTimeMs: model.loadMs + model.warmupMs })),
      preloadMs: done?.ms ?? 0,
      preloading: info.preloading,
    };
  }

  /** The runtime's QoS setup (config qos): whether SLOs are set, the window, dry-run (figures taken as getBatchQueueStats() says). */
  getQosConfig(): QosConfigView {
    return this.#figures.qosConfig();
  }

  /** Requests, the SLO violations (and remediations) the runtime reported, TTFT percentiles and tokens/s (see getBatchQueueStats()). */
  getQosStats(): QosStats {
    return this.#figures.qosStats();
  }

  /** The SLOs of the runtime's config (qos.slos), as the original's policies. */
  getQosPolicies(): QosPolicy[] {
    return this.#figures.qosPolicies();
  }

  /** Any wire method by name, with params in either spelling; the result in camelCase. */
  async request<M extends Method>(method: M, params?: Params<M>, options?: CallOptions): Promise<Result<M>> {
    const canonical = canonicalMethod(method) as M; // a legacy name (load_model, ...) is its method
    const instead = DEDICATED_METHODS[canonical];
    if (instead !== undefined) {
      throw EngineError.invalidOptions(`Call ${instead} instead of request('${method}'): it keeps the engine's state right.`);
    }
    return this.#camel(canonical, params, options, method);
  }

  /** The engine's state now, without a call to the runtime. */
  getInfo(): EngineInfo {
    const info = this.#supervisor.info;
    const session = this.#supervisor.readySession;
    const preload = session?.preload.done;
    return {
      status: this.#supervisor.status,
      pid: session?.process.pid,
      restarts: this.#supervisor.restarts,
      runtime: info === undefined ? undefined : runtimeFacts(camelizeKeys(info)),
      versions: { ...info?.versions },
      models: this.#supervisor.models.models,
      preloaded: preload?.models ?? [],
      preloading: session !== undefined && preload === undefined,
      drafts: Object.fromEntries(this.#supervisor.models.drafts.map(({ id, params }) => [id, (params as WireParams<'model/loadDraft'>).draft_model])),
      openStreams: this.#open.size,
      pendingRequests: session?.client.pendingCount ?? 0,
      flow: { ...(session?.client.flow ?? { paused: false, pauses: 0 }), ...this.#flow.streams },
      warnings: [...this.#options.warnings],
    };
  }

  /** Listens to an event; a name that never fires is an INVALID_OPTIONS error. */
  on<E extends EventName>(event: E, listener: Listener<E>): this {
    checkEventName(event, 'on');
    this.#supervisor.events.on(event, listener);
    return this;
  }

  once<E extends EventName>(event: E, listener: Listener<E>): this {
    checkEventName(event, 'once');
    this.#supervisor.events.once(event, listener);
    return this;
  }

  off<E extends EventName>(event: E, listener: Listener<E>): this {
    this.#supervisor.events.off(event, listener);
    return this;
  }

  /** Stops the runtime after in-flight streams finish (drain, the default) or are cancelled; later calls fail with ENGINE_DISPOSED. */
  async shutdown(options: { drain?: boolean; timeoutMs?: number } = {}): Promise<void> {
    await this.#supervisor.stop(options.drain ?? true, options.timeoutMs ?? 60_000);
  }

  /** Stops the runtime now: in-flight streams are cancelled; then SIGTERM, then SIGKILL if it lingers. Never throws. */
  async dispose(): Promise<void> {
    await this.#supervisor.stop(false, this.#options.forceKillAfterMs);
  }

  /** dispose(), by the name the original's examples use. */
  async close(): Promise<void> {
    await this.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  // A ready runtime's session at once (so calls reach the wire in the order
  // they were made), else a wait for the restart in progress.
  readonly #session = (timeoutMs: number | undefined): Session | Promise<Session> =>
    this.#supervisor.readySession ?? this.#supervisor.connect(timeoutMs);

  // Makes the call on a ready runtime, waiting for one if need be, all within the call's time limit.
  #call<M extends Method>(method: M, params: WireParams<M>, options: unknown, caller: string): Promise<WireResult<M>> {
    const { timeoutMs } = resolveCallOptions(options, caller, this.#options.requestTimeoutMs);
    const started = Date.now();
    const session = this.#session(timeoutMs);
    if (!(session instanceof Promise)) return session.client.request(method, params, timeoutMs);
    return session.then((later) => later.client.request(method, params, remaining(timeoutMs, started)));
  }

  // A streaming generation, started at once.
  #stream(
    wire: WireParams<'generate'> & { stream_id: string }, options: unknown, caller: string, onFinished?: () => void,
  ): TokenGenerator {
    const { timeoutMs, signal, statsChunk } = resolveCallOptions(options, caller, this.#options.requestTimeoutMs);
    const host = {
      session: this.#session,
      flow: this.#flow,
      finished: (done: TokenGenerator) => {
        this.#open.delete(done);
        onFinished?.();
        for (const waiter of this.#finishWaiters.get(done) ?? []) waiter();
        this.#finishWaiters.delete(done);
      },
      accepted: (generator: TokenGenerator, accepted: GenerateAccepted) => {
        warnOnce(accepted.warnings);
        this.#started(generator.streamId, accepted.model, wire.prompt);
      },
      received: (generator: TokenGenerator, chunk: GeneratorChunk) => this.#observe(generator.streamId, chunk),
    };
    const generator = new TokenGenerator(host, { params: { ...wire, streaming: true }, timeoutMs, signal, statsChunk });
    this.#open.add(generator);
    return generator;
  }

  #whenFinished(generator: TokenGenerator, resolve: () => void): void {
    this.#finishWaiters.set(generator, [...(this.#finishWaiters.get(generator) ?? []), resolve]);
  }

  // A generation answered in one piece; once it is done, the figures are taken again (when in use).
  async #whole(wire: WireParams<'generate'> & { stream_id: string }, options: unknown, caller: string): Promise<GenerateOutput> {
    const { timeoutMs, signal } = resolveCallOptions(options, caller, this.#options.requestTimeoutMs);
    this.#started(wire.stream_id, wire.model ?? '', wire.prompt);
    const running = generateWhole(this.#session, wire, { timeoutMs, signal, caller });
    this.#wholes.add(running);
    try {
      const result = await running;
      warnOnce(result.warnings);
      const output = { ...camelizeKeys(result), stats: statsOf(result.stats) };
      this.#emit('generation:completed', { streamId: output.streamId, stats: output.stats, timestamp: Date.now() });
      return output;
    } catch (error) {
      this.#emit('error', { error: error as EngineError, context: wire.stream_id, timestamp: Date.now() });
      throw error;
    } finally {
      this.#wholes.delete(running);
      await this.#figures.afterGeneration();
    }
  }

  #started(streamId: string, modelId: string, prompt: WireParams<'generate'>['prompt']): void {
    this.#emit('generation:started', { streamId, modelId, prompt: typeof prompt === 'string' ? prompt : '', timestamp: Date.now() });
  }

  // A generator's chunks as the original's events.
  #observe(streamId: string, chunk: GeneratorChunk): void {
    const timestamp = Date.now();
    if (chunk.type === 'token') {
      if (!this.#supervisor.events.listened('generation:token')) return;
      const event = { streamId, token: chunk.token, timestamp };
      this.#emit('generation:token', chunk.logprob === undefined ? event : { ...event, logprob: chunk.logprob });
    } else if (chunk.type === 'metadata') {
      this.#emit('generation:completed', { streamId, stats: chunk.stats, timestamp });
      void this.#figures.afterGeneration();
    } else if (chunk.type === 'error') this.#emit('error', { error: chunk.error, context: streamId, timestamp });
  }

  #emit<E extends EventName>(event: E, ...args: EngineEvents[E]): void {
    this.#supervisor.events.emit(event, ...args);
  }

  // A load's result with the original's handle fields; remembered for listModels() and announced.
  #loaded(result: Result<'model/load'>): LoadedModel {
    const handle = modelHandle(result);
    this.#handles.set(handle.modelId, handle);
    warnOnce(result.warnings);
    this.#emit('model:loaded', { modelId: handle.modelId, handle, timestamp: Date.now() });
    return handle;
  }

  // A model's handle (listModels(), getModelInfo()) says which draft it has now.
  #setDraft(modelId: string, draft: ModelHandle['draft']): void {
    const handle = this.#handles.get(modelId);
    if (handle === undefined) return;
    const { draft: _gone, ...rest } = handle;
    this.#handles.set(modelId, draft === undefined ? rest : { ...rest, draft });
  }

  // The original's loadDraftModel({ model: draft }) names only the draft: the target is the only loaded text model.
  #draftParams(params: unknown, caller: string): unknown {
    const given = params !== null && typeof params === 'object' ? (params as Record<string, unknown>) : {};
    if (given['draftModel'] !== undefined || given['draft_model'] !== undefined || typeof given['model'] !== 'string') return params;
    const texts = [...this.#handles.values()].filter((handle) => handle.kind === 'text').map((handle) => handle.modelId);
    if (texts.length !== 1) {
      const loaded = texts.length === 0 ? 'none' : texts.join(', ');
      throw EngineError.invalidOptions(`\`${caller}\` got no \`draftModel\`: name the target \`model\` and the \`draftModel\` (loaded text models: ${loaded}).`);
    }
    return { model: texts[0], draftModel: given['model'] };
  }

  // A load the runtime must be given again after a restart: remembered under
  // the key its result names (a model, or a model's draft), with the params as sent.
  async #load<M extends Method>(
    method: M, params: unknown, options: unknown, caller: string, keyOf: (result: WireResult<M>) => ReplayKey,
  ): Promise<Result<M>> {
    const wire = toWireParams(method, params, caller);
    const result = await this.#call(method, wire, options, caller);
    this.#supervisor.models.remember(keyOf(result), method, wire);
    return camelizeKeys(result);
  }

  // The undoing of a #load: no longer replayed after a restart.
  async #unload<M extends Method>(
    method: M, params: unknown, options: unknown, caller: string, keysOf: (result: WireResult<M>) => ReplayKey[],
  ): Promise<Result<M>> {
    const result = await this.#call(method, toWireParams(method, params, caller), options, caller);
    for (const key of keysOf(result)) this.#supervisor.models.forget(key);
    return camelizeKeys(result);
  }

  async #camel<M extends Method>(method: M, params: unknown, options: unknown, caller: string): Promise<Result<M>> {
    return camelizeKeys(await this.#call(method, toWireParams(method, params, caller), options, caller));
  }

  // generate() answers in one piece and createGenerator() streams: a
  // contrary `streaming` is a mistake worth saying so.
  #generateParams(params: unknown, streaming: boolean, caller: string): WireParams<'generate'> & { stream_id: string } {
    const wire = toWireParams('generate', params, caller);
    if (wire.images !== undefined) wire.images = wireImages(wire.images as unknown, caller);
    if (wire.streaming === !streaming) {
      const use = streaming ? 'generate() for the whole text at once' : 'createGenerator() to stream';
      throw EngineError.invalidOptions(`\`${caller}\` got \`streaming: ${wire.streaming}\`; use ${use}.`);
    }
    return { ...wire, stream_id: wire.stream_id ?? `node-${++this.#streams}` };
  }
}

// What the figures of the synchronous getters are taken from.
const FIGURE_METHODS = ['runtime/info', 'runtime/state', 'metrics/get'];

// Methods whose engine method does more than the call (supervision, streams).
const DEDICATED_METHODS: Partial<Record<Method, string>> = {
  'model/load': 'loadModel()',
  'model/unload': 'unloadModel()',
  'model/loadVision': 'loadVisionModel()',
  'model/loadDraft': 'loadDraftModel()',
  'model/unloadDraft': 'unloadDraftModel()',
  generate: 'generate() or createGenerator()',
  'runtime/shutdown': 'shutdown()',
};

// Methods that name one model take its id alone too.
function byId<P>(model: string | P): P | { model: string } {
  return typeof model === 'string' ? { model } : model;
}

// Replay keys: a model, and the draft attached to it, are remembered apart.
const modelKey = (result: { model_id: string }): ReplayKey => ({ kind: 'model', id: result.model_id });
const draftKey = (result: { model_id: string }): ReplayKey => ({ kind: 'draft', id: result.model_id });

// Event names the engine emits; another name would never fire.
function checkEventName(event: string, caller: string): void {
  if (!(EVENT_NAMES as string[]).includes(event)) {
    const names = EVENT_NAMES.map((name) => `'${name}'`).join(', ');
    throw EngineError.invalidOptions(`\`${caller}\` got the event name ${JSON.stringify(event)}, which never fires; expected one of ${names}.`);
  }
}

// runtime/info less what getInfo() reports apart (and more currently).
function runtimeFacts({ models: _models, versions: _versions, ...facts }: Camelize<RuntimeInfo>): EngineInfo['runtime'] {
  return facts;
}

export type { EngineEvents };
