// The original mlx-serving's ObjectPool: objects made by `create`, handed
// out by acquire() and taken back by release() (which runs `reset`), so a
// hot path reuses them instead of allocating.

export interface ObjectPoolOptions {
  /** Most idle objects kept; a release beyond it drops the object. Default 100. */
  maxSize?: number;
  /** Objects made up front. Default 0. */
  preallocate?: number;
}

export interface ObjectPoolStats {
  /** Objects made by `create`. */
  totalCreated: number;
  /** Idle objects ready to hand out. */
  available: number;
  /** Handed out and not released. */
  inUse: number;
  /** acquire() calls served by an idle object. */
  reuseCount: number;
  /** reuseCount / acquire() calls (0 before any). */
  hitRate: number;
}

export class ObjectPool<T> {
  readonly #create: () => T;
  readonly #reset: (item: T) => void;
  readonly #maxSize: number;
  readonly #idle: T[] = [];
  #created = 0;
  #acquired = 0;
  #reused = 0;
  #inUse = 0;

  constructor(create: () => T, reset: (item: T) => void, options: ObjectPoolOptions = {}) {
    this.#create = create;
    this.#reset = reset;
    this.#maxSize = options.maxSize ?? 100;
    for (let i = 0; i < Math.min(options.preallocate ?? 0, this.#maxSize); i++) this.#idle.push(this.#make());
  }

  acquire(): T {
    this.#acquired += 1;
    this.#inUse += 1;
    const item = this.#idle.pop();
    if (item === undefined) return this.#make();
    this.#reused += 1;
    return item;
  }

  release(item: T): void {
    this.#inUse = Math.max(0, this.#inUse - 1);
    this.#reset(item);
    if (this.#idle.length < this.#maxSize) this.#idle.push(item);
  }

  getStats(): ObjectPoolStats {
    return {
      totalCreated: this.#created,
      available: this.#idle.length,
      inUse: this.#inUse,
      reuseCount: this.#reused,
      hitRate: this.#acquired > 0 ? this.#reused / this.#acquired : 0,
    };
  }

  #make(): T {
    this.#created += 1;
    return this.#create();
  }
}
