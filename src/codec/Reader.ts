// A bounds-checked cursor over a byte array. Every read either succeeds within the buffer or
// throws TruncatedError; nothing ever reads past the end (the defect that made bhttp-js unusable).
import { TrailingBytesError, TruncatedError } from "./errors.js";
import { readVarint } from "./varint.js";

export class Reader {
  offset = 0;
  constructor(readonly bytes: Uint8Array) {}

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  u8(what = "uint8"): number {
    if (this.offset + 1 > this.bytes.length) throw new TruncatedError(what);
    return this.bytes[this.offset++]!;
  }

  u16(what = "uint16"): number {
    if (this.offset + 2 > this.bytes.length) throw new TruncatedError(what);
    const v = (this.bytes[this.offset]! << 8) | this.bytes[this.offset + 1]!;
    this.offset += 2;
    return v;
  }

  u32(what = "uint32"): number {
    if (this.offset + 4 > this.bytes.length) throw new TruncatedError(what);
    const b = this.bytes;
    const o = this.offset;
    this.offset += 4;
    return ((b[o]! << 24) >>> 0) + (b[o + 1]! << 16) + (b[o + 2]! << 8) + b[o + 3]!;
  }

  varint(what = "varint"): number {
    const [v, next] = readVarint(this.bytes, this.offset, what);
    this.offset = next;
    return v;
  }

  /** A view (no copy) of the next n bytes. */
  bytesN(n: number, what = "bytes"): Uint8Array {
    if (n < 0 || this.offset + n > this.bytes.length) throw new TruncatedError(what);
    const out = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  rest(): Uint8Array {
    const out = this.bytes.subarray(this.offset);
    this.offset = this.bytes.length;
    return out;
  }

  /** Throws unless every byte was consumed. */
  end(): void {
    if (this.offset !== this.bytes.length) throw new TrailingBytesError(this.bytes.length - this.offset);
  }
}
