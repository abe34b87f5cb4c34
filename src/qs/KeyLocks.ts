// Per-key async locks that one operation can take on several keys at once (a fanout locks every
// recipient queue). Keys are taken in sorted order, so two multi-key holders never deadlock, and
// acquisition is a loop, not recursion, so ten thousand keys cost no stack.
export class KeyLocks {
  readonly #tails = new Map<string, Promise<void>>();

  #lockOne(key: string): Promise<() => void> {
    const prev = this.#tails.get(key);
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    // Tails never reject: they are release signals, not the work itself.
    const tail = prev === undefined ? mine : prev.then(() => mine);
    this.#tails.set(key, tail);
    const done = () => {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    };
    return prev === undefined ? Promise.resolve(done) : prev.then(() => done);
  }

  /** Takes every key (duplicates are fine); resolves to a release function. */
  async acquire(keys: Iterable<string>): Promise<() => void> {
    const sorted = [...new Set(keys)].sort();
    const releases: (() => void)[] = [];
    for (const k of sorted) releases.push(await this.#lockOne(k));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (let i = releases.length - 1; i >= 0; i--) releases[i]!();
    };
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
