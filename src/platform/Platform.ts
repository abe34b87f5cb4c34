// The primitives client-side code needs, behind one interface so the SDK runs in browsers:
// PortablePlatform (pure-JS noble + @hpke/core's WebCrypto suites) works everywhere;
// NodePlatform (node:crypto, the project's fast HPKE suites) is faster and Node-only. Servers
// never go through this: their hot paths call node:crypto directly.
import type { CipherSuite } from "@hpke/core";

export interface Ed25519KeyPair {
  publicKey: Uint8Array;
  /** the 32-byte seed */
  privateKey: Uint8Array;
}

export type HashName = "sha256" | "sha384" | "sha512";

export interface Platform {
  readonly name: string;
  randomBytes(n: number): Uint8Array;
  sha256(...parts: Uint8Array[]): Uint8Array;
  hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array;
  hkdfExtract(hash: HashName, salt: Uint8Array, ikm: Uint8Array): Uint8Array;
  hkdfExpand(hash: HashName, prk: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  /** AES-256-GCM with a 16-byte tag appended; open throws on a bad tag */
  aes256GcmSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array;
  aes256GcmOpen(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array): Uint8Array;
  ed25519Generate(): Ed25519KeyPair;
  ed25519PublicKey(privateKey: Uint8Array): Uint8Array;
  ed25519Sign(privateKey: Uint8Array, publicKey: Uint8Array, message: Uint8Array): Uint8Array;
  /** an RFC 9180 suite by ids (X25519 KEM; HKDF-SHA256/384/512; AES-GCM or ChaCha20-Poly1305) */
  hpkeSuite(kemId: number, kdfId: number, aeadId: number): CipherSuite;
}
