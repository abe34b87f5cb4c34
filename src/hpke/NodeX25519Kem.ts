// DHKEM(X25519, HKDF-SHA256) of RFC 9180 s4.1 with synchronous node:crypto inside: one
// diffieHellman() and two HMACs per encap/decap. It subclasses @hpke/core's
// DhkemX25519HkdfSha256 so that it drops into CipherSuite unchanged; every method that touches
// key material is overridden, so keys are NodeX25519Key objects (node:crypto KeyObjects).
// Keys made by other KEM classes (WebCrypto CryptoKeys, @hpke/common XCryptoKeys) are accepted
// and converted once (memoized), so mixing suites in tests works.
import { diffieHellman, KeyObject } from "node:crypto";
import {
  DecapError,
  DeriveKeyPairError,
  DeserializeError,
  DhkemX25519HkdfSha256,
  EncapError,
  InvalidParamError,

  NotSupportedError,
  SerializeError,
  type RecipientContextParams,
  type SenderContextParams,
} from "@hpke/core";
import { asBytes, concatBytes, EMPTY_BYTES, toExactArrayBuffer } from "./bytes.js";
import { NodeHkdfSha256 } from "./NodeHkdfSha256.js";
import { importX25519PublicKeyObject, NodeX25519Key } from "./NodeX25519Key.js";

// suite_id = "KEM" || I2OSP(kem_id, 2)  (RFC 9180 s4.1)
const KEM_SUITE_ID = new Uint8Array([0x4b, 0x45, 0x4d, 0x00, 0x20]);
const LABEL_EAE_PRK = new TextEncoder().encode("eae_prk");
const LABEL_SHARED_SECRET = new TextEncoder().encode("shared_secret");
const LABEL_DKP_PRK = new TextEncoder().encode("dkp_prk");
const LABEL_SK = new TextEncoder().encode("sk");
const N_SECRET = 32;
const INPUT_LENGTH_LIMIT = 8192; // what @hpke/core enforces on ikm

const converted = new WeakMap<object, NodeX25519Key>();

function isKeyPair(x: unknown): x is CryptoKeyPair {
  return typeof x === "object" && x !== null && "privateKey" in x && "publicKey" in x;
}

/** Brings any X25519 CryptoKey-like object to a NodeX25519Key. */
export function toNodeX25519Key(key: CryptoKey, type: "public" | "private"): NodeX25519Key {
  if (key instanceof NodeX25519Key) {
    if (key.type !== type) throw new Error(`expected an X25519 ${type} key, got ${key.type}`);
    return key;
  }
  const hit = converted.get(key);
  if (hit !== undefined) return hit;
  if (key.type !== type || key.algorithm?.name !== "X25519") throw new Error(`expected an X25519 ${type} key`);
  let out: NodeX25519Key;
  const rawField = (key as unknown as { key?: unknown }).key;
  if (rawField instanceof Uint8Array) {
    // @hpke/common XCryptoKey (pure-JS curves): raw bytes in .key
    out = type === "public" ? NodeX25519Key.publicFromRaw(rawField) : NodeX25519Key.privateFromRaw(rawField);
  } else {
    // A WebCrypto CryptoKey (what @hpke/core's stock X25519 makes on Node). Converting exports
    // it, which for a key that WebCrypto *generated* carries the Node 20 deadlock risk described
    // at NodeX25519Key.generatePair; this path exists for mixing suites in tests, not for hot paths.
    const ko = KeyObject.from(key);
    out = type === "public" ? NodeX25519Key.fromPublicKeyObject(ko) : NodeX25519Key.fromPrivateKeyObject(ko);
  }
  converted.set(key, out);
  return out;
}

export class NodeX25519Kem extends DhkemX25519HkdfSha256 {
  private readonly nodeKdf = new NodeHkdfSha256();

  constructor() {
    super();
    this.nodeKdf.init(KEM_SUITE_ID);
  }

  override async serializePublicKey(key: CryptoKey): Promise<ArrayBuffer> {
    try {
      return toExactArrayBuffer(Uint8Array.from(toNodeX25519Key(key, "public").raw));
    } catch (e) {
      throw new SerializeError(e);
    }
  }

  override async deserializePublicKey(key: ArrayBufferLike | ArrayBufferView): Promise<CryptoKey> {
    try {
      return NodeX25519Key.publicFromRaw(asBytes(key));
    } catch (e) {
      throw new DeserializeError(e);
    }
  }

  override async serializePrivateKey(key: CryptoKey): Promise<ArrayBuffer> {
    try {
      return toExactArrayBuffer(Uint8Array.from(toNodeX25519Key(key, "private").raw));
    } catch (e) {
      throw new SerializeError(e);
    }
  }

  override async deserializePrivateKey(key: ArrayBufferLike | ArrayBufferView): Promise<CryptoKey> {
    try {
      return NodeX25519Key.privateFromRaw(asBytes(key));
    } catch (e) {
      throw new DeserializeError(e);
    }
  }

  override async importKey(format: "raw" | "jwk", key: ArrayBuffer | JsonWebKey, isPublic = true): Promise<CryptoKey> {
    try {
      if (format === "raw") {
        if (!(key instanceof ArrayBuffer) && !ArrayBuffer.isView(key)) throw new Error("raw key must be bytes");
        const raw = asBytes(key as ArrayBuffer);
        return isPublic ? NodeX25519Key.publicFromRaw(raw) : NodeX25519Key.privateFromRaw(raw);
      }
      if (key instanceof ArrayBuffer || ArrayBuffer.isView(key)) throw new Error("jwk key must be an object");
      const jwk = key as JsonWebKey;
      if (jwk.kty !== "OKP" || jwk.crv !== "X25519") throw new Error("JWK is not an OKP X25519 key");
      if (isPublic) {
        if (jwk.d !== undefined) throw new Error("public JWK must not carry d");
        if (typeof jwk.x !== "string") throw new Error("JWK lacks x");
        return NodeX25519Key.publicFromRaw(base64UrlStrict(jwk.x));
      }
      if (typeof jwk.d !== "string") throw new Error("private JWK lacks d");
      const sk = NodeX25519Key.privateFromRaw(base64UrlStrict(jwk.d));
      if (typeof jwk.x === "string" && Buffer.from(sk.publicKey!.raw).toString("base64url") !== jwk.x) {
        throw new Error("JWK x does not match d");
      }
      return sk;
    } catch (e) {
      throw new DeserializeError(e);
    }
  }

  override async generateKeyPair(): Promise<CryptoKeyPair> {
    try {
      return NodeX25519Key.generatePair();
    } catch (e) {
      throw new NotSupportedError(e);
    }
  }

  /** DeriveKeyPair(ikm) of RFC 9180 s7.1.3 for X25519. */
  override async deriveKeyPair(ikm: ArrayBufferLike | ArrayBufferView): Promise<CryptoKeyPair> {
    const bytes = asBytes(ikm);
    if (bytes.length > INPUT_LENGTH_LIMIT) throw new InvalidParamError("Too long ikm");
    try {
      return this.deriveKeyPairSync(bytes);
    } catch (e) {
      throw new DeriveKeyPairError(e);
    }
  }

  deriveKeyPairSync(ikm: Uint8Array): { publicKey: NodeX25519Key; privateKey: NodeX25519Key } {
    const dkpPrk = this.nodeKdf.labeledExtractSync(EMPTY_BYTES, LABEL_DKP_PRK, ikm);
    const sk = NodeX25519Key.privateFromRaw(this.nodeKdf.labeledExpandSync(dkpPrk, LABEL_SK, EMPTY_BYTES, 32));
    return { privateKey: sk, publicKey: sk.publicKey! };
  }

  override async encap(params: SenderContextParams): Promise<{ sharedSecret: ArrayBuffer; enc: ArrayBuffer }> {
    try {
      const pkR = toNodeX25519Key(params.recipientPublicKey, "public");
      let skE: KeyObject;
      let enc: Uint8Array;
      if (params.ekm === undefined) {
        ({ privateKey: skE, enc } = NodeX25519Key.generateEphemeral());
      } else if (isKeyPair(params.ekm)) {
        // test hook of @hpke/core: a fixed ephemeral key pair
        skE = toNodeX25519Key(params.ekm.privateKey, "private").keyObject;
        enc = toNodeX25519Key(params.ekm.publicKey, "public").raw;
      } else {
        const kp = this.deriveKeyPairSync(asBytes(params.ekm));
        skE = kp.privateKey.keyObject;
        enc = kp.publicKey.raw;
      }
      let dh = x25519(skE, pkR.keyObject);
      let kemContext: Uint8Array;
      if (params.senderKey === undefined) {
        kemContext = concatBytes(enc, pkR.raw);
      } else {
        // Auth mode (RFC 9180 s5.1.3): dh = DH(skE, pkR) || DH(skS, pkR)
        const skS = toNodeX25519Key(isKeyPair(params.senderKey) ? params.senderKey.privateKey : params.senderKey, "private");
        dh = concatBytes(dh, x25519(skS.keyObject, pkR.keyObject));
        kemContext = concatBytes(enc, pkR.raw, skS.publicKey!.raw);
      }
      return { enc: toExactArrayBuffer(Uint8Array.from(enc)), sharedSecret: toExactArrayBuffer(this.sharedSecret(dh, kemContext)) };
    } catch (e) {
      throw new EncapError(e);
    }
  }

  override async decap(params: RecipientContextParams): Promise<ArrayBuffer> {
    return toExactArrayBuffer(this.decapSync(params));
  }

  /** Decap(enc, skR) of RFC 9180 s4.1; throws DeserializeError for a malformed enc, DecapError otherwise. */
  decapSync(params: RecipientContextParams): Uint8Array {
    const enc = asBytes(params.enc);
    let pkE: KeyObject;
    try {
      pkE = importX25519PublicKeyObject(enc);
    } catch (e) {
      throw new DeserializeError(e);
    }
    try {
      // A key pair is the fast path; a lone private key still works because NodeX25519Key
      // carries its public half (no re-derivation per call, unlike the stock KEM).
      const skR = toNodeX25519Key(isKeyPair(params.recipientKey) ? params.recipientKey.privateKey : params.recipientKey, "private");
      const pkRm = isKeyPair(params.recipientKey) ? toNodeX25519Key(params.recipientKey.publicKey, "public").raw : skR.publicKey!.raw;
      let dh = x25519(skR.keyObject, pkE);
      let kemContext: Uint8Array;
      if (params.senderPublicKey === undefined) {
        kemContext = concatBytes(enc, pkRm);
      } else {
        const pkS = toNodeX25519Key(params.senderPublicKey, "public");
        dh = concatBytes(dh, x25519(skR.keyObject, pkS.keyObject));
        kemContext = concatBytes(enc, pkRm, pkS.raw);
      }
      return this.sharedSecret(dh, kemContext);
    } catch (e) {
      throw new DecapError(e);
    }
  }

  // ExtractAndExpand(dh, kem_context) of RFC 9180 s4.1
  private sharedSecret(dh: Uint8Array, kemContext: Uint8Array): Uint8Array {
    const prk = this.nodeKdf.labeledExtractSync(EMPTY_BYTES, LABEL_EAE_PRK, dh);
    return this.nodeKdf.labeledExpandSync(prk, LABEL_SHARED_SECRET, kemContext, N_SECRET);
  }
}

function x25519(sk: KeyObject, pk: KeyObject): Uint8Array {
  // OpenSSL already refuses an all-zero result (a small-order peer key); the explicit check
  // keeps RFC 9180 s7.1.4's MUST independent of the library version.
  const out = diffieHellman({ privateKey: sk, publicKey: pk });
  let acc = 0;
  for (let i = 0; i < out.length; i++) acc |= out[i]!;
  if (acc === 0) throw new Error("X25519 produced the all-zero shared secret");
  return out;
}

function base64UrlStrict(s: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) throw new Error("invalid base64url");
  return new Uint8Array(Buffer.from(s, "base64url"));
}

