// Starting one runtime process and shaking hands with it (runtime/info), so
// the supervisor only ever hands out sessions with a runtime that answers.
import { EngineError } from '../errors/engine-error.js';
import { RpcClient } from '../rpc/client.js';
import type { ClientHandlers } from '../rpc/client.js';
import { RuntimeProcess } from '../transport/process.js';
import type { ExitInfo } from '../transport/process.js';
import { spawnRuntime } from '../transport/spawn.js';
import type { LaunchSpec } from '../transport/spawn.js';
import { PROTOCOL_VERSION } from '../wire/generated.js';
import type { RuntimeInfo } from '../wire/generated.js';

export interface Session {
  readonly process: RuntimeProcess;
  readonly client: RpcClient;
  info: RuntimeInfo | undefined;
  readyAt: number | undefined;
}

export interface LaunchOptions {
  spec: LaunchSpec;
  startTimeoutMs: number;
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

// Spawns the runtime and waits for its runtime/info; throws RUNTIME_START_FAILED.
export async function launch(options: LaunchOptions, hooks: LaunchHooks): Promise<Session> {
  const child = spawnRuntime(options.spec);
  options.log?.(`started the runtime (pid ${child.pid}): ${child.spawnargs.join(' ')}`);
  let session: Session | undefined;
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
  session = { process: runtime, client: new RpcClient(runtime, hooks), info: undefined, readyAt: undefined };
  hooks.spawned(session);
  try {
    session.info = await session.client.request('runtime/info', {}, options.startTimeoutMs);
  } catch (error) {
    runtime.kill('SIGKILL');
    throw startFailure(session, error, options.startTimeoutMs);
  }
  checkProtocol(session.info);
  session.readyAt = Date.now();
  return session;
}

function startFailure(session: Session, error: unknown, startTimeoutMs: number): EngineError {
  const pid = session.process.pid;
  const stderr = session.process.stderrTail.slice(-STDERR_LINES_IN_ERRORS);
  const why = EngineError.is(error, 'TIMEOUT')
    ? `did not answer runtime/info within ${startTimeoutMs} ms (raise the \`startTimeoutMs\` option if it is only slow)`
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
  const how =
    exit.error !== undefined
      ? `could not run: ${exit.error.message}`
      : exit.signal !== null
        ? `was killed by ${exit.signal}${exit.signal === 'SIGKILL' ? ' (out of memory, or kill -9)' : ''}`
        : `exited with code ${exit.code}`;
  const next = restarting
    ? ' The engine restarts it and loads its models again; calls made from now on wait for it.'
    : '';
  const stderr = session.process.stderrTail.slice(-STDERR_LINES_IN_ERRORS);
  return new EngineError('RUNTIME_EXITED', `The runtime (pid ${pid}) ${how}.${next}${stderrNote(stderr)}`, {
    data: { pid, exitCode: exit.code, signal: exit.signal, stderr },
  });
}

function stderrNote(lines: readonly string[]): string {
  return lines.length === 0 ? '' : `\nLast lines of its stderr:\n  ${lines.join('\n  ')}`;
}
