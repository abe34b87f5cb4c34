// The two HPKE cipher suites of this project, both @hpke/core CipherSuite instances:
// - fast: node:crypto-backed KEM/KDF/AEAD (synchronous inside), used on every hot path;
// - reference: @hpke/core's stock classes (WebCrypto), used to cross-check the fast one
//   (referenceSuites.ts, which browsers use through the portable platform).
import { AeadId, CipherSuite, KdfId, KemId, type AeadInterface, type KdfInterface, type KemInterface } from "@hpke/core";
import { NodeAes128Gcm, NodeAes256Gcm } from "./NodeAeadAesGcm.js";
import { NodeChaCha20Poly1305 } from "./NodeChaCha20Poly1305.js";
import { NodeHkdfSha256 } from "./NodeHkdfSha256.js";
import { NodeHkdfSha384 } from "./NodeHkdfSha384.js";
import { NodeHkdfSha512 } from "./NodeHkdfSha512.js";
import { NodeX25519Kem } from "./NodeX25519Kem.js";
import { unsupported } from "./referenceSuites.js";

export { SUPPORTED_AEAD_IDS, SUPPORTED_KDF_IDS, SUPPORTED_KEM_IDS, isSupportedSuite } from "./referenceSuites.js";

function fastKem(id: number): KemInterface {
  if (id === KemId.DhkemX25519HkdfSha256) return new NodeX25519Kem();
  return unsupported("KEM", id);
}
function fastKdf(id: number): KdfInterface {
  if (id === KdfId.HkdfSha256) return new NodeHkdfSha256();
  if (id === KdfId.HkdfSha384) return new NodeHkdfSha384();
  if (id === KdfId.HkdfSha512) return new NodeHkdfSha512();
  return unsupported("KDF", id);
}
function fastAead(id: number): AeadInterface {
  if (id === AeadId.Aes128Gcm) return new NodeAes128Gcm();
  if (id === AeadId.Aes256Gcm) return new NodeAes256Gcm();
  if (id === AeadId.Chacha20Poly1305) return new NodeChaCha20Poly1305();
  return unsupported("AEAD", id);
}

/** A CipherSuite on node:crypto-backed primitives. Throws NotSupportedError for unknown ids. */
export function createFastCipherSuite(kemId: number, kdfId: number, aeadId: number): CipherSuite {
  return new CipherSuite({ kem: fastKem(kemId), kdf: fastKdf(kdfId), aead: fastAead(aeadId) });
}

export { createReferenceCipherSuite } from "./referenceSuites.js";
