// Replay defence for the gateway (RFC 9458 s6.5 leaves it to the gateway): every accepted
// request's `enc` is remembered for as long as its key is accepted, and a repeat is refused.
//
// Memory is bounded: per key id, two generations of a Bloom filter sized for `capacity`
// entries each at a false-positive rate of about 1e-9. When the current generation is full it
// becomes the previous one and the oldest generation is dropped, so a replay is caught
// whenever fewer than `capacity` requests arrived in between. Operators size `capacity` to
// cover a key's lifetime or rotate keys more often; `evictions` counts forgotten generations.
//
// Bloom indexes come from HMAC-SHA-256 under a per-process random key, so an attacker cannot
// craft `enc` values that collide on purpose.
import { createHmac, randomBytes } from "node:crypto";

const HASHES = 30; // k = -log2(1e-9)

class BloomGeneration {
  readonly bits: Uint8Array;
  count = 0;
  constructor(readonly mBits: number) {
    this.bits = new Uint8Array(Math.ceil(mBits / 8));
  }
}

export class ReplayFilter {
  private readonly secret = randomBytes(32);
  private readonly perKey = new Map<number, { current: BloomGeneration; previous?: BloomGeneration }>();
  private readonly mBits: number;
  evictions = 0;

  constructor(readonly capacity = 1 << 18) {
    // m = -n ln p / (ln 2)^2 with p = 1e-9
    this.mBits = Math.ceil((capacity * 20.723) / 0.4805);
  }

  private indexes(enc: Uint8Array): number[] {
    // Two 64-bit halves of one HMAC give k indexes by double hashing (Kirsch-Mitzenmacher).
    const d = createHmac("sha256", this.secret).update(enc).digest();
    // Reduce first so h1 + i*h2 stays an exact integer (m is far below 2^48).
    const h1 = (d.readUInt32BE(0) * 2 ** 21 + (d.readUInt32BE(4) >>> 11)) % this.mBits;
    const h2 = (d.readUInt32BE(8) * 2 ** 21 + (d.readUInt32BE(12) >>> 11)) % this.mBits;
    const out: number[] = [];
    for (let i = 0; i < HASHES; i++) out.push((h1 + i * h2) % this.mBits);
    return out;
  }

  private static has(g: BloomGeneration, idx: number[]): boolean {
    for (const i of idx) if ((g.bits[i >>> 3]! & (1 << (i & 7))) === 0) return false;
    return true;
  }

  /** True if `enc` was already recorded for this key (a cheap check before decapsulating). */
  seen(keyId: number, enc: Uint8Array): boolean {
    const s = this.perKey.get(keyId);
    if (!s) return false;
    const idx = this.indexes(enc);
    return ReplayFilter.has(s.current, idx) || (s.previous !== undefined && ReplayFilter.has(s.previous, idx));
  }

  /**
   * True if `enc` was already seen for this key; otherwise records it and returns false.
   * Called only after the request authenticated, so garbage cannot fill the filter; being
   * synchronous, it also settles two identical requests decapsulated concurrently.
   */
  checkAndRecord(keyId: number, enc: Uint8Array): boolean {
    let s = this.perKey.get(keyId);
    if (!s) {
      s = { current: new BloomGeneration(this.mBits) };
      this.perKey.set(keyId, s);
    }
    const idx = this.indexes(enc);
    if (ReplayFilter.has(s.current, idx) || (s.previous && ReplayFilter.has(s.previous, idx))) return true;
    if (s.current.count >= this.capacity) {
      if (s.previous) this.evictions++;
      s.previous = s.current;
      s.current = new BloomGeneration(this.mBits);
    }
    for (const i of idx) s.current.bits[i >>> 3]! |= 1 << (i & 7);
    s.current.count++;
    return false;
  }

  /** Drops the state of keys no longer accepted. */
  retainOnly(keyIds: Iterable<number>): void {
    const keep = new Set(keyIds);
    for (const id of [...this.perKey.keys()]) if (!keep.has(id)) this.perKey.delete(id);
  }

  get memoryBytes(): number {
    let n = 0;
    for (const s of this.perKey.values()) n += s.current.bits.length + (s.previous?.bits.length ?? 0);
    return n;
  }
}
