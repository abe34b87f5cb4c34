// @hpke/core's stock suites (WebCrypto; ChaCha20-Poly1305 from @hpke/chacha20poly1305): the
// reference the fast node:crypto suites are checked against, and the HPKE of the portable
// (browser) client platform. No node: imports may reach this file.
import { Aes128Gcm, Aes256Gcm, AeadId, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256, HkdfSha384, HkdfSha512, KdfId, KemId, NotSupportedError, type AeadInterface, type KdfInterface, type KemInterface } from "@hpke/core";
import { Chacha20Poly1305 } from "@hpke/chacha20poly1305";

export const SUPPORTED_KEM_IDS: readonly number[] = [KemId.DhkemX25519HkdfSha256];
export const SUPPORTED_KDF_IDS: readonly number[] = [KdfId.HkdfSha256, KdfId.HkdfSha384, KdfId.HkdfSha512];
/** Export-only (0xFFFF) is left out on purpose: OHTTP needs Seal/Open. */
export const SUPPORTED_AEAD_IDS: readonly number[] = [AeadId.Aes128Gcm, AeadId.Aes256Gcm, AeadId.Chacha20Poly1305];

export function isSupportedSuite(kemId: number, kdfId: number, aeadId: number): boolean {
  return SUPPORTED_KEM_IDS.includes(kemId) && SUPPORTED_KDF_IDS.includes(kdfId) && SUPPORTED_AEAD_IDS.includes(aeadId);
}

export function unsupported(kind: string, id: number): never {
  throw new NotSupportedError(`unsupported HPKE ${kind} id 0x${id.toString(16).padStart(4, "0")}`);
}

export function referenceKem(id: number): KemInterface {
  if (id === KemId.DhkemX25519HkdfSha256) return new DhkemX25519HkdfSha256();
  return unsupported("KEM", id);
}
export function referenceKdf(id: number): KdfInterface {
  if (id === KdfId.HkdfSha256) return new HkdfSha256();
  if (id === KdfId.HkdfSha384) return new HkdfSha384();
  if (id === KdfId.HkdfSha512) return new HkdfSha512();
  return unsupported("KDF", id);
}
export function referenceAead(id: number): AeadInterface {
  if (id === AeadId.Aes128Gcm) return new Aes128Gcm();
  if (id === AeadId.Aes256Gcm) return new Aes256Gcm();
  if (id === AeadId.Chacha20Poly1305) return new Chacha20Poly1305();
  return unsupported("AEAD", id);
}


/**
 * The stock @hpke/core CipherSuite (WebCrypto), for cross-checks. ChaCha20-Poly1305, which
 * @hpke/core lacks, comes from its sibling package @hpke/chacha20poly1305.
 */
export function createReferenceCipherSuite(kemId: number, kdfId: number, aeadId: number): CipherSuite {
  return new CipherSuite({ kem: referenceKem(kemId), kdf: referenceKdf(kdfId), aead: referenceAead(aeadId) });
}
