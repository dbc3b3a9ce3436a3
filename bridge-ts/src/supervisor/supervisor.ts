// Keeps one runtime alive: starts it, hands out its session to callers,
// restarts it with exponential backoff when it dies (failing whatever was in
// flight with RUNTIME_EXITED first), reloads its models, and stops it.
import { EngineError } from '../errors/engine-error.js';
import type { RuntimeInfo } from '../wire/generated.js';
import { EngineEmitter } from './events.js';
import { exitError, launch } from './launch.js';
import type { LaunchHooks, LaunchOptions, Session } from './launch.js';
import { emitNotice } from './notices.js';
import { backoffDelay } from './policy.js';
import type { RestartPolicy } from './policy.js';
import type { Preload } from './preload.js';
import { ReplayLog } from './replay.js';
import { stopSession } from './stop.js';
import type { ExitInfo } from '../transport/process.js';

export type EngineStatus = 'starting' | 'ready' | 'restarting' | 'stopping' | 'stopped' | 'failed';

export interface SupervisorOptions extends LaunchOptions {
  restart: RestartPolicy;
  forceKillAfterMs: number;
}

export class Supervisor {
  readonly events = new EngineEmitter();
  /** Models (text, vision) and drafts to load again after a restart. */
  readonly models = new ReplayLog();
  readonly #options: SupervisorOptions;
  readonly #hooks: LaunchHooks;
  #status: EngineStatus = 'starting';
  #session: Session | undefined;
  #ready = new Gate<Session>();
  #info: RuntimeInfo | undefined;
  #attempt = 0;
  #restarts = 0;
  #restartTimer: NodeJS.Timeout | undefined;
  #failure: EngineError | undefined;
  #stopping: Promise<void> | undefined;
  #backpressure = false;

  constructor(options: SupervisorOptions) {
    this.#options = options;
    this.#hooks = {
      spawned: (session) => {
        this.#session = session;
        session.client.setBackpressure(this.#backpressure);
      },
      exited: (session, info) => this.#onExit(session, info),
      stderr: (line) => this.events.emit('stderr', line),
      protocolError: (error) => this.#protocolError(error),
      notification: (method, params) => {
        this.events.emit('notification', method, params);
        const malformed = emitNotice(this.events, method, params);
        if (malformed !== undefined) this.#protocolError(new EngineError('PROTOCOL_ERROR', malformed, { data: { method, params } }));
      },
    };
  }

  // Never silent: without a listener, a protocol error becomes a process warning.
  #protocolError(error: EngineError): void {
    if (!this.events.emit('protocolError', error)) process.emitWarning(error.message, { code: 'MLX_SERVING_PROTOCOL_ERROR' });
  }

  get status(): EngineStatus {
    return this.#status;
  }

  get restarts(): number {
    return this.#restarts;
  }

  /** The runtime now serving (or being started), if any. */
  get session(): Session | undefined {
    return this.#session;
  }

  /** runtime/info of the latest runtime that came up. */
  get info(): RuntimeInfo | undefined {
    return this.#info;
  }

  // The first start; throws RUNTIME_START_FAILED (no restarts for a runtime that never came up).
  async start(): Promise<void> {
    this.#becomeReady(await launch(this.#options, this.#hooks));
  }

  /** The session of a ready runtime, now; calls use it synchronously, so they reach the wire in call order. */
  get readySession(): Session | undefined {
    return this.#status === 'ready' ? this.#session : undefined;
  }

  // The session to send a call on: after a restart in progress, or an
  // error when the engine gave up or was disposed.
  connect(timeoutMs?: number): Promise<Session> {
    const ready = this.readySession;
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.#status === 'failed' && this.#failure !== undefined) return Promise.reject(this.#failure);
    if (this.#status === 'stopping' || this.#status === 'stopped') return Promise.reject(disposedError());
    return this.#ready.wait(timeoutMs);
  }

  // Generators ask the current runtime's reader to pause while consumers are behind.
  setBackpressure(wantsPause: boolean): void {
    this.#backpressure = wantsPause;
    this.#session?.client.setBackpressure(wantsPause);
  }

  // Stops for good (dispose/shutdown); idempotent.
  stop(drain: boolean, graceMs: number): Promise<void> {
    this.#stopping ??= this.#stop(drain, graceMs);
    return this.#stopping;
  }

  async #stop(drain: boolean, graceMs: number): Promise<void> {
    this.#status = 'stopping';
    clearTimeout(this.#restartTimer);
    const disposed = disposedError();
    this.#ready.fail(disposed);
    const session = this.#session;
    if (session !== undefined) {
      await stopSession(session, { drain, graceMs, forceKillAfterMs: this.#options.forceKillAfterMs });
      session.client.close(disposed);
    }
    this.#session = undefined;
    this.#status = 'stopped';
  }

  // Hands the session out; 'ready' is emitted once its preload is done too
  // (at once, unless the engine was told not to wait for the preload).
  #becomeReady(session: Session): void {
    this.#status = 'ready';
    this.#info = session.info;
    this.#ready.open(session);
    const done = session.preload.done;
    if (done !== undefined) this.#announce(session, done);
    else void session.preload.wait().then((preload) => this.readySession === session && this.#announce(session, preload));
  }

  #announce(session: Session, preload: Preload): void {
    this.events.emit('ready', {
      pid: session.process.pid ?? -1,
      version: session.info?.version ?? '',
      protocolVersion: session.info?.protocol_version ?? '',
      restarts: this.#restarts,
      preloaded: preload.models,
      preloadMs: preload.ms,
    });
  }

  #onExit(session: Session, exit: ExitInfo): void {
    if (this.#session === session) this.#session = undefined;
    const expected = this.#status === 'stopping' || this.#status === 'stopped';
    const wasReady = this.#status === 'ready';
    const ranMs = session.readyAt === undefined ? 0 : Date.now() - session.readyAt;
    const restartIn = wasReady ? this.#planRestart(ranMs) : undefined;
    const error = expected ? undefined : exitError(session, exit, restartIn !== undefined);
    session.client.close(error ?? disposedError());
    this.#options.log?.(`the runtime (pid ${session.process.pid}) exited: code ${exit.code}, signal ${exit.signal}`);
    this.events.emit('exit', { pid: session.process.pid, code: exit.code, signal: exit.signal, expected, error });
    // Start-up and restart launches see their own failures; stop() sees its exits.
    if (!wasReady || error === undefined) return;
    if (restartIn === undefined) this.#giveUp(error);
    else this.#scheduleRestart(restartIn);
  }

  // Counts one more restart in a row (a runtime that stayed up long enough
  // clears the count); the backoff delay, or undefined past the limit.
  #planRestart(ranMs: number): number | undefined {
    const policy = this.#options.restart;
    if (ranMs >= policy.resetAfterMs) this.#attempt = 0;
    this.#attempt += 1;
    return this.#attempt <= policy.maxRestarts ? backoffDelay(policy, this.#attempt) : undefined;
  }

  #scheduleRestart(delayMs: number): void {
    this.#status = 'restarting';
    this.#ready.close();
    this.#options.log?.(`restarting the runtime in ${delayMs} ms (restart ${this.#attempt} in a row)`);
    this.#restartTimer = setTimeout(() => void this.#restart(), delayMs);
  }

  async #restart(): Promise<void> {
    try {
      const session = await launch(this.#options, this.#hooks);
      const outcome = await this.models.replayInto(session.client);
      if (this.#status !== 'restarting') return;
      this.#restarts += 1;
      this.#becomeReady(session);
      this.events.emit('restart', {
        pid: session.process.pid ?? -1,
        restarts: this.#restarts,
        attempt: this.#attempt,
        ...outcome,
      });
    } catch (error) {
      if (this.#status !== 'restarting') return;
      this.#session?.process.kill('SIGKILL');
      const delayMs = this.#planRestart(0);
      if (delayMs === undefined) this.#giveUp(error as EngineError);
      else this.#scheduleRestart(delayMs);
    }
  }

  #giveUp(cause: EngineError): void {
    const { maxRestarts } = this.#options.restart;
    const why =
      maxRestarts === 0
        ? 'The runtime died and restarts are off (the `restart` option).'
        : `The runtime died ${maxRestarts + 1} times in a row; the engine gave up restarting it.`;
    this.#failure = new EngineError(
      'RUNTIME_EXITED',
      `${why} Fix the cause (see below and the 'stderr' events), then create a new engine.\n${cause.message}`,
      { data: cause.data, cause },
    );
    this.#status = 'failed';
    this.#ready.fail(this.#failure);
  }
}

function disposedError(): EngineError {
  return new EngineError('ENGINE_DISPOSED', 'The engine was disposed; create a new one with createEngine().');
}

// Callers of connect() wait here while no runtime is ready.
class Gate<T> {
  #value: T | undefined;
  #error: EngineError | undefined;
  #waiters: { resolve(value: T): void; reject(error: EngineError): void }[] = [];

  open(value: T): void {
    this.#value = value;
    this.#error = undefined;
    for (const waiter of this.#waiters.splice(0)) waiter.resolve(value);
  }

  close(): void {
    this.#value = undefined;
  }

  fail(error: EngineError): void {
    this.#value = undefined;
    this.#error = error;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
  }

  wait(timeoutMs: number | undefined): Promise<T> {
    if (this.#value !== undefined) return Promise.resolve(this.#value);
    if (this.#error !== undefined) return Promise.reject(this.#error);
    return new Promise<T>((resolve, reject) => {
      const waiter = { resolve, reject };
      this.#waiters.push(waiter);
      if (timeoutMs === undefined || timeoutMs <= 0) return;
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((other) => other !== waiter);
        reject(new EngineError('TIMEOUT', `No runtime came up within ${timeoutMs} ms (it is restarting).`, { data: { timeoutMs } }));
      }, timeoutMs);
      waiter.resolve = (value) => {
        clearTimeout(timer);
        resolve(value);
      };
      waiter.reject = (error) => {
        clearTimeout(timer);
        reject(error);
      };
    });
  }
}
