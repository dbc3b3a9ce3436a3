// createEngine's options: their defaults, and checks that name what was
// expected and what was received.
import { describeValue } from '../errors/describe.js';
import { EngineError } from '../errors/engine-error.js';
import { EVENT_NAMES } from '../supervisor/events.js';
import type { EngineListeners } from '../supervisor/events.js';
import { DEFAULT_RESTART_POLICY, NO_RESTARTS } from '../supervisor/policy.js';
import type { RestartPolicy } from '../supervisor/policy.js';
import { defaultPythonPath, defaultRuntimePath } from '../transport/spawn.js';
import { foldNames, objectArgument } from '../wire/fold.js';
import { camelCase } from '../wire/names.js';
import type { SnakeCase } from '../wire/names.js';

export interface EngineOptions {
  /** Python that runs the runtime. Default: $MLX_SERVING_PYTHON, else the package's .venv. */
  pythonPath?: string;
  /** The runtime script. Default: the package's python/runtime.py. */
  runtimePath?: string;
  /** A runtime.yaml to start with (`--config`). Default: $MLX_SERVING_CONFIG, else config/runtime.yaml. */
  configPath?: string;
  /** A feature-flags.yaml to start with (`--flags`). Default: $MLX_SERVING_FLAGS, else config/feature-flags.yaml. */
  flagsPath?: string;
  /** Working directory of the runtime: relative model paths resolve against it. Default: process.cwd(). */
  cwd?: string;
  /** Extra environment variables for the runtime. */
  env?: Record<string, string>;
  /** Log every wire message and the runtime's stderr to this process's stderr. */
  verbose?: boolean;
  /** Default time limit of each call, in ms (a call's own `timeoutMs` wins); 0 = none. Default: 0. */
  requestTimeoutMs?: number;
  /** How long the runtime may take to start: to answer, and (waitForPreload) to preload its models. Default: 120000. */
  startTimeoutMs?: number;
  /**
   * With a runtime config that preloads models (`model_preload`): true (default) makes createEngine() (and a restart)
   * wait until they are loaded and warm; false hands the engine out at once (requests for those models then wait in the
   * runtime) and emits 'ready' when the preload is done.
   */
  waitForPreload?: boolean;
  /** dispose(): how long to wait for the runtime to exit before SIGTERM, then before SIGKILL. Default: 5000. */
  forceKillAfterMs?: number;
  /** Restart a runtime that died: true (default policy), false, or a policy. */
  restart?: boolean | Partial<RestartPolicy>;
  /** Tokens a generator buffers for a slow consumer before its stream is paused on the runtime. Default: 1024. */
  highWaterMark?: number;
  /**
   * Listeners attached before the runtime starts, by event name (`{ ready, exit, stderr, ... }`): unlike
   * engine.on(), they see the first start too (its 'ready', its stderr lines).
   */
  on?: EngineListeners;
  /** The original's options that have no effect here; each is accepted with a warning (see INERT_OPTIONS). */
  cacheDir?: string;
  cache?: Record<string, unknown>;
  telemetry?: { enabled: boolean; hooks?: Record<string, unknown> };
  /**
   * Also serve the OpenAI- and Anthropic-compatible HTTP API from the same runtime (`--http HOST:PORT`), beside this
   * engine's own connection: `{ host?: '127.0.0.1', port, apiKey? }` (with apiKey, HTTP requests must send it).
   */
  http?: HttpOptions;
}

export interface HttpOptions {
  /** Default: 127.0.0.1. */
  host?: string;
  port: number;
  /** HTTP clients must send it (`Authorization: Bearer KEY` or `x-api-key`); handed over as $MLX_SERVING_API_KEY. */
  apiKey?: string;
}

// What happens instead of each original option that has no effect here.
const INERT_OPTIONS: Record<string, string> = {
  cacheDir: '`cacheDir` has no effect: models load from the folders you name (no hub cache at run time)',
  cache: '`cache` has no effect: there is no model artifact cache; the runtime keeps loaded models and a prompt (KV) cache (config prompt_cache)',
  telemetry: '`telemetry` has no effect: use getMetrics() / getPrometheusMetrics() and the engine events (generation:completed, ...)',
};

/** Options with their snake_case twins (`python_path`, `request_timeout_ms`, ...) accepted too. */
export type CreateEngineOptions = EngineOptions & { [K in keyof EngineOptions as SnakeCase<K>]?: EngineOptions[K] };

export interface ResolvedOptions {
  pythonPath: string;
  runtimePath: string;
  configPath: string | undefined;
  flagsPath: string | undefined;
  cwd: string;
  env: Record<string, string>;
  verbose: boolean;
  requestTimeoutMs: number;
  startTimeoutMs: number;
  waitForPreload: boolean;
  forceKillAfterMs: number;
  restart: RestartPolicy;
  highWaterMark: number;
  on: EngineListeners;
  http: { host: string; port: number; apiKey: string | undefined } | undefined;
  /** The inert options given, each with what happens instead. */
  warnings: string[];
}

type Check<T> = (value: unknown, name: string) => T;

const text: Check<string> = (value, name) =>
  typeof value === 'string' && value !== '' ? value : invalid(name, 'a non-empty string', value);

const flag: Check<boolean> = (value, name) => (typeof value === 'boolean' ? value : invalid(name, 'a boolean', value));

const count: Check<number> = (value, name) =>
  Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : invalid(name, 'a non-negative integer', value);

const positive: Check<number> = (value, name) =>
  Number.isSafeInteger(value) && (value as number) > 0 ? (value as number) : invalid(name, 'a positive integer', value);

const strings: Check<Record<string, string>> = (value, name) => {
  const ok = value !== null && typeof value === 'object' && Object.values(value).every((item) => typeof item === 'string');
  return ok ? (value as Record<string, string>) : invalid(name, 'an object of strings', value);
};

const OPTION_CHECKS: { [K in Exclude<keyof ResolvedOptions, 'warnings'>]: Check<ResolvedOptions[K]> } = {
  pythonPath: text,
  runtimePath: text,
  configPath: text,
  flagsPath: text,
  cwd: text,
  env: strings,
  verbose: flag,
  requestTimeoutMs: count,
  startTimeoutMs: positive,
  waitForPreload: flag,
  forceKillAfterMs: count,
  restart: restartPolicy,
  highWaterMark: positive,
  on: listeners,
  http: httpServer,
};

// Validates createEngine's options and fills in the defaults.
export function resolveOptions(options: unknown): ResolvedOptions {
  const folded = foldNames(objectArgument(options, 'the options of `createEngine`'), camelCase, 'createEngine');
  const given = checkKnown(folded, { ...OPTION_CHECKS, ...INERT_OPTIONS }, 'option');
  const pick = <K extends keyof typeof OPTION_CHECKS>(name: K, fallback: ResolvedOptions[K]): ResolvedOptions[K] =>
    given[name] === undefined ? fallback : OPTION_CHECKS[name](given[name], name);
  return {
    pythonPath: pick('pythonPath', process.env['MLX_SERVING_PYTHON'] || defaultPythonPath()),
    runtimePath: pick('runtimePath', defaultRuntimePath()),
    configPath: pick('configPath', undefined),
    flagsPath: pick('flagsPath', undefined),
    cwd: pick('cwd', process.cwd()),
    env: pick('env', {}),
    verbose: pick('verbose', false),
    requestTimeoutMs: pick('requestTimeoutMs', 0),
    startTimeoutMs: pick('startTimeoutMs', 120_000),
    waitForPreload: pick('waitForPreload', true),
    forceKillAfterMs: pick('forceKillAfterMs', 5_000),
    restart: pick('restart', DEFAULT_RESTART_POLICY),
    highWaterMark: pick('highWaterMark', 1024),
    on: pick('on', {}),
    http: pick('http', undefined),
    warnings: Object.entries(INERT_OPTIONS).flatMap(([name, warning]) => (given[name] === undefined ? [] : [warning])),
  };
}

function httpServer(value: unknown, name: string): ResolvedOptions['http'] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return invalid(name, 'an object { host?, port, apiKey? }', value);
  const given = checkKnown(foldNames(value, camelCase, 'the `http` option'), { host: 0, port: 0, apiKey: 0 }, 'http field');
  const port = given['port'];
  if (!Number.isSafeInteger(port) || (port as number) < 0 || (port as number) > 65535) invalid('http.port', 'an integer from 0 to 65535', port);
  return {
    host: given['host'] === undefined ? '127.0.0.1' : text(given['host'], 'http.host'),
    port: port as number,
    apiKey: given['apiKey'] === undefined ? undefined : text(given['apiKey'], 'http.apiKey'),
  };
}

/** The runtime's arguments and environment for `http`. */
export function httpLaunch(http: ResolvedOptions['http']): { args: string[]; env: Record<string, string> } {
  if (http === undefined) return { args: [], env: {} };
  const host = http.host.includes(':') ? `[${http.host}]` : http.host;
  return { args: ['--http', `${host}:${http.port}`], env: http.apiKey === undefined ? {} : { MLX_SERVING_API_KEY: http.apiKey } };
}

function listeners(value: unknown, name: string): EngineListeners {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return invalid(name, 'an object of listeners by event name', value);
  checkKnown(value as Record<string, unknown>, Object.fromEntries(EVENT_NAMES.map((event) => [event, 0])), 'event');
  for (const [event, listener] of Object.entries(value)) {
    if (typeof listener !== 'function') invalid(`${name}.${event}`, 'a function', listener);
  }
  return value as EngineListeners;
}

function restartPolicy(value: unknown, name: string): RestartPolicy {
  if (value === true) return DEFAULT_RESTART_POLICY;
  if (value === false) return NO_RESTARTS;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return invalid(name, 'a boolean or a restart policy object', value);
  }
  const given = checkKnown(foldNames(value, camelCase, 'the `restart` option'), DEFAULT_RESTART_POLICY, 'restart policy field');
  const field = (key: keyof RestartPolicy, check: Check<number>): number =>
    given[key] === undefined ? DEFAULT_RESTART_POLICY[key] : check(given[key], `restart.${key}`);
  const factor = given['factor'] ?? DEFAULT_RESTART_POLICY.factor;
  if (typeof factor !== 'number' || !(factor >= 1)) invalid('restart.factor', 'a number >= 1', factor);
  const policy = {
    maxRestarts: field('maxRestarts', count),
    initialDelayMs: field('initialDelayMs', count),
    factor: factor as number,
    maxDelayMs: field('maxDelayMs', count),
    resetAfterMs: field('resetAfterMs', count),
  };
  if (policy.maxDelayMs < policy.initialDelayMs) {
    invalid('restart.maxDelayMs', `at least restart.initialDelayMs (${policy.initialDelayMs})`, policy.maxDelayMs);
  }
  return policy;
}

function checkKnown(given: Record<string, unknown>, known: object, what: string): Record<string, unknown> {
  const unknown = Object.keys(given).filter((name) => !(name in known));
  if (unknown.length > 0) {
    const names = unknown.map((name) => `\`${name}\``).join(', ');
    const expected = Object.keys(known).map((name) => `\`${name}\``).join(', ');
    throw EngineError.invalidOptions(`Unknown ${what}${unknown.length > 1 ? 's' : ''} ${names}; expected one of ${expected}.`);
  }
  return given;
}

function invalid(name: string, expected: string, value: unknown): never {
  throw EngineError.invalidOptions(`Expected the \`${name}\` option to be ${expected}, got ${describeValue(value)}.`);
}

export interface CallOptions {
  /** Time limit of this call in ms (0 = none); default: the engine's `requestTimeoutMs`. */
  timeoutMs?: number;
  timeout_ms?: number;
}

export interface StreamCallOptions extends CallOptions {
  /** Aborting cancels the generation on the runtime. */
  signal?: AbortSignal;
  /** createGenerator(): yield a `{ type: 'stats', ...stats }` chunk just before the metadata chunk (the original's shape). */
  statsChunk?: boolean;
  stats_chunk?: boolean;
}

export interface ResolvedCallOptions {
  timeoutMs: number | undefined;
  signal: AbortSignal | undefined;
  statsChunk: boolean;
}

// Checks a call's options; the engine's default fills in the time limit.
export function resolveCallOptions(options: unknown, caller: string, defaultTimeoutMs: number): ResolvedCallOptions {
  const given = checkKnown(foldNames(objectArgument(options, `the options of \`${caller}\``), camelCase, caller), { timeoutMs: 0, signal: 0, statsChunk: 0 }, 'call option');
  const timeoutMs = given['timeoutMs'] === undefined ? defaultTimeoutMs : count(given['timeoutMs'], 'timeoutMs');
  const signal = given['signal'];
  if (signal !== undefined && !(signal instanceof AbortSignal)) invalid('signal', 'an AbortSignal', signal);
  const statsChunk = given['statsChunk'] === undefined ? false : flag(given['statsChunk'], 'statsChunk');
  return { timeoutMs: timeoutMs > 0 ? timeoutMs : undefined, signal: signal as AbortSignal | undefined, statsChunk };
}

// What is left of a call's time limit once it waited for a runtime.
export function remaining(timeoutMs: number | undefined, started: number): number | undefined {
  return timeoutMs === undefined ? undefined : Math.max(1, timeoutMs - (Date.now() - started));
}
