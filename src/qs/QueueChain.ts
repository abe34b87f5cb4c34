// The per-queue forward-only key ratchet that keeps queued messages unreadable to anyone who
// steals the QS store later (forward secrecy at rest).
//
//   chain_0      = HKDF-Expand(initial_secret, Info("chain init", queue_id, 0), 32)
//   key_n        = HKDF-Expand(chain_n,        Info("message key", queue_id, n), 32)
//   nonce_n      = HKDF-Expand(chain_n,        Info("message nonce", queue_id, n), 12)
//   chain_{n+1}  = HKDF-Expand(chain_n,        Info("chain", queue_id, n), 32)
//   Info(l, q, n) = opaque("MIMI QS " + l) || opaque(q) || uint64(n)
//   ciphertext_n = AES-256-GCM(key_n, nonce_n, QueuedMessage, aad = opaque("MIMI QS message") || opaque(queue_id) || uint64(n))
//
// The QS holds only chain_n (n = the queue's next sequence number): it seals message n and
// overwrites chain_n with chain_{n+1} in the same atomic write. HKDF is one-way, so chain_n
// yields no earlier key. The owning client chose initial_secret and derives every key itself.
// The initial secret (32 uniformly random bytes) is a valid HKDF PRK, so no Extract is needed.
import { createCipheriv, createDecipheriv } from "node:crypto";
import { hkdfExpand } from "../hpke/NodeHkdf.js";
import { INITIAL_SECRET_LENGTH } from "../protocol/QsConstants.js";
import { QueueDecryptionError } from "../protocol/QsErrors.js";
import { TlsWriter } from "../protocol/tls.js";

export const CHAIN_KEY_LENGTH = 32;
const TAG_LENGTH = 16;
const enc = new TextEncoder();

function info(label: string, queueId: Uint8Array, seq: bigint): Uint8Array {
  return new TlsWriter(queueId.length + 40).opaque(enc.encode(`MIMI QS ${label}`)).opaque(queueId).u64(seq).finish();
}

const expand = (prk: Uint8Array, inf: Uint8Array, len: number) => new Uint8Array(hkdfExpand("sha256", 32, prk, inf, len));

export function initialChainKey(initialSecret: Uint8Array, queueId: Uint8Array): Uint8Array {
  if (initialSecret.length !== INITIAL_SECRET_LENGTH) throw new RangeError(`the initial secret must be ${INITIAL_SECRET_LENGTH} bytes`);
  return expand(initialSecret, info("chain init", queueId, 0n), CHAIN_KEY_LENGTH);
}

export function nextChainKey(chainKey: Uint8Array, queueId: Uint8Array, seq: bigint): Uint8Array {
  return expand(chainKey, info("chain", queueId, seq), CHAIN_KEY_LENGTH);
}

export interface MessageKey {
  readonly key: Uint8Array;
  readonly nonce: Uint8Array;
}

export function messageKey(chainKey: Uint8Array, queueId: Uint8Array, seq: bigint): MessageKey {
  return { key: expand(chainKey, info("message key", queueId, seq), 32), nonce: expand(chainKey, info("message nonce", queueId, seq), 12) };
}

export function messageAad(queueId: Uint8Array, seq: bigint): Uint8Array {
  return new TlsWriter(queueId.length + 32).opaque(enc.encode("MIMI QS message")).opaque(queueId).u64(seq).finish();
}

/** Seals message `seq` under chain_seq; returns the ciphertext and chain_{seq+1}. */
export function sealWithChain(chainKey: Uint8Array, queueId: Uint8Array, seq: bigint, plaintext: Uint8Array): { ciphertext: Uint8Array; nextChainKey: Uint8Array } {
  const mk = messageKey(chainKey, queueId, seq);
  const c = createCipheriv("aes-256-gcm", mk.key, mk.nonce);
  c.setAAD(messageAad(queueId, seq));
  const ct = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
  mk.key.fill(0);
  return { ciphertext: new Uint8Array(ct.buffer, ct.byteOffset, ct.byteLength), nextChainKey: nextChainKey(chainKey, queueId, seq) };
}

/** Opens a message ciphertext with its message key; QueueDecryptionError if it does not authenticate. */
export function openWithKey(mk: MessageKey, queueId: Uint8Array, seq: bigint, ciphertext: Uint8Array): Uint8Array {
  if (ciphertext.length < TAG_LENGTH) throw new QueueDecryptionError("ciphertext is shorter than the tag");
  try {
    const d = createDecipheriv("aes-256-gcm", mk.key, mk.nonce);
    d.setAAD(messageAad(queueId, seq));
    d.setAuthTag(ciphertext.subarray(ciphertext.length - TAG_LENGTH));
    const pt = Buffer.concat([d.update(ciphertext.subarray(0, ciphertext.length - TAG_LENGTH)), d.final()]);
    return new Uint8Array(pt.buffer, pt.byteOffset, pt.byteLength);
  } catch {
    throw new QueueDecryptionError("queued message does not decrypt under the derived key");
  }
}
