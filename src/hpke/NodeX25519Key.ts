// An X25519 key held as a node:crypto KeyObject, shaped as the CryptoKey that @hpke/core's
// interfaces pass around. Keeping the KeyObject (imported once) is what makes decapsulation
// cheap: import cost is paid when a key is loaded, not per request.
import { createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject } from "node:crypto";

const X25519_KEY_SIZE = 32;
// PKCS#8 prefix of an X25519 private key (RFC 8410); used only when loading a private key,
// because node:crypto's JWK import of a private OKP key requires the public part as well.
const PKCS8_X25519_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");

type GenerateJwk = (
  type: "x25519",
  opts: { publicKeyEncoding: { format: "jwk" }; privateKeyEncoding: { format: "jwk" } },
) => { publicKey: JsonWebKey; privateKey: JsonWebKey };
type GenerateJwkPublic = (type: "x25519", opts: { publicKeyEncoding: { format: "jwk" } }) => { publicKey: JsonWebKey; privateKey: KeyObject };

/** A public KeyObject from the 32-byte encoding, with no wrapper and no copy (the decap hot path). */
export function importX25519PublicKeyObject(raw: Uint8Array): KeyObject {
  if (raw.length !== X25519_KEY_SIZE) throw new Error(`X25519 public key must be ${X25519_KEY_SIZE} bytes, got ${raw.length}`);
  const x = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("base64url");
  return createPublicKey({ key: { kty: "OKP", crv: "X25519", x }, format: "jwk" });
}

function rawPublicOf(publicKey: KeyObject): Uint8Array {
  const jwk = publicKey.export({ format: "jwk" });
  if (typeof jwk.x !== "string") throw new Error("X25519 public key export lacks x");
  return new Uint8Array(Buffer.from(jwk.x, "base64url"));
}

export class NodeX25519Key implements CryptoKey {
  readonly algorithm: KeyAlgorithm = { name: "X25519" };
  readonly extractable = true;
  readonly usages: KeyUsage[];

  private constructor(
    readonly type: "public" | "private",
    /** the RFC 7748 encoding: 32 bytes */
    readonly raw: Uint8Array,
    readonly keyObject: KeyObject,
    /** for a private key, its public half (so decap never re-derives it) */
    readonly publicKey: NodeX25519Key | undefined,
  ) {
    this.usages = type === "private" ? ["deriveBits"] : [];
  }

  /** Imports a 32-byte public key; JWK import costs ~9 us where SPKI/DER costs ~110 us. */
  static publicFromRaw(raw: Uint8Array): NodeX25519Key {
    const copy = Uint8Array.from(raw);
    return new NodeX25519Key("public", copy, importX25519PublicKeyObject(copy), undefined);
  }

  static privateFromRaw(raw: Uint8Array): NodeX25519Key {
    if (raw.length !== X25519_KEY_SIZE) throw new Error(`X25519 private key must be ${X25519_KEY_SIZE} bytes, got ${raw.length}`);
    const keyObject = createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, raw]), format: "der", type: "pkcs8" });
    return NodeX25519Key.fromPrivateKeyObject(keyObject);
  }

  /** Exports the key: pass only imported keys, never ones node:crypto generated (see generatePair). */
  static fromPrivateKeyObject(privateKey: KeyObject): NodeX25519Key {
    if (privateKey.type !== "private" || privateKey.asymmetricKeyType !== "x25519") throw new Error("not an X25519 private key");
    const jwk = privateKey.export({ format: "jwk" });
    if (typeof jwk.d !== "string") throw new Error("X25519 private key export lacks d");
    const pubObject = createPublicKey(privateKey);
    const pub = new NodeX25519Key("public", rawPublicOf(pubObject), pubObject, undefined);
    return new NodeX25519Key("private", new Uint8Array(Buffer.from(jwk.d, "base64url")), privateKey, pub);
  }

  /** Exports the key: pass only imported keys, never ones node:crypto generated (see generatePair). */
  static fromPublicKeyObject(publicKey: KeyObject): NodeX25519Key {
    if (publicKey.type !== "public" || publicKey.asymmetricKeyType !== "x25519") throw new Error("not an X25519 public key");
    return new NodeX25519Key("public", rawPublicOf(publicKey), publicKey, undefined);
  }

  /**
   * A fresh key pair. Node 20 can deadlock when a key made by generateKeyPairSync is exported
   * while GC finalizes its generation job (KeyObjectHandle::ExportJWK holds the key's mutex while
   * allocating; ~KeyGenJob takes the same mutex). So the job itself encodes both halves as JWK
   * and the private key is re-imported: nothing generated is ever exported afterwards.
   */
  static generatePair(): { publicKey: NodeX25519Key; privateKey: NodeX25519Key } {
    // (@types/node lacks the JWK overloads for x25519; the runtime has them since Node 16.)
    const { privateKey: jwk } = (generateKeyPairSync as unknown as GenerateJwk)("x25519", {
      publicKeyEncoding: { format: "jwk" },
      privateKeyEncoding: { format: "jwk" },
    });
    if (typeof jwk.d !== "string" || typeof jwk.x !== "string") throw new Error("X25519 key generation returned no JWK");
    const keyObject = createPrivateKey({ key: { kty: "OKP", crv: "X25519", d: jwk.d, x: jwk.x }, format: "jwk" });
    const pub = NodeX25519Key.publicFromRaw(new Uint8Array(Buffer.from(jwk.x, "base64url")));
    const sk = new NodeX25519Key("private", new Uint8Array(Buffer.from(jwk.d, "base64url")), keyObject, pub);
    return { privateKey: sk, publicKey: pub };
  }

  /**
   * An ephemeral key for one encapsulation: the private KeyObject (only ever used for
   * diffieHellman, which is safe) and the encoded public key, encoded by the generation job
   * itself for the reason given at generatePair().
   */
  static generateEphemeral(): { privateKey: KeyObject; enc: Uint8Array } {
    const { privateKey, publicKey } = (generateKeyPairSync as unknown as GenerateJwkPublic)("x25519", { publicKeyEncoding: { format: "jwk" } });
    if (typeof publicKey.x !== "string") throw new Error("X25519 key generation returned no public JWK");
    return { privateKey, enc: new Uint8Array(Buffer.from(publicKey.x, "base64url")) };
  }
}
