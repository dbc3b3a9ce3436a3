// The public API: one engine per runtime process (kept alive by the
// supervisor). Each method folds its params onto the wire's names, waits for
// a ready runtime, makes the call and hands back the result in camelCase.
// Every public method also answers to its snake_case twin (see twins.ts).
import { EngineError } from '../errors/engine-error.js';
import { TokenGenerator } from '../generator/generator.js';
import { abortedBeforeStart, cancelOnRuntime } from '../generator/cancel.js';
import { FlowControl } from '../generator/flow.js';
import type { Session } from '../supervisor/launch.js';
import type { EngineEvents, EventName, Listener } from '../supervisor/events.js';
import type { EngineStatus, Supervisor } from '../supervisor/supervisor.js';
import type { GenerateResult, RuntimeInfo } from '../wire/generated.js';
import { camelizeKeys } from '../wire/names.js';
import type { Camelize } from '../wire/names.js';
import { toWireParams } from '../wire/params.js';
import type { Method, Params, Result, WireParams, WireResult } from '../wire/params.js';
import { remaining, resolveCallOptions } from './options.js';
import type { CallOptions, ResolvedOptions, StreamCallOptions } from './options.js';

/** generate() and createGenerator() params: every param of the wire's `generate`, in either spelling. */
export type GenerateParams = Params<'generate'>;
/** What generate() resolves to: `{ text, finishReason, stats, streamId }`. */
export type GenerateOutput = Camelize<GenerateResult>;

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
  /** Ids of the models loaded through this engine (reloaded after a restart). */
  models: string[];
  /** Generators still streaming. */
  openStreams: number;
  /** Calls waiting for their answer. */
  pendingRequests: number;
  /** Backpressure: whether reading is paused now, and how often it was (this runtime). */
  flow: { paused: boolean; pauses: number };
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

  /** Loads a model (a local folder, or a hub id where a network exists); it is loaded again after a restart. */
  loadModel(model: string | Params<'model/load'>, options?: CallOptions): Promise<Result<'model/load'>> {
    return this.#load('model/load', typeof model === 'string' ? { model } : model, options, 'loadModel', (loaded) => loaded.model_id);
  }

  /** Unloads a model; its streams end with a MODEL_UNLOADED error chunk. */
  unloadModel(model: string | Params<'model/unload'>, options?: CallOptions): Promise<Result<'model/unload'>> {
    return this.#unload('model/unload', typeof model === 'string' ? { model } : model, options, 'unloadModel', (gone) => gone.model_id);
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

  /** Streams a generation: `for await (const chunk of engine.createGenerator({...}))`; breaking out cancels it. */
  createGenerator(params: GenerateParams, options?: StreamCallOptions): TokenGenerator {
    const wire = this.#generateParams(params, true, 'createGenerator');
    const { timeoutMs, signal } = resolveCallOptions(options, 'createGenerator', this.#options.requestTimeoutMs);
    const host = { session: this.#session, flow: this.#flow, finished: (done: TokenGenerator) => this.#open.delete(done) };
    const generator = new TokenGenerator(host, { params: { ...wire, streaming: true }, timeoutMs, signal });
    this.#open.add(generator);
    return generator;
  }

  /**
   * Generates the whole text in one call (`streaming: false` on the wire: the path for structured output).
   * An abort cancels it on the runtime, which answers with the text so far and finishReason 'cancelled'.
   */
  async generate(params: GenerateParams, options?: StreamCallOptions): Promise<GenerateOutput> {
    const wire = this.#generateParams(params, false, 'generate');
    const { timeoutMs, signal } = resolveCallOptions(options, 'generate', this.#options.requestTimeoutMs);
    const started = Date.now();
    if (signal?.aborted) throw abortedBeforeStart('generate()', signal);
    const now = this.#session(timeoutMs);
    const session = now instanceof Promise ? await now : now;
    if (signal?.aborted) throw abortedBeforeStart('generate()', signal);
    const cancel = (): void => void cancelOnRuntime(session, wire.stream_id, timeoutMs);
    signal?.addEventListener('abort', cancel);
    try {
      const result = await session.client.request('generate', { ...wire, streaming: false }, remaining(timeoutMs, started));
      return camelizeKeys(result as GenerateResult);
    } catch (error) {
      if (EngineError.is(error, 'TIMEOUT')) cancel(); // no one waits for it any more
      throw error;
    } finally {
      signal?.removeEventListener('abort', cancel);
    }
  }

  /** Any wire method by name, with params in either spelling; the result in camelCase. */
  async request<M extends Method>(method: M, params?: Params<M>, options?: CallOptions): Promise<Result<M>> {
    const instead = DEDICATED_METHODS[method];
    if (instead !== undefined) {
      throw EngineError.invalidOptions(`Call ${instead} instead of request('${method}'): it keeps the engine's state right.`);
    }
    return this.#camel(method, params, options, method);
  }

  /** The engine's state now, without a call to the runtime. */
  getInfo(): EngineInfo {
    const info = this.#supervisor.info;
    const session = this.#supervisor.status === 'ready' ? this.#supervisor.session : undefined;
    return {
      status: this.#supervisor.status,
      pid: session?.process.pid,
      restarts: this.#supervisor.restarts,
      runtime: info === undefined ? undefined : runtimeFacts(camelizeKeys(info)),
      versions: { ...info?.versions },
      models: this.#supervisor.models.keys,
      openStreams: this.#open.size,
      pendingRequests: session?.client.pendingCount ?? 0,
      flow: session?.client.flow ?? { paused: false, pauses: 0 },
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

  // A load the runtime must be given again after a restart: remembered under
  // the key its result names (a model id), with the params as sent.
  async #load<M extends Method>(
    method: M, params: unknown, options: unknown, caller: string, keyOf: (result: WireResult<M>) => string,
  ): Promise<Result<M>> {
    const wire = toWireParams(method, params, caller);
    const result = await this.#call(method, wire, options, caller);
    this.#supervisor.models.remember(keyOf(result), method, wire);
    return camelizeKeys(result);
  }

  // The undoing of a #load: no longer replayed after a restart.
  async #unload<M extends Method>(
    method: M, params: unknown, options: unknown, caller: string, keyOf: (result: WireResult<M>) => string,
  ): Promise<Result<M>> {
    const result = await this.#call(method, toWireParams(method, params, caller), options, caller);
    this.#supervisor.models.forget(keyOf(result));
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
  generate: 'generate() or createGenerator()',
  'runtime/shutdown': 'shutdown()',
};

// runtime/info less what getInfo() reports apart (and more currently).
function runtimeFacts({ models: _models, versions: _versions, ...facts }: Camelize<RuntimeInfo>): EngineInfo['runtime'] {
  return facts;
}

export type { EngineEvents };
