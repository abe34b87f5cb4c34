// An Ed25519 signing key for MLS-style SignWithLabel (RFC 9420 s5.1.2): queue owners sign
// QsRequests with one, a DS signs DSFanoutRequests with one. The node:crypto KeyObject is
// imported once, so signing never pays for a key import.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { signContent } from "../ds/signatures.js";

// PKCS#8 prefix of an Ed25519 private key (RFC 8410 s7): SEQUENCE { version 0, algorithm
// id-Ed25519, OCTET STRING { OCTET STRING (32) } }.
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

type GenerateJwk = (
  type: "ed25519",
  options: { publicKeyEncoding: { format: "jwk" }; privateKeyEncoding: { format: "jwk" } },
) => { publicKey: { x?: string }; privateKey: { d?: string; x?: string } };

export class Ed25519SigningKey {
  private constructor(
    /** raw 32-byte private key (seed); keep it out of logs */
    readonly privateKey: Uint8Array,
    readonly publicKey: Uint8Array,
    private readonly keyObject: KeyObject,
  ) {}

  /**
   * A fresh key. The generation job encodes both halves as JWK and the private key is
   * re-imported: exporting a key that generateKeyPairSync made can deadlock Node 20 (see
   * NodeX25519Key.generatePair).
   */
  static generate(): Ed25519SigningKey {
    const { privateKey: jwk } = (generateKeyPairSync as unknown as GenerateJwk)("ed25519", {
      publicKeyEncoding: { format: "jwk" },
      privateKeyEncoding: { format: "jwk" },
    });
    if (typeof jwk.d !== "string" || typeof jwk.x !== "string") throw new Error("Ed25519 key generation returned no JWK");
    const keyObject = createPrivateKey({ key: { kty: "OKP", crv: "Ed25519", d: jwk.d, x: jwk.x }, format: "jwk" });
    return new Ed25519SigningKey(new Uint8Array(Buffer.from(jwk.d, "base64url")), new Uint8Array(Buffer.from(jwk.x, "base64url")), keyObject);
  }

  /** Restores a key from its raw 32-byte private key. */
  static fromPrivateKey(privateKey: Uint8Array): Ed25519SigningKey {
    if (!(privateKey instanceof Uint8Array) || privateKey.length !== 32) throw new RangeError("an Ed25519 private key is 32 bytes");
    const keyObject = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, privateKey]), format: "der", type: "pkcs8" });
    const x = (createPublicKey(keyObject).export({ format: "jwk" }) as { x?: string }).x;
    if (typeof x !== "string") throw new Error("cannot derive the Ed25519 public key");
    return new Ed25519SigningKey(Uint8Array.from(privateKey), new Uint8Array(Buffer.from(x, "base64url")), keyObject);
  }

  /** SignWithLabel(key, label, content) = Sign(key, SignContent{ "MLS 1.0 " + label, content }). */
  signWithLabel(label: string, content: Uint8Array): Uint8Array {
    return new Uint8Array(sign(null, signContent(label, content), this.keyObject));
  }
}
