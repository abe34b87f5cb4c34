// Key configuration (RFC 9458 s3.1) and the application/ohttp-keys list (s3.2).
//
//   Key Config {
//     Key Identifier (8),
//     HPKE KEM ID (16),
//     HPKE Public Key (Npk * 8),
//     HPKE Symmetric Algorithms Length (16) = 4..65532,
//     HPKE Symmetric Algorithms (32) ...,      // { HPKE KDF ID (16), HPKE AEAD ID (16) }
//   }
import { DecodeError } from "../codec/errors.js";
import { Reader } from "../codec/Reader.js";
import { kemPublicKeySize } from "./algorithms.js";
import { MalformedKeyConfigError, UnsupportedKemError } from "./errors.js";

export interface SymmetricAlgorithm {
  kdfId: number;
  aeadId: number;
}

const MAX_SYMMETRIC = 65532 / 4;

function isU(v: unknown, bits: 8 | 16): v is number {
  return Number.isInteger(v) && (v as number) >= 0 && (v as number) < 2 ** bits;
}

export class KeyConfig {
  readonly publicKey: Uint8Array;
  readonly symmetricAlgorithms: readonly SymmetricAlgorithm[];

  constructor(
    readonly keyId: number,
    readonly kemId: number,
    publicKey: Uint8Array,
    symmetricAlgorithms: readonly SymmetricAlgorithm[],
  ) {
    if (!isU(keyId, 8)) throw new MalformedKeyConfigError(`key id ${keyId} is not a uint8`);
    if (!isU(kemId, 16)) throw new MalformedKeyConfigError(`KEM id ${kemId} is not a uint16`);
    const npk = kemPublicKeySize(kemId);
    if (npk !== undefined && publicKey.length !== npk) {
      throw new MalformedKeyConfigError(`public key is ${publicKey.length} bytes, KEM 0x${kemId.toString(16)} needs ${npk}`);
    }
    if (symmetricAlgorithms.length < 1 || symmetricAlgorithms.length > MAX_SYMMETRIC) {
      throw new MalformedKeyConfigError(`${symmetricAlgorithms.length} symmetric algorithms (1..${MAX_SYMMETRIC} allowed)`);
    }
    for (const a of symmetricAlgorithms) {
      if (!isU(a.kdfId, 16) || !isU(a.aeadId, 16)) throw new MalformedKeyConfigError("symmetric algorithm ids must be uint16");
    }
    this.publicKey = Uint8Array.from(publicKey);
    this.symmetricAlgorithms = Object.freeze(symmetricAlgorithms.map((a) => Object.freeze({ kdfId: a.kdfId, aeadId: a.aeadId })));
  }

  serialize(): Uint8Array {
    const n = this.symmetricAlgorithms.length * 4;
    const out = new Uint8Array(1 + 2 + this.publicKey.length + 2 + n);
    const dv = new DataView(out.buffer);
    out[0] = this.keyId;
    dv.setUint16(1, this.kemId);
    out.set(this.publicKey, 3);
    let o = 3 + this.publicKey.length;
    dv.setUint16(o, n);
    o += 2;
    for (const a of this.symmetricAlgorithms) {
      dv.setUint16(o, a.kdfId);
      dv.setUint16(o + 2, a.aeadId);
      o += 4;
    }
    return out;
  }

  /** Exactly one key configuration, no trailing bytes. An unknown KEM (unknown Npk) gives UnsupportedKemError. */
  static deserialize(bytes: Uint8Array): KeyConfig {
    const r = new Reader(bytes);
    try {
      const config = KeyConfig.read(r);
      r.end();
      return config;
    } catch (e) {
      if (e instanceof UnsupportedKemError || e instanceof MalformedKeyConfigError) throw e;
      if (e instanceof DecodeError) throw new MalformedKeyConfigError(e.message, e);
      throw e;
    }
  }

  private static read(r: Reader): KeyConfig {
    const keyId = r.u8("key id");
    const kemId = r.u16("KEM id");
    const npk = kemPublicKeySize(kemId);
    if (npk === undefined) throw new UnsupportedKemError(kemId);
    const publicKey = r.bytesN(npk, "public key");
    const len = r.u16("symmetric algorithms length");
    if (len < 4 || len % 4 !== 0) throw new MalformedKeyConfigError(`symmetric algorithms length ${len} is not a positive multiple of 4`);
    const algs: SymmetricAlgorithm[] = [];
    const end = r.offset + len;
    if (end > r.bytes.length) throw new MalformedKeyConfigError("symmetric algorithms run past the end");
    while (r.offset < end) algs.push({ kdfId: r.u16("KDF id"), aeadId: r.u16("AEAD id") });
    return new KeyConfig(keyId, kemId, publicKey, algs);
  }
}

/**
 * application/ohttp-keys: one or more key configurations, each prefixed by its 2-byte length.
 * RFC 9458 s3.2 asks clients to discard invalid configurations and warns that different
 * recovery strategies can partition clients; the strictest uniform rule is taken here: any
 * malformed entry rejects the whole list. An entry whose KEM this code cannot even size (its
 * length prefix still delimits it) is skipped, not an error; if nothing usable remains the
 * list is refused.
 */
export class KeyConfigList {
  readonly configs: readonly KeyConfig[];

  constructor(configs: readonly KeyConfig[]) {
    this.configs = Object.freeze([...configs]);
  }

  serialize(): Uint8Array {
    const parts = this.configs.map((c) => c.serialize());
    let n = 0;
    for (const p of parts) {
      if (p.length > 0xffff) throw new MalformedKeyConfigError("key configuration longer than 65535 bytes");
      n += 2 + p.length;
    }
    const out = new Uint8Array(n);
    let o = 0;
    for (const p of parts) {
      out[o] = p.length >>> 8;
      out[o + 1] = p.length & 0xff;
      out.set(p, o + 2);
      o += 2 + p.length;
    }
    return out;
  }

  static deserialize(bytes: Uint8Array): KeyConfigList {
    if (bytes.length === 0) throw new MalformedKeyConfigError("empty application/ohttp-keys list");
    const r = new Reader(bytes);
    const configs: KeyConfig[] = [];
    let skipped: UnsupportedKemError | undefined;
    try {
      while (r.remaining > 0) {
        const len = r.u16("key configuration length");
        if (len === 0) throw new MalformedKeyConfigError("zero-length key configuration");
        const entry = r.bytesN(len, "key configuration");
        try {
          configs.push(KeyConfig.deserialize(entry));
        } catch (e) {
          if (!(e instanceof UnsupportedKemError)) throw e;
          skipped = e;
        }
      }
    } catch (e) {
      if (e instanceof MalformedKeyConfigError) throw e;
      if (e instanceof DecodeError) throw new MalformedKeyConfigError(e.message, e);
      throw e;
    }
    if (configs.length === 0) throw skipped ?? new MalformedKeyConfigError("no key configuration");
    return new KeyConfigList(configs);
  }
}
