// Request nonces seen inside the freshness window, so a captured signed request cannot be
// replayed (e.g. a second ack or delete) while its timestamp is still accepted. Bounded: under
// a flood the oldest entries go first, which weakens only replays of the oldest requests.
export class ReplayCache {
  readonly #seen = new Map<string, number>();
  constructor(readonly capacity: number) {}

  /** Records `id` until `expiresAtMs`; false when it was already recorded and has not expired. */
  check(id: string, expiresAtMs: number, nowMs: number): boolean {
    const prev = this.#seen.get(id);
    if (prev !== undefined && prev > nowMs) return false;
    // Drop expired entries from the front (insertion order ~ time order), then bound the size.
    for (const [k, exp] of this.#seen) {
      if (exp > nowMs && this.#seen.size < this.capacity) break;
      this.#seen.delete(k);
    }
    this.#seen.set(id, expiresAtMs);
    return true;
  }

  get size(): number {
    return this.#seen.size;
  }
}
