// The part shared by requests and responses after their control data (RFC 9292 s3.1, s3.2):
// header section, content, trailer section, padding, and the truncation rules of s3.8.
import type { Reader } from "../codec/Reader.js";
import { varintSize, writeVarint } from "../codec/varint.js";
import { LimitExceededError, NonZeroPaddingError } from "./errors.js";
import type { Field, FieldDecodeState } from "./Field.js";
import { FieldSectionPlan, readIndeterminateFieldSection, readKnownLengthFieldSection } from "./Field.js";

export interface SerializeOptions {
  /** Zero bytes appended after the message (RFC 9292 s3.8). Default 0. */
  padding?: number;
  /**
   * Omit trailing empty parts (RFC 9292 s3.8): the trailer section if empty, then the content
   * if also empty, then the header section if also empty. Default false. RFC 9458 Appendix A
   * uses this form.
   */
  truncate?: boolean;
  /** Use the indeterminate-length form (framing indicator 2 or 3). Default false (known length). */
  indeterminate?: boolean;
}

export interface Body {
  readonly headers: readonly Field[];
  readonly content: Uint8Array;
  readonly trailers: readonly Field[];
}

const EMPTY_FIELDS: readonly Field[] = Object.freeze([]);

export function checkSerializeOptions(opts: SerializeOptions | undefined): Required<SerializeOptions> {
  const padding = opts?.padding ?? 0;
  if (!Number.isSafeInteger(padding) || padding < 0) throw new RangeError("padding must be a non-negative integer");
  return { padding, truncate: opts?.truncate === true, indeterminate: opts?.indeterminate === true };
}

/** Size of one field section in the chosen form. */
export function fieldSectionSize(plan: FieldSectionPlan, indeterminate: boolean): number {
  return indeterminate ? plan.size + 1 : varintSize(plan.size) + plan.size;
}

/** Writes one field section in the chosen form; returns the new offset. */
export function writeFieldSection(out: Uint8Array, offset: number, plan: FieldSectionPlan, indeterminate: boolean): number {
  let o = offset;
  if (!indeterminate) o = writeVarint(out, o, plan.size);
  o = plan.writeLines(out, o);
  if (indeterminate) out[o++] = 0; // Content Terminator
  return o;
}

/** Measures header section, content and trailer section once; then writes them in one pass. */
export class BodyPlan {
  private readonly headers: FieldSectionPlan;
  private readonly trailers: FieldSectionPlan;
  /** how many of the three parts are written (3, or fewer when truncating) */
  private readonly parts: number;
  readonly size: number;

  constructor(
    private readonly body: Body,
    private readonly indeterminate: boolean,
    truncate: boolean,
  ) {
    this.headers = new FieldSectionPlan(body.headers);
    this.trailers = new FieldSectionPlan(body.trailers);
    let parts = 3;
    if (truncate) {
      if (body.trailers.length === 0) parts = 2;
      if (parts === 2 && body.content.length === 0) parts = 1;
      if (parts === 1 && body.headers.length === 0) parts = 0;
    }
    this.parts = parts;
    let size = 0;
    if (parts >= 1) size += fieldSectionSize(this.headers, indeterminate);
    if (parts >= 2) size += this.contentSize();
    if (parts >= 3) size += fieldSectionSize(this.trailers, indeterminate);
    this.size = size;
  }

  private contentSize(): number {
    const n = this.body.content.length;
    if (!this.indeterminate) return varintSize(n) + n;
    // one chunk holding all the content (none when empty), then the terminator
    return (n > 0 ? varintSize(n) + n : 0) + 1;
  }

  write(out: Uint8Array, offset: number): number {
    const { parts, indeterminate } = this;
    const content = this.body.content;
    let o = offset;
    if (parts >= 1) o = writeFieldSection(out, o, this.headers, indeterminate);
    if (parts >= 2) {
      if (!indeterminate || content.length > 0) o = writeVarint(out, o, content.length);
      out.set(content, o);
      o += content.length;
      if (indeterminate) out[o++] = 0;
    }
    if (parts >= 3) o = writeFieldSection(out, o, this.trailers, indeterminate);
    return o;
  }
}

/** Reads one field section in the message's form. */
export function readFieldSection(r: Reader, st: FieldDecodeState, indeterminate: boolean): readonly Field[] {
  return indeterminate ? readIndeterminateFieldSection(r, st) : readKnownLengthFieldSection(r, st);
}

function readKnownLengthContent(r: Reader, st: FieldDecodeState): Uint8Array {
  const length = r.varint("content length");
  // Checked before any read or copy: a hostile length allocates nothing.
  if (length > st.limits.maxContentBytes) throw new LimitExceededError("maxContentBytes", length, st.limits.maxContentBytes);
  return r.bytesN(length, "content").slice();
}

function readIndeterminateContent(r: Reader, st: FieldDecodeState): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  // Bounded: each chunk consumes at least two bytes of input.
  for (;;) {
    const length = r.varint("chunk length");
    if (length === 0) break; // Content Terminator
    if (total + length > st.limits.maxContentBytes) {
      throw new LimitExceededError("maxContentBytes", total + length, st.limits.maxContentBytes);
    }
    chunks.push(r.bytesN(length, "content chunk"));
    total += length;
  }
  if (chunks.length === 1) return chunks[0]!.slice();
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/**
 * Header section, content, trailer section and padding. Per RFC 9292 s3.8 the message may end
 * before any of the three parts (but not inside one); a missing part reads as empty.
 */
export function readBody(r: Reader, st: FieldDecodeState, indeterminate: boolean): Body {
  let headers = EMPTY_FIELDS;
  let content: Uint8Array = new Uint8Array(0);
  let trailers = EMPTY_FIELDS;
  if (r.remaining > 0) {
    headers = readFieldSection(r, st, indeterminate);
    if (r.remaining > 0) {
      content = indeterminate ? readIndeterminateContent(r, st) : readKnownLengthContent(r, st);
      if (r.remaining > 0) trailers = readFieldSection(r, st, indeterminate);
    }
  }
  checkPadding(r);
  return { headers, content, trailers };
}

/** RFC 9292 s3.8: everything after the message must be zero-valued padding. */
export function checkPadding(r: Reader): void {
  const { bytes } = r;
  for (let i = r.offset; i < bytes.length; i++) {
    if (bytes[i] !== 0) throw new NonZeroPaddingError(i);
  }
  r.offset = bytes.length;
}
