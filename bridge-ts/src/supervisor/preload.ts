// The runtime's own preload (its config's `model_preload`): the runtime
// answers at once, says status "starting" in runtime/state while those models
// load and warm up, then sends runtime/ready. It sends runtime/ready only when
// it preloads something, and always before runtime/state can say "ready".
import { isObject } from '../rpc/incoming.js';
import type { RuntimeReady, RuntimeState } from '../wire/generated.js';
import { camelizeKeys } from '../wire/names.js';
import type { PreloadedModelInfo } from './events.js';

export interface Preload {
  /** The models preloaded, warm now ([] when none is configured). */
  models: PreloadedModelInfo[];
  /** How long the preload took, in ms. */
  ms: number;
}

const NOTHING: Preload = Object.freeze({ models: [], ms: 0 });

export class PreloadWatch {
  #heard: Preload | undefined;
  #starting: boolean | undefined;
  #done: Preload | undefined;
  #waiters: ((preload: Preload) => void)[] = [];

  /** The preload's outcome once it finished; undefined while it runs (or before runtime/state answered). */
  get done(): Preload | undefined {
    return this.#done;
  }

  // runtime/ready's params; false when they are not what the protocol says.
  heard(params: unknown): boolean {
    if (!isObject(params) || !Array.isArray(params['models']) || typeof params['preload_ms'] !== 'number') return false;
    const ready = camelizeKeys(params as unknown as RuntimeReady);
    this.#heard = { models: ready.models, ms: ready.preloadMs };
    if (this.#starting !== undefined) this.#finish(this.#heard);
    return true;
  }

  // runtime/state's status at start-up: "starting" means runtime/ready is still to come.
  sawStatus(status: RuntimeState['status']): void {
    this.#starting = status === 'starting';
    if (this.#heard !== undefined || !this.#starting) this.#finish(this.#heard ?? NOTHING);
  }

  /** Resolves once the preload finished (at once when it has). */
  wait(): Promise<Preload> {
    const done = this.#done;
    return done !== undefined ? Promise.resolve(done) : new Promise((resolve) => this.#waiters.push(resolve));
  }

  #finish(preload: Preload): void {
    if (this.#done !== undefined) return;
    this.#done = preload;
    for (const resolve of this.#waiters.splice(0)) resolve(preload);
  }
}
