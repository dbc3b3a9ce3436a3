// Backpressure for streams, at two levels.
//
// Per stream: when a generator holds more than `highWaterMark` tokens its
// consumer has not taken, it asks the runtime to pause that stream
// (generate/pause): the runtime stops decoding it, keeping its place, while
// the other streams go on. Once the consumer is down to half the mark, the
// generator resumes it (generate/resume). So a generator nobody reads holds
// about `highWaterMark` tokens, however long its stream.
//
// Whole pipe: while a generator is behind and its stream is not known to be
// paused on the runtime, and no consumer waits for a chunk, the bridge also
// stops reading the runtime's stdout; the pipe fills, the runtime's writer
// backs up and the runtime waits (transport.writer_backlog_tokens). This
// bounds the tokens already under way until the runtime acknowledges the
// pause (its answer comes after that stream's last tokens), and holds for as
// long as the consumer is behind where the pause fails (a runtime that does
// not know generate/pause) or is refused (a draining runtime lets every
// stream run on). Once acknowledged, the stream no longer holds the pipe:
// otherwise every other stream would be throttled by the backed-up writer
// whenever no consumer happens to wait. The reader is never paused while
// some consumer waits for a chunk, nor (see RpcClient) while a call waits
// for its answer: what they wait for may sit in the pipe behind the tokens.

/** A generator, as flow control sees it. */
export interface FlowMember {
  /**
   * Its consumer fell behind (true: pause its stream) or caught up (false: resume it). Resolves with whether the
   * runtime paused the stream (false when it did not, or the call failed).
   */
  behind(behind: boolean): Promise<boolean>;
}

export class FlowControl {
  readonly highWaterMark: number;
  readonly #setPaused: (paused: boolean) => void;
  readonly #behind = new Set<FlowMember>();
  // Members behind whose pause the runtime has not acknowledged, by the
  // episode of being behind that asked for it (a late answer for an earlier
  // episode must not release a later one).
  readonly #holding = new Map<FlowMember, number>();
  #episodes = 0;
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
      const episode = ++this.#episodes;
      this.#behind.add(generator);
      this.#holding.set(generator, episode);
      this.#streamPauses += 1;
      void generator.behind(true).then((paused) => {
        if (paused && this.#holding.get(generator) === episode) this.#release(generator, false);
      });
    } else if (buffered <= this.highWaterMark / 2 && this.#behind.has(generator)) {
      this.#release(generator, true);
      void generator.behind(false);
    }
    this.#update();
  }

  // A generator that will take no more tokens no longer holds the reader back
  // (its stream has ended, or is being cancelled: nothing to resume).
  release(generator: FlowMember): void {
    this.#release(generator, true);
  }

  // A consumer waits on an empty buffer (waiting(true)) or got its chunk (waiting(false)).
  waiting(starts: boolean): void {
    this.#waiting += starts ? 1 : -1;
    this.#update();
  }

  // `caughtUp` false: the runtime paused its stream; it stays counted as paused.
  #release(generator: FlowMember, caughtUp: boolean): void {
    if (caughtUp) this.#behind.delete(generator);
    this.#holding.delete(generator);
    this.#update();
  }

  #update(): void {
    const paused = this.#holding.size > 0 && this.#waiting === 0;
    if (paused === this.#paused) return;
    this.#paused = paused;
    this.#setPaused(paused);
  }
}
