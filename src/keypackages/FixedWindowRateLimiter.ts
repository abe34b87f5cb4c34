// Fixed-window rate limiting keyed by bearer token (and optionally by user), never by IP: the
// directory sits behind the OHTTP gateway and sees no client addresses (ARCHITECTURE "KeyPackages
// and bearer tokens"). A window opens at a key's first request and lasts windowMs; inside it at
// most `requests` are admitted, refusals do not extend it.
//
// State is in memory: a restart opens fresh windows (at most one extra window's worth of requests
// per token), and each provider process limits on its own. Entries exist only for valid tokens
// (the caller checks the token first), so unknown tokens cannot grow the map.

export interface RateLimit {
  /** requests admitted per window (>= 1) */
  readonly requests: number;
  /** window length in milliseconds (>= 1) */
  readonly windowMs: number;
}

interface Window {
  start: number;
  count: number;
  windowMs: number;
}

export class FixedWindowRateLimiter {
  readonly #windows = new Map<string, Window>();
  readonly #now: () => number;
  readonly #maxEntries: number;

  constructor(opts: { now?: () => number; maxEntries?: number } = {}) {
    this.#now = opts.now ?? Date.now;
    this.#maxEntries = opts.maxEntries ?? 100_000;
  }

  /** Charges one request to `key`; false (nothing charged) when the key is over its limit. */
  take(key: string, limit: RateLimit): boolean {
    const now = this.#now();
    let w = this.#windows.get(key);
    if (w === undefined || now - w.start >= w.windowMs || now < w.start) {
      if (w === undefined && this.#windows.size >= this.#maxEntries) this.#evict(now);
      w = { start: now, count: 0, windowMs: limit.windowMs };
      this.#windows.set(key, w);
    }
    if (w.count >= limit.requests) return false;
    w.count++;
    return true;
  }

  /** Milliseconds until `key`'s current window closes (0 if it has none open). */
  retryAfterMs(key: string): number {
    const w = this.#windows.get(key);
    if (w === undefined) return 0;
    return Math.max(0, w.start + w.windowMs - this.#now());
  }

  forget(key: string): void {
    this.#windows.delete(key);
  }

  get size(): number {
    return this.#windows.size;
  }

  /** Drops closed windows; if all are open, the oldest (insertion order) goes. Bounded by size. */
  #evict(now: number): void {
    for (const [k, w] of this.#windows) if (now - w.start >= w.windowMs) this.#windows.delete(k);
    if (this.#windows.size >= this.#maxEntries) {
      const first = this.#windows.keys().next();
      if (!first.done) this.#windows.delete(first.value);
    }
  }
}
