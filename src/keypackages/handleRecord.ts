// The record behind a discovery handle: the user's storage key (for uniqueness checks and
// revoke-all) and the user id itself, which the directory must give back (it goes into the
// found profile's stable URI). Every other record stores user ids only hashed, so this one seals
// the user id with AES-256-GCM under a key derived from the normalized handle: a stolen store
// yields a user id only for a handle the thief already knows or guesses. Handles are guessable,
// so this keeps the store from LISTING user ids; it is not secrecy against a dictionary.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { concatBytes } from "../codec/bytes.js";
import { CorruptRecordError } from "../store/errors.js";
import { bytesEqual, userStorageKey, type StoredHandle } from "./KeyPackageStore.js";

const te = new TextEncoder();
const SALT = te.encode("mimi-ds kp handle seal v1");
const INFO = te.encode("user id");
const NONCE = 12;
const TAG = 16;

function keyOf(normalizedHandle: string): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", te.encode(normalizedHandle), SALT, INFO, 32));
}

/** The record binding `handleKey` to `userId`; the AAD ties the sealed id to both keys. */
export function sealHandleRecord(normalizedHandle: string, handleKey: Uint8Array, userId: Uint8Array): StoredHandle {
  const userKey = userStorageKey(userId);
  // A random nonce: after removal a handle may be bound to another user under the same key.
  const nonce = new Uint8Array(randomBytes(NONCE));
  const c = createCipheriv("aes-256-gcm", keyOf(normalizedHandle), nonce);
  c.setAAD(concatBytes(handleKey, userKey));
  const ct = concatBytes(new Uint8Array(c.update(userId)), new Uint8Array(c.final()), new Uint8Array(c.getAuthTag()));
  return { userKey, sealedUserId: concatBytes(nonce, ct) };
}

/** The user id of a handle's record; CorruptRecordError if it does not open or does not match. */
export function openHandleRecord(normalizedHandle: string, handleKey: Uint8Array, rec: StoredHandle): Uint8Array {
  const b = rec.sealedUserId;
  if (b.length < NONCE + TAG + 1) throw new CorruptRecordError("handle record");
  let userId: Uint8Array;
  try {
    const d = createDecipheriv("aes-256-gcm", keyOf(normalizedHandle), b.subarray(0, NONCE));
    d.setAAD(concatBytes(handleKey, rec.userKey));
    d.setAuthTag(b.subarray(b.length - TAG));
    userId = concatBytes(new Uint8Array(d.update(b.subarray(NONCE, b.length - TAG))), new Uint8Array(d.final()));
  } catch {
    throw new CorruptRecordError("handle record");
  }
  if (!bytesEqual(userStorageKey(userId), rec.userKey)) throw new CorruptRecordError("handle record");
  return userId;
}
