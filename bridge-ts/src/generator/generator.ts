// A streaming generation as an async iterator: the stream starts at once,
// chunks queue until the consumer takes them (within the flow-control
// bound, see flow.ts), a consumer left waiting longer than the time limit
// for a stream that stopped sending gets a TIMEOUT, and leaving the loop
// early cancels the stream on the runtime.
import { EngineError } from '../errors/engine-error.js';
import type { StreamListener } from '../rpc/streams.js';
import type { Session } from '../supervisor/launch.js';
import { remaining } from '../engine/options.js';
import type { GenerateAccepted, GenerateParams } from '../wire/generated.js';
import { abortedBeforeStart, cancelOnRuntime } from './cancel.js';
import { errorChunk, metadataChunk, tokenChunk } from './chunks.js';
import type { FinishReason, GeneratorChunk, GuidanceResult, MetadataChunk, Stats, Variant } from './chunks.js';
import type { FlowControl, FlowMember } from './flow.js';

export interface GeneratorHost {
  /** A ready runtime's session now, or a promise of one (see Engine). */
  session(timeoutMs: number | undefined): Session | Promise<Session>;
  readonly flow: FlowControl;
  /** The generator will yield nothing more (the engine stops counting it as open). */
  finished(generator: TokenGenerator): void;
  /** The runtime accepted the stream; and each chunk as it arrives (the engine's events). */
  accepted(generator: TokenGenerator, accepted: GenerateAccepted): void;
  received(generator: TokenGenerator, chunk: GeneratorChunk): void;
}

export interface StartOptions {
  params: GenerateParams & { stream_id: string };
  timeoutMs: number | undefined;
  signal: AbortSignal | undefined;
  /** Yield a `{ type: 'stats', ... }` chunk before the metadata chunk (the original mlx-serving's shape). */
  statsChunk: boolean;
}

export class TokenGenerator implements AsyncIterableIterator<GeneratorChunk> {
  /** The stream's id on the wire (yours, or one the engine chose). */
  readonly streamId: string;
  readonly #host: GeneratorHost;
  readonly #signal: AbortSignal | undefined;
  readonly #timeoutMs: number | undefined;
  #buffer: GeneratorChunk[] = [];
  #head = 0;
  #wake: (() => void)[] = [];
  #session: Session | undefined;
  #finished = false;
  #left = false; // the consumer called return() (or broke out of the loop)
  #cancelling: Promise<void> | undefined;
  #end: MetadataChunk | undefined;
  #served: Pick<GenerateAccepted, 'model' | 'variant'> | undefined;
  readonly #statsChunk: boolean;
  #text = ''; // the stream's text so far (cumulativeText)
  #sending = false; // the stream produced its first token (see #armIdle)
  #waiting = false; // the consumer waits in next()
  #idle: NodeJS.Timeout | undefined;
  // How flow control reaches this stream (kept off the public API).
  readonly #member: FlowMember = { behind: (behind) => this.#pauseStream(behind) };

  constructor(host: GeneratorHost, options: StartOptions) {
    this.streamId = options.params.stream_id;
    this.#host = host;
    this.#signal = options.signal;
    this.#timeoutMs = options.timeoutMs;
    this.#statsChunk = options.statsChunk;
    this.#signal?.addEventListener('abort', this.#onAbort);
    // Already aborted: finish once the constructor has returned, so the host
    // has counted this generator before it hears that it finished (told
    // first, the host would count it open forever).
    if (this.#signal?.aborted) queueMicrotask(this.#onAbort);
    else void this.#start(options);
  }

  /** How the stream finished, once it did ('stop', 'length' or 'cancelled'). */
  get finishReason(): FinishReason | undefined {
    return this.#end?.finishReason;
  }

  /** The model id that serves the stream (the canary's id when a canary does), once the runtime accepted it. */
  get model(): string | undefined {
    return this.#served?.model;
  }

  /** Which side of a canary rollout serves the stream ('stable' without one), once the runtime accepted it. */
  get variant(): Variant | undefined {
    return this.#served?.variant;
  }

  /** The stream's stats, once it finished. */
  get stats(): Stats | undefined {
    return this.#end?.stats;
  }

  /** Requests with `guidance`, once finished: `{ complete }`, whether the output is whole and valid. */
  get guidance(): GuidanceResult | undefined {
    return this.#end?.guidance;
  }

  /** Tokens received and not yet taken by the consumer (what flow control bounds). */
  get bufferedTokens(): number {
    return this.#buffer.length - this.#head;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<GeneratorChunk, undefined>> {
    for (;;) {
      const chunk = this.#take();
      if (chunk !== undefined) return { done: false, value: chunk };
      if (this.#finished || this.#left) return { done: true, value: undefined };
      this.#host.flow.waiting(true);
      this.#waiting = true;
      this.#armIdle();
      await new Promise<void>((resolve) => this.#wake.push(resolve));
      this.#waiting = false;
      this.#host.flow.waiting(false);
    }
  }

  // Leaving the loop early (break, return, throw inside it) cancels the
  // stream; resolves once the runtime has confirmed it.
  async return(): Promise<IteratorResult<GeneratorChunk, undefined>> {
    if (!this.#left) {
      this.#left = true;
      clearTimeout(this.#idle);
      this.#buffer = [];
      this.#head = 0;
      this.#host.flow.release(this.#member);
      this.#notify();
      await this.cancel();
    }
    return { done: true, value: undefined };
  }

  // Asks the runtime to end the stream; the consumer still gets its last
  // chunks and a metadata chunk with finishReason 'cancelled'.
  cancel(): Promise<void> {
    if (this.#finished || this.#session === undefined) return Promise.resolve();
    this.#cancelling ??= cancelOnRuntime(this.#session, this.streamId, this.#timeoutMs);
    return this.#cancelling;
  }

  async #start(options: StartOptions): Promise<void> {
    const listener: StreamListener = {
      chunk: (params) => {
        this.#sending ||= params.tokens.length > 0;
        this.#push(params.tokens.map((token) => tokenChunk(token, (this.#text += token.text))));
      },
      end: (params) => {
        this.#end = metadataChunk(params);
        if (this.#statsChunk) this.#push([{ type: 'stats', ...this.#end.stats }]);
        this.#finish(this.#end);
      },
      error: (error, failed) => this.#finish(errorChunk(error, failed)),
    };
    const started = Date.now();
    try {
      const now = this.#host.session(options.timeoutMs);
      const session = now instanceof Promise ? await now : now;
      if (this.#finished || this.#left) return void this.#finish(undefined);
      this.#session = session;
      session.client.openStream(this.streamId, listener);
      const accepted = (await session.client.request('generate', options.params, remaining(options.timeoutMs, started))) as GenerateAccepted;
      this.#served = { model: accepted.model, variant: accepted.variant };
      this.#host.accepted(this, accepted);
    } catch (error) {
      this.#finish(errorChunk(error as EngineError));
      // Timed out waiting to be accepted: nobody reads it, so it must not run on.
      if (EngineError.is(error, 'TIMEOUT') && this.#session !== undefined) void cancelOnRuntime(this.#session, this.streamId, this.#timeoutMs);
    }
  }

  // The consumer waits for a chunk of a stream that has begun sending:
  // past the time limit, the stream has stalled (a stuck runtime) and ends
  // with TIMEOUT; the runtime is told to cancel it. Only such waits count:
  // not the time the consumer spends elsewhere, nor the time its stream is
  // paused because it was behind, nor the wait for the first token (a stream
  // queued for a batch slot, or in a long prefill, is not stuck; the call's
  // timeout bounds only the runtime's accepting it, and a signal such as
  // AbortSignal.timeout() bounds the whole stream). One timer per stream,
  // re-armed with refresh(); one that fires while the consumer is elsewhere
  // does nothing.
  #armIdle(): void {
    const timeoutMs = this.#timeoutMs;
    if (timeoutMs === undefined || !this.#sending) return;
    if (this.#idle !== undefined) return void this.#idle.refresh();
    this.#idle = setTimeout(() => {
      if (!this.#waiting || this.#finished || this.#session === undefined) return;
      void cancelOnRuntime(this.#session, this.streamId, timeoutMs);
      const error = new EngineError(
        'TIMEOUT',
        `Stream ${this.streamId} sent nothing for ${timeoutMs} ms while its consumer waited; the runtime may be busy or stuck. ` +
          'It was cancelled. Raise the `requestTimeoutMs` option, or pass `{ timeoutMs }` to createGenerator().',
        { data: { method: 'generate', streamId: this.streamId, timeoutMs } },
      );
      this.#finish(errorChunk(error));
    }, timeoutMs);
  }

  // Per-stream backpressure (flow.ts): pause the stream on the runtime while
  // the consumer is behind, resume it once it caught up; resolves with
  // whether the runtime paused it. A failure (a runtime without
  // generate/pause, a stream that just ended) resolves false: the pipe-wide
  // pause then goes on holding. No time limit: the answer may wait in the
  // paused pipe (nobody waits for it), and a timeout there would wrongly
  // read as a failure; a runtime that dies fails it.
  #pauseStream(behind: boolean): Promise<boolean> {
    if (this.#session === undefined || this.#finished || this.#left) return Promise.resolve(false);
    const method = behind ? 'generate/pause' : 'generate/resume';
    return this.#session.client.request(method, { stream_id: this.streamId }, undefined, { awaited: false }).then(
      (result) => result.paused,
      () => false,
    );
  }

  #onAbort = (): void => {
    if (this.#session === undefined) this.#finish(errorChunk(abortedBeforeStart('The stream', this.#signal)));
    else void this.cancel();
  };

  #push(chunks: GeneratorChunk[]): void {
    if (this.#left || this.#finished) return;
    // One by one: a chunk that coalesced tens of thousands of tokens is too many arguments for push(...).
    for (const chunk of chunks) {
      this.#buffer.push(chunk);
      this.#host.received(this, chunk);
    }
    this.#host.flow.report(this.#member, this.bufferedTokens);
    this.#notify();
  }

  #take(): GeneratorChunk | undefined {
    if (this.#head >= this.#buffer.length) return undefined;
    const chunk = this.#buffer[this.#head];
    this.#head += 1;
    if (this.#head >= 1024 && this.#head * 2 >= this.#buffer.length) {
      this.#buffer = this.#buffer.slice(this.#head);
      this.#head = 0;
    }
    if (!this.#finished) this.#host.flow.report(this.#member, this.bufferedTokens);
    return chunk;
  }

  // The last chunk (metadata or error) is queued; nothing comes after it.
  #finish(last: GeneratorChunk | undefined): void {
    if (this.#finished) return;
    if (last !== undefined) this.#push([last]);
    this.#finished = true;
    clearTimeout(this.#idle);
    this.#session?.client.closeStream(this.streamId);
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#host.flow.release(this.#member);
    this.#host.finished(this);
    this.#notify();
  }

  #notify(): void {
    for (const wake of this.#wake.splice(0)) wake();
  }
}
