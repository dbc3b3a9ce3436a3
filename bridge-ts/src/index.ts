// mlx-serving for Node: start the Python runtime, talk to it with types.
//
//   const engine = await createEngine();
//   await engine.loadModel({ model: 'models/demo', modelId: 'demo' });
//   for await (const chunk of engine.createGenerator({ model: 'demo', prompt: 'Hi', maxTokens: 40 })) { ... }
//   await engine.dispose();
import { CamelEngine } from './engine/engine.js';
import { httpLaunch, resolveOptions } from './engine/options.js';
import type { CreateEngineOptions } from './engine/options.js';
import { addSnakeCaseTwins } from './engine/twins.js';
import type { SnakeCaseTwins } from './engine/twins.js';
import { warnOnce } from './engine/warnings.js';
import { EngineError } from './errors/engine-error.js';
import { Supervisor } from './supervisor/supervisor.js';
import type { EventName, Listener } from './supervisor/events.js';

addSnakeCaseTwins(CamelEngine.prototype);

/** The engine: every method in camelCase and as its snake_case twin (load_model, create_generator, ...). */
export type Engine = CamelEngine & SnakeCaseTwins<CamelEngine>;
/** The engine class (`engine instanceof Engine`); make one with createEngine(). */
export const Engine = CamelEngine;
/** The original mlx-serving's name for EngineError. */
export const EngineClientError = EngineError;
export type EngineClientError = EngineError;

const MAX_LINE_BYTES = 256 * 1024 * 1024;

/**
 * Starts the runtime and resolves once it can serve: it answers, and the models its config preloads are warm (unless
 * `waitForPreload: false`); rejects with RUNTIME_START_FAILED or INVALID_OPTIONS.
 */
export async function createEngine(options: CreateEngineOptions = {}): Promise<Engine> {
  const resolved = resolveOptions(options);
  warnOnce(resolved.warnings);
  const log = resolved.verbose ? (line: string) => process.stderr.write(`[mlx-serving] ${line}\n`) : undefined;
  const http = httpLaunch(resolved.http);
  const supervisor = new Supervisor({
    spec: {
      pythonPath: resolved.pythonPath,
      runtimePath: resolved.runtimePath,
      configPath: resolved.configPath,
      flagsPath: resolved.flagsPath,
      args: http.args,
      env: { ...http.env, ...resolved.env },
      cwd: resolved.cwd,
    },
    startTimeoutMs: resolved.startTimeoutMs,
    waitForPreload: resolved.waitForPreload,
    maxLineBytes: MAX_LINE_BYTES,
    log,
    restart: resolved.restart,
    forceKillAfterMs: resolved.forceKillAfterMs,
  });
  // Before the start, so that they see its 'ready' and its stderr too.
  for (const [event, listener] of Object.entries(resolved.on)) supervisor.events.on(event as EventName, listener as Listener<EventName>);
  await supervisor.start();
  const engine = new CamelEngine(supervisor, resolved);
  await engine.start();
  return engine as Engine;
}

/** Runs `fn` with a fresh engine and disposes of it afterwards, also when `fn` throws. */
export async function withEngine<T>(fn: (engine: Engine) => Promise<T> | T, options: CreateEngineOptions = {}): Promise<T> {
  const engine = await createEngine(options);
  try {
    return await fn(engine);
  } finally {
    await engine.dispose();
  }
}

/** snake_case twins of the entry points. */
export const create_engine = createEngine;
export const with_engine = withEngine;

export type {
  CacheStats,
  Distribution,
  DraftParams,
  EngineInfo,
  GenerateOutput,
  GenerateParams,
  GeneratorOptions,
  HealthStatus,
  ImageInput,
  JsonGenerateParams,
  LoadOptions,
  LoadProgress,
  LoadedModel,
  Metrics,
  ModelMetrics,
  PrefillProgress,
  PreloadStats,
  RuntimeDetails,
  VisionGenerateParams,
} from './engine/engine.js';
export { GenerateCall } from './engine/call.js';
export type { TextChunk } from './engine/call.js';
export type { BatchQueueStats, QosConfigView, QosPolicy, QosStats } from './engine/figures.js';
export type { ModelDescriptor, ModelHandle } from './engine/handles.js';
export { FeatureFlagLoader } from './compat/feature-flags.js';
export type { EmergencyConfig, FeatureConfig, FlagDecisionStats } from './compat/feature-flags.js';
export { ObjectPool } from './compat/object-pool.js';
export type { ObjectPoolOptions, ObjectPoolStats } from './compat/object-pool.js';
export {
  batchTokenize,
  collectChunks,
  ensureModelLoaded,
  generateText,
  generateTextStreaming,
  getTotalTokenCount,
  isEngineHealthy,
} from './compat/helpers.js';
export type { JsonOutput } from './engine/json.js';
export type { CallOptions, CreateEngineOptions, EngineOptions, HttpOptions, StreamCallOptions } from './engine/options.js';
export { BRIDGE_ERROR_CODES, EngineError } from './errors/engine-error.js';
export type { BridgeErrorCode, EngineErrorCode, RuntimeErrorCode } from './errors/engine-error.js';
export type { ErrorChunk, FinishReason, GeneratorChunk, GuidanceResult, MetadataChunk, Stats, StatsChunk, TokenChunk, TopLogprobChunk, Variant } from './generator/chunks.js';
export type { TokenGenerator } from './generator/generator.js';
export type {
  CanaryEvent,
  EngineEvents,
  EngineListeners,
  ErrorEvent,
  ExitEvent,
  GenerationCompletedEvent,
  GenerationStartedEvent,
  ModelInvalidatedEvent,
  ModelLoadedEvent,
  ModelUnloadedEvent,
  RuntimeStatusEvent,
  TokenGeneratedEvent,
  PreloadedModelInfo,
  QosEvent,
  ReadyEvent,
  RestartEvent,
} from './supervisor/events.js';
export type { RestartPolicy } from './supervisor/policy.js';
export type { EngineStatus } from './supervisor/supervisor.js';
export type { Camelize } from './wire/names.js';
export type { Method, Params, Result, WireParams, WireResult } from './wire/params.js';
export { PROTOCOL_VERSION, RUNTIME_ERROR_CODES } from './wire/generated.js';
export type * as wire from './wire/generated.js';
