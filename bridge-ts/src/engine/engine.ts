// The public API: one engine per runtime process (kept alive by the
// supervisor). Each method folds its params onto the wire's names, waits for
// a ready runtime, makes the call and hands back the result in camelCase.
// Every public method also answers to its snake_case twin (see twins.ts).
import { EngineError } from '../errors/engine-error.js';
import { TokenGenerator } from '../generator/generator.js';
import { FlowControl } from '../generator/flow.js';
import { generateWhole } from '../generator/whole.js';
import type { Session } from '../supervisor/launch.js';
import type { EngineEvents, EventName, Listener, PreloadedModelInfo } from '../supervisor/events.js';
import type { EngineStatus, Supervisor } from '../supervisor/supervisor.js';
import type { ReplayKey } from '../supervisor/replay.js';
import type {
  GenerateResult, JsonSchemaGuidance, LatencySummary, ModelMetrics as WireModelMetrics, ModelProgress, RuntimeInfo, StreamProgress,
} from '../wire/generated.js';
import { camelizeKeys } from '../wire/names.js';
import type { Camelize } from '../wire/names.js';
import { canonicalMethod, toWireParams } from '../wire/params.js';
import type { Method, Params, Result, WireParams, WireResult } from '../wire/params.js';
import { parseJsonOutput, requireJsonSchemaGuidance } from './json.js';
import type { JsonOutput } from './json.js';
import { remaining, resolveCallOptions } from './options.js';
import type { CallOptions, ResolvedOptions, StreamCallOptions } from './options.js';
import { takeCallback } from './progress.js';

/** generate() and createGenerator() params: every param of the wire's `generate`, in either spelling. */
export type GenerateParams = Params<'generate'>;
/** What generate() resolves to: `{ text, finishReason, stats, streamId }`, and `guidance: { complete }` with guidance. */
export type GenerateOutput = Camelize<GenerateResult>;
/** createVisionGenerator() params: generate's, with `images` (or its alias `image`) required. */
export type VisionGenerateParams = GenerateParams & ({ images: Images } | { image: Images });
type Images = NonNullable<WireParams<'generate'>['images']>;
/** generateJson() params: generate's, with `guidance: { mode: 'json_schema', schema }` required. */
export type JsonGenerateParams = GenerateParams & { guidance: JsonSchemaGuidance };
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
}

export class CamelEngine {
  readonly #supervisor: Supervisor;
  readonly #options: ResolvedOptions;
  readonly #flow: FlowControl;
  readonly #open = new Set<TokenGenerator>();
  #streams = 0;

  /** @internal Use createEngine(). */
  constructor(supervisor: Supervisor, options: ResolvedOptions) {
    this.#supervisor = supervisor;
    this.#options = options;
    this.#flow = new FlowControl(options.highWaterMark, (paused) => supervisor.setBackpressure(paused));
  }

  /**
   * Loads a model (a local folder, a `.gguf` file, or a hub id where a network exists); it is loaded again after a
   * restart. `onProgress` gets the runtime's progress reports (phase, done of total) while it loads.
   */
  async loadModel(model: string | Params<'model/load'>, options?: LoadOptions): Promise<Result<'model/load'>> {
    const [onProgress, callOptions] = takeCallback(options, 'onProgress', 'loadModel');
    if (onProgress === undefined) return this.#load('model/load', byId(model), callOptions, 'loadModel', modelKey);
    const wire = { ...toWireParams('model/load', byId(model), 'loadModel'), progress: true };
    const modelId = wire.model_id ?? wire.model;
    const listener = (method: string, params: unknown): void => {
      const report = params as ModelProgress;
      if (method === 'model/progress' && report.model_id === modelId) onProgress(camelizeKeys(report));
    };
    this.#supervisor.events.on('notification', listener);
    try {
      return await this.#load('model/load', wire, callOptions, 'loadModel', modelKey);
    } finally {
      this.#supervisor.events.off('notification', listener);
    }
  }

  /** Unloads a model (and its draft); its streams end with a MODEL_UNLOADED error chunk. */
  unloadModel(model: string | Params<'model/unload'>, options?: CallOptions): Promise<Result<'model/unload'>> {
    // The runtime drops a model's draft with it.
    return this.#unload('model/unload', byId(model), options, 'unloadModel', (gone) => [modelKey(gone), draftKey(gone)]);
  }

  /**
   * Loads a vision-language model (through mlx-vlm); its generations then take `images` (see createVisionGenerator).
   * After a restart it is loaded again as a vision model.
   */
  loadVisionModel(model: string | Params<'model/loadVision'>, options?: CallOptions): Promise<Result<'model/loadVision'>> {
    return this.#load('model/loadVision', byId(model), options, 'loadVisionModel', modelKey);
  }

  /**
   * Attaches a draft model (`draftModel`: a folder) to the loaded text model `model`: its generations then decode
   * speculatively (same output, fewer passes of the model). Fails with DRAFT_INCOMPATIBLE, `data.reasons` saying why.
   * The draft is attached again after a restart.
   */
  loadDraftModel(params: Params<'model/loadDraft'>, options?: CallOptions): Promise<Result<'model/loadDraft'>> {
    return this.#load('model/loadDraft', params, options, 'loadDraftModel', draftKey);
  }

  /** Detaches and frees a model's draft; its streams go on without it. DRAFT_NOT_LOADED when it has none. */
  unloadDraftModel(model: string | Params<'model/unloadDraft'>, options?: CallOptions): Promise<Result<'model/unloadDraft'>> {
    return this.#unload('model/unloadDraft', byId(model), options, 'unloadDraftModel', (gone) => [draftKey(gone)]);
  }

  /** Whether `draftModel` (a folder, or a loaded model's id) could draft for `model`: `{ compatible, reasons }`; attaches nothing. */
  isDraftModelCompatible(params: Params<'model/isDraftCompatible'>, options?: CallOptions): Promise<Result<'model/isDraftCompatible'>> {
    return this.#camel('model/isDraftCompatible', params, options, 'isDraftModelCompatible');
  }

  /** The models the runtime has loaded, with their details. */
  async listModels(options?: CallOptions): Promise<Result<'model/list'>['models']> {
    return (await this.request('model/list', {}, options)).models;
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
   * Generates the whole text in one call (`streaming: false` on the wire): the simplest path for structured output
   * (`guidance`; the result then says `guidance.complete`).
   * An abort cancels it on the runtime, which answers with the text so far and finishReason 'cancelled'.
   */
  async generate(params: GenerateParams, options?: StreamCallOptions): Promise<GenerateOutput> {
    return this.#whole(this.#generateParams(params, false, 'generate'), options, 'generate');
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
    };
  }

  on<E extends EventName>(event: E, listener: Listener<E>): this {
    this.#supervisor.events.on(event, listener);
    return this;
  }

  once<E extends EventName>(event: E, listener: Listener<E>): this {
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
    const { timeoutMs, signal } = resolveCallOptions(options, caller, this.#options.requestTimeoutMs);
    const finished = (done: TokenGenerator): void => {
      this.#open.delete(done);
      onFinished?.();
    };
    const host = { session: this.#session, flow: this.#flow, finished };
    const generator = new TokenGenerator(host, { params: { ...wire, streaming: true }, timeoutMs, signal });
    this.#open.add(generator);
    return generator;
  }

  // A generation answered in one piece.
  async #whole(wire: WireParams<'generate'> & { stream_id: string }, options: unknown, caller: string): Promise<GenerateOutput> {
    const { timeoutMs, signal } = resolveCallOptions(options, caller, this.#options.requestTimeoutMs);
    return camelizeKeys(await generateWhole(this.#session, wire, { timeoutMs, signal, caller }));
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
    if (wire.streaming === !streaming) {
      const use = streaming ? 'generate() for the whole text at once' : 'createGenerator() to stream';
      throw EngineError.invalidOptions(`\`${caller}\` got \`streaming: ${wire.streaming}\`; use ${use}.`);
    }
    return { ...wire, stream_id: wire.stream_id ?? `node-${++this.#streams}` };
  }
}

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

// runtime/info less what getInfo() reports apart (and more currently).
function runtimeFacts({ models: _models, versions: _versions, ...facts }: Camelize<RuntimeInfo>): EngineInfo['runtime'] {
  return facts;
}

export type { EngineEvents };
