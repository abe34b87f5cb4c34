// A Binary HTTP response (RFC 9292 s3.1, s3.2, s3.5): informational (1xx) responses with their
// header sections, then the final status, header section, content and trailer section.
import { Reader } from "../codec/Reader.js";
import { varintSize, writeVarint } from "../codec/varint.js";
import { InvalidFramingIndicatorError, InvalidStatusError, LimitExceededError } from "./errors.js";
import type { Field, FieldDecodeState } from "./Field.js";
import { FieldSectionPlan, toFieldList } from "./Field.js";
import type { BhttpLimits } from "./limits.js";
import { resolveLimits } from "./limits.js";
import type { SerializeOptions } from "./sections.js";
import { BodyPlan, checkSerializeOptions, fieldSectionSize, readBody, readFieldSection, writeFieldSection } from "./sections.js";

/** RFC 9292 s3.3 */
export const FRAMING_KNOWN_LENGTH_RESPONSE = 1;
export const FRAMING_INDETERMINATE_LENGTH_RESPONSE = 3;

export interface InformationalResponse {
  /** 100..199 */
  readonly status: number;
  readonly headers: readonly Field[];
}

export interface BinaryResponseInit {
  /** final status, 200..599 */
  status: number;
  headers?: readonly Field[];
  /** not copied */
  content?: Uint8Array;
  trailers?: readonly Field[];
  informational?: readonly InformationalResponse[];
}

const TRUSTED: unique symbol = Symbol("bhttp.trusted");
const EMPTY = new Uint8Array(0);
const NONE: readonly InformationalResponse[] = Object.freeze([]);

export function isInformationalStatus(status: number): boolean {
  return Number.isInteger(status) && status >= 100 && status <= 199;
}

export function isFinalStatus(status: number): boolean {
  return Number.isInteger(status) && status >= 200 && status <= 599;
}

function toInformationalList(list: readonly InformationalResponse[] | undefined): readonly InformationalResponse[] {
  if (list === undefined) return NONE;
  if (!Array.isArray(list)) throw new TypeError("informational must be an array");
  return Object.freeze(
    list.map((ir: InformationalResponse, i) => {
      if (typeof ir !== "object" || ir === null) throw new TypeError(`informational[${i}] is not an object`);
      if (!isInformationalStatus(ir.status)) throw new InvalidStatusError(ir.status, "informational (100..199)");
      return Object.freeze({ status: ir.status, headers: toFieldList(ir.headers, `informational[${i}].headers`) });
    }),
  );
}

export class BinaryResponse {
  readonly informational: readonly InformationalResponse[];
  readonly status: number;
  readonly headers: readonly Field[];
  readonly content: Uint8Array;
  readonly trailers: readonly Field[];

  /** Throws InvalidStatusError or InvalidFieldError for anything the decoder would reject. */
  constructor(init: BinaryResponseInit, trusted?: typeof TRUSTED) {
    if (trusted === TRUSTED) {
      this.informational = init.informational!;
      this.headers = init.headers!;
      this.trailers = init.trailers!;
    } else {
      if (!isFinalStatus(init.status)) throw new InvalidStatusError(init.status, "final (200..599)");
      if (init.content !== undefined && !(init.content instanceof Uint8Array)) {
        throw new TypeError("content must be a Uint8Array");
      }
      this.informational = toInformationalList(init.informational);
      this.headers = toFieldList(init.headers, "headers");
      this.trailers = toFieldList(init.trailers, "trailers");
    }
    this.status = init.status;
    this.content = init.content ?? EMPTY;
  }

  serialize(opts?: SerializeOptions): Uint8Array {
    const { padding, truncate, indeterminate } = checkSerializeOptions(opts);
    const body = new BodyPlan(this, indeterminate, truncate);
    const infoPlans = this.informational.map((ir) => new FieldSectionPlan(ir.headers));
    let size = 1 + varintSize(this.status) + body.size + padding;
    for (let i = 0; i < infoPlans.length; i++) {
      size += varintSize(this.informational[i]!.status) + fieldSectionSize(infoPlans[i]!, indeterminate);
    }
    const out = new Uint8Array(size);
    out[0] = indeterminate ? FRAMING_INDETERMINATE_LENGTH_RESPONSE : FRAMING_KNOWN_LENGTH_RESPONSE;
    let o = 1;
    for (let i = 0; i < infoPlans.length; i++) {
      o = writeVarint(out, o, this.informational[i]!.status);
      o = writeFieldSection(out, o, infoPlans[i]!, indeterminate);
    }
    o = writeVarint(out, o, this.status);
    body.write(out, o); // the padding is the zero-filled tail of `out`
    return out;
  }

  /**
   * Decodes a response in either framing. Every failure is a DecodeError: TruncatedError,
   * VarintError, or a BhttpError subclass. The result never aliases `bytes`.
   */
  static deserialize(bytes: Uint8Array, limits?: Partial<BhttpLimits>): BinaryResponse {
    if (!(bytes instanceof Uint8Array)) throw new TypeError("bytes must be a Uint8Array");
    const st: FieldDecodeState = { limits: resolveLimits(limits), fieldBytes: 0 };
    const r = new Reader(bytes);
    const framing = r.varint("framing indicator");
    if (framing !== FRAMING_KNOWN_LENGTH_RESPONSE && framing !== FRAMING_INDETERMINATE_LENGTH_RESPONSE) {
      throw new InvalidFramingIndicatorError(framing, "a response (1 or 3)");
    }
    const indeterminate = framing === FRAMING_INDETERMINATE_LENGTH_RESPONSE;
    const informational: InformationalResponse[] = [];
    let status: number;
    // RFC 9292 s3.5.1: control data and a header section repeat until a final status. The
    // message cannot end before the final status (s3.8 allows truncation only after it).
    for (;;) {
      status = r.varint(informational.length === 0 ? "status code" : "final status code");
      if (isFinalStatus(status)) break;
      if (!isInformationalStatus(status)) throw new InvalidStatusError(status, "100..599");
      if (informational.length >= st.limits.maxInformationalResponses) {
        throw new LimitExceededError(
          "maxInformationalResponses",
          informational.length + 1,
          st.limits.maxInformationalResponses,
        );
      }
      informational.push(Object.freeze({ status, headers: readFieldSection(r, st, indeterminate) }));
    }
    const body = readBody(r, st, indeterminate);
    return new BinaryResponse({ status, informational: Object.freeze(informational), ...body }, TRUSTED);
  }
}
