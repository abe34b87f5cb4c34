// HPKE algorithm parameters that the OHTTP wire formats depend on (RFC 9180 s7).
import { SUPPORTED_AEAD_IDS, SUPPORTED_KDF_IDS, SUPPORTED_KEM_IDS } from "../hpke/referenceSuites.js";

type NodeHashName = "sha256" | "sha384" | "sha512";
import type { SymmetricAlgorithm } from "./KeyConfig.js";

export const KEM_X25519_HKDF_SHA256 = 0x0020;
export const KDF_HKDF_SHA256 = 0x0001;
export const AEAD_AES_128_GCM = 0x0001;
export const AEAD_AES_256_GCM = 0x0002;
export const AEAD_CHACHA20_POLY1305 = 0x0003;

/** Npk (= Nenc) of the DHKEMs of RFC 9180 s7.1: a key config can only be parsed when Npk is known. */
const KEM_NPK: ReadonlyMap<number, number> = new Map([
  [0x0010, 65], // DHKEM(P-256, HKDF-SHA256)
  [0x0011, 97], // DHKEM(P-384, HKDF-SHA384)
  [0x0012, 133], // DHKEM(P-521, HKDF-SHA512)
  [0x0020, 32], // DHKEM(X25519, HKDF-SHA256)
  [0x0021, 56], // DHKEM(X448, HKDF-SHA512)
]);

export function kemPublicKeySize(kemId: number): number | undefined {
  return KEM_NPK.get(kemId);
}

export interface AeadParams {
  readonly Nk: number;
  readonly Nn: number;
  readonly Nt: number;
}
const AEADS: ReadonlyMap<number, AeadParams> = new Map([
  [AEAD_AES_128_GCM, { Nk: 16, Nn: 12, Nt: 16 }],
  [AEAD_AES_256_GCM, { Nk: 32, Nn: 12, Nt: 16 }],
  [AEAD_CHACHA20_POLY1305, { Nk: 32, Nn: 12, Nt: 16 }],
]);
export function aeadParams(aeadId: number): AeadParams | undefined {
  return AEADS.get(aeadId);
}

const KDF_HASH: ReadonlyMap<number, { hash: NodeHashName; Nh: number }> = new Map([
  [0x0001, { hash: "sha256", Nh: 32 }],
  [0x0002, { hash: "sha384", Nh: 48 }],
  [0x0003, { hash: "sha512", Nh: 64 }],
]);
export function kdfHash(kdfId: number): { hash: NodeHashName; Nh: number } | undefined {
  return KDF_HASH.get(kdfId);
}

export function isSupportedKem(kemId: number): boolean {
  return SUPPORTED_KEM_IDS.includes(kemId);
}

export function isSupportedSymmetric(a: SymmetricAlgorithm): boolean {
  return SUPPORTED_KDF_IDS.includes(a.kdfId) && SUPPORTED_AEAD_IDS.includes(a.aeadId);
}

/** What a new gateway key offers: AES-128-GCM first (hardware AES), ChaCha20-Poly1305 for the rest. */
export const DEFAULT_SYMMETRIC: readonly SymmetricAlgorithm[] = Object.freeze([
  Object.freeze({ kdfId: KDF_HKDF_SHA256, aeadId: AEAD_AES_128_GCM }),
  Object.freeze({ kdfId: KDF_HKDF_SHA256, aeadId: AEAD_CHACHA20_POLY1305 }),
]);
