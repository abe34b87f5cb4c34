// Key generation that never exports a generated KeyObject. Node 20 can deadlock when a key made
// by generateKeyPairSync is exported while GC finalizes its generation job
// (KeyObjectHandle::ExportJWK holds the key's mutex while allocating; ~KeyGenJob takes the same
// mutex). Asking the generation job itself for JWK output avoids the export entirely.
import { createPrivateKey, createPublicKey, generateKeyPairSync } from "node:crypto";

export interface PrivateJwk {
  kty: string;
  crv?: string;
  x: string;
  y?: string;
  d: string;
}

type Kind = "ed25519" | "ed448" | "x25519" | "x448" | { ec: string };

// @types/node lacks the JWK-encoding overloads for some key types; the runtime has them.
type GenerateJwk = (type: string, opts: Record<string, unknown>) => { privateKey: PrivateJwk; publicKey: PrivateJwk };

/** A fresh key pair as the private JWK (which carries the public part too). */
export function generateJwk(kind: Kind): PrivateJwk {
  const gen = generateKeyPairSync as unknown as GenerateJwk;
  const enc = { publicKeyEncoding: { format: "jwk" }, privateKeyEncoding: { format: "jwk" } };
  const { privateKey } = typeof kind === "string" ? gen(kind, enc) : gen("ec", { namedCurve: kind.ec, ...enc });
  if (typeof privateKey.d !== "string" || typeof privateKey.x !== "string") throw new Error("key generation returned no JWK");
  return privateKey;
}

/** Raw Ed25519 key pair (32-byte seed, 32-byte public key). */
export function generateEd25519(): { publicKey: Uint8Array; privateKey: Uint8Array } {
  const jwk = generateJwk("ed25519");
  return { publicKey: new Uint8Array(Buffer.from(jwk.x, "base64url")), privateKey: new Uint8Array(Buffer.from(jwk.d, "base64url")) };
}

const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

/** The Ed25519 public key of a 32-byte seed (a key imported, not generated: safe to export). */
export function ed25519PublicKeyOf(seed: Uint8Array): Uint8Array {
  if (seed.length !== 32) throw new RangeError("an Ed25519 seed is 32 bytes");
  const priv = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: "der", type: "pkcs8" });
  const jwk = createPublicKey(priv).export({ format: "jwk" });
  return new Uint8Array(Buffer.from(jwk.x as string, "base64url"));
}
