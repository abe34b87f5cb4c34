// What the queue store adapters share: hashed storage keys (no queue id or message id at rest),
// the head record layout and argument checks.
//
//   storageKey(queue_id)        = SHA-256("mimi-qs queue storage key v1" || opaque(queue_id))
//   dedupKey(message_id, queue) = SHA-256("mimi-qs dedup key v1" || opaque(message_id) || storageKey)
//   fanoutId(message_id)        = SHA-256("mimi-qs fanout id v1" || opaque(message_id))
//   head = format(1) = 1 || owner_key(32) || chain_key(32) || next_seq u64 || first_seq u64
import { concatBytes } from "../codec/bytes.js";
import { hash } from "node:crypto";
import { CorruptRecordError, StoreInputError } from "../store/errors.js";
import { ED25519_PUBLIC_KEY_LENGTH, MAX_QUEUE_ID_BYTES, MESSAGE_ID_LENGTH } from "../protocol/QsConstants.js";
import { CHAIN_KEY_LENGTH } from "./QueueChain.js";
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

// One-shot crypto.hash over one buffer: a fanout hashes two of these per recipient, and the
// streaming createHash object costs several times more at this size.
function sha256(...parts: Uint8Array[]): Uint8Array {
  return hash("sha256", concatBytes(...parts), "buffer");
}

export function queueStorageKey(queueId: Uint8Array): Uint8Array {
  checkQueueId(queueId);
  return sha256(SK_LABEL, Uint8Array.of(queueId.length), queueId);
}

export function dedupKey(messageId: Uint8Array, storageKey: Uint8Array): Uint8Array {
  if (!(messageId instanceof Uint8Array) || messageId.length !== MESSAGE_ID_LENGTH) throw new StoreInputError("invalid message id");
  return sha256(DEDUP_LABEL, Uint8Array.of(messageId.length), messageId, storageKey);
}

/** Names the dedup record of one message (all its recipients at this QS); reveals no queue. */
export function fanoutId(messageId: Uint8Array): Uint8Array {
  if (!(messageId instanceof Uint8Array) || messageId.length !== MESSAGE_ID_LENGTH) throw new StoreInputError("invalid message id");
  return sha256(FANOUT_LABEL, Uint8Array.of(messageId.length), messageId);
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

export function decodeHead(v: Uint8Array): HeadState {
  if (v.length !== HEAD_LEN || v[0] !== HEAD_FORMAT) throw new CorruptRecordError("queue head");
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  const nextSeq = dv.getBigUint64(65);
  const firstSeq = dv.getBigUint64(73);
  if (firstSeq > nextSeq) throw new CorruptRecordError("queue head");
  return { ownerKey: v.slice(1, 33), chainKey: v.slice(33, 65), nextSeq, firstSeq };
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
