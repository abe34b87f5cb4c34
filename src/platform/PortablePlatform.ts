// Pure-JS primitives (noble) and @hpke/core's stock WebCrypto suites: runs in browsers, workers
// and Node alike. No node: imports may ever reach this file.
import { CipherSuite } from "@hpke/core";
import { gcm } from "@noble/ciphers/aes.js";
import { ed25519 } from "@noble/curves/ed25519.js";
import { hmac } from "@noble/hashes/hmac.js";
import { expand, extract } from "@noble/hashes/hkdf.js";
import { sha256, sha384, sha512 } from "@noble/hashes/sha2.js";
import { referenceAead, referenceKdf, referenceKem } from "../hpke/referenceSuites.js";
import type { HashName, Platform } from "./Platform.js";

const HASHES = { sha256, sha384, sha512 } as const satisfies Record<HashName, unknown>;

const suites = new Map<string, CipherSuite>();

export const PortablePlatform: Platform = {
  name: "portable",
  randomBytes: (n) => crypto.getRandomValues(new Uint8Array(n)),
  sha256(...parts) {
    const h = sha256.create();
    for (const p of parts) h.update(p);
    return h.digest();
  },
  hmacSha256(key, ...parts) {
    const h = hmac.create(sha256, key);
    for (const p of parts) h.update(p);
    return h.digest();
  },
  hkdfExtract: (hash, salt, ikm) => extract(HASHES[hash], ikm, salt),
  hkdfExpand: (hash, prk, info, length) => expand(HASHES[hash], prk, info, length),
  aes256GcmSeal: (key, nonce, plaintext, aad) => gcm(key, nonce, aad).encrypt(plaintext),
  aes256GcmOpen: (key, nonce, ciphertext, aad) => gcm(key, nonce, aad).decrypt(ciphertext),
  ed25519Generate() {
    const privateKey = ed25519.utils.randomSecretKey();
    return { privateKey, publicKey: ed25519.getPublicKey(privateKey) };
  },
  ed25519PublicKey: (privateKey) => ed25519.getPublicKey(privateKey),
  ed25519Sign: (privateKey, _publicKey, message) => ed25519.sign(message, privateKey),
  hpkeSuite(kemId, kdfId, aeadId) {
    const id = `${kemId}/${kdfId}/${aeadId}`;
    let s = suites.get(id);
    if (!s) {
      s = new CipherSuite({ kem: referenceKem(kemId), kdf: referenceKdf(kdfId), aead: referenceAead(aeadId) });
      suites.set(id, s);
    }
    return s;
  },
};
