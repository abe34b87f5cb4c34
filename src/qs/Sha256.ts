// SHA-256 and HMAC-SHA-256 for the QS enqueue hot path, on node:crypto's one-shot hash(). A
// fanout hashes and MACs short inputs a few times per recipient (storage keys, dedup keys, three
// HKDF-Expand steps of the queue ratchet); for inputs this short, createHash/createHmac cost
// several times the hashing itself (each builds a native object and imports the key), while
// crypto.hash() is one call. HMAC is RFC 2104 over it: the padded keys are prepared once per
// key in scratch blocks that each MAC fills in, so a MAC is two hash() calls and no allocation
// beyond their results. Outputs equal createHmac's (test/qs/sha256.test.ts).
import { hash } from "node:crypto";

const BLOCK = 64;
const EMPTY = new Uint8Array(0);

function checkOut(out: Uint8Array, offset: number, len: number): void {
  if (!Number.isInteger(len) || len < 0 || len > 32 || !Number.isInteger(offset) || offset < 0 || offset + len > out.length) throw new RangeError("digest does not fit");
}

function sha256(data: Uint8Array): Buffer {
  return hash("sha256", data, "buffer") as unknown as Buffer;
}

function copyOut(d: Buffer, out: Uint8Array, offset: number, len: number): void {
  for (let i = 0; i < len; i++) out[offset + i] = d[i]!;
  d.fill(0);
}

/** SHA-256 of msg[0..n) into out[offset..offset+len). */
export function sha256Into(msg: Uint8Array, n: number, out: Uint8Array, offset = 0, len = 32): void {
  checkOut(out, offset, len);
  if (!Number.isInteger(n) || n < 0 || n > msg.length) throw new RangeError("message length out of range");
  copyOut(sha256(msg.subarray(0, n)), out, offset, len);
}

/** An incremental SHA-256 (buffers its input; for the short messages of this module). */
export class Sha256 {
  #parts: Uint8Array[] = [];

  reset(): this {
    this.wipe();
    return this;
  }

  copyFrom(o: Sha256): this {
    this.#parts = o.#parts.map((p) => Uint8Array.from(p));
    return this;
  }

  update(data: Uint8Array): this {
    this.#parts.push(Uint8Array.from(data));
    return this;
  }

  digestInto(out: Uint8Array, offset = 0, len = 32): void {
    checkOut(out, offset, len);
    copyOut(this.#digest(), out, offset, len);
  }

  digest(): Uint8Array {
    return new Uint8Array(this.#digest());
  }

  #digest(): Buffer {
    const all = Buffer.concat(this.#parts);
    const d = sha256(all);
    all.fill(0);
    return d;
  }

  wipe(): void {
    for (const p of this.#parts) p.fill(0);
    this.#parts = [];
  }
}

/**
 * HMAC-SHA-256 (RFC 2104) under one key: H((K ^ opad) || H((K ^ ipad) || m)). The padded keys
 * sit at the start of two scratch blocks; reusable; wipe() when the key must leave memory.
 */
export class HmacSha256 {
  /** (K ^ ipad) || message */
  #inner = new Uint8Array(2 * BLOCK);
  /** (K ^ opad) || inner digest */
  readonly #outer = new Uint8Array(BLOCK + 32);
  #keyed = false;

  constructor(key?: Uint8Array) {
    if (key !== undefined) this.setKey(key);
  }

  setKey(key: Uint8Array): this {
    const k = key.length > BLOCK ? sha256(key) : key;
    this.#inner.fill(0, 0, BLOCK);
    this.#outer.fill(0, 0, BLOCK);
    this.#inner.set(k);
    this.#outer.set(k);
    for (let i = 0; i < BLOCK; i++) {
      this.#inner[i]! ^= 0x36;
      this.#outer[i]! ^= 0x5c;
    }
    if (k !== key) k.fill(0);
    this.#keyed = true;
    return this;
  }

  #finish(n: number, out: Uint8Array, offset: number, len: number): void {
    const inner = sha256(this.#inner.subarray(0, BLOCK + n));
    this.#inner.fill(0, BLOCK, BLOCK + n);
    this.#outer.set(inner, BLOCK);
    inner.fill(0);
    copyOut(sha256(this.#outer), out, offset, len);
    this.#outer.fill(0, BLOCK);
  }

  #room(n: number): void {
    if (!this.#keyed) throw new RangeError("HmacSha256 has no key");
    if (BLOCK + n > this.#inner.length) {
      const bigger = new Uint8Array(BLOCK + Math.max(n, 2 * (this.#inner.length - BLOCK)));
      bigger.set(this.#inner.subarray(0, BLOCK));
      this.#inner.fill(0);
      this.#inner = bigger;
    }
  }

  /** HMAC(key, a || b || c), first `len` (<= 32) bytes into out[offset..]. */
  macInto(out: Uint8Array, offset: number, len: number, a: Uint8Array, b: Uint8Array = EMPTY, c: Uint8Array = EMPTY): void {
    checkOut(out, offset, len);
    const n = a.length + b.length + c.length;
    this.#room(n);
    this.#inner.set(a, BLOCK);
    this.#inner.set(b, BLOCK + a.length);
    this.#inner.set(c, BLOCK + a.length + b.length);
    this.#finish(n, out, offset, len);
  }

  /** HMAC(key, block[0..n)), first `len` bytes into out[offset..]; the caller's block is left as it was. */
  macBlockInto(out: Uint8Array, offset: number, len: number, block: Uint8Array, n: number): void {
    checkOut(out, offset, len);
    if (!Number.isInteger(n) || n < 0 || n > block.length) throw new RangeError("message length out of range");
    this.#room(n);
    this.#inner.set(block.subarray(0, n), BLOCK);
    this.#finish(n, out, offset, len);
  }

  wipe(): void {
    this.#inner.fill(0);
    this.#outer.fill(0);
    this.#keyed = false;
  }
}
