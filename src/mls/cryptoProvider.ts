// A ts-mls CryptoProvider backed by node:crypto for everything the key-less DS engine runs hot:
// hashes, HMAC, HKDF and signatures. ts-mls's default provider goes through async WebCrypto (one
// event-loop hop and a key import per digest/MAC) and pure-JS noble for Ed25519/ECDSA verify;
// tree hashing is then 6-7x slower and Ed25519 verify ~15x slower (1.8 ms vs 0.12 ms).
// HPKE (only members need it) stays with ts-mls's default (@hpke/core), so this provider is a
// drop-in replacement for clients too.
import {
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  createECDH,
  sign as nodeSign,
  verify as nodeVerify,
  timingSafeEqual,
  type KeyObject,
} from "node:crypto";
import { generateJwk } from "../util/keygen.js";
import {
  defaultCryptoProvider,
  getCiphersuiteFromId,
  getCiphersuiteFromName,
  type Ciphersuite,
  type CiphersuiteId,
  type CiphersuiteImpl,
  type CiphersuiteName,
  type CryptoProvider,
  type Hash,
  type HashAlgorithm,
  type Hpke,
  type Kdf,
  type Signature,
  type SignatureAlgorithm,
} from "./adapter.js";

/** Thrown when a cipher suite (or one of its primitives) cannot be provided. */
export class UnsupportedCiphersuiteError extends Error {
  override name = "UnsupportedCiphersuiteError";
  readonly code = "unsupported_ciphersuite";
}

type NodeHashName = "sha256" | "sha384" | "sha512";
const nodeHashName: Record<HashAlgorithm, NodeHashName> = {
  "SHA-256": "sha256",
  "SHA-384": "sha384",
  "SHA-512": "sha512",
};
const hashSize: Record<NodeHashName, number> = { sha256: 32, sha384: 48, sha512: 64 };

// Buffers from node:crypto are Uint8Array subclasses whose slice() returns a view; ts-mls zeroes
// some secrets in place, so hand it plain, unshared Uint8Arrays.
function plain(b: Buffer): Uint8Array {
  const out = new Uint8Array(b.length);
  out.set(b);
  return out;
}

function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
}

/** A Hash that can also digest synchronously (the engine's tree hasher uses it when present). */
export type SyncHash = Hash & { digestSync(data: Uint8Array): Uint8Array };

export function hasDigestSync(h: Hash): h is SyncHash {
  return typeof (h as Partial<SyncHash>).digestSync === "function";
}

export function makeNodeHash(alg: HashAlgorithm): SyncHash {
  const name = nodeHashName[alg];
  return {
    digestSync(data) {
      return plain(createHash(name).update(data).digest());
    },
    async digest(data) {
      return plain(createHash(name).update(data).digest());
    },
    async mac(key, data) {
      return plain(createHmac(name, key).update(data).digest());
    },
    async verifyMac(key, mac, data) {
      const expected = createHmac(name, key).update(data).digest();
      return mac.length === expected.length && timingSafeEqual(expected, mac);
    },
  };
}

/** RFC 5869 HKDF over node:crypto HMAC; Extract and Expand are separate, as MLS needs. */
export function makeNodeKdf(alg: HashAlgorithm): Kdf {
  const name = nodeHashName[alg];
  const nh = hashSize[name];
  return {
    size: nh,
    async extract(salt, ikm) {
      // An empty salt is equivalent to Nh zero bytes for HMAC (keys are zero-padded).
      return plain(createHmac(name, salt).update(ikm).digest());
    },
    async expand(prk, info, len) {
      if (!Number.isInteger(len) || len < 0 || len > 255 * nh) throw new RangeError("HKDF-Expand length out of range");
      const out = new Uint8Array(len);
      let prev: Uint8Array = new Uint8Array(0);
      let filled = 0;
      for (let i = 1; filled < len; i++) {
        prev = createHmac(name, prk).update(prev).update(info).update(Uint8Array.of(i)).digest();
        const take = Math.min(prev.length, len - filled);
        out.set(prev.subarray(0, take), filled);
        filled += take;
      }
      return out;
    },
  };
}

// Public keys repeat constantly (every message from a leaf is verified with the same key), and
// KeyObject creation dominates a verify; keep a small bounded cache of imported keys.
const PUBLIC_KEY_CACHE_MAX = 4096;
class KeyCache {
  private readonly map = new Map<string, KeyObject | null>();
  get(alg: string, raw: Uint8Array, make: () => KeyObject): KeyObject | null {
    const k = alg + ":" + b64url(raw);
    const hit = this.map.get(k);
    if (hit !== undefined) return hit;
    let key: KeyObject | null;
    try {
      key = make();
    } catch {
      key = null; // malformed key: every verify under it fails
    }
    if (this.map.size >= PUBLIC_KEY_CACHE_MAX) {
      const first = this.map.keys().next();
      if (!first.done) this.map.delete(first.value);
    }
    this.map.set(k, key);
    return key;
  }
}
const publicKeys = new KeyCache();

type EdwardsCurve = "Ed25519" | "Ed448";
const edSizes: Record<EdwardsCurve, { pub: number; priv: number; pkcs8Prefix: Uint8Array }> = {
  // PKCS#8 wrappers for raw private keys (RFC 8410): SEQ{ INT 0, SEQ{OID}, OCTET STRING{OCTET STRING k} }
  Ed25519: {
    pub: 32,
    priv: 32,
    pkcs8Prefix: Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]),
  },
  Ed448: {
    pub: 57,
    priv: 57,
    pkcs8Prefix: Uint8Array.from([0x30, 0x47, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x71, 0x04, 0x3b, 0x04, 0x39]),
  },
};

function edPrivateKey(curve: EdwardsCurve, signKey: Uint8Array): KeyObject {
  const s = edSizes[curve];
  // ts-mls's default provider emits PKCS#8 keys for Ed25519, the RFC vectors and noble use raw
  // seeds: accept both.
  const der = signKey.length === s.priv ? Buffer.concat([s.pkcs8Prefix, signKey]) : Buffer.from(signKey);
  return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
}

function makeEdwardsSignature(curve: EdwardsCurve): Signature {
  const s = edSizes[curve];
  return {
    async sign(signKey, message) {
      return plain(nodeSign(null, message, edPrivateKey(curve, signKey)));
    },
    async verify(publicKey, message, signature) {
      if (publicKey.length !== s.pub) return false;
      // JWK import is several times faster than SPKI/DER import in node.
      const key = publicKeys.get(curve, publicKey, () =>
        createPublicKey({ key: { kty: "OKP", crv: curve, x: b64url(publicKey) }, format: "jwk" }),
      );
      if (key === null) return false;
      try {
        return nodeVerify(null, message, key, signature);
      } catch {
        return false;
      }
    },
    async keygen() {
      // never export a generated KeyObject: see src/util/keygen.ts
      const jwk = generateJwk(curve === "Ed25519" ? "ed25519" : "ed448");
      return {
        signKey: plain(Buffer.from(jwk.d!, "base64url")),
        publicKey: plain(Buffer.from(jwk.x!, "base64url")),
      };
    },
  };
}

type EcCurve = "P256" | "P384" | "P521";
const ecParams: Record<EcCurve, { crv: string; ecdh: string; hash: NodeHashName; size: number; oid: number[] }> = {
  P256: { crv: "P-256", ecdh: "prime256v1", hash: "sha256", size: 32, oid: [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07] },
  P384: { crv: "P-384", ecdh: "secp384r1", hash: "sha384", size: 48, oid: [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22] },
  P521: { crv: "P-521", ecdh: "secp521r1", hash: "sha512", size: 66, oid: [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23] },
};
const EC_PUBLIC_KEY_OID = [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

function derLength(n: number): number[] {
  return n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
}

/** SubjectPublicKeyInfo for a SEC1 point (compressed or not) on a named curve (RFC 5480). */
function ecSpki(curveOid: number[], point: Uint8Array): Buffer {
  const alg = [...EC_PUBLIC_KEY_OID, ...curveOid];
  const algSeq = [0x30, ...derLength(alg.length), ...alg];
  const bitString = [0x03, ...derLength(point.length + 1), 0x00];
  const body = algSeq.length + bitString.length + point.length;
  return Buffer.concat([Uint8Array.from([0x30, ...derLength(body), ...algSeq, ...bitString]), point]);
}

// MLS ECDSA keys are SEC1 points (ts-mls's noble keygen writes them compressed, others
// uncompressed: both are accepted) and raw scalars; signatures are DER, as ts-mls/noble.
// EC public keys are imported as SPKI: node's JWK import validates the point the slow way
// (1.4 ms vs 0.2 ms on P-521), unlike Ed25519 where JWK is the fast path.
function makeEcdsaSignature(curve: EcCurve): Signature {
  const p = ecParams[curve];
  const privateKeyFromScalar = (d: Uint8Array): KeyObject => {
    const ecdh = createECDH(p.ecdh);
    ecdh.setPrivateKey(d);
    const pub = ecdh.getPublicKey(); // 0x04 || x || y
    return createPrivateKey({
      key: {
        kty: "EC",
        crv: p.crv,
        d: b64url(d),
        x: b64url(pub.subarray(1, 1 + p.size)),
        y: b64url(pub.subarray(1 + p.size)),
      },
      format: "jwk",
    });
  };
  return {
    async sign(signKey, message) {
      return plain(nodeSign(p.hash, message, { key: privateKeyFromScalar(signKey), dsaEncoding: "der" }));
    },
    async verify(publicKey, message, signature) {
      const compressed = publicKey.length === 1 + p.size && (publicKey[0] === 0x02 || publicKey[0] === 0x03);
      if (!compressed && (publicKey.length !== 1 + 2 * p.size || publicKey[0] !== 0x04)) return false;
      const key = publicKeys.get(curve, publicKey, () => createPublicKey({ key: ecSpki(p.oid, publicKey), format: "der", type: "spki" }));
      if (key === null) return false;
      try {
        return nodeVerify(p.hash, message, { key, dsaEncoding: "der" }, signature);
      } catch {
        return false;
      }
    },
    async keygen() {
      const jwk = generateJwk({ ec: p.ecdh });
      const pad = (b64: string) => {
        const raw = Buffer.from(b64, "base64url");
        const out = new Uint8Array(p.size);
        out.set(raw, p.size - raw.length);
        return out;
      };
      const publicKey = new Uint8Array(1 + 2 * p.size);
      publicKey[0] = 0x04;
      publicKey.set(pad(jwk.x!), 1);
      publicKey.set(pad(jwk.y!), 1 + p.size);
      return { signKey: pad(jwk.d!), publicKey };
    },
  };
}

export function makeNodeSignature(alg: SignatureAlgorithm): Signature | undefined {
  switch (alg) {
    case "Ed25519":
    case "Ed448":
      return makeEdwardsSignature(alg);
    case "P256":
    case "P384":
    case "P521":
      return makeEcdsaSignature(alg);
    default:
      return undefined; // ML-DSA: left to ts-mls's default provider
  }
}

function unavailableHpke(suite: CiphersuiteName, cause: unknown): Hpke {
  const fail = async (): Promise<never> => {
    throw new UnsupportedCiphersuiteError(`HPKE for ${suite} is not available: ${String((cause as Error)?.message ?? cause)}`);
  };
  return {
    open: fail,
    seal: fail,
    importPrivateKey: fail,
    importPublicKey: fail,
    exportPublicKey: fail,
    exportPrivateKey: fail,
    encryptAead: fail,
    decryptAead: fail,
    exportSecret: fail,
    importSecret: fail,
    deriveKeyPair: fail,
    generateKeyPair: fail,
    keyLength: 0,
    nonceLength: 0,
  };
}

export interface NodeCryptoProviderOptions {
  /**
   * "required" (default): fail when ts-mls cannot build HPKE for the suite (a member needs it).
   * "optional": a key-less engine never touches HPKE, so hand out a CiphersuiteImpl whose HPKE
   * throws on use; the DS can then track groups of suites whose HPKE dependency is not installed.
   */
  hpke?: "required" | "optional";
  /** Where HPKE (and any signature node:crypto lacks) comes from. Default: ts-mls default provider. */
  fallback?: CryptoProvider;
}

export function makeNodeCryptoProvider(opts: NodeCryptoProviderOptions = {}): CryptoProvider {
  const fallback = opts.fallback ?? defaultCryptoProvider;
  const hpkeMode = opts.hpke ?? "required";
  return {
    async getCiphersuiteImpl(cs: Ciphersuite): Promise<CiphersuiteImpl> {
      let base: CiphersuiteImpl | undefined;
      let hpke: Hpke;
      try {
        base = await fallback.getCiphersuiteImpl(cs);
        hpke = base.hpke;
      } catch (e) {
        if (hpkeMode === "required") throw new UnsupportedCiphersuiteError(`cannot provide ${cs.name}: ${String((e as Error)?.message ?? e)}`);
        hpke = unavailableHpke(cs.name, e);
      }
      const signature = makeNodeSignature(cs.signature) ?? base?.signature;
      if (signature === undefined) throw new UnsupportedCiphersuiteError(`no signature implementation for ${cs.name}`);
      return {
        hash: makeNodeHash(cs.hash),
        kdf: makeNodeKdf(cs.hash),
        signature,
        hpke,
        rng: base?.rng ?? { randomBytes: (n: number) => crypto.getRandomValues(new Uint8Array(n)) },
        name: cs.name,
      };
    },
  };
}

/** Full provider (HPKE required), usable by clients and tests. */
export const nodeCryptoProvider: CryptoProvider = makeNodeCryptoProvider();
/** Engine provider: HPKE optional, as the key-less engine never uses it. */
export const engineCryptoProvider: CryptoProvider = makeNodeCryptoProvider({ hpke: "optional" });

const cache = new Map<string, Promise<CiphersuiteImpl>>();

/**
 * A cached CiphersuiteImpl over node:crypto, by suite name or id. `mode: "engine"` never fails
 * for lack of HPKE (see NodeCryptoProviderOptions.hpke).
 */
export function getNodeCiphersuiteImpl(
  suite: CiphersuiteName | CiphersuiteId | number,
  mode: "member" | "engine" = "member",
): Promise<CiphersuiteImpl> {
  const cs = typeof suite === "number" ? getCiphersuiteFromId(suite as CiphersuiteId) : getCiphersuiteFromName(suite);
  if (cs === undefined) return Promise.reject(new UnsupportedCiphersuiteError(`unknown cipher suite ${String(suite)}`));
  const key = `${mode}:${cs.name}`;
  let p = cache.get(key);
  if (p === undefined) {
    p = (mode === "engine" ? engineCryptoProvider : nodeCryptoProvider).getCiphersuiteImpl(cs);
    // do not cache failures: a later call may succeed (e.g. after a dependency is installed)
    p.catch(() => cache.delete(key));
    cache.set(key, p);
  }
  return p;
}
