// Starting one runtime process and shaking hands with it (runtime/info, and
// runtime/state for its preload), so the supervisor only ever hands out
// sessions with a runtime that answers.
import { EngineError } from '../errors/engine-error.js';
import { RpcClient } from '../rpc/client.js';
import type { ClientHandlers } from '../rpc/client.js';
import { RuntimeProcess } from '../transport/process.js';
import type { ExitInfo } from '../transport/process.js';
import { spawnRuntime } from '../transport/spawn.js';
import type { LaunchSpec } from '../transport/spawn.js';
import { PROTOCOL_VERSION } from '../wire/generated.js';
import type { RuntimeInfo } from '../wire/generated.js';
import { PreloadWatch } from './preload.js';

export interface Session {
  readonly process: RuntimeProcess;
  readonly client: RpcClient;
  /** The runtime's own preload (config model_preload), done or still running. */
  readonly preload: PreloadWatch;
  info: RuntimeInfo | undefined;
  readyAt: number | undefined;
}

export interface LaunchOptions {
  spec: LaunchSpec;
  /** How long the runtime may take to answer, and (with waitForPreload) to finish its preload. */
  startTimeoutMs: number;
  /** Hand out the session only once the runtime's preloaded models are warm. */
  waitForPreload: boolean;
  maxLineBytes: number;
  log: ((line: string) => void) | undefined;
}

export interface LaunchHooks extends ClientHandlers {
  /** The process exists: the supervisor tracks it from here on (to stop it, or see it die). */
  spawned(session: Session): void;
  stderr(line: string): void;
  exited(session: Session, info: ExitInfo): void;
}

const STDERR_LINES_IN_ERRORS = 12;

// The runtime died, or stalled, while it preloaded its models.
class PreloadFailure extends Error {}

// Spawns the runtime and waits for its runtime/info (and, with waitForPreload,
// for its preload); throws RUNTIME_START_FAILED.
export async function launch(options: LaunchOptions, hooks: LaunchHooks): Promise<Session> {
  const child = spawnRuntime(options.spec);
  options.log?.(`started the runtime (pid ${child.pid}): ${child.spawnargs.join(' ')}`);
  let session: Session | undefined;
  const preload = new PreloadWatch();
  // runtime/ready belongs to this runtime's start: the session's preload watch takes it.
  const handlers: ClientHandlers = {
    protocolError: (error) => hooks.protocolError(error),
    notification: (method, params) => {
      if (method === 'runtime/ready' && !preload.heard(params)) {
        hooks.protocolError(new EngineError('PROTOCOL_ERROR', 'the runtime wrote a malformed runtime/ready', { data: { params } }));
      }
      hooks.notification(method, params);
    },
  };
  const runtime = new RuntimeProcess(
    child,
    {
      line: (text) => session?.client.handleLine(text),
      oversized: (bytes) => session?.client.handleOversized(bytes),
      stderr: (line) => hooks.stderr(line),
      exit: (info) => session && hooks.exited(session, info),
    },
    { maxLineBytes: options.maxLineBytes, log: options.log },
  );
  session = { process: runtime, client: new RpcClient(runtime, handlers), preload, info: undefined, readyAt: undefined };
  hooks.spawned(session);
  try {
    await handshake(session, options);
  } catch (error) {
    runtime.kill('SIGKILL');
    throw startFailure(session, error, options.startTimeoutMs);
  }
  session.readyAt = Date.now();
  return session;
}

// runtime/info, then runtime/state: "starting" while the runtime preloads
// models, whose end the session waits for (with waitForPreload), all within startTimeoutMs.
async function handshake(session: Session, options: LaunchOptions): Promise<void> {
  const started = Date.now();
  const left = (): number => Math.max(1, options.startTimeoutMs - (Date.now() - started));
  session.info = await session.client.request('runtime/info', {}, options.startTimeoutMs);
  checkProtocol(session.info);
  session.preload.sawStatus((await session.client.request('runtime/state', {}, left())).status);
  if (options.waitForPreload && session.preload.done === undefined) await untilPreloaded(session, left(), options.startTimeoutMs);
}

// The preload's end, or a PreloadFailure when the runtime dies or stalls first.
function untilPreloaded(session: Session, timeoutMs: number, startTimeoutMs: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const failure = new Promise<never>((_resolve, reject) => {
    const stalled = `did not finish preloading its models (config model_preload) within ${startTimeoutMs} ms`;
    const fix = 'raise the `startTimeoutMs` option, or pass `waitForPreload: false`';
    timer = setTimeout(() => reject(new PreloadFailure(`${stalled} (${fix})`)), timeoutMs);
    void session.process.exited.then((exit) => reject(new PreloadFailure(`${describeExit(exit)} while it preloaded its models`)));
  });
  return Promise.race([session.preload.wait(), failure]).finally(() => clearTimeout(timer));
}

function startFailure(session: Session, error: unknown, startTimeoutMs: number): EngineError {
  if (EngineError.is(error, 'RUNTIME_START_FAILED')) return error; // the bridge's own verdict (checkProtocol)
  const pid = session.process.pid;
  const stderr = session.process.stderrTail.slice(-STDERR_LINES_IN_ERRORS);
  const why =
    error instanceof PreloadFailure
      ? error.message
      : EngineError.is(error, 'TIMEOUT')
        ? `did not answer ${String(error.data['method'])} within ${startTimeoutMs} ms (raise the \`startTimeoutMs\` option if it is only slow)`
        : `failed during start-up: ${(error as Error).message}`;
  return new EngineError('RUNTIME_START_FAILED', `The runtime (pid ${pid}) ${why}${stderrNote(stderr)}`, {
    data: { pid, stderr },
    cause: error,
  });
}

function checkProtocol(info: RuntimeInfo): void {
  const major = (version: string): string => version.split('.')[0] ?? version;
  if (major(info.protocol_version) !== major(PROTOCOL_VERSION)) {
    throw new EngineError(
      'RUNTIME_START_FAILED',
      `The runtime speaks protocol ${info.protocol_version}, this bridge ${PROTOCOL_VERSION}: ` +
        'install matching versions (the npm package ships its own runtime).',
      { data: { runtimeProtocol: info.protocol_version, bridgeProtocol: PROTOCOL_VERSION } },
    );
  }
}

// The error every call and stream in flight gets when the runtime dies.
export function exitError(session: Session, exit: ExitInfo, restarting: boolean): EngineError {
  const pid = session.process.pid;
  const how = describeExit(exit);
  const next = restarting
    ? ' The engine restarts it and loads its models again; calls made from now on wait for it.'
    : '';
  const stderr = session.process.stderrTail.slice(-STDERR_LINES_IN_ERRORS);
  return new EngineError('RUNTIME_EXITED', `The runtime (pid ${pid}) ${how}.${next}${stderrNote(stderr)}`, {
    data: { pid, exitCode: exit.code, signal: exit.signal, stderr },
  });
}

function describeExit(exit: ExitInfo): string {
  if (exit.error !== undefined) return `could not run: ${exit.error.message}`;
  if (exit.signal !== null) return `was killed by ${exit.signal}${exit.signal === 'SIGKILL' ? ' (out of memory, or kill -9)' : ''}`;
  return `exited with code ${exit.code}`;
}

function stderrNote(lines: readonly string[]): string {
  return lines.length === 0 ? '' : `\nLast lines of its stderr:\n  ${lines.join('\n  ')}`;
}
