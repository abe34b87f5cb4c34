// The per-queue forward-only key ratchet that keeps queued messages unreadable to anyone who
// steals the QS store later (forward secrecy at rest).
//
//   chain_0      = HKDF-Expand(initial_secret, Info("chain init", queue_id, 0), 32)
//   key_n        = HKDF-Expand(chain_n,        Info("message key", queue_id, n), 32)
//   chain_{n+1}  = HKDF-Expand(chain_n,        Info("chain", queue_id, n), 32)
//   Info(l, q, n) = opaque("MIMI QS " + l) || opaque(q) || uint64(n)
//   ciphertext_n = nonce (12 random bytes) || AES-256-GCM(key_n, nonce, QueuedMessage,
//                  aad = opaque("MIMI QS message") || opaque(queue_id) || uint64(n))
//
// The QS holds only chain_n (n = the queue's next sequence number): it seals message n and
// overwrites chain_n with chain_{n+1} in the same atomic write. HKDF is one-way, so chain_n
// yields no earlier key. The owning client chose initial_secret and derives every key itself.
// The initial secret (32 uniformly random bytes) is a valid HKDF PRK, so no Extract is needed.
// The nonce is random, not derived: if a batch fails after its seal (I/O error, crash), the next
// fanout seals another message as number n under the same key_n, and a torn write-ahead-log
// tail may keep the first ciphertext on disk; distinct random nonces keep GCM safe then.
import { createCipheriv, createDecipheriv, randomFillSync } from "node:crypto";
import { concatBytes } from "../codec/bytes.js";
import { INITIAL_SECRET_LENGTH } from "../protocol/QsConstants.js";
import { QueueDecryptionError } from "../protocol/QsErrors.js";
import { TlsWriter } from "../protocol/tls.js";
import { HmacSha256 } from "./Sha256.js";

export const CHAIN_KEY_LENGTH = 32;
const TAG_LENGTH = 16;
const enc = new TextEncoder();

// Every output here is at most one SHA-256 block long, so HKDF-Expand(prk, info, L) is the first
// L bytes of HMAC(prk, info || 0x01). All three derivations of a step are HMACs under the same
// chain key, so its padded keys are prepared once (HmacSha256) and each derivation costs two
// hash() calls. For the usual short queue ids each HMAC input (label || Info tail || 0x01) fits
// one block, kept per label in a scratch block where only opaque(queue_id) || uint64(n) is
// rewritten; the AAD has a scratch array of its own. A seal then allocates nothing but its
// outputs and the cipher. Outputs are byte-identical to HKDF-Expand over the TLS-encoded Info
// (test/qs/queueChain.test.ts checks against hkdfExpand).
const opaqueLabel = (l: string) => new TlsWriter(48).opaque(enc.encode(`MIMI QS ${l}`)).finish();
const L_INIT = opaqueLabel("chain init");
const L_CHAIN = opaqueLabel("chain");
const L_KEY = opaqueLabel("message key");
const L_AAD = opaqueLabel("message");
const ONE = Uint8Array.of(1);
const U64_LIMIT = 1n << 64n;

// Scratch state, used synchronously by one call at a time; secrets are wiped before it returns.
const mac = new HmacSha256();
const keyBuf = new Uint8Array(32);
const nonceBuf = new Uint8Array(12);

// V8 keeps an object type's hidden class only while some instance of it is alive: after a full
// GC that found no cipher (none outlives its seal), the class is dropped and every function
// compiled against it (this one, node's cipher and Buffer internals) is deoptimized, so the
// next fanout runs its seals unoptimized until they are recompiled (measured: about a quarter
// of the per-recipient cost in bench/fanout.bench.ts, which collects before each run). So an
// idle cipher under an all-zero key, with a Buffer it produced, is kept alive, and remade now
// and then so that it has the hidden classes current ciphers have. It holds no secret.
let classAnchor: readonly unknown[] = [];
let sealsSinceAnchor = Infinity;
function refreshClassAnchor(): void {
  const c = createCipheriv("aes-256-gcm", new Uint8Array(32), new Uint8Array(12));
  c.setAAD(new Uint8Array(1));
  classAnchor = [c, c.update(new Uint8Array(16)), c.final(), c.getAuthTag()];
  sealsSinceAnchor = 0;
}

/** A label's HMAC input block: label || opaque(queue_id) || uint64(n) || 0x01, rewritten per use. */
class InfoBlock {
  readonly block = new Uint8Array(64);
  readonly #view = new DataView(this.block.buffer);
  constructor(readonly label: Uint8Array) {
    this.block.set(label);
  }

  /** Whether Info(label, q, n) || 0x01 fits one block for a queue id of this length. */
  fits(q: number): boolean {
    return q < 0x40 && this.label.length + 1 + q + 9 <= 55;
  }

  /** Writes the tail for (queueId, seq) and returns the message length. Needs fits(). */
  write(queueId: Uint8Array, seq: bigint): number {
    const b = this.block;
    let o = this.label.length;
    b[o++] = queueId.length;
    for (let i = 0; i < queueId.length; i++) b[o++] = queueId[i]!;
    this.#view.setBigUint64(o, seq);
    b[o + 8] = 1;
    return o + 9;
  }
}
const B_KEY = new InfoBlock(L_KEY);
const B_CHAIN = new InfoBlock(L_CHAIN);
const B_INIT = new InfoBlock(L_INIT);
/** the scratch AAD of the last queue id length seen: the cipher needs an array of the exact length */
let aadScratch: { readonly bytes: Uint8Array; readonly view: DataView; readonly qAt: number } | undefined;

function checkSeq(seq: bigint): void {
  if (typeof seq !== "bigint" || seq < 0n || seq >= U64_LIMIT) throw new RangeError("sequence number is not a uint64");
}

/** opaque(queue_id) || uint64(n): the part of Info after the label. */
function infoTail(queueId: Uint8Array, seq: bigint): Uint8Array {
  return new TlsWriter(queueId.length + 12).opaque(queueId).u64(seq).finish();
}

/** HKDF-Expand(prk, Info(label, queue_id, n), len) with the HMAC already keyed with prk. */
function expandInto(out: Uint8Array, len: number, b: InfoBlock, queueId: Uint8Array, seq: bigint): void {
  if (b.fits(queueId.length)) mac.macBlockInto(out, 0, len, b.block, b.write(queueId, seq));
  else mac.macInto(out, 0, len, b.label, infoTail(queueId, seq), ONE);
}

function derive(prk: Uint8Array, b: InfoBlock, queueId: Uint8Array, seq: bigint, len: number): Uint8Array {
  checkSeq(seq);
  const out = new Uint8Array(len);
  try {
    mac.setKey(prk);
    expandInto(out, len, b, queueId, seq);
  } finally {
    mac.wipe();
  }
  return out;
}

export function initialChainKey(initialSecret: Uint8Array, queueId: Uint8Array): Uint8Array {
  if (initialSecret.length !== INITIAL_SECRET_LENGTH) throw new RangeError(`the initial secret must be ${INITIAL_SECRET_LENGTH} bytes`);
  return derive(initialSecret, B_INIT, queueId, 0n, CHAIN_KEY_LENGTH);
}

export function nextChainKey(chainKey: Uint8Array, queueId: Uint8Array, seq: bigint): Uint8Array {
  return derive(chainKey, B_CHAIN, queueId, seq, CHAIN_KEY_LENGTH);
}

export interface MessageKey {
  readonly key: Uint8Array;
}

export const NONCE_LENGTH = 12;

export function messageKey(chainKey: Uint8Array, queueId: Uint8Array, seq: bigint): MessageKey {
  return { key: derive(chainKey, B_KEY, queueId, seq, 32) };
}

export function messageAad(queueId: Uint8Array, seq: bigint): Uint8Array {
  checkSeq(seq);
  return concatBytes(L_AAD, infoTail(queueId, seq));
}

/** opaque("MIMI QS message") || opaque(queue_id) || uint64(n) in a scratch array (short ids) or a new one. */
function aadFor(queueId: Uint8Array, seq: bigint): Uint8Array {
  const q = queueId.length;
  if (q >= 0x40) return messageAad(queueId, seq);
  let s = aadScratch;
  if (s === undefined || s.bytes.length !== L_AAD.length + 1 + q + 8) {
    const bytes = new Uint8Array(L_AAD.length + 1 + q + 8);
    bytes.set(L_AAD);
    bytes[L_AAD.length] = q;
    aadScratch = s = { bytes, view: new DataView(bytes.buffer), qAt: L_AAD.length + 1 };
  }
  const b = s.bytes;
  for (let i = 0, o = s.qAt; i < q; i++) b[o + i] = queueId[i]!;
  s.view.setBigUint64(s.qAt + q, seq);
  return b;
}

/** Seals message `seq` under chain_seq; returns the ciphertext and chain_{seq+1}. */
export function sealWithChain(chainKey: Uint8Array, queueId: Uint8Array, seq: bigint, plaintext: Uint8Array): { ciphertext: Uint8Array; nextChainKey: Uint8Array } {
  checkSeq(seq);
  if (chainKey.length !== CHAIN_KEY_LENGTH) throw new RangeError(`the chain key must be ${CHAIN_KEY_LENGTH} bytes`);
  const next = new Uint8Array(CHAIN_KEY_LENGTH);
  try {
    mac.setKey(chainKey);
    expandInto(keyBuf, 32, B_KEY, queueId, seq);
    expandInto(next, CHAIN_KEY_LENGTH, B_CHAIN, queueId, seq);
    randomFillSync(nonceBuf);
    if (++sealsSinceAnchor > 512) refreshClassAnchor();
    const c = createCipheriv("aes-256-gcm", keyBuf, nonceBuf);
    c.setAAD(aadFor(queueId, seq));
    const body = c.update(plaintext);
    c.final();
    // a Buffer is a Uint8Array: returned as is
    const ciphertext = Buffer.concat([nonceBuf, body, c.getAuthTag()], NONCE_LENGTH + body.length + TAG_LENGTH);
    return { ciphertext, nextChainKey: next };
  } finally {
    mac.wipe();
    keyBuf.fill(0);
    nonceBuf.fill(0);
  }
}

/** Opens a message ciphertext with its message key; QueueDecryptionError if it does not authenticate. */
export function openWithKey(mk: MessageKey, queueId: Uint8Array, seq: bigint, ciphertext: Uint8Array): Uint8Array {
  if (ciphertext.length < NONCE_LENGTH + TAG_LENGTH) throw new QueueDecryptionError("ciphertext is shorter than nonce and tag");
  try {
    const d = createDecipheriv("aes-256-gcm", mk.key, ciphertext.subarray(0, NONCE_LENGTH));
    d.setAAD(messageAad(queueId, seq));
    d.setAuthTag(ciphertext.subarray(ciphertext.length - TAG_LENGTH));
    const pt = Buffer.concat([d.update(ciphertext.subarray(NONCE_LENGTH, ciphertext.length - TAG_LENGTH)), d.final()]);
    return new Uint8Array(pt.buffer, pt.byteOffset, pt.byteLength);
  } catch {
    throw new QueueDecryptionError("queued message does not decrypt under the derived key");
  }
}
