// Per-key async locks that one operation can take on several keys at once (a fanout locks every
// recipient queue). acquire() joins the queue of every key in one synchronous step, so two
// multi-key holders never deadlock: whoever joined first is ahead of the other on every key they
// share (the wait-for graph follows joining order and has no cycle). It then waits for all the
// predecessors at once: one hop however many keys, and none when every key is free.
export class KeyLocks {
  /** per key, the release signal of its last holder or waiter */
  readonly #tails = new Map<string, Promise<void>>();

  /** Takes every key (duplicates are fine); resolves to a release function. */
  acquire(keys: Iterable<string>): Promise<() => void> {
    const mine: string[] = [];
    let signal!: () => void;
    // Never rejects: it is a release signal, not the work itself.
    const tail = new Promise<void>((r) => (signal = r));
    const before: Promise<void>[] = [];
    for (const k of keys) {
      const prev = this.#tails.get(k);
      if (prev === tail) continue; // named twice
      if (prev !== undefined) before.push(prev);
      this.#tails.set(k, tail);
      mine.push(k);
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      signal();
      for (const k of mine) if (this.#tails.get(k) === tail) this.#tails.delete(k);
    };
    if (before.length === 0) return Promise.resolve(release);
    return Promise.all(before).then(() => release);
  }

  async run<T>(keys: Iterable<string>, fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire(keys);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** Keys with a holder or waiters (for tests: the map must not leak). */
  get size(): number {
    return this.#tails.size;
  }
}
