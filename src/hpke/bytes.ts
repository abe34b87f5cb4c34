// Byte helpers shared by the node:crypto HPKE primitives. @hpke/core's interfaces pass
// ArrayBuffer | view in and expect ArrayBuffer out; these convert without copying where the
// layout allows, because every avoidable copy shows up on the gateway's hot path.

export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);

/** A Uint8Array view of the input; never copies. */
export function asBytes(input: ArrayBufferLike | ArrayBufferView): Uint8Array {
  if (input instanceof Uint8Array) return input;
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  return new Uint8Array(input);
}

/** An ArrayBuffer holding exactly the bytes of u; reuses u's buffer when it is an exact fit. */
export function toExactArrayBuffer(u: Uint8Array): ArrayBuffer {
  const buf = u.buffer;
  if (buf instanceof ArrayBuffer && u.byteOffset === 0 && u.byteLength === buf.byteLength) return buf;
  // Not u.slice(): on a Buffer, slice() is a view, not a copy.
  const out = new Uint8Array(u.length);
  out.set(u);
  return out.buffer;
}

export { concatBytes } from "../codec/bytes.js";

/** I2OSP(n, w) of RFC 8017 for the small widths HPKE uses. */
export function i2osp(n: number, w: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`i2osp: ${n} is not a non-negative integer`);
  const out = new Uint8Array(w);
  let v = n;
  for (let i = w - 1; i >= 0 && v > 0; i--) {
    out[i] = v % 256;
    v = Math.floor(v / 256);
  }
  if (v > 0) throw new RangeError(`i2osp: ${n} does not fit in ${w} bytes`);
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

export function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}
