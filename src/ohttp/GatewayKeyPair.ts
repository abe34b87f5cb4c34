// A gateway's HPKE key pair with the key configuration that advertises it (RFC 9458 s3).
// The node:crypto key objects are imported once here, so decapsulation never pays for a key
// import; the stock (WebCrypto) form is made on demand only for the reference path.
import { AeadId, KdfId, KemId } from "@hpke/core";
import { createReferenceCipherSuite } from "../hpke/suites.js";
import { NodeX25519Key } from "../hpke/NodeX25519Key.js";
import { DEFAULT_SYMMETRIC, isSupportedSymmetric, KEM_X25519_HKDF_SHA256 } from "./algorithms.js";
import { UnsupportedSymmetricAlgorithmError } from "./errors.js";
import { KeyConfig, type SymmetricAlgorithm } from "./KeyConfig.js";

export class GatewayKeyPair {
  readonly config: KeyConfig;
  private referencePair: Promise<CryptoKeyPair> | undefined;

  private constructor(
    readonly keyId: number,
    /** raw X25519 private key, 32 bytes */
    readonly privateKey: Uint8Array,
    /** @internal the pair in the fast suite's representation */
    readonly nodeKeyPair: { readonly privateKey: NodeX25519Key; readonly publicKey: NodeX25519Key },
    symmetric: readonly SymmetricAlgorithm[],
  ) {
    for (const a of symmetric) {
      if (!isSupportedSymmetric(a)) throw new UnsupportedSymmetricAlgorithmError(a.kdfId, a.aeadId, "cannot be offered by this gateway");
    }
    this.config = new KeyConfig(keyId, KEM_X25519_HKDF_SHA256, nodeKeyPair.publicKey.raw, symmetric);
  }

  /** A fresh X25519 key pair. */
  static async generate(keyId: number, symmetric: readonly SymmetricAlgorithm[] = DEFAULT_SYMMETRIC): Promise<GatewayKeyPair> {
    const pair = NodeX25519Key.generatePair();
    return new GatewayKeyPair(keyId, Uint8Array.from(pair.privateKey.raw), pair, symmetric);
  }

  /** Restores a key pair from its raw 32-byte X25519 private key. */
  static async fromPrivateKey(
    keyId: number,
    privateKey: Uint8Array,
    symmetric: readonly SymmetricAlgorithm[] = DEFAULT_SYMMETRIC,
  ): Promise<GatewayKeyPair> {
    if (privateKey.length !== 32) throw new RangeError(`X25519 private key must be 32 bytes, got ${privateKey.length}`);
    const sk = NodeX25519Key.privateFromRaw(privateKey);
    return new GatewayKeyPair(keyId, Uint8Array.from(privateKey), { privateKey: sk, publicKey: sk.publicKey! }, symmetric);
  }

  /** @internal the pair as @hpke/core's stock X25519 KEM represents it (for the reference suite). */
  referenceKeyPair(): Promise<CryptoKeyPair> {
    this.referencePair ??= (async () => {
      const kem = createReferenceCipherSuite(KemId.DhkemX25519HkdfSha256, KdfId.HkdfSha256, AeadId.Aes128Gcm).kem;
      return {
        privateKey: await kem.deserializePrivateKey(this.privateKey),
        publicKey: await kem.deserializePublicKey(this.nodeKeyPair.publicKey.raw),
      };
    })();
    return this.referencePair;
  }
}
