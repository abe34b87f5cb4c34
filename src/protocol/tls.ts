// TLS presentation language (RFC 8446 s3) with MLS variable-length vectors (RFC 9420 s2.1.2),
// for the DS protocol's own structs. Embedded MLS structs (MLSMessage, LeafNode, ...) are
// decoded by ts-mls through `readMls`, so no MLS struct is hand-rolled here.
import { TruncatedError } from "../codec/errors.js";
import { Reader } from "../codec/Reader.js";
import { MalformedError } from "./errors.js";

/** A growable output buffer with the encoders the DS structs need. */
export class TlsWriter {
  private buf: Uint8Array;
  private len = 0;

  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  u8(v: number): this {
    this.ensure(1);
    this.buf[this.len++] = v & 0xff;
    return this;
  }

  u16(v: number): this {
    this.ensure(2);
    this.buf[this.len++] = (v >>> 8) & 0xff;
    this.buf[this.len++] = v & 0xff;
    return this;
  }

  u32(v: number): this {
    this.ensure(4);
    this.buf[this.len++] = (v >>> 24) & 0xff;
    this.buf[this.len++] = (v >>> 16) & 0xff;
    this.buf[this.len++] = (v >>> 8) & 0xff;
    this.buf[this.len++] = v & 0xff;
    return this;
  }

  u64(v: bigint): this {
    this.u32(Number((v >> 32n) & 0xffffffffn));
    return this.u32(Number(v & 0xffffffffn));
  }

  /** MLS variable-length length prefix: 1, 2 or 4 bytes, always the shortest form. */
  varint(n: number): this {
    if (!Number.isInteger(n) || n < 0 || n >= 0x40000000) throw new RangeError(`length ${n} cannot be encoded`);
    if (n < 0x40) return this.u8(n);
    if (n < 0x4000) return this.u16(0x4000 | n);
    return this.u32((0x80000000 | n) >>> 0);
  }

  raw(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  /** opaque data<V> */
  opaque(b: Uint8Array): this {
    return this.varint(b.length).raw(b);
  }

  /** T items<V>: the length prefix counts bytes, so items are written to a scratch writer first. */
  vector<T>(items: readonly T[], write: (w: TlsWriter, item: T) => void): this {
    const inner = new TlsWriter();
    for (const it of items) write(inner, it);
    return this.opaque(inner.finish());
  }

  /** optional<T> (RFC 9420 s2.1.3): a presence byte, then T. */
  optional<T>(v: T | undefined, write: (w: TlsWriter, v: T) => void): this {
    if (v === undefined) return this.u8(0);
    this.u8(1);
    write(this, v);
    return this;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/** Reader with MLS vectors; every failure is a MalformedError naming the field. */
export class TlsReader extends Reader {
  /** MLS varint: the 0b11 prefix is invalid and lengths must use the shortest form. */
  mlsVarint(what: string): number {
    const first = this.u8(what);
    const prefix = first >>> 6;
    if (prefix === 0) return first & 0x3f;
    if (prefix === 1) {
      const v = ((first & 0x3f) << 8) | this.u8(what);
      if (v < 0x40) throw new MalformedError(`${what}: non-minimal length encoding`);
      return v;
    }
    if (prefix === 2) {
      const v = (first & 0x3f) * 0x1000000 + ((this.u8(what) << 16) | (this.u8(what) << 8) | this.u8(what));
      if (v < 0x4000) throw new MalformedError(`${what}: non-minimal length encoding`);
      return v;
    }
    throw new MalformedError(`${what}: invalid variable-length prefix`);
  }

  opaque(what: string, max = 1 << 24): Uint8Array {
    const n = this.mlsVarint(what);
    if (n > max) throw new MalformedError(`${what}: ${n} bytes exceeds the limit of ${max}`);
    return this.bytesN(n, what);
  }

  u64(what = "uint64"): bigint {
    const hi = this.u32(what);
    const lo = this.u32(what);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  vector<T>(what: string, readItem: (r: TlsReader) => T, maxItems = 100_000): T[] {
    const body = new TlsReader(this.opaque(what));
    const out: T[] = [];
    while (body.remaining > 0) {
      if (out.length >= maxItems) throw new MalformedError(`${what}: more than ${maxItems} items`);
      out.push(readItem(body));
    }
    return out;
  }

  optional<T>(what: string, readItem: (r: TlsReader) => T): T | undefined {
    const present = this.u8(what);
    if (present === 0) return undefined;
    if (present !== 1) throw new MalformedError(`${what}: invalid optional presence byte ${present}`);
    return readItem(this);
  }

  /**
   * Decodes an embedded MLS struct with a ts-mls decoder and returns it with its exact bytes.
   * ts-mls decoders signal failure by returning undefined or by throwing; both become MalformedError.
   */
  mls<T>(what: string, decoder: (b: Uint8Array, offset: number) => [T, number] | undefined): { value: T; bytes: Uint8Array } {
    const start = this.offset;
    let res: [T, number] | undefined;
    try {
      res = decoder(this.bytes, start);
    } catch {
      res = undefined;
    }
    if (!res || res[1] <= 0 || start + res[1] > this.bytes.length) {
      if (start >= this.bytes.length) throw new TruncatedError(what);
      throw new MalformedError(`${what}: not a valid encoding`);
    }
    this.offset = start + res[1];
    return { value: res[0], bytes: this.bytes.subarray(start, this.offset) };
  }
}

/** Runs a struct decoder over the whole input, mapping codec errors to MalformedError. */
export function decodeExact<T>(bytes: Uint8Array, what: string, read: (r: TlsReader) => T): T {
  const r = new TlsReader(bytes);
  let v: T;
  try {
    v = read(r);
    r.end();
  } catch (e) {
    if (e instanceof MalformedError) throw e;
    const m = e instanceof Error ? e.message : String(e);
    throw new MalformedError(`${what}: ${m}`);
  }
  return v;
}
