// Client side of the per-epoch group-state key (src/ds/earKey.ts has the DS side and the why):
// the ear_key_hash GroupInfo extension a committer signs, and opening the key the DS sealed to a
// Welcome joiner's init key. Through the active platform, so it runs in browsers; the bytes are
// the DS's own (test/client checks both against each other).
import type { Extension } from "ts-mls";
import { EAR_KEY_HASH_LABEL, EXTENSION_TYPE_EAR_KEY_HASH, JOINER_KEY_HPKE_INFO, joinerSuiteIds } from "../protocol/constants.js";
import { decodeExact, TlsWriter } from "../protocol/tls.js";
import { platform } from "../platform/current.js";

const enc = new TextEncoder();

export function earKeyHash(key: Uint8Array): Uint8Array {
  return platform().sha256(enc.encode(EAR_KEY_HASH_LABEL), key);
}

/** struct { opaque ear_key_hash<V>; } as a GroupInfo extension */
export function earKeyHashExtension(key: Uint8Array): Extension {
  return { extensionType: EXTENSION_TYPE_EAR_KEY_HASH, extensionData: new TlsWriter(40).opaque(earKeyHash(key)).finish() };
}

/** Opens SealedJoinerKey { uint64 epoch; opaque kem_output<V>; opaque ciphertext<V>; } (aad: group id, epoch). */
export async function openJoinerKey(mlsSuite: string, initPrivateKey: Uint8Array, sealed: Uint8Array, groupId: Uint8Array): Promise<{ epoch: bigint; earKey: Uint8Array }> {
  const s = decodeExact(sealed, "SealedJoinerKey", (r) => ({ epoch: r.u64("epoch"), kemOutput: r.opaque("kem_output", 256), ciphertext: r.opaque("ciphertext", 256) }));
  const suite = platform().hpkeSuite(...joinerSuiteIds(mlsSuite));
  const recipientKey = await suite.kem.deserializePrivateKey(initPrivateKey);
  const aad = new TlsWriter(groupId.length + 16).opaque(groupId).u64(s.epoch).finish();
  const pt = await suite.open({ recipientKey, enc: s.kemOutput, info: enc.encode(JOINER_KEY_HPKE_INFO) }, s.ciphertext, aad);
  return { epoch: s.epoch, earKey: new Uint8Array(pt) };
}
