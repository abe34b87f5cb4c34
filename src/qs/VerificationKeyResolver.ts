// Where a QS gets a sending DS's fanout verification keys. The HTTP implementation
// (HttpVerificationKeyResolver.ts) fetches https://<domain>/verification_key with caching;
// tests and static federations use StaticVerificationKeyResolver.
import { VerificationKeyUnavailableError } from "../protocol/QsErrors.js";

export interface VerificationKeyResolver {
  /**
   * The DS's currently valid Ed25519 verification keys (raw, 32 bytes each; several during a
   * rotation overlap). `refresh` asks to bypass a cached answer: the QS asks for it once when no
   * cached key verifies, and the resolver rate-limits it. Rejects with
   * VerificationKeyUnavailableError when no keys can be obtained.
   */
  resolve(domain: string, options?: { refresh?: boolean }): Promise<readonly Uint8Array[]>;
}

/** A fixed domain -> keys map (tests, or a federation configured out of band). */
export class StaticVerificationKeyResolver implements VerificationKeyResolver {
  readonly #keys = new Map<string, readonly Uint8Array[]>();
  /** how many times resolve() was called per domain (tests check caching/refresh behaviour) */
  readonly calls = new Map<string, number>();

  constructor(entries: Iterable<readonly [string, readonly Uint8Array[]]> | Record<string, readonly Uint8Array[]> = []) {
    const it = Symbol.iterator in Object(entries) ? (entries as Iterable<readonly [string, readonly Uint8Array[]]>) : Object.entries(entries);
    for (const [d, k] of it) this.set(d, k);
  }

  set(domain: string, keys: readonly Uint8Array[]): void {
    this.#keys.set(domain, keys.map((k) => Uint8Array.from(k)));
  }

  delete(domain: string): void {
    this.#keys.delete(domain);
  }

  async resolve(domain: string): Promise<readonly Uint8Array[]> {
    this.calls.set(domain, (this.calls.get(domain) ?? 0) + 1);
    const k = this.#keys.get(domain);
    if (k === undefined || k.length === 0) throw new VerificationKeyUnavailableError("no verification keys for this domain");
    return k;
  }
}
