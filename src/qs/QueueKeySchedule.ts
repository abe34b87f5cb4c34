// The queue ratchet of QueueChain.ts as its owner computes it, straight from the definition
// (HKDF-Expand over the TLS-encoded Info; AES-256-GCM with the random nonce stored in front) through the active platform, so the
// client's decryptor runs in browsers. QueueChain.ts is the QS's optimised, node:crypto-backed
// version of the same schedule; test/qs checks the two against each other.
import { platform } from "../platform/current.js";
import { INITIAL_SECRET_LENGTH } from "../protocol/QsConstants.js";
import { QueueDecryptionError } from "../protocol/QsErrors.js";
import { TlsWriter } from "../protocol/tls.js";

export const CHAIN_KEY_LENGTH = 32;
const TAG_LENGTH = 16;
const enc = new TextEncoder();

/** Info(l, q, n) = opaque("MIMI QS " + l) || opaque(q) || uint64(n) */
function info(label: string, queueId: Uint8Array, n: bigint): Uint8Array {
  return new TlsWriter(64 + queueId.length).opaque(enc.encode(`MIMI QS ${label}`)).opaque(queueId).u64(n).finish();
}

const expand = (prk: Uint8Array, label: string, queueId: Uint8Array, n: bigint, len: number) => platform().hkdfExpand("sha256", prk, info(label, queueId, n), len);

export function initialChainKey(initialSecret: Uint8Array, queueId: Uint8Array): Uint8Array {
  if (initialSecret.length !== INITIAL_SECRET_LENGTH) throw new RangeError(`the initial secret must be ${INITIAL_SECRET_LENGTH} bytes`);
  return expand(initialSecret, "chain init", queueId, 0n, CHAIN_KEY_LENGTH);
}

export function nextChainKey(chainKey: Uint8Array, queueId: Uint8Array, seq: bigint): Uint8Array {
  return expand(chainKey, "chain", queueId, seq, CHAIN_KEY_LENGTH);
}

export interface MessageKey {
  readonly key: Uint8Array;
}

/** ciphertext_n = nonce (12 random bytes) || AES-256-GCM(key_n, nonce, plaintext, aad) */
export const NONCE_LENGTH = 12;

export function messageKey(chainKey: Uint8Array, queueId: Uint8Array, seq: bigint): MessageKey {
  return { key: expand(chainKey, "message key", queueId, seq, 32) };
}

/** aad = opaque("MIMI QS message") || opaque(queue_id) || uint64(n) */
export function messageAad(queueId: Uint8Array, seq: bigint): Uint8Array {
  return info("message", queueId, seq);
}

/** Opens a message ciphertext with its message key; QueueDecryptionError if it does not authenticate. */
export function openWithKey(mk: MessageKey, queueId: Uint8Array, seq: bigint, ciphertext: Uint8Array): Uint8Array {
  if (ciphertext.length < NONCE_LENGTH + TAG_LENGTH) throw new QueueDecryptionError("ciphertext is shorter than nonce and tag");
  try {
    return platform().aes256GcmOpen(mk.key, ciphertext.subarray(0, NONCE_LENGTH), ciphertext.subarray(NONCE_LENGTH), messageAad(queueId, seq));
  } catch {
    throw new QueueDecryptionError("queued message does not decrypt under the derived key");
  }
}

/** Seals message `seq` with a fresh random nonce (what the QS does; here for tests and other QS implementations). */
export function sealWithKeySchedule(chainKey: Uint8Array, queueId: Uint8Array, seq: bigint, plaintext: Uint8Array): { ciphertext: Uint8Array; nextChainKey: Uint8Array } {
  const mk = messageKey(chainKey, queueId, seq);
  const nonce = platform().randomBytes(NONCE_LENGTH);
  const sealed = platform().aes256GcmSeal(mk.key, nonce, plaintext, messageAad(queueId, seq));
  const ciphertext = new Uint8Array(NONCE_LENGTH + sealed.length);
  ciphertext.set(nonce);
  ciphertext.set(sealed, NONCE_LENGTH);
  return { ciphertext, nextChainKey: nextChainKey(chainKey, queueId, seq) };
}
