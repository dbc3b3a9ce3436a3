// What a new runtime must be told to stand where the dead one stood: the
// model loads that succeeded and were not undone, replayed in order.
import { EngineError } from '../errors/engine-error.js';
import type { RpcClient } from '../rpc/client.js';
import type { Method, WireParams } from '../wire/params.js';

interface Entry {
  method: Method;
  params: unknown;
}

export interface ReplayOutcome {
  reloaded: string[];
  failed: { model: string; error: EngineError }[];
}

export class ReplayLog {
  readonly #entries = new Map<string, Entry>();

  /** Model ids (keys) in load order. */
  get keys(): string[] {
    return [...this.#entries.keys()];
  }

  // Records a call to repeat after a restart, under `key` (a model id): a
  // later call under the same key replaces it.
  remember<M extends Method>(key: string, method: M, params: WireParams<M>): void {
    this.#entries.delete(key);
    this.#entries.set(key, { method, params });
  }

  forget(key: string): void {
    this.#entries.delete(key);
  }

  // Replays every entry into a fresh runtime. An entry the runtime refuses now
  // (its folder is gone, ...) is dropped and reported; the runtime dying again
  // is thrown, for the supervisor to try once more.
  async replayInto(client: RpcClient): Promise<ReplayOutcome> {
    const outcome: ReplayOutcome = { reloaded: [], failed: [] };
    for (const [key, entry] of [...this.#entries]) {
      try {
        await client.request(entry.method, entry.params as WireParams<Method>);
        outcome.reloaded.push(key);
      } catch (error) {
        // Only the runtime's own refusals (they carry a JSON-RPC code) drop an entry.
        if (!EngineError.is(error) || error.rpcCode === undefined) throw error;
        this.#entries.delete(key);
        outcome.failed.push({ model: key, error });
      }
    }
    return outcome;
  }
}
