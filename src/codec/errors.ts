// Base of every decoding failure in the project's own codecs. Each codec family derives its
// own subclasses so that callers can map a failure to a protocol status without string checks.
export class DecodeError extends Error {
  override name = "DecodeError";
  constructor(
    message: string,
    /** stable, machine-readable reason, e.g. "truncated" */
    readonly reason: string,
  ) {
    super(message);
  }
}

export class TruncatedError extends DecodeError {
  override name = "TruncatedError";
  constructor(what: string) {
    super(`truncated input while reading ${what}`, "truncated");
  }
}

export class TrailingBytesError extends DecodeError {
  override name = "TrailingBytesError";
  constructor(count: number) {
    super(`${count} unexpected trailing byte(s)`, "trailing_bytes");
  }
}

export class VarintError extends DecodeError {
  override name = "VarintError";
  constructor(message: string) {
    super(message, "varint");
  }
}
