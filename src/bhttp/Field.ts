// Field lines and field sections (RFC 9292 s3.6). A field section is an ordered array of
// {name, value}: order and repeated names are kept exactly as sent (RFC 9110 s5.2 leaves
// combining to the consumer, and Cookie combines differently; RFC 9292 s3.6).
import { Reader } from "../codec/Reader.js";
import { varintSize, writeVarint } from "../codec/varint.js";
import { InvalidFieldError, LimitExceededError } from "./errors.js";
import type { BhttpLimits } from "./limits.js";
import { asciiString, isWellFormed, utf8Length, utf8String, writeUtf8 } from "./utf8.js";

export interface Field {
  readonly name: string;
  readonly value: string;
}

// RFC 9110 s5.6.2 tchar, without uppercase: RFC 9113 s8.2.1 forbids 0x41-0x5a in names.
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;
const TCHAR_ANY_CASE = TCHAR.slice();
for (let c = 0x41; c <= 0x5a; c++) TCHAR_ANY_CASE[c] = 1;

/** RFC 9110 s5.6.2 token (any case), as used for the method. */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || TCHAR_ANY_CASE[c] !== 1) return false;
  }
  return true;
}

/**
 * A field name is a lowercase token (RFC 9110 s5.1, RFC 9113 s8.2.1). This also rejects every
 * pseudo-field (":method" etc. are invalid per RFC 9292 s3.6; this codec carries no extension
 * pseudo-fields).
 */
export function validateFieldName(name: string): void {
  if (typeof name !== "string") throw new TypeError("field name must be a string");
  if (name.length === 0) throw new InvalidFieldError("field name must be non-empty");
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 128 || TCHAR[c] !== 1) {
      throw new InvalidFieldError(`field name has invalid character 0x${c.toString(16)} at ${i}`);
    }
  }
}

/** RFC 9113 s8.2.1: no NUL, LF or CR anywhere; no SP or HTAB at either end. */
export function validateFieldValue(value: string): void {
  if (typeof value !== "string") throw new TypeError("field value must be a string");
  const n = value.length;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x00 || c === 0x0a || c === 0x0d) throw new InvalidFieldError(`field value has forbidden byte 0x${c.toString(16)}`);
  }
  if (n > 0) {
    const first = value.charCodeAt(0);
    const last = value.charCodeAt(n - 1);
    if (first === 0x20 || first === 0x09 || last === 0x20 || last === 0x09) {
      throw new InvalidFieldError("field value starts or ends with whitespace");
    }
  }
  if (!isWellFormed(value)) throw new InvalidFieldError("field value has a lone surrogate (no UTF-8 form)");
}

/**
 * Validates fields and returns a frozen copy, so a message never changes after construction.
 * Wrong JS types are a TypeError (a caller bug); invalid names or values an InvalidFieldError.
 */
export function toFieldList(fields: readonly Field[] | undefined, section: string): readonly Field[] {
  if (fields === undefined) return Object.freeze([]);
  if (!Array.isArray(fields)) throw new TypeError(`${section} must be an array of fields`);
  const out: Field[] = new Array(fields.length);
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i] as Field | undefined;
    if (typeof f !== "object" || f === null) throw new TypeError(`${section}[${i}] is not a field`);
    const { name, value } = f;
    validateFieldName(name);
    validateFieldValue(value);
    out[i] = Object.freeze({ name, value });
  }
  return Object.freeze(out);
}

/** Byte lengths of a field section, measured once so that the encoder writes in one pass. */
export class FieldSectionPlan {
  /** name and value UTF-8 lengths, interleaved */
  private readonly lens: number[];
  /** encoded size of the field lines (no section length prefix, no terminator) */
  readonly size: number;

  constructor(readonly fields: readonly Field[]) {
    const lens = new Array<number>(fields.length * 2);
    let size = 0;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      const n = f.name.length; // names are ASCII
      const v = utf8Length(f.value);
      lens[2 * i] = n;
      lens[2 * i + 1] = v;
      size += varintSize(n) + n + varintSize(v) + v;
    }
    this.lens = lens;
    this.size = size;
  }

  /** Writes the field lines at out[offset]; returns the new offset. */
  writeLines(out: Uint8Array, offset: number): number {
    const { fields, lens } = this;
    let o = offset;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      const n = lens[2 * i]!;
      const v = lens[2 * i + 1]!;
      o = writeVarint(out, o, n);
      o = writeUtf8(out, o, f.name, n);
      o = writeVarint(out, o, v);
      o = writeUtf8(out, o, f.value, v);
    }
    return o;
  }
}

/** Per-message decoding state: field bytes are budgeted across all sections of a message. */
export interface FieldDecodeState {
  readonly limits: Readonly<BhttpLimits>;
  fieldBytes: number;
}

function decodeName(bytes: Uint8Array): string {
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (c >= 128 || TCHAR[c] !== 1) throw new InvalidFieldError(`field name has invalid byte 0x${c.toString(16)} at ${i}`);
  }
  return asciiString(bytes);
}

function decodeValue(bytes: Uint8Array): string {
  const n = bytes.length;
  for (let i = 0; i < n; i++) {
    const c = bytes[i]!;
    if (c === 0x00 || c === 0x0a || c === 0x0d) throw new InvalidFieldError(`field value has forbidden byte 0x${c.toString(16)}`);
  }
  if (n > 0) {
    const first = bytes[0]!;
    const last = bytes[n - 1]!;
    if (first === 0x20 || first === 0x09 || last === 0x20 || last === 0x09) {
      throw new InvalidFieldError("field value starts or ends with whitespace");
    }
  }
  const s = utf8String(bytes);
  if (s === undefined) throw new InvalidFieldError("field value is not valid UTF-8");
  return s;
}

function checkLineCount(count: number, st: FieldDecodeState): void {
  if (count >= st.limits.maxFieldLines) {
    throw new LimitExceededError("maxFieldLines", count + 1, st.limits.maxFieldLines);
  }
}

function chargeFieldBytes(n: number, st: FieldDecodeState): void {
  if (st.fieldBytes + n > st.limits.maxFieldBytes) {
    throw new LimitExceededError("maxFieldBytes", st.fieldBytes + n, st.limits.maxFieldBytes);
  }
}

/** Known-Length Field Section { Length (i), Field Line (..) ... } (RFC 9292 s3.1). */
export function readKnownLengthFieldSection(r: Reader, st: FieldDecodeState): readonly Field[] {
  const length = r.varint("field section length");
  // The section length bounds every field line inside it, so one check covers the section.
  chargeFieldBytes(length, st);
  // A sub-reader: a field line that straddles the section end is truncated, not read on.
  const section = new Reader(r.bytesN(length, "field section"));
  st.fieldBytes += length;
  const fields: Field[] = [];
  // Bounded: each iteration consumes at least two bytes and maxFieldLines caps the count.
  while (section.remaining > 0) {
    checkLineCount(fields.length, st);
    const nameLen = section.varint("field name length");
    if (nameLen === 0) throw new InvalidFieldError("field name length is zero");
    const name = decodeName(section.bytesN(nameLen, "field name"));
    const value = decodeValue(section.bytesN(section.varint("field value length"), "field value"));
    fields.push(Object.freeze({ name, value }));
  }
  return Object.freeze(fields);
}

/**
 * Indeterminate-Length Field Section { Field Line (..) ..., Content Terminator (i) = 0 }
 * (RFC 9292 s3.2). The terminator is told apart from a Name Length because names are never empty.
 */
export function readIndeterminateFieldSection(r: Reader, st: FieldDecodeState): readonly Field[] {
  const fields: Field[] = [];
  // Bounded: each iteration consumes at least two bytes and maxFieldLines caps the count.
  for (;;) {
    const lineStart = r.offset;
    const nameLen = r.varint("field name length");
    if (nameLen === 0) return Object.freeze(fields);
    checkLineCount(fields.length, st);
    chargeFieldBytes(r.offset - lineStart + nameLen, st);
    const name = decodeName(r.bytesN(nameLen, "field name"));
    const valueLen = r.varint("field value length");
    chargeFieldBytes(r.offset - lineStart + valueLen, st);
    const value = decodeValue(r.bytesN(valueLen, "field value"));
    st.fieldBytes += r.offset - lineStart;
    fields.push(Object.freeze({ name, value }));
  }
}
