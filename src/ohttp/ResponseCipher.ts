// The response protection of RFC 9458 s4.4, shared with chunked responses
// (draft-ietf-ohai-chunked-ohttp-08 s6.2):
//   secret = context.Export(label, max(Nn, Nk)); salt = enc || response_nonce
//   prk = Extract(salt, secret); aead_key = Expand(prk, "key", Nk); aead_nonce = Expand(prk, "nonce", Nn)
//   chunk i is sealed under aead_nonce XOR I2OSP(i, Nn)   (i = 0 for a non-chunked response)
// Extract/Expand are plain HKDF with the suite's hash (the 48-byte salt is fine here, unlike in
// @hpke/core's stock extract()), passed in: node:crypto at the gateway, the platform's in the
// client, so this file stays free of node: imports.
import type { AeadEncryptionContext, AeadInterface } from "@hpke/core";
import type { AeadParams } from "./algorithms.js";

type HashName = "sha256" | "sha384" | "sha512";

/** Plain HKDF-Extract / HKDF-Expand with a named hash. */
export interface ResponseKdf {
  extract(hash: HashName, salt: Uint8Array, ikm: Uint8Array): Uint8Array;
  expand(hash: HashName, prk: Uint8Array, info: Uint8Array, length: number): Uint8Array;
}

/** A context that also seals and opens synchronously (the node:crypto AEADs). */
interface SyncAeadContext extends AeadEncryptionContext {
  sealSync(iv: Uint8Array, pt: Uint8Array, aad: Uint8Array): Uint8Array;
  openSync(iv: Uint8Array, ct: Uint8Array, aad: Uint8Array): Uint8Array;
}
const isSync = (c: AeadEncryptionContext): c is SyncAeadContext => typeof (c as Partial<SyncAeadContext>).sealSync === "function";
import { LABEL_KEY, LABEL_NONCE } from "./labels.js";

export interface ResponseKeyMaterial {
  readonly prk: Uint8Array;
  readonly key: Uint8Array;
  readonly nonce: Uint8Array;
}

export function deriveResponseKeys(
  kdf: ResponseKdf,
  hash: HashName,
  params: AeadParams,
  secret: Uint8Array,
  enc: Uint8Array,
  responseNonce: Uint8Array,
): ResponseKeyMaterial {
  const salt = new Uint8Array(enc.length + responseNonce.length);
  salt.set(enc, 0);
  salt.set(responseNonce, enc.length);
  const prk = kdf.extract(hash, salt, secret);
  return {
    prk,
    key: kdf.expand(hash, prk, LABEL_KEY, params.Nk),
    nonce: kdf.expand(hash, prk, LABEL_NONCE, params.Nn),
  };
}

export class ResponseCipher {
  private readonly ctx: AeadEncryptionContext;

  constructor(
    aead: AeadInterface,
    readonly keys: ResponseKeyMaterial,
  ) {
    this.ctx = aead.createEncryptionContext(keys.key);
  }

  /** aead_nonce XOR I2OSP(counter, Nn) */
  nonceFor(counter: number): Uint8Array {
    const n = Uint8Array.from(this.keys.nonce);
    let c = counter;
    for (let i = n.length - 1; i >= 0 && c > 0; i--) {
      n[i]! ^= c % 256;
      c = Math.floor(c / 256);
    }
    return n;
  }

  seal(counter: number, pt: Uint8Array, aad: Uint8Array): Uint8Array | Promise<Uint8Array> {
    const iv = this.nonceFor(counter);
    // The node:crypto context seals synchronously; only the reference AEADs need a promise.
    if (isSync(this.ctx)) return this.ctx.sealSync(iv, pt, aad);
    return this.ctx.seal(iv, pt, aad).then((b) => new Uint8Array(b));
  }

  /** Throws (any error) when authentication fails; callers map it to their typed error. */
  open(counter: number, ct: Uint8Array, aad: Uint8Array): Uint8Array | Promise<Uint8Array> {
    const iv = this.nonceFor(counter);
    if (isSync(this.ctx)) return this.ctx.openSync(iv, ct, aad);
    return this.ctx.open(iv, ct, aad).then((b) => new Uint8Array(b));
  }
}
