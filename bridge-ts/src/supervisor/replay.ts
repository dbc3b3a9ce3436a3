// What a new runtime must be told to stand where the dead one stood: the
// model loads (text and vision) and draft attachments that succeeded and
// were not undone, replayed in order.
import { EngineError } from '../errors/engine-error.js';
import type { RpcClient } from '../rpc/client.js';
import type { Method, WireParams } from '../wire/params.js';

/** What a replayed call sets up: a model (text or vision), or the draft attached to a model. */
export interface ReplayKey {
  kind: 'model' | 'draft';
  /** The model's id (for a draft: its target's). */
  id: string;
}

interface Entry {
  key: ReplayKey;
  method: Method;
  params: unknown;
}

export interface ReplayOutcome {
  /** Ids of the models loaded again (text and vision models, each as it was). */
  reloaded: string[];
  /** Ids of the models whose draft was attached again. */
  reloadedDrafts: string[];
  /** What the new runtime refused (it is no longer loaded): a model, or (`draft: true`) a model's draft. */
  failed: { model: string; draft: boolean; error: EngineError }[];
}

export class ReplayLog {
  // Keyed by kind and id together ("model:x", "draft:x"), so no model id can
  // stand for another entry's key.
  readonly #entries = new Map<string, Entry>();

  /** Ids of the models, in load order. */
  get models(): string[] {
    return this.#ofKind('model').map((entry) => entry.key.id);
  }

  /** The params each draft was attached with, by target model id. */
  get drafts(): { id: string; params: unknown }[] {
    return this.#ofKind('draft').map((entry) => ({ id: entry.key.id, params: entry.params }));
  }

  // The entries of one kind, in order.
  #ofKind(kind: ReplayKey['kind']): Entry[] {
    return [...this.#entries.values()].filter((entry) => entry.key.kind === kind);
  }

  // Records a call to repeat after a restart. A later call under the same key
  // replaces it in place, so a draft stays after the model it is attached to.
  remember<M extends Method>(key: ReplayKey, method: M, params: WireParams<M>): void {
    this.#entries.set(mapKey(key), { key, method, params });
  }

  forget(key: ReplayKey): void {
    this.#entries.delete(mapKey(key));
  }

  // Replays every entry into a fresh runtime. An entry the runtime refuses now
  // (its folder is gone, ...) is dropped and reported; the runtime dying again
  // is thrown, for the supervisor to try once more.
  async replayInto(client: RpcClient): Promise<ReplayOutcome> {
    const outcome: ReplayOutcome = { reloaded: [], reloadedDrafts: [], failed: [] };
    for (const [mapped, entry] of [...this.#entries]) {
      const { kind, id } = entry.key;
      try {
        await client.request(entry.method, entry.params as WireParams<Method>);
        (kind === 'model' ? outcome.reloaded : outcome.reloadedDrafts).push(id);
      } catch (error) {
        // Only the runtime's own refusals (they carry a JSON-RPC code) drop an entry.
        if (!EngineError.is(error) || error.rpcCode === undefined) throw error;
        this.#entries.delete(mapped);
        outcome.failed.push({ model: id, draft: kind === 'draft', error });
      }
    }
    return outcome;
  }
}

function mapKey({ kind, id }: ReplayKey): string {
  return `${kind}:${id}`;
}
