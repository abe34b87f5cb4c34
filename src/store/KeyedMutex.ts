// Per-key async mutex: serializes read-check-write sequences on one group (LevelDB has no
// transactions, and one process holds the DB lock, so an in-process lock is enough for CAS).

export class KeyedMutex {
  readonly #tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(key);
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    // Tails never reject: they are release signals, not the work itself.
    const tail = prev === undefined ? mine : prev.then(() => mine);
    this.#tails.set(key, tail);
    if (prev !== undefined) await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }

  /** Number of keys with a holder or waiters (for tests: the map must not leak). */
  get size(): number {
    return this.#tails.size;
  }
}
