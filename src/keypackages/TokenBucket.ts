// A token bucket: a limit on a whole endpoint rather than per bearer token. The identifier query
// endpoint uses one so that anonymous clients (the provider sees no IPs behind OHTTP) cannot
// mint bearer tokens, or probe handles, at an unbounded rate. It holds `requests` tokens and
// refills at requests/windowMs, so a burst of `requests` is admitted after a quiet window and the
// sustained rate is requests per windowMs. In memory and per process, like FixedWindowRateLimiter.
import { InvalidArgumentError } from "./errors.js";
import type { RateLimit } from "./FixedWindowRateLimiter.js";

// Integer arithmetic, so boundaries are exact: the level counts token-milliseconds (one token is
// windowMs units; each elapsed millisecond adds `requests` units).
export class TokenBucket {
  readonly #requests: number;
  readonly #windowMs: number;
  readonly #capacity: number;
  readonly #now: () => number;
  #level: number;
  #last: number;

  constructor(limit: RateLimit, opts: { now?: () => number } = {}) {
    const ok = (n: unknown) => typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= 0xffffffff;
    if (limit === null || typeof limit !== "object" || !ok(limit.requests) || !ok(limit.windowMs)) {
      throw new InvalidArgumentError("a token bucket needs requests and windowMs as integers in 1..2^32-1");
    }
    if (limit.requests * limit.windowMs > 2 ** 52) throw new InvalidArgumentError("token bucket: requests * windowMs must stay below 2^52");
    this.#requests = limit.requests;
    this.#windowMs = limit.windowMs;
    this.#capacity = limit.requests * limit.windowMs;
    this.#now = opts.now ?? Date.now;
    this.#level = this.#capacity;
    this.#last = this.#now();
  }

  #refill(): void {
    const now = this.#now();
    // A clock that stepped back refills nothing (and does not go negative).
    // Elapsed time is capped at one window: by then the bucket is full, and the product stays exact.
    if (now > this.#last) this.#level = Math.min(this.#capacity, this.#level + Math.min(now - this.#last, this.#windowMs) * this.#requests);
    this.#last = now;
  }

  /** Takes one token; false (nothing taken) when the bucket is empty. */
  take(): boolean {
    this.#refill();
    if (this.#level < this.#windowMs) return false;
    this.#level -= this.#windowMs;
    return true;
  }

  /** Milliseconds until one token is available (0: now). */
  retryAfterMs(): number {
    this.#refill();
    return this.#level >= this.#windowMs ? 0 : Math.ceil((this.#windowMs - this.#level) / this.#requests);
  }

  /** Whole tokens available now. */
  get available(): number {
    this.#refill();
    return Math.floor(this.#level / this.#windowMs);
  }
}
