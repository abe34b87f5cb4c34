// Failure points of the relay's single upstream exchange. Each carries a fixed HTTP status and a
// fixed log `kind` and never a free-text message: messages from node:net embed addresses, and the
// relay must log nothing that could identify a client or a target.

export class RelayError extends Error {
  override name = "RelayError";
  constructor(
    /** status the relay answers the client with */
    readonly status: number,
    /** fixed, low-cardinality label for logs */
    readonly kind: string,
    /** errno-style code of the underlying failure (e.g. "ECONNREFUSED"), never its message */
    readonly code?: string,
  ) {
    super(kind);
  }
}

/** The gateway could not be reached, reset the connection or sent a malformed response: 502. */
export class UpstreamUnavailableError extends RelayError {
  override name = "UpstreamUnavailableError";
  constructor(code?: string) {
    super(502, "upstream_unavailable", code);
  }
}

/** The gateway did not answer completely within the upstream timeout: 504. */
export class UpstreamTimeoutError extends RelayError {
  override name = "UpstreamTimeoutError";
  constructor() {
    super(504, "upstream_timeout");
  }
}

/** The gateway's response body exceeded the response limit: 502 (the relay buffers it). */
export class UpstreamResponseTooLargeError extends RelayError {
  override name = "UpstreamResponseTooLargeError";
  constructor() {
    super(502, "upstream_too_large");
  }
}

/** The client went away before the relay could answer; 499 is only used in logs and metrics. */
export class ClientAbortedError extends RelayError {
  override name = "ClientAbortedError";
  constructor() {
    super(499, "client_aborted");
  }
}

/** The configured gateway URL is not an absolute http(s) URL without credentials or fragment. */
export class InvalidGatewayUrlError extends Error {
  override name = "InvalidGatewayUrlError";
}
