// The per-epoch group-state key (encryption at rest, "EAR key") and how the DS checks and
// hands it on without being able to derive it:
// - members derive key_e = MLS-Exporter("MIMI DS EAR key", group_id, 32) of epoch e;
// - a committer supplies key_{e+1} and puts H(key_{e+1}) in a GroupInfo extension of the
//   PartialGroupInfo it uploads with the commit. The GroupInfo is signed by the committer over
//   the new GroupContext, the DS refuses a key that does not match, and members (who can fetch
//   the GroupInfo) compare with their own derivation: a bad key is detectable and attributable.
//   (The commit's authenticated_data cannot carry it: key_{e+1} is derived from the
//   confirmed transcript hash, which covers authenticated_data.)
// - a Welcome joiner cannot derive key_{e+1} before it has the tree, so the DS seals it to the
//   joiner's KeyPackage init key (HPKE base mode, AAD binding group id and epoch).
import { createHash, timingSafeEqual } from "node:crypto";
import { createFastCipherSuite } from "../hpke/index.js";
import type { Extension } from "../mls/adapter.js";
import { EAR_KEY_HASH_LABEL, EAR_KEY_LENGTH, EXTENSION_TYPE_EAR_KEY_HASH, JOINER_KEY_HPKE_INFO, joinerSuiteIds } from "../protocol/constants.js";
import { InvalidCommitError, MalformedError } from "../protocol/errors.js";
import { decodeExact, TlsWriter } from "../protocol/tls.js";

const enc = new TextEncoder();

export function earKeyHash(key: Uint8Array): Uint8Array {
  return createHash("sha256").update(enc.encode(EAR_KEY_HASH_LABEL)).update(key).digest();
}

/** The GroupInfo extension committing to the epoch's key: struct { opaque ear_key_hash<V>; } */
export function earKeyHashExtension(key: Uint8Array): Extension {
  return { extensionType: EXTENSION_TYPE_EAR_KEY_HASH, extensionData: new TlsWriter(40).opaque(earKeyHash(key)).finish() };
}

export function checkEarKeyShape(key: Uint8Array, what: string): void {
  if (key.length !== EAR_KEY_LENGTH) throw new MalformedError(`${what} must be ${EAR_KEY_LENGTH} bytes`);
}

/** Refuses a commit whose signed GroupInfo does not commit to the supplied next key. */
export function checkCommitKeyBinding(groupInfoExtensions: readonly Extension[], nextKey: Uint8Array): void {
  const ext = groupInfoExtensions.filter((e) => e.extensionType === EXTENSION_TYPE_EAR_KEY_HASH);
  let declared: Uint8Array;
  try {
    if (ext.length !== 1) throw new Error("missing");
    declared = decodeExact(ext[0]!.extensionData, "ear_key_hash extension", (r) => r.opaque("ear_key_hash", 64));
  } catch {
    throw new InvalidCommitError("the GroupInfo must carry exactly one ear_key_hash extension");
  }
  const actual = earKeyHash(nextKey);
  if (declared.length !== actual.length || !timingSafeEqual(declared, actual)) {
    throw new InvalidCommitError("the supplied next group-state key does not match the hash in the commit");
  }
}

/** HPKE suite for a joiner's init key, by MLS cipher suite (the ids clients use too). */
function suiteFor(mlsSuite: string) {
  let ids: [number, number, number];
  try {
    ids = joinerSuiteIds(mlsSuite);
  } catch {
    throw new InvalidCommitError(`cipher suite ${mlsSuite} is not supported by this DS`);
  }
  return createFastCipherSuite(...ids);
}

function joinerAad(groupId: Uint8Array, epoch: bigint): Uint8Array {
  return new TlsWriter(groupId.length + 16).opaque(groupId).u64(epoch).finish();
}

/** SealedJoinerKey { uint64 epoch; opaque kem_output<V>; opaque ciphertext<V>; } */
export async function sealJoinerKey(mlsSuite: string, initKey: Uint8Array, earKey: Uint8Array, groupId: Uint8Array, epoch: bigint): Promise<Uint8Array> {
  const suite = suiteFor(mlsSuite);
  const recipientPublicKey = await suite.kem.deserializePublicKey(initKey);
  const { ct: ciphertext, enc: kemOutput } = await suite.seal({ recipientPublicKey, info: enc.encode(JOINER_KEY_HPKE_INFO) }, earKey, joinerAad(groupId, epoch));
  return new TlsWriter(128).u64(epoch).opaque(new Uint8Array(kemOutput)).opaque(new Uint8Array(ciphertext)).finish();
}

export async function openJoinerKey(
  mlsSuite: string,
  initPrivateKey: Uint8Array,
  sealed: Uint8Array,
  groupId: Uint8Array,
): Promise<{ epoch: bigint; earKey: Uint8Array }> {
  const s = decodeExact(sealed, "SealedJoinerKey", (r) => ({ epoch: r.u64("epoch"), kemOutput: r.opaque("kem_output", 256), ciphertext: r.opaque("ciphertext", 256) }));
  const suite = suiteFor(mlsSuite);
  const recipientKey = await suite.kem.deserializePrivateKey(initPrivateKey);
  const pt = await suite.open({ recipientKey, enc: s.kemOutput, info: enc.encode(JOINER_KEY_HPKE_INFO) }, s.ciphertext, joinerAad(groupId, s.epoch));
  return { epoch: s.epoch, earKey: new Uint8Array(pt) };
}
