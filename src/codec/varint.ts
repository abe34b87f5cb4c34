// QUIC variable-length integers (RFC 9000 s16), used by Binary HTTP (RFC 9292) and chunked
// OHTTP framing. Values above 2^53-1 cannot be represented as JS numbers; the 8-byte form is
// accepted only up to Number.MAX_SAFE_INTEGER, which no length in this project approaches.
import { TruncatedError, VarintError } from "./errors.js";

export const MAX_VARINT = Number.MAX_SAFE_INTEGER;

export function varintSize(v: number): 1 | 2 | 4 | 8 {
  if (!Number.isSafeInteger(v) || v < 0) throw new VarintError(`cannot encode ${v} as a varint`);
  if (v < 0x40) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x40000000) return 4;
  return 8;
}

/** Writes v at out[offset] in its shortest form; returns the new offset. */
export function writeVarint(out: Uint8Array, offset: number, v: number): number {
  const n = varintSize(v);
  if (offset + n > out.length) throw new RangeError("varint does not fit the output buffer");
  switch (n) {
    case 1:
      out[offset] = v;
      break;
    case 2:
      out[offset] = 0x40 | (v >>> 8);
      out[offset + 1] = v & 0xff;
      break;
    case 4:
      out[offset] = 0x80 | (v >>> 24);
      out[offset + 1] = (v >>> 16) & 0xff;
      out[offset + 2] = (v >>> 8) & 0xff;
      out[offset + 3] = v & 0xff;
      break;
    case 8: {
      const hi = Math.floor(v / 2 ** 32);
      const lo = v >>> 0;
      out[offset] = 0xc0 | (hi >>> 24);
      out[offset + 1] = (hi >>> 16) & 0xff;
      out[offset + 2] = (hi >>> 8) & 0xff;
      out[offset + 3] = hi & 0xff;
      out[offset + 4] = lo >>> 24;
      out[offset + 5] = (lo >>> 16) & 0xff;
      out[offset + 6] = (lo >>> 8) & 0xff;
      out[offset + 7] = lo & 0xff;
      break;
    }
  }
  return offset + n;
}

export function encodeVarint(v: number): Uint8Array {
  const out = new Uint8Array(varintSize(v));
  writeVarint(out, 0, v);
  return out;
}

/** Reads a varint at bytes[offset]; returns [value, newOffset]. Non-minimal forms are accepted (RFC 9000 allows them). */
export function readVarint(bytes: Uint8Array, offset: number, what = "varint"): [number, number] {
  if (offset >= bytes.length) throw new TruncatedError(what);
  const first = bytes[offset]!;
  const n = 1 << (first >>> 6);
  if (offset + n > bytes.length) throw new TruncatedError(what);
  let v = first & 0x3f;
  if (n === 8) {
    // Top 2^53 check: the first byte's 6 bits plus the next byte's top bits must stay safe.
    let hi = v;
    for (let i = 1; i < 4; i++) hi = hi * 256 + bytes[offset + i]!;
    let lo = 0;
    for (let i = 4; i < 8; i++) lo = lo * 256 + bytes[offset + i]!;
    if (hi >= 2 ** 21) throw new VarintError(`${what}: value exceeds 2^53-1`);
    return [hi * 2 ** 32 + lo, offset + 8];
  }
  for (let i = 1; i < n; i++) v = v * 256 + bytes[offset + i]!;
  return [v, offset + n];
}
