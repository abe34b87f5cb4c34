// MLS SignWithLabel (RFC 9420 s5.1.2) for Ed25519 through the active platform: what clients
// sign DS requests, queue requests, uploads and welcome_info with.
import { signContent } from "../protocol/signContent.js";
import { platform } from "./current.js";

// ts-mls's default (WebCrypto) provider keeps Ed25519 private keys as PKCS#8 (this prefix and the
// 32-byte seed); its noble provider and ours keep the bare seed.
const PKCS8_ED25519_PREFIX = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

/** The 32-byte seed of an Ed25519 private key given as a seed or as PKCS#8. */
export function ed25519Seed(privateKey: Uint8Array): Uint8Array {
  if (privateKey.length === 32) return privateKey;
  if (privateKey.length === 48 && PKCS8_ED25519_PREFIX.every((b, i) => privateKey[i] === b)) return privateKey.subarray(16);
  throw new RangeError("an Ed25519 private key is a 32-byte seed or its 48-byte PKCS#8 encoding");
}

export function signWithLabel(privateKey: Uint8Array, publicKey: Uint8Array, label: string, content: Uint8Array): Uint8Array {
  return platform().ed25519Sign(ed25519Seed(privateKey), publicKey, signContent(label, content));
}
