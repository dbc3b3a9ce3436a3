// Backpressure for streams, at two levels.
//
// Per stream: when a generator holds more than `highWaterMark` tokens its
// consumer has not taken, it asks the runtime to pause that stream
// (generate/pause): the runtime stops decoding it, keeping its place, while
// the other streams go on. Once the consumer is down to half the mark, the
// generator resumes it (generate/resume). So a generator nobody reads holds
// about `highWaterMark` tokens, however long its stream.
//
// Whole pipe: while some generator is behind and no consumer waits for a
// chunk, the bridge also stops reading the runtime's stdout; the pipe fills,
// the runtime's writer backs up and the runtime waits
// (transport.writer_backlog_tokens). This bounds the tokens already under
// way when a pause was asked for, and holds for a runtime that does not
// know generate/pause. The reader is never paused while some consumer
// waits for a chunk, nor (see RpcClient) while a call waits for its answer:
// what they wait for may sit in the pipe behind the tokens.

/** A generator, as flow control sees it. */
export interface FlowMember {
  /** Its consumer fell behind (true: pause its stream) or caught up (false: resume it). */
  behind(behind: boolean): void;
}

export class FlowControl {
  readonly highWaterMark: number;
  readonly #setPaused: (paused: boolean) => void;
  readonly #behind = new Set<FlowMember>();
  #waiting = 0;
  #paused = false;
  #streamPauses = 0;

  constructor(highWaterMark: number, setPaused: (paused: boolean) => void) {
    this.highWaterMark = highWaterMark;
    this.#setPaused = setPaused;
  }

  /** Streams paused now for a consumer that is behind, and how often one was. */
  get streams(): { pausedStreams: number; streamPauses: number } {
    return { pausedStreams: this.#behind.size, streamPauses: this.#streamPauses };
  }

  // A generator's buffer changed size.
  report(generator: FlowMember, buffered: number): void {
    if (buffered > this.highWaterMark && !this.#behind.has(generator)) {
      this.#behind.add(generator);
      this.#streamPauses += 1;
      generator.behind(true);
    } else if (buffered <= this.highWaterMark / 2 && this.#behind.delete(generator)) {
      generator.behind(false);
    }
    this.#update();
  }

  // A generator that will take no more tokens no longer holds the reader back
  // (its stream has ended, or is being cancelled: nothing to resume).
  release(generator: FlowMember): void {
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
