// Fetches a DS's fanout verification keys from GET https://<domain>/verification_key
// (draft-kohbrok-mimi-moh s"Verification Key"; body: VerificationKeyResponse) and caches them.
//
// - positive answers are cached for `ttlMs`; a refresh (asked when no cached key verifies a
//   fanout, e.g. right after the DS rotated) refetches at most once per `minRefreshIntervalMs`
//   per domain, so a stream of badly signed fanouts cannot turn into a stream of fetches;
// - failures are remembered for `errorTtlMs`; while a fetch fails, a cached answer younger
//   than `staleIfErrorMs` is still served (the DS's own overlap window covers rotation);
// - one fetch per domain at a time; bounded response size, timeout, no redirects (an allowed
//   domain must not be able to point the QS at an internal address).
// Only domains on the QS's allow-list ever reach resolve(): the QS checks that first.
import { FANOUT_PROTOCOL_VERSION, SIGNATURE_SCHEME_ED25519 } from "../protocol/QsConstants.js";
import { VerificationKeyUnavailableError } from "../protocol/QsErrors.js";
import { checkDomain } from "../protocol/qsCodec.js";
import { VerificationKeyResponse } from "../protocol/VerificationKeyResponse.js";
import { LruCache } from "./LruCache.js";
import type { VerificationKeyResolver } from "./VerificationKeyResolver.js";

export interface HttpVerificationKeyResolverOptions {
  /** how long fetched keys are used without refetching (default 5 min) */
  ttlMs?: number;
  /** least time between two forced refreshes of one domain (default 30 s) */
  minRefreshIntervalMs?: number;
  /** how long a failed fetch is remembered (default 10 s) */
  errorTtlMs?: number;
  /** how old a cached answer may be and still be served while fetches fail (default 1 h) */
  staleIfErrorMs?: number;
  timeoutMs?: number;
  maxResponseBytes?: number;
  /** domains cached (default 1024) */
  maxEntries?: number;
  /**
   * Where to fetch: a base URL used for every domain (e.g. "http://127.0.0.1:8443" for loopback
   * tests; "/verification_key" is appended) or a function of the domain returning the full URL.
   * Default: `https://${domain}/verification_key`.
   */
  baseUrl?: string | ((domain: string) => string);
  fetch?: typeof globalThis.fetch;
  now?: () => number;
}

interface Entry {
  keys?: readonly Uint8Array[];
  fetchedAt: number;
  failedAt?: number;
  inflight?: Promise<readonly Uint8Array[]>;
}

export class HttpVerificationKeyResolver implements VerificationKeyResolver {
  readonly #o: Required<Omit<HttpVerificationKeyResolverOptions, "baseUrl">>;
  readonly #urlFor: (domain: string) => string;
  readonly #cache: LruCache<string, Entry>;
  /** fetches started (for tests and metrics) */
  fetches = 0;

  constructor(opts: HttpVerificationKeyResolverOptions = {}) {
    this.#o = {
      ttlMs: opts.ttlMs ?? 300_000,
      minRefreshIntervalMs: opts.minRefreshIntervalMs ?? 30_000,
      errorTtlMs: opts.errorTtlMs ?? 10_000,
      staleIfErrorMs: opts.staleIfErrorMs ?? 3_600_000,
      timeoutMs: opts.timeoutMs ?? 5_000,
      maxResponseBytes: opts.maxResponseBytes ?? 16_384,
      maxEntries: opts.maxEntries ?? 1024,
      fetch: opts.fetch ?? globalThis.fetch.bind(globalThis),
      now: opts.now ?? Date.now,
    };
    const b = opts.baseUrl;
    this.#urlFor =
      typeof b === "function" ? b : typeof b === "string" ? () => `${b.replace(/\/+$/, "")}/verification_key` : (d) => `https://${d}/verification_key`;
    this.#cache = new LruCache(this.#o.maxEntries);
  }

  async resolve(domain: string, options: { refresh?: boolean } = {}): Promise<readonly Uint8Array[]> {
    try {
      checkDomain(domain, "domain");
    } catch {
      throw new VerificationKeyUnavailableError("not a domain name");
    }
    const now = this.#o.now();
    let e = this.#cache.get(domain);
    if (e === undefined) {
      e = { fetchedAt: -Infinity };
      this.#cache.set(domain, e);
    }
    if (e.inflight) return e.inflight;
    const fresh = e.keys !== undefined && now - e.fetchedAt < this.#o.ttlMs;
    const mayRefresh = now - e.fetchedAt >= this.#o.minRefreshIntervalMs;
    if (fresh && !(options.refresh === true && mayRefresh)) return e.keys!;
    if (e.failedAt !== undefined && now - e.failedAt < this.#o.errorTtlMs) return this.#staleOr(e, now);
    const entry = e;
    entry.inflight = this.#fetch(domain)
      .then(
        (keys) => {
          entry.keys = keys;
          entry.fetchedAt = this.#o.now();
          entry.failedAt = undefined;
          return keys;
        },
        () => {
          entry.failedAt = this.#o.now();
          return this.#staleOr(entry, this.#o.now());
        },
      )
      .finally(() => {
        entry.inflight = undefined;
      });
    return entry.inflight;
  }

  #staleOr(e: Entry, now: number): readonly Uint8Array[] {
    if (e.keys !== undefined && now - e.fetchedAt < this.#o.staleIfErrorMs) return e.keys;
    throw new VerificationKeyUnavailableError("the sender's verification keys could not be fetched");
  }

  async #fetch(domain: string): Promise<readonly Uint8Array[]> {
    this.fetches++;
    const res = await this.#o.fetch(this.#urlFor(domain), {
      method: "GET",
      headers: { accept: "application/octet-stream" },
      redirect: "error",
      signal: AbortSignal.timeout(this.#o.timeoutMs),
    });
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => {});
      throw new Error(`status ${res.status}`);
    }
    const body = await readLimited(res, this.#o.maxResponseBytes);
    const vkr = VerificationKeyResponse.deserialize(body);
    if (vkr.version !== FANOUT_PROTOCOL_VERSION) throw new Error("unsupported VerificationKeyResponse version");
    const keys = vkr.keys.filter((k) => k.signatureScheme === SIGNATURE_SCHEME_ED25519 && k.publicKey.length === 32).map((k) => Uint8Array.from(k.publicKey));
    if (keys.length === 0) throw new Error("no Ed25519 keys");
    return keys;
  }
}

async function readLimited(res: Response, max: number): Promise<Uint8Array> {
  const declared = Number(res.headers.get("content-length") ?? "0");
  if (declared > max) {
    await res.body?.cancel().catch(() => {});
    throw new Error("response too large");
  }
  if (res.body === null) return new Uint8Array(0);
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.length;
    if (n > max) {
      await reader.cancel().catch(() => {});
      throw new Error("response too large");
    }
    parts.push(value);
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
