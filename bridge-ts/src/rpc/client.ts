// JSON-RPC over one runtime process: request ids, pending calls with their
// timeouts, routing of responses and stream notifications, and protocol
// errors for anything else the runtime writes.
import { EngineError } from '../errors/engine-error.js';
import type { Method, WireParams, WireResult } from '../wire/params.js';
import type { StreamChunk, StreamEnd, StreamError } from '../wire/generated.js';
import { parseLine } from './incoming.js';
import type { Incoming } from './incoming.js';
import { checkStreamParams, isStreamMethod } from './streams.js';
import type { StreamListener } from './streams.js';

/** What the client needs of the process (RuntimeProcess): a way to write, and to stop reading. */
export interface Wire {
  send(message: unknown): boolean;
  pause(): void;
  resume(): void;
}

export interface ClientHandlers {
  protocolError(error: EngineError): void;
  /** A notification that is not for a stream (one a newer runtime may send). */
  notification(method: string, params: unknown): void;
}

interface Pending {
  method: string;
  resolve(result: unknown): void;
  reject(error: EngineError): void;
  timer: NodeJS.Timeout | undefined;
  /** Someone waits for the answer, so reading must go on until it comes (see setBackpressure). */
  awaited: boolean;
}

export interface RequestOptions {
  /**
   * false: nobody waits for the answer (a stream's pause or resume, whose failure changes nothing), so the
   * reader may pause while it is pending. Default: true.
   */
  awaited?: boolean;
}

export class RpcClient {
  readonly #wire: Wire;
  readonly #handlers: ClientHandlers;
  readonly #pending = new Map<number, Pending>();
  // Ids that timed out: their late answers are dropped, not reported as strays.
  readonly #expired = new Set<number>();
  readonly #streams = new Map<string, StreamListener>();
  #nextId = 1;
  #closed: EngineError | undefined;
  #wantsPause = false;
  #paused = false;
  #pauses = 0;
  #awaited = 0; // pending calls whose answer someone waits for

  constructor(wire: Wire, handlers: ClientHandlers) {
    this.#wire = wire;
    this.#handlers = handlers;
  }

  /** Calls waiting for their answer. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Whether reading is paused now, and how often it was (for getInfo). */
  get flow(): { paused: boolean; pauses: number } {
    return { paused: this.#paused, pauses: this.#pauses };
  }

  // Sends a request; settles with its result, its EngineError, TIMEOUT, or the
  // error that closed the client (the runtime exited, the engine was disposed).
  request<M extends Method>(method: M, params: WireParams<M>, timeoutMs?: number, options: RequestOptions = {}): Promise<WireResult<M>> {
    if (this.#closed !== undefined) return Promise.reject(this.#closed);
    const id = this.#nextId++;
    return new Promise<WireResult<M>>((resolve, reject) => {
      const awaited = options.awaited ?? true;
      const pending: Pending = { method, resolve: resolve as (result: unknown) => void, reject, timer: undefined, awaited };
      if (timeoutMs !== undefined && timeoutMs > 0) {
        pending.timer = setTimeout(() => this.#expire(id, timeoutMs), timeoutMs);
      }
      this.#pending.set(id, pending);
      if (awaited) this.#awaited += 1;
      this.#applyFlow();
      this.#wire.send({ jsonrpc: '2.0', id, method, params });
    });
  }

  // Routes the notifications of `streamId` to `listener` until closeStream.
  openStream(streamId: string, listener: StreamListener): void {
    this.#streams.set(streamId, listener);
  }

  // A finished stream's late notifications (none are expected) are dropped.
  closeStream(streamId: string): void {
    this.#streams.delete(streamId);
  }

  handleLine(line: string): void {
    for (const message of parseLine(line)) this.#route(message, line);
  }

  handleOversized(bytes: number): void {
    this.#protocolError(`the runtime wrote a line of ${bytes} bytes, over the bridge's limit; it was dropped`, {});
  }

  // Fails every pending call and open stream with `error`; later requests too.
  close(error: EngineError): void {
    if (this.#closed !== undefined) return;
    this.#closed = error;
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.#pending.clear();
    this.#awaited = 0;
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    for (const listener of streams) listener.error(error, undefined);
  }

  // Generators ask for a pause when a consumer is behind. Reading goes on while
  // any call waits for its answer, which may sit behind the tokens in the pipe
  // (calls nobody waits for, RequestOptions.awaited false, do not count).
  setBackpressure(wantsPause: boolean): void {
    this.#wantsPause = wantsPause;
    this.#applyFlow();
  }

  #applyFlow(): void {
    const pause = this.#wantsPause && this.#awaited === 0 && this.#closed === undefined;
    if (pause === this.#paused) return;
    this.#paused = pause;
    if (pause) {
      this.#pauses += 1;
      this.#wire.pause();
    } else {
      this.#wire.resume();
    }
  }

  #route(message: Incoming, line: string): void {
    switch (message.kind) {
      case 'notification':
        this.#notification(message.method, message.params, line);
        return;
      case 'result':
      case 'error': {
        const pending = this.#settle(message.id);
        if (pending === undefined) this.#stray(message, line);
        else if (message.kind === 'result') pending.resolve(message.result);
        else pending.reject(EngineError.fromWire(message.error));
        return;
      }
      case 'invalid': {
        const error = new EngineError('PROTOCOL_ERROR', `the runtime wrote a line that is not a JSON-RPC message: ${message.reason}`, {
          data: { line },
        });
        // A broken answer to a pending call fails that call instead of leaving it hanging.
        const pending = message.id === undefined ? undefined : this.#settle(message.id);
        if (pending !== undefined) pending.reject(error);
        else this.#handlers.protocolError(error);
        return;
      }
    }
  }

  // Takes a pending call off the books, if `id` names one.
  #settle(id: number | string | null): Pending | undefined {
    const pending = typeof id === 'number' ? this.#pending.get(id) : undefined;
    if (pending === undefined) return undefined;
    this.#forget(id as number, pending);
    return pending;
  }

  #notification(method: string, params: unknown, line: string): void {
    if (!isStreamMethod(method)) {
      this.#handlers.notification(method, params);
      return;
    }
    const checked = checkStreamParams(method, params);
    if ('reason' in checked) {
      this.#protocolError(`the runtime wrote a ${checked.reason}`, { line });
      return;
    }
    const listener = this.#streams.get(checked.streamId);
    if (listener === undefined) return; // a stream whose consumer already left
    if (method === 'stream/chunk') listener.chunk(params as StreamChunk);
    else if (method === 'stream/end') listener.end(params as StreamEnd);
    else listener.error(EngineError.fromWire((params as StreamError).error), params as StreamError);
  }

  #stray(message: Extract<Incoming, { kind: 'result' | 'error' }>, line: string): void {
    if (typeof message.id === 'number' && this.#expired.delete(message.id)) return;
    if (message.kind === 'error' && message.id === null) {
      // An error the runtime could not tie to a request (a line it could not parse, ...).
      const cause = EngineError.fromWire(message.error);
      this.#protocolError(`the runtime reported an error for no request: ${cause.message}`, { line, runtimeError: cause.toJSON() });
      return;
    }
    this.#protocolError(`the runtime answered request ${JSON.stringify(message.id)}, which is not pending`, { line });
  }

  #expire(id: number, timeoutMs: number): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#forget(id, pending);
    this.#expired.add(id);
    pending.reject(
      new EngineError(
        'TIMEOUT',
        `\`${pending.method}\` got no answer within ${timeoutMs} ms; the runtime may be busy or stuck. ` +
          'Raise the `requestTimeoutMs` option, or pass `{ timeoutMs }` to this call.',
        { data: { method: pending.method, timeoutMs } },
      ),
    );
  }

  // A pending call is settled or expired: it no longer holds the reader.
  #forget(id: number, pending: Pending): void {
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    if (pending.awaited) this.#awaited -= 1;
    this.#applyFlow();
  }

  #protocolError(message: string, data: Record<string, unknown>): void {
    this.#handlers.protocolError(new EngineError('PROTOCOL_ERROR', message, { data }));
  }
}
