// Backpressure for streams. When a generator holds more than `highWaterMark`
// tokens its consumer has not taken, the bridge stops reading the runtime's
// stdout; the pipe fills, the runtime's writer backs up and the runtime
// pauses generation itself (transport.writer_backlog_tokens). Reading resumes
// once every such generator is down to half the mark.
//
// The reader is never paused while some consumer waits for a chunk, nor
// (see RpcClient) while a call waits for its answer: what they wait for may
// sit in the pipe behind the tokens, and pausing would deadlock them.

export class FlowControl {
  readonly highWaterMark: number;
  readonly #setPaused: (paused: boolean) => void;
  readonly #behind = new Set<object>();
  #waiting = 0;
  #paused = false;

  constructor(highWaterMark: number, setPaused: (paused: boolean) => void) {
    this.highWaterMark = highWaterMark;
    this.#setPaused = setPaused;
  }

  // A generator's buffer changed size.
  report(generator: object, buffered: number): void {
    if (buffered > this.highWaterMark) this.#behind.add(generator);
    else if (buffered <= this.highWaterMark / 2) this.#behind.delete(generator);
    this.#update();
  }

  // A generator that will take no more tokens no longer holds the reader back.
  release(generator: object): void {
    this.#behind.delete(generator);
    this.#update();
  }

  // A consumer waits on an empty buffer (waiting(true)) or got its chunk (waiting(false)).
  waiting(starts: boolean): void {
    this.#waiting += starts ? 1 : -1;
    this.#update();
  }

  #update(): void {
    const paused = this.#behind.size > 0 && this.#waiting === 0;
    if (paused === this.#paused) return;
    this.#paused = paused;
    this.#setPaused(paused);
  }
}
