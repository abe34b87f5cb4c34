// MLS SignWithLabel / VerifyWithLabel (RFC 9420 s5.1.2) for Ed25519 on node:crypto: the DS
// verifies one DSRequest signature per request, so this sits on the hot path (about 0.12 ms
// here, against about 1.8 ms through pure-JS noble). Keys are imported as JWK: importing raw
// keys through DER/SPKI costs several times more.
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from "node:crypto";
import { signContent } from "../protocol/signContent.js";

export { signContent };

const b64url = (b: Uint8Array) => Buffer.from(b).toString("base64url");

// Small bounded cache: a busy group's senders repeat, and an import costs more than a verify.
const publicKeys = new Map<string, KeyObject>();
function ed25519PublicKey(raw: Uint8Array): KeyObject {
  const id = b64url(raw);
  let k = publicKeys.get(id);
  if (!k) {
    k = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: id }, format: "jwk" });
    if (publicKeys.size >= 4096) publicKeys.delete(publicKeys.keys().next().value!);
    publicKeys.set(id, k);
  }
  return k;
}

export function verifyWithLabelEd25519(publicKey: Uint8Array, label: string, content: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    return verify(null, signContent(label, content), ed25519PublicKey(publicKey), signature);
  } catch {
    return false;
  }
}

export function signWithLabelEd25519(privateKey: Uint8Array, publicKey: Uint8Array, label: string, content: Uint8Array): Uint8Array {
  return signWithLabelEd25519Raw(privateKey, publicKey, signContent(label, content));
}

/** Plain Ed25519 over `message` (already SignContent-encoded by the caller). */
export function signWithLabelEd25519Raw(privateKey: Uint8Array, publicKey: Uint8Array, message: Uint8Array): Uint8Array {
  const key = createPrivateKey({ key: { kty: "OKP", crv: "Ed25519", d: b64url(privateKey), x: b64url(publicKey) }, format: "jwk" });
  return new Uint8Array(sign(null, message, key));
}
