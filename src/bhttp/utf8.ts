// UTF-8 helpers for the encoder's single allocation: lengths are computed first, then strings
// are written straight into the output buffer. Lengths are UTF-8 byte counts, never UTF-16
// `.length` (the bhttp-js defect).

const encoder = new TextEncoder();
// fatal: invalid UTF-8 is an error, not U+FFFD (which would not re-encode to the same bytes);
// ignoreBOM: a leading U+FEFF is data and must survive a round trip.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** False when s holds a lone surrogate, which has no UTF-8 encoding. */
export function isWellFormed(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c > 0xdbff) return false;
    const d = s.charCodeAt(i + 1);
    if (!(d >= 0xdc00 && d <= 0xdfff)) return false;
    i++;
  }
  return true;
}

/** UTF-8 byte length of a well-formed string. */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 2; // a pair: 2 UTF-16 units, 4 bytes
      i++;
    } else n += 2;
  }
  return n;
}

/** Writes s (whose UTF-8 length is byteLength) at out[offset]; returns the new offset. */
export function writeUtf8(out: Uint8Array, offset: number, s: string, byteLength: number): number {
  if (byteLength === s.length) {
    for (let i = 0; i < byteLength; i++) out[offset + i] = s.charCodeAt(i);
    return offset + byteLength;
  }
  encoder.encodeInto(s, out.subarray(offset, offset + byteLength));
  return offset + byteLength;
}

/**
 * One char per byte. Exact for ASCII; any other byte becomes a char >= 0x80 (Latin-1), which
 * keeps it visible to the validators that run on the result.
 */
export function asciiString(bytes: Uint8Array): string {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i]! >= 0x80) return latin1String(bytes);
  }
  return decoder.decode(bytes); // ASCII is valid UTF-8; the native decoder is the fastest path
}

function latin1String(bytes: Uint8Array): string {
  let s = "";
  // chunked: apply() with very long argument lists can overflow the stack
  for (let i = 0; i < bytes.length; i += 1024) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 1024) as unknown as number[]);
  }
  return s;
}

/** Decodes UTF-8; returns undefined for invalid UTF-8. */
export function utf8String(bytes: Uint8Array): string | undefined {
  try {
    return decoder.decode(bytes);
  } catch {
    return undefined;
  }
}
