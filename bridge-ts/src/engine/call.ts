// What generate() returns: a promise of the whole text (`await
// engine.generate({...})`, as the user guide writes it), which is also an
// async iterable of the stream's tokens (`for await (const chunk of
// engine.generate({...})) write(chunk.text)`, as the original's performance
// and production examples read it). Nothing starts until it is awaited or
// iterated; the first use decides which: one whole generation, or one stream.
import { EngineError } from '../errors/engine-error.js';
import type { TokenChunk } from '../generator/chunks.js';
import type { TokenGenerator } from '../generator/generator.js';

/** A token of a generate() that is iterated: a token chunk with its text also as `text`. */
export type TextChunk = TokenChunk & { text: string };

export interface CallStarts {
  /** The whole text, answered in one piece. */
  whole(): Promise<string>;
  /** The same generation, streamed. */
  stream(): TokenGenerator;
  /** Runs once a streamed generation ended, before the iteration does. */
  ended(): Promise<void>;
}

export class GenerateCall implements Promise<string>, AsyncIterable<TextChunk> {
  readonly [Symbol.toStringTag] = 'GenerateCall';
  readonly #starts: CallStarts | EngineError;
  #text: Promise<string> | undefined;
  #iterated = false;

  /** @internal engine.generate() makes it; `starts` is an EngineError when the params were refused. */
  constructor(starts: CallStarts | EngineError) {
    this.#starts = starts;
  }

  then<A = string, B = never>(
    onFulfilled?: ((text: string) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.#whole().then(onFulfilled, onRejected);
  }

  catch<B = never>(onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<string | B> {
    return this.#whole().catch(onRejected);
  }

  finally(onFinally?: (() => void) | null): Promise<string> {
    return this.#whole().finally(onFinally);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<TextChunk, void, undefined> {
    const starts = this.#starts;
    if (starts instanceof EngineError) throw starts;
    if (this.#text !== undefined || this.#iterated) {
      throw EngineError.invalidOptions('This generate() call was already awaited or iterated; call generate() again for another generation.');
    }
    this.#iterated = true;
    const generator = starts.stream();
    try {
      for await (const chunk of generator) {
        if (chunk.type === 'token') yield { ...chunk, text: chunk.token };
        else if (chunk.type === 'error') throw chunk.error;
      }
    } finally {
      await generator.return();
    }
    await starts.ended();
  }

  #whole(): Promise<string> {
    const starts = this.#starts;
    if (starts instanceof EngineError) return Promise.reject(starts);
    if (this.#iterated) {
      return Promise.reject(EngineError.invalidOptions('This generate() call is being iterated; it has no whole text to await.'));
    }
    this.#text ??= starts.whole();
    return this.#text;
  }
}
