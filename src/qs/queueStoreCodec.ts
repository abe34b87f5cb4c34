// What the queue store adapters share: hashed storage keys (no queue id or message id at rest),
// the head record layout and argument checks.
//
//   storageKey(queue_id)        = SHA-256("mimi-qs queue storage key v1" || opaque(queue_id))
//   dedupKey(message_id, queue) = SHA-256("mimi-qs dedup key v1" || opaque(message_id) || storageKey)
//   fanoutId(message_id)        = SHA-256("mimi-qs fanout id v1" || opaque(message_id))
//   head = format(1) = 1 || owner_key(32) || chain_key(32) || next_seq u64 || first_seq u64
import { concatBytes } from "../codec/bytes.js";
import { CorruptRecordError, StoreInputError } from "../store/errors.js";
import { ED25519_PUBLIC_KEY_LENGTH, MAX_QUEUE_ID_BYTES, MESSAGE_ID_LENGTH } from "../protocol/QsConstants.js";
import { CHAIN_KEY_LENGTH } from "./QueueChain.js";
import { sha256Into } from "./Sha256.js";
import type { EnqueueOptions, QueueHead } from "./QueueStore.js";

const te = new TextEncoder();
const SK_LABEL = te.encode("mimi-qs queue storage key v1");
const DEDUP_LABEL = te.encode("mimi-qs dedup key v1");
const FANOUT_LABEL = te.encode("mimi-qs fanout id v1");
export const STORAGE_KEY_LEN = 32;
export const HEAD_LEN = 1 + 32 + 32 + 8 + 8;
const HEAD_FORMAT = 1;
const U64_MAX = (1n << 64n) - 1n;

export function checkQueueId(queueId: Uint8Array): void {
  if (!(queueId instanceof Uint8Array) || queueId.length === 0 || queueId.length > MAX_QUEUE_ID_BYTES) throw new StoreInputError("invalid queue id");
}

// A fanout hashes a storage key and a dedup key per recipient: short inputs, hashed with one
// node:crypto hash() call (Sha256.ts) over a scratch array that already holds the fixed prefix,
// instead of a createHash object and a concatenated argument. Scratch arrays are used
// synchronously, one call at a time.
const skScratch = new Uint8Array(128);
skScratch.set(SK_LABEL);
const SK_AT = SK_LABEL.length;

/** storageKey(queue_id) into out[offset..offset+32). */
export function queueStorageKeyInto(queueId: Uint8Array, out: Uint8Array, offset: number): void {
  checkQueueId(queueId);
  const b = skScratch;
  const q = queueId.length;
  b[SK_AT] = q;
  for (let i = 0; i < q; i++) b[SK_AT + 1 + i] = queueId[i]!;
  sha256Into(b, SK_AT + 1 + q, out, offset, STORAGE_KEY_LEN);
}

export function queueStorageKey(queueId: Uint8Array): Uint8Array {
  const out = new Uint8Array(STORAGE_KEY_LEN);
  queueStorageKeyInto(queueId, out, 0);
  return out;
}

export function checkMessageId(messageId: Uint8Array): void {
  if (!(messageId instanceof Uint8Array) || messageId.length !== MESSAGE_ID_LENGTH) throw new StoreInputError("invalid message id");
}

/** Where the storage key goes in a dedupKeyPrefix() array: after label || opaque(message_id). */
const DEDUP_AT = DEDUP_LABEL.length + 1 + MESSAGE_ID_LENGTH;

/**
 * The part of dedupKey's hash input that depends only on the message id, in a scratch array
 * with room for a storage key and the padding: a fanout writes it once for all recipients.
 * Plain functions over an array rather than a keyer object made per fanout: a short-lived
 * object whose methods run hot loses its hidden class at every full GC (see QueueChain.ts).
 */
export function dedupKeyPrefix(messageId: Uint8Array): Uint8Array {
  checkMessageId(messageId);
  const b = new Uint8Array(128);
  b.set(DEDUP_LABEL);
  b[DEDUP_LABEL.length] = messageId.length;
  b.set(messageId, DEDUP_LABEL.length + 1);
  return b;
}

/** The first `len` bytes of dedupKey(messageId, sk[skOffset..+32)) into out[offset..]; `prefix` from dedupKeyPrefix(messageId). */
export function dedupKeyInto(prefix: Uint8Array, sk: Uint8Array, skOffset: number, out: Uint8Array, offset: number, len: number): void {
  for (let i = 0; i < STORAGE_KEY_LEN; i++) prefix[DEDUP_AT + i] = sk[skOffset + i]!;
  sha256Into(prefix, DEDUP_AT + STORAGE_KEY_LEN, out, offset, len);
}

export function dedupKey(messageId: Uint8Array, storageKey: Uint8Array): Uint8Array {
  if (!(storageKey instanceof Uint8Array) || storageKey.length !== STORAGE_KEY_LEN) throw new StoreInputError("invalid storage key");
  const out = new Uint8Array(32);
  dedupKeyInto(dedupKeyPrefix(messageId), storageKey, 0, out, 0, 32);
  return out;
}

/** Names the dedup record of one message (all its recipients at this QS); reveals no queue. */
export function fanoutId(messageId: Uint8Array): Uint8Array {
  checkMessageId(messageId);
  const b = new Uint8Array(128);
  b.set(FANOUT_LABEL);
  b[FANOUT_LABEL.length] = messageId.length;
  b.set(messageId, FANOUT_LABEL.length + 1);
  const out = new Uint8Array(32);
  sha256Into(b, FANOUT_LABEL.length + 1 + messageId.length, out);
  return out;
}

export interface HeadState extends QueueHead {
  readonly chainKey: Uint8Array;
}

export function encodeHead(h: HeadState): Uint8Array {
  const out = new Uint8Array(HEAD_LEN);
  const dv = new DataView(out.buffer);
  out[0] = HEAD_FORMAT;
  out.set(h.ownerKey, 1);
  out.set(h.chainKey, 33);
  dv.setBigUint64(65, h.nextSeq);
  dv.setBigUint64(73, h.firstSeq);
  return out;
}

/** encodeHead into `out` (HEAD_LEN bytes), whose DataView `view` has it at `at`: no allocation. */
export function encodeHeadInto(out: Uint8Array, view: DataView, at: number, ownerKey: Uint8Array, chainKey: Uint8Array, nextSeq: bigint, firstSeq: bigint): void {
  out[0] = HEAD_FORMAT;
  out.set(ownerKey, 1);
  out.set(chainKey, 33);
  view.setBigUint64(at + 65, nextSeq);
  view.setBigUint64(at + 73, firstSeq);
}

export function decodeHead(v: Uint8Array): HeadState {
  if (v.length !== HEAD_LEN || v[0] !== HEAD_FORMAT) throw new CorruptRecordError("queue head");
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  const nextSeq = dv.getBigUint64(65);
  const firstSeq = dv.getBigUint64(73);
  if (firstSeq > nextSeq) throw new CorruptRecordError("queue head");
  // copies (a Buffer's slice() would be a view): the caller may wipe `v`
  const ownerKey = new Uint8Array(32);
  ownerKey.set(v.subarray(1, 33));
  const chainKey = new Uint8Array(CHAIN_KEY_LENGTH);
  chainKey.set(v.subarray(33, 65));
  return { ownerKey, chainKey, nextSeq, firstSeq };
}

export const publicHead = (h: HeadState): QueueHead => ({ ownerKey: Uint8Array.from(h.ownerKey), nextSeq: h.nextSeq, firstSeq: h.firstSeq });

export function checkCreate(ownerKey: Uint8Array, chainKey: Uint8Array): void {
  if (!(ownerKey instanceof Uint8Array) || ownerKey.length !== ED25519_PUBLIC_KEY_LENGTH) throw new StoreInputError("invalid owner key");
  if (!(chainKey instanceof Uint8Array) || chainKey.length !== CHAIN_KEY_LENGTH) throw new StoreInputError("invalid chain key");
}

export function checkSeq(seq: bigint, what: string): void {
  if (typeof seq !== "bigint" || seq < 0n || seq > U64_MAX) throw new StoreInputError(`${what} is not a uint64`);
}

export function checkFetchArgs(fromSeq: bigint, max: number, maxBytes: number): void {
  checkSeq(fromSeq, "fromSeq");
  if (!Number.isInteger(max) || max < 1 || max > 100_000) throw new StoreInputError("max must be 1..100000");
  if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new StoreInputError("maxBytes must be positive");
}

export function checkEnqueueOptions(o: EnqueueOptions): number {
  if (o === null || typeof o !== "object") throw new StoreInputError("enqueue needs options");
  if (!Number.isSafeInteger(o.dedupExpiresAtMs) || o.dedupExpiresAtMs < 0) throw new StoreInputError("invalid dedupExpiresAtMs");
  if (!Number.isInteger(o.maxQueueLength) || o.maxQueueLength < 1) throw new StoreInputError("invalid maxQueueLength");
  const now = o.nowMs ?? Date.now();
  if (!Number.isSafeInteger(now) || now < 0) throw new StoreInputError("invalid nowMs");
  return now;
}

export function checkNextChainKey(k: Uint8Array): void {
  if (!(k instanceof Uint8Array) || k.length !== CHAIN_KEY_LENGTH) throw new StoreInputError("sealer returned an invalid chain key");
}

export const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");

export function u64be(v: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, v);
  return out;
}

export { concatBytes as cat };
