// AEADs of RFC 9180 s7.3 on node:crypto's createCipheriv/createDecipheriv, synchronous inside.
// The async seal/open satisfy @hpke/core's AeadEncryptionContext; sealSync/openSync serve the
// OHTTP response path, which needs no promise at all.
import { createCipheriv, createDecipheriv } from "node:crypto";
import type { AeadEncryptionContext, AeadId, AeadInterface } from "@hpke/core";
import { asBytes, toExactArrayBuffer } from "./bytes.js";

export type NodeAeadCipherName = "aes-128-gcm" | "aes-256-gcm" | "chacha20-poly1305";

const TAG_SIZE = 16;

export class NodeAeadContext implements AeadEncryptionContext {
  private readonly key: Buffer;

  constructor(
    private readonly cipher: NodeAeadCipherName,
    key: Uint8Array,
    keySize: number,
    private readonly nonceSize: number,
  ) {
    if (key.length !== keySize) throw new RangeError(`${cipher}: key must be ${keySize} bytes, got ${key.length}`);
    // Raw bytes, not a KeyObject: createSecretKey costs more than it saves for contexts that
    // seal or open once or a few times, which is every OHTTP context.
    this.key = Buffer.from(key);
  }

  sealSync(iv: Uint8Array, data: Uint8Array, aad: Uint8Array): Uint8Array {
    this.checkNonce(iv);
    // Both GCM and ChaCha20-Poly1305 default to a 16-byte tag in node:crypto.
    const c = this.cipher === "chacha20-poly1305" ? createCipheriv(this.cipher, this.key, iv) : createCipheriv(this.cipher, this.key, iv);
    if (aad.length > 0) c.setAAD(aad, { plaintextLength: data.length });
    const body = c.update(data);
    c.final(); // GCM and ChaCha20-Poly1305 emit nothing on final()
    const tag = c.getAuthTag();
    const out = new Uint8Array(body.length + TAG_SIZE);
    out.set(body, 0);
    out.set(tag, body.length);
    return out;
  }

  /** Throws (an Error from node:crypto) when authentication fails. */
  openSync(iv: Uint8Array, data: Uint8Array, aad: Uint8Array): Uint8Array {
    this.checkNonce(iv);
    if (data.length < TAG_SIZE) throw new Error("ciphertext shorter than the authentication tag");
    const ctLen = data.length - TAG_SIZE;
    const d = this.cipher === "chacha20-poly1305" ? createDecipheriv(this.cipher, this.key, iv) : createDecipheriv(this.cipher, this.key, iv);
    d.setAuthTag(data.subarray(ctLen));
    if (aad.length > 0) d.setAAD(aad, { plaintextLength: ctLen });
    const pt = d.update(data.subarray(0, ctLen));
    d.final(); // verifies the tag; throws on mismatch
    return pt;
  }

  async seal(
    iv: ArrayBufferLike | ArrayBufferView,
    data: ArrayBufferLike | ArrayBufferView,
    aad: ArrayBufferLike | ArrayBufferView,
  ): Promise<ArrayBuffer> {
    return toExactArrayBuffer(this.sealSync(asBytes(iv), asBytes(data), asBytes(aad)));
  }

  async open(
    iv: ArrayBufferLike | ArrayBufferView,
    data: ArrayBufferLike | ArrayBufferView,
    aad: ArrayBufferLike | ArrayBufferView,
  ): Promise<ArrayBuffer> {
    return toExactArrayBuffer(this.openSync(asBytes(iv), asBytes(data), asBytes(aad)));
  }

  private checkNonce(iv: Uint8Array): void {
    if (iv.length !== this.nonceSize) throw new RangeError(`${this.cipher}: nonce must be ${this.nonceSize} bytes, got ${iv.length}`);
  }
}

/** Base of the node:crypto AEADs; subclasses fix the algorithm. */
export abstract class NodeAead implements AeadInterface {
  abstract readonly id: AeadId;
  abstract readonly keySize: number;
  abstract readonly cipherName: NodeAeadCipherName;
  readonly nonceSize: number = 12;
  readonly tagSize: number = TAG_SIZE;

  createEncryptionContext(key: ArrayBufferLike | ArrayBufferView): NodeAeadContext {
    return new NodeAeadContext(this.cipherName, asBytes(key), this.keySize, this.nonceSize);
  }
}
