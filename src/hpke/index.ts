export { NodeAead, NodeAeadContext, type NodeAeadCipherName } from "./NodeAead.js";
export { NodeAes128Gcm, NodeAes256Gcm } from "./NodeAeadAesGcm.js";
export { NodeChaCha20Poly1305 } from "./NodeChaCha20Poly1305.js";
export { NodeHkdf, hkdfExtract, hkdfExpand, type NodeHashName } from "./NodeHkdf.js";
export { NodeHkdfSha256 } from "./NodeHkdfSha256.js";
export { NodeHkdfSha384 } from "./NodeHkdfSha384.js";
export { NodeHkdfSha512 } from "./NodeHkdfSha512.js";
export { NodeX25519Kem, toNodeX25519Key } from "./NodeX25519Kem.js";
export { NodeX25519Key } from "./NodeX25519Key.js";
export {
  createFastCipherSuite,
  createReferenceCipherSuite,
  isSupportedSuite,
  SUPPORTED_AEAD_IDS,
  SUPPORTED_KDF_IDS,
  SUPPORTED_KEM_IDS,
} from "./suites.js";
