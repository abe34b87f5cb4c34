// Decoding helpers shared by the QS structs: every failure (truncation, trailing bytes, bad
// lengths, unknown enum values) becomes one QsMalformedError naming the struct and field.
import { DecodeError } from "../codec/errors.js";
import { DOMAIN_PATTERN, MAX_DOMAIN_BYTES } from "./QsConstants.js";
import { QsError, QsMalformedError } from "./QsErrors.js";
import { TlsReader } from "./tls.js";

export function decodeQs<T>(bytes: Uint8Array, what: string, read: (r: TlsReader) => T): T {
  if (!(bytes instanceof Uint8Array)) throw new QsMalformedError(`${what}: input is not a byte array`);
  const r = new TlsReader(bytes);
  try {
    const v = read(r);
    r.end();
    return v;
  } catch (e) {
    if (e instanceof QsError) throw e;
    if (e instanceof DecodeError || e instanceof RangeError || e instanceof TypeError) {
      throw new QsMalformedError(`${what}: ${e.message}`);
    }
    throw e;
  }
}

/** opaque of exactly `n` bytes. */
export function fixedOpaque(r: TlsReader, what: string, n: number): Uint8Array {
  const b = r.opaque(what, n);
  if (b.length !== n) throw new QsMalformedError(`${what} must be ${n} bytes, got ${b.length}`);
  return b;
}

/** uint64 that must fit a JS number (milliseconds since the epoch, counts). */
export function safeU64(r: TlsReader, what: string): number {
  const v = r.u64(what);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new QsMalformedError(`${what} is out of range`);
  return Number(v);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const enc = new TextEncoder();

/** opaque domain<V>: a lowercase DNS name (optionally :port). Uppercase is refused, so encoding is canonical. */
export function readDomain(r: TlsReader, what: string): string {
  let s: string;
  try {
    s = utf8.decode(r.opaque(what, MAX_DOMAIN_BYTES));
  } catch (e) {
    if (e instanceof DecodeError) throw e;
    throw new QsMalformedError(`${what} is not UTF-8`);
  }
  if (!DOMAIN_PATTERN.test(s)) throw new QsMalformedError(`${what} is not a lowercase domain name`);
  return s;
}

export function checkDomain(domain: string, what: string): string {
  if (typeof domain !== "string" || enc.encode(domain).length > MAX_DOMAIN_BYTES || !DOMAIN_PATTERN.test(domain)) {
    throw new QsMalformedError(`${what} is not a lowercase domain name`);
  }
  return domain;
}

export const encodeDomain = (d: string): Uint8Array => enc.encode(d);
