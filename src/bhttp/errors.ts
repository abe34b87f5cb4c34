// Binary HTTP (RFC 9292) decoding failures. Each is a DecodeError so that a gateway can answer
// every malformed message (RFC 9292 s4: "Invalid messages MUST NOT be processed further") with
// one mapping, while tests and logs can still tell the failure points apart.
// Constructors of BinaryRequest/BinaryResponse throw the same classes for invalid input, so a
// message object that exists is always one that the decoder would also accept.
import { DecodeError } from "../codec/errors.js";
import type { BhttpLimits } from "./limits.js";

export class BhttpError extends DecodeError {
  override name = "BhttpError";
}

/** RFC 9292 s3.3: only 0..3 exist, and a request decoder accepts only 0/2, a response decoder 1/3. */
export class InvalidFramingIndicatorError extends BhttpError {
  override name = "InvalidFramingIndicatorError";
  constructor(
    readonly indicator: number,
    expected: string,
  ) {
    super(`framing indicator ${indicator} is not ${expected}`, "invalid_framing_indicator");
  }
}

/** RFC 9292 s3.8: padding is zero-valued bytes only. */
export class NonZeroPaddingError extends BhttpError {
  override name = "NonZeroPaddingError";
  constructor(readonly offset: number) {
    super(`non-zero padding byte at offset ${offset}`, "non_zero_padding");
  }
}

/** A length or count exceeds a configured BhttpLimits value (RFC 9292 s8 resource exhaustion). */
export class LimitExceededError extends BhttpError {
  override name = "LimitExceededError";
  constructor(
    readonly limit: keyof BhttpLimits,
    readonly value: number,
    readonly max: number,
  ) {
    super(`${limit} exceeded: ${value} > ${max}`, "limit_exceeded");
  }
}

/** RFC 9292 s3.6: field name or value not valid per RFC 9110 s5.1 / RFC 9113 s8.2.1. */
export class InvalidFieldError extends BhttpError {
  override name = "InvalidFieldError";
  constructor(message: string) {
    super(message, "invalid_field");
  }
}

/** RFC 9292 s3.4: method, scheme, authority or path not valid per RFC 9113 s8.3.1. */
export class InvalidControlDataError extends BhttpError {
  override name = "InvalidControlDataError";
  constructor(message: string) {
    super(message, "invalid_control_data");
  }
}

/** RFC 9292 s3.5: informational status 100..199, final status 200..599. */
export class InvalidStatusError extends BhttpError {
  override name = "InvalidStatusError";
  constructor(
    readonly status: number,
    expected: string,
  ) {
    super(`status code ${status} is not ${expected}`, "invalid_status");
  }
}
