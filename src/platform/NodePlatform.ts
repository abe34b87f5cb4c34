// node:crypto primitives and the project's node:crypto-backed HPKE suites: the fast choice for
// SDK users on Node (tests, benchmarks, the demo). Never import this from code that must run in
// browsers; install it with usePlatform(NodePlatform).
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from "node:crypto";
import type { CipherSuite } from "@hpke/core";
import { signWithLabelEd25519Raw } from "../ds/signatures.js";
import { hkdfExpand, hkdfExtract } from "../hpke/NodeHkdf.js";
import { createFastCipherSuite } from "../hpke/suites.js";
import { generateEd25519, ed25519PublicKeyOf } from "../util/keygen.js";
import type { Platform } from "./Platform.js";

const suites = new Map<string, CipherSuite>();
const HASH_SIZE = { sha256: 32, sha384: 48, sha512: 64 } as const;
/** a plain Uint8Array view of a Buffer (callers compare and serialise Uint8Arrays) */
const plain = (b: Uint8Array) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

export const NodePlatform: Platform = {
  name: "node",
  randomBytes: (n) => new Uint8Array(randomBytes(n)),
  sha256(...parts) {
    const h = createHash("sha256");
    for (const p of parts) h.update(p);
    return new Uint8Array(h.digest());
  },
  hmacSha256(key, ...parts) {
    const h = createHmac("sha256", key);
    for (const p of parts) h.update(p);
    return new Uint8Array(h.digest());
  },
  hkdfExtract: (hash, salt, ikm) => plain(hkdfExtract(hash, salt, ikm)),
  hkdfExpand: (hash, prk, info, length) => plain(hkdfExpand(hash, HASH_SIZE[hash], prk, info, length)),
  aes256GcmSeal(key, nonce, plaintext, aad) {
    const c = createCipheriv("aes-256-gcm", key, nonce);
    c.setAAD(aad);
    const out = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  },
  aes256GcmOpen(key, nonce, ciphertext, aad) {
    if (ciphertext.length < 16) throw new Error("ciphertext shorter than the tag");
    const d = createDecipheriv("aes-256-gcm", key, nonce);
    d.setAAD(aad);
    d.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
    const out = Buffer.concat([d.update(ciphertext.subarray(0, ciphertext.length - 16)), d.final()]);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  },
  ed25519Generate: () => generateEd25519(),
  ed25519PublicKey: (privateKey) => ed25519PublicKeyOf(privateKey),
  ed25519Sign: (privateKey, publicKey, message) => signWithLabelEd25519Raw(privateKey, publicKey, message),
  hpkeSuite(kemId, kdfId, aeadId) {
    const id = `${kemId}/${kdfId}/${aeadId}`;
    let s = suites.get(id);
    if (!s) {
      s = createFastCipherSuite(kemId, kdfId, aeadId);
      suites.set(id, s);
    }
    return s;
  },
};
