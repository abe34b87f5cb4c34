// The record format shared by every GroupStore adapter: storage keys, record tags, the AAD
// layout, AES-256-GCM seal/open, and the fixed binary layouts of head and record values.
//
// Why each piece:
// - storage key = SHA-256("mimi-ds group storage key v1" || group_id): one-way, so a stolen DB
//   does not reveal group ids, yet the DS (which knows the id) finds the group in O(1).
// - record tag = kindTag(16) || idTag(16), hashes over the *group id* (not the storage key) and
//   the kind / id: a thief sees neither kind names nor leaf indexes, and cannot compute them
//   from the storage key. The kind tag is a prefix so "delete all records of a kind" is a range.
// - AAD (never stored, so it costs nothing at rest) binds label, group id, kind, id, key epoch
//   and, for version-bound records, the head version: a record cannot be replayed in another
//   group, kind, id, epoch or (if bound) next to another head version.

import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import type { GroupHead, RecordRef } from "./GroupStore.js";
import { CorruptRecordError, StoreInputError, WrongKeyError } from "./errors.js";

const te = new TextEncoder();
const STORAGE_KEY_LABEL = te.encode("mimi-ds group storage key v1");
const KIND_TAG_LABEL = te.encode("mimi-ds group record kind tag v1");
const ID_TAG_LABEL = te.encode("mimi-ds group record id tag v1");
const AAD_LABEL = te.encode("mimi-ds group record v1");

export const STORAGE_KEY_LEN = 32;
export const TAG_HALF_LEN = 16;
export const RECORD_TAG_LEN = 2 * TAG_HALF_LEN;
export const AES_KEY_LEN = 32;
export const NONCE_LEN = 12;
export const GCM_TAG_LEN = 16;
/** Head value: version u32 || epoch u64 || lastUsedDay u32. */
export const HEAD_LEN = 16;
/** Record value header: keyEpoch u64 || writtenAtVersion u32 (0 = not version-bound) || nonce. */
export const RECORD_HEADER_LEN = 8 + 4 + NONCE_LEN;
export const MAX_U32 = 0xffff_ffff;
const MAX_U64 = (1n << 64n) - 1n;
const MAX_GROUP_ID_LEN = 0xffff;
const MAX_KIND_LEN = 0xff;

// ---- argument validation (every failure is a StoreInputError and happens before any I/O) ----

export function checkGroupId(groupId: Uint8Array): void {
  if (!(groupId instanceof Uint8Array) || groupId.length === 0 || groupId.length > MAX_GROUP_ID_LEN) {
    throw new StoreInputError("group id must be 1..65535 bytes");
  }
}

export function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== AES_KEY_LEN) {
    throw new StoreInputError("record key must be 32 bytes");
  }
}

export function checkEpoch(epoch: bigint, what = "epoch"): void {
  if (typeof epoch !== "bigint" || epoch < 0n || epoch > MAX_U64) {
    throw new StoreInputError(`${what} must be a u64 bigint`);
  }
}

export function checkU32(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_U32) throw new StoreInputError(`${what} must be a u32 integer`);
}

export function checkDay(day: number): void {
  checkU32(day, "day");
}

/** Normalizes and checks a ref: kind 1..255 UTF-8 bytes, id a non-negative safe integer. */
export function refParts(ref: RecordRef): { kind: Uint8Array; id: number } {
  if (ref === null || typeof ref !== "object" || typeof ref.kind !== "string") {
    throw new StoreInputError("record ref needs a string kind");
  }
  const kind = te.encode(ref.kind);
  if (kind.length === 0 || kind.length > MAX_KIND_LEN) throw new StoreInputError("record kind must be 1..255 bytes");
  const id = ref.id ?? 0;
  if (!Number.isSafeInteger(id) || id < 0) throw new StoreInputError("record id must be a non-negative safe integer");
  return { kind, id };
}

// ---- derived keys ----

function u16(n: number): Uint8Array {
  return Uint8Array.of(n >>> 8, n & 0xff);
}

function u64(n: bigint | number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n));
  return out;
}

/** SHA-256("mimi-ds group storage key v1" || group_id): the only per-group identifier at rest. */
export function groupStorageKey(groupId: Uint8Array): Uint8Array {
  checkGroupId(groupId);
  return new Uint8Array(createHash("sha256").update(STORAGE_KEY_LABEL).update(groupId).digest());
}

function kindTagOf(groupId: Uint8Array, kind: Uint8Array): Uint8Array {
  const h = createHash("sha256").update(KIND_TAG_LABEL).update(u16(groupId.length)).update(groupId);
  return h.update(Uint8Array.of(kind.length)).update(kind).digest().subarray(0, TAG_HALF_LEN);
}

/** First half of a record tag: depends on group id and kind only (range prefix for a kind). */
export function kindTag(groupId: Uint8Array, kind: string): Uint8Array {
  return new Uint8Array(kindTagOf(groupId, refParts({ kind }).kind));
}

/** kindTag(16) || idTag(16), where idTag hashes group id, kind and id. */
export function recordTag(groupId: Uint8Array, ref: RecordRef): Uint8Array {
  const { kind, id } = refParts(ref);
  const out = new Uint8Array(RECORD_TAG_LEN);
  out.set(kindTagOf(groupId, kind), 0);
  const ih = createHash("sha256").update(ID_TAG_LABEL).update(u16(groupId.length)).update(groupId);
  ih.update(Uint8Array.of(kind.length)).update(kind).update(u64(id));
  out.set(ih.digest().subarray(0, TAG_HALF_LEN), TAG_HALF_LEN);
  return out;
}

/**
 * AAD = "mimi-ds group record v1" || u16 len || group_id || u8 len || kind || u64 id
 *       || u64 keyEpoch || u32 boundVersion (0 = not version-bound; head versions start at 1).
 */
export function recordAad(groupId: Uint8Array, ref: RecordRef, keyEpoch: bigint, boundVersion: number): Uint8Array {
  const { kind, id } = refParts(ref);
  const out = new Uint8Array(AAD_LABEL.length + 2 + groupId.length + 1 + kind.length + 8 + 8 + 4);
  const dv = new DataView(out.buffer);
  let o = 0;
  out.set(AAD_LABEL, o);
  o += AAD_LABEL.length;
  dv.setUint16(o, groupId.length);
  o += 2;
  out.set(groupId, o);
  o += groupId.length;
  out[o++] = kind.length;
  out.set(kind, o);
  o += kind.length;
  dv.setBigUint64(o, BigInt(id));
  o += 8;
  dv.setBigUint64(o, keyEpoch);
  o += 8;
  dv.setUint32(o, boundVersion);
  return out;
}

// ---- head value ----

export function encodeHead(h: GroupHead): Uint8Array {
  const out = new Uint8Array(HEAD_LEN);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, h.version);
  dv.setBigUint64(4, h.epoch);
  dv.setUint32(12, h.lastUsedDay);
  return out;
}

export function decodeHead(v: Uint8Array): GroupHead {
  if (v.length !== HEAD_LEN) throw new CorruptRecordError("group head");
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  const version = dv.getUint32(0);
  if (version === 0) throw new CorruptRecordError("group head");
  return { version, epoch: dv.getBigUint64(4), lastUsedDay: dv.getUint32(12) };
}

// ---- record value: keyEpoch u64 || writtenAtVersion u32 || nonce(12) || ciphertext || tag(16) ----

export interface RecordMeta {
  keyEpoch: bigint;
  /** 0 if the record is not version-bound. */
  writtenAt: number;
}

export function decodeRecordMeta(v: Uint8Array): RecordMeta {
  if (v.length < RECORD_HEADER_LEN + GCM_TAG_LEN) throw new CorruptRecordError("record");
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  return { keyEpoch: dv.getBigUint64(0), writtenAt: dv.getUint32(8) };
}

/** Seals one record. `boundVersion` is the head version it is bound to, or 0 for none. */
export function sealRecord(
  groupId: Uint8Array,
  ref: RecordRef,
  plaintext: Uint8Array,
  key: Uint8Array,
  keyEpoch: bigint,
  boundVersion: number,
): Uint8Array {
  const nonce = randomBytes(NONCE_LEN);
  const cipher = createCipheriv("aes-256-gcm", key, nonce, { authTagLength: GCM_TAG_LEN });
  cipher.setAAD(recordAad(groupId, ref, keyEpoch, boundVersion));
  const out = new Uint8Array(RECORD_HEADER_LEN + plaintext.length + GCM_TAG_LEN);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, keyEpoch);
  dv.setUint32(8, boundVersion);
  out.set(nonce, 12);
  let o = RECORD_HEADER_LEN;
  const body = cipher.update(plaintext);
  out.set(body, o);
  o += body.length;
  const fin = cipher.final();
  out.set(fin, o);
  o += fin.length;
  out.set(cipher.getAuthTag(), o);
  return out;
}

/**
 * Opens one stored record value. `version` is the head version the caller read; a bound record
 * must have been written at exactly that version. The stored metadata only selects which AAD to
 * try: tampering with it changes the AAD and fails authentication.
 */
export function openRecord(
  groupId: Uint8Array,
  ref: RecordRef,
  value: Uint8Array,
  key: Uint8Array,
  keyEpoch: bigint,
  version: number | undefined,
  onNewerVersion: () => Error,
): Uint8Array {
  const meta = decodeRecordMeta(value);
  if (meta.keyEpoch !== keyEpoch) throw new WrongKeyError();
  let bound = 0;
  if (meta.writtenAt !== 0) {
    if (version === undefined) throw new WrongKeyError();
    // A bound record newer than the head the caller read: the group moved on (stale read).
    // Older or tampered: it never opens (AAD uses the caller's version).
    if (meta.writtenAt > version) throw onNewerVersion();
    bound = version;
  }
  const nonce = value.subarray(12, RECORD_HEADER_LEN);
  const ct = value.subarray(RECORD_HEADER_LEN, value.length - GCM_TAG_LEN);
  const tag = value.subarray(value.length - GCM_TAG_LEN);
  try {
    const d = createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: GCM_TAG_LEN });
    d.setAAD(recordAad(groupId, ref, keyEpoch, bound));
    d.setAuthTag(tag);
    const a = d.update(ct);
    const b = d.final();
    if (b.length === 0) return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const out = new Uint8Array(a.length + b.length);
    out.set(a, 0);
    out.set(b, a.length);
    return out;
  } catch {
    throw new WrongKeyError();
  }
}

// ---- reservation value: expiry (ms since the Unix epoch) as u64 ----

export function encodeExpiry(ms: number): Uint8Array {
  return u64(Math.max(0, Math.ceil(ms)));
}

export function decodeExpiry(v: Uint8Array): number {
  if (v.length !== 8) throw new CorruptRecordError("reservation");
  return Number(new DataView(v.buffer, v.byteOffset, v.byteLength).getBigUint64(0));
}

export function checkTtlMs(ttlMs: number): void {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0 || ttlMs > 365 * 86_400_000) {
    throw new StoreInputError("reservation ttl must be a positive number of ms (at most a year)");
  }
}

/** Hex of bytes, for in-memory map keys and mutex keys (never logged). */
export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

/** Checks every input of a write before anything is sealed or stored. */
export function checkWrite(w: {
  expectedVersion: number | null;
  head: { epoch: bigint; lastUsedDay: number };
  puts: readonly { ref: RecordRef; plaintext: Uint8Array; key: Uint8Array; keyEpoch: bigint; bindVersion: boolean }[];
  deletes?: readonly RecordRef[] | undefined;
  deleteKinds?: readonly string[] | undefined;
}): number {
  if (w === null || typeof w !== "object") throw new StoreInputError("write must be an object");
  if (w.expectedVersion !== null) {
    checkU32(w.expectedVersion, "expectedVersion");
    if (w.expectedVersion === 0 || w.expectedVersion >= MAX_U32) throw new StoreInputError("expectedVersion out of range");
  }
  if (w.head === null || typeof w.head !== "object") throw new StoreInputError("write needs a head");
  checkEpoch(w.head.epoch);
  checkDay(w.head.lastUsedDay);
  if (!Array.isArray(w.puts)) throw new StoreInputError("puts must be an array");
  const seen = new Set<string>();
  for (const p of w.puts) {
    if (p === null || typeof p !== "object") throw new StoreInputError("put must be an object");
    const { kind, id } = refParts(p.ref);
    const k = `${toHex(kind)}/${id}`;
    if (seen.has(k)) throw new StoreInputError("the same record is put twice in one write");
    seen.add(k);
    if (!(p.plaintext instanceof Uint8Array)) throw new StoreInputError("plaintext must be a Uint8Array");
    checkKey(p.key);
    checkEpoch(p.keyEpoch, "keyEpoch");
    if (typeof p.bindVersion !== "boolean") throw new StoreInputError("bindVersion must be a boolean");
  }
  if (w.deletes !== undefined) {
    if (!Array.isArray(w.deletes)) throw new StoreInputError("deletes must be an array");
    for (const r of w.deletes) refParts(r);
  }
  if (w.deleteKinds !== undefined) {
    if (!Array.isArray(w.deleteKinds)) throw new StoreInputError("deleteKinds must be an array");
    for (const k of w.deleteKinds) refParts({ kind: k });
  }
  return w.expectedVersion === null ? 1 : w.expectedVersion + 1;
}
