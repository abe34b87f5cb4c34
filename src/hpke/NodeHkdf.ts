// HKDF (RFC 5869) and the labeled variants of RFC 9180 s4 on a synchronous node:crypto HMAC
// core. One createHmac call costs ~3 us against ~12 us for hkdfSync and far more for the
// WebCrypto round trips of @hpke/core's default KDF, and the gateway runs a dozen per request.
// Unlike @hpke/core's HkdfNative, extract() takes a salt of any length: RFC 5869 allows it and
// the OHTTP response key schedule (RFC 9458 s4.4) uses salt = enc || response_nonce (48 bytes).
import { createHmac } from "node:crypto";
import type { KdfId, KdfInterface } from "@hpke/core";
import { asBytes, bytesEqual, EMPTY_BYTES, toExactArrayBuffer } from "./bytes.js";

export type NodeHashName = "sha256" | "sha384" | "sha512";

// b"HPKE-v1"
const HPKE_VERSION = new Uint8Array([0x48, 0x50, 0x4b, 0x45, 0x2d, 0x76, 0x31]);

/** HKDF-Extract(salt, ikm) of RFC 5869. An empty salt acts as HashLen zero bytes (HMAC pads keys with zeros). */
export function hkdfExtract(hash: NodeHashName, salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  return createHmac(hash, salt).update(ikm).digest();
}

/** HKDF-Expand(prk, info, len) of RFC 5869. */
export function hkdfExpand(hash: NodeHashName, hashSize: number, prk: Uint8Array, info: Uint8Array, len: number): Uint8Array {
  if (!Number.isInteger(len) || len < 0 || len > 255 * hashSize) throw new RangeError(`HKDF-Expand: invalid output length ${len}`);
  if (len === 0) return new Uint8Array(0);
  // Single-block fast path: every OHTTP and HPKE derivation of these suites fits in one block.
  if (len <= hashSize) {
    const t = createHmac(hash, prk).update(info).update(ONE).digest();
    return len === hashSize ? t : t.subarray(0, len);
  }
  const out = new Uint8Array(len);
  let prev: Uint8Array = EMPTY_BYTES;
  const ctr = new Uint8Array(1);
  for (let i = 1, off = 0; off < len; i++) {
    ctr[0] = i;
    prev = createHmac(hash, prk).update(prev).update(info).update(ctr).digest();
    const n = Math.min(prev.length, len - off);
    out.set(n === prev.length ? prev : prev.subarray(0, n), off);
    off += n;
  }
  return out;
}
const ONE = new Uint8Array([1]);

// Labels of RFC 9180 s5.1 whose LabeledExtract inputs are public by definition (psk_id and
// info); their results are the same for every request of a gateway key, so they are memoized.
const LABEL_PSK_ID_HASH = new TextEncoder().encode("psk_id_hash");
const LABEL_INFO_HASH = new TextEncoder().encode("info_hash");
const PUBLIC_HASH_CACHE_SIZE = 32;
const PUBLIC_HASH_MAX_INPUT = 1024;

/**
 * Base of the node:crypto HKDFs. The async methods satisfy @hpke/core's KdfInterface; the
 * `*Sync` methods are for callers in this project that know they run on node:crypto.
 */
export abstract class NodeHkdf implements KdfInterface {
  abstract readonly id: KdfId;
  abstract readonly hashSize: number;
  abstract readonly hashName: NodeHashName;
  private suiteId: Uint8Array = EMPTY_BYTES;
  // One-entry memo of the last extract: HPKE's key schedule calls extractAndExpand three times
  // with the same (shared_secret, labeled psk) pair. Content-compared, so concurrent users only
  // lose the shortcut, never get a wrong answer. It holds secrets, so it is wiped after the
  // two hits the key schedule makes (and whenever it is replaced).
  private lastSalt: Uint8Array = EMPTY_BYTES;
  private lastIkm: Uint8Array | undefined;
  private lastPrk: Uint8Array = EMPTY_BYTES;
  private lastHits = 0;

  init(suiteId: Uint8Array): void {
    this.suiteId = Uint8Array.from(suiteId);
  }

  buildLabeledIkm(label: Uint8Array, ikm: Uint8Array): Uint8Array {
    this.checkInit();
    const s = this.suiteId;
    const out = new Uint8Array(7 + s.length + label.length + ikm.length);
    out.set(HPKE_VERSION, 0);
    out.set(s, 7);
    out.set(label, 7 + s.length);
    out.set(ikm, 7 + s.length + label.length);
    return out;
  }

  buildLabeledInfo(label: Uint8Array, info: Uint8Array, len: number): Uint8Array {
    this.checkInit();
    if (!Number.isInteger(len) || len < 0 || len > 0xffff) throw new RangeError(`labeled info: invalid length ${len}`);
    const s = this.suiteId;
    const out = new Uint8Array(9 + s.length + label.length + info.length);
    out[0] = len >>> 8;
    out[1] = len & 0xff;
    out.set(HPKE_VERSION, 2);
    out.set(s, 9);
    out.set(label, 9 + s.length);
    out.set(info, 9 + s.length + label.length);
    return out;
  }

  extractSync(salt: Uint8Array, ikm: Uint8Array): Uint8Array {
    return hkdfExtract(this.hashName, salt, ikm);
  }

  expandSync(prk: Uint8Array, info: Uint8Array, len: number): Uint8Array {
    return hkdfExpand(this.hashName, this.hashSize, prk, info, len);
  }

  extractAndExpandSync(salt: Uint8Array, ikm: Uint8Array, info: Uint8Array, len: number): Uint8Array {
    if (this.lastIkm !== undefined && bytesEqual(this.lastSalt, salt) && bytesEqual(this.lastIkm, ikm)) {
      const out = this.expandSync(this.lastPrk, info, len);
      if (++this.lastHits >= 2) this.forgetLastExtract();
      return out;
    }
    this.forgetLastExtract();
    const prk = this.extractSync(salt, ikm);
    this.lastSalt = Uint8Array.from(salt);
    this.lastIkm = Uint8Array.from(ikm);
    this.lastPrk = prk;
    return this.expandSync(prk, info, len);
  }

  private forgetLastExtract(): void {
    if (this.lastIkm === undefined) return;
    this.lastSalt.fill(0);
    this.lastIkm.fill(0);
    this.lastPrk.fill(0);
    this.lastSalt = EMPTY_BYTES;
    this.lastIkm = undefined;
    this.lastPrk = EMPTY_BYTES;
    this.lastHits = 0;
  }

  labeledExtractSync(salt: Uint8Array, label: Uint8Array, ikm: Uint8Array): Uint8Array {
    return this.extractSync(salt, this.buildLabeledIkm(label, ikm));
  }

  labeledExpandSync(prk: Uint8Array, label: Uint8Array, info: Uint8Array, len: number): Uint8Array {
    return this.expandSync(prk, this.buildLabeledInfo(label, info, len), len);
  }

  async extract(salt: ArrayBufferLike | ArrayBufferView, ikm: ArrayBufferLike | ArrayBufferView): Promise<ArrayBuffer> {
    return toExactArrayBuffer(this.extractSync(asBytes(salt), asBytes(ikm)));
  }

  async expand(prk: ArrayBufferLike | ArrayBufferView, info: ArrayBufferLike | ArrayBufferView, len: number): Promise<ArrayBuffer> {
    return toExactArrayBuffer(this.expandSync(asBytes(prk), asBytes(info), len));
  }

  async extractAndExpand(
    salt: ArrayBufferLike | ArrayBufferView,
    ikm: ArrayBufferLike | ArrayBufferView,
    info: ArrayBufferLike | ArrayBufferView,
    len: number,
  ): Promise<ArrayBuffer> {
    return toExactArrayBuffer(this.extractAndExpandSync(asBytes(salt), asBytes(ikm), asBytes(info), len));
  }

  async labeledExtract(salt: ArrayBufferLike | ArrayBufferView, label: Uint8Array, ikm: Uint8Array): Promise<ArrayBuffer> {
    const s = asBytes(salt);
    if (s.length === 0 && ikm.length <= PUBLIC_HASH_MAX_INPUT && (bytesEqual(label, LABEL_INFO_HASH) || bytesEqual(label, LABEL_PSK_ID_HASH))) {
      return toExactArrayBuffer(Uint8Array.from(this.publicHash(label, ikm)));
    }
    return toExactArrayBuffer(this.labeledExtractSync(s, label, ikm));
  }

  private readonly publicHashes: { label: Uint8Array; ikm: Uint8Array; out: Uint8Array }[] = [];

  private publicHash(label: Uint8Array, ikm: Uint8Array): Uint8Array {
    for (const e of this.publicHashes) if (bytesEqual(e.label, label) && bytesEqual(e.ikm, ikm)) return e.out;
    const out = this.labeledExtractSync(EMPTY_BYTES, label, ikm);
    if (this.publicHashes.length >= PUBLIC_HASH_CACHE_SIZE) this.publicHashes.shift();
    this.publicHashes.push({ label: Uint8Array.from(label), ikm: Uint8Array.from(ikm), out });
    return out;
  }

  async labeledExpand(prk: ArrayBufferLike | ArrayBufferView, label: Uint8Array, info: Uint8Array, len: number): Promise<ArrayBuffer> {
    return toExactArrayBuffer(this.labeledExpandSync(asBytes(prk), label, info, len));
  }

  private checkInit(): void {
    if (this.suiteId.length === 0) throw new Error("NodeHkdf: not initialized; call init(suiteId)");
  }
}
