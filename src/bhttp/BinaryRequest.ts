// A Binary HTTP request (RFC 9292 s3.1, s3.2, s3.4). Encodes the known-length form by default
// and decodes both forms. The path carries the query string (":path" of RFC 9113 s8.3.1).
import { Reader } from "../codec/Reader.js";
import { varintSize, writeVarint } from "../codec/varint.js";
import { InvalidControlDataError, InvalidFramingIndicatorError, LimitExceededError } from "./errors.js";
import type { Field, FieldDecodeState } from "./Field.js";
import { isToken, toFieldList } from "./Field.js";
import type { BhttpLimits } from "./limits.js";
import { resolveLimits } from "./limits.js";
import type { SerializeOptions } from "./sections.js";
import { BodyPlan, checkSerializeOptions, readBody } from "./sections.js";
import { asciiString, writeUtf8 } from "./utf8.js";

/** RFC 9292 s3.3 */
export const FRAMING_KNOWN_LENGTH_REQUEST = 0;
export const FRAMING_INDETERMINATE_LENGTH_REQUEST = 2;

export interface BinaryRequestInit {
  method: string;
  scheme: string;
  /** empty when there is no authority (RFC 9292 s3.4) */
  authority: string;
  /** path and query, e.g. "/a/b?c=d"; "*" for OPTIONS; never a fragment */
  path: string;
  headers?: readonly Field[];
  /** not copied */
  content?: Uint8Array;
  trailers?: readonly Field[];
}

// Lets deserialize() skip a second validation of what it has just validated while decoding.
const TRUSTED: unique symbol = Symbol("bhttp.trusted");
const EMPTY = new Uint8Array(0);

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*$/;

function isHttpScheme(scheme: string): boolean {
  const s = scheme.toLowerCase();
  return s === "http" || s === "https";
}

/** Lookup table: visible ASCII (0x21..0x7e) except the listed characters. */
function visibleAsciiExcept(forbidden: string): Uint8Array {
  const t = new Uint8Array(128);
  for (let c = 0x21; c <= 0x7e; c++) if (!forbidden.includes(String.fromCharCode(c))) t[c] = 1;
  return t;
}
const AUTHORITY_HTTP = visibleAsciiExcept("/?#@"); // RFC 9113 s8.3.1: no userinfo for http(s)
const AUTHORITY_OTHER = visibleAsciiExcept("/?#");
const PATH = visibleAsciiExcept("#");

function allIn(s: string, table: Uint8Array): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || table[c] !== 1) return false;
  }
  return true;
}

/**
 * RFC 9292 s3.4 defers to the ":method", ":scheme", ":authority" and ":path" rules of RFC 9113
 * s8.3.1: a token method; a URI scheme (RFC 3986 s3.1); an authority without userinfo for
 * http(s); a path that is "*" (OPTIONS), absolute, or (non-http schemes only) empty; no control
 * characters, spaces, non-ASCII bytes or fragment anywhere. CONNECT (RFC 9113 s8.5) has only an
 * authority.
 */
export function validateRequestControlData(method: string, scheme: string, authority: string, path: string): void {
  if (typeof method !== "string" || typeof scheme !== "string" || typeof authority !== "string" || typeof path !== "string") {
    throw new TypeError("method, scheme, authority and path must be strings");
  }
  if (!isToken(method)) throw new InvalidControlDataError("method is not a token");
  if (method === "CONNECT" && scheme === "" && path === "") {
    if (authority === "") throw new InvalidControlDataError("CONNECT needs an authority");
    if (!allIn(authority, AUTHORITY_HTTP)) throw new InvalidControlDataError("invalid authority character");
    return;
  }
  if (!SCHEME.test(scheme)) throw new InvalidControlDataError("scheme is not a URI scheme");
  const http = isHttpScheme(scheme);
  if (!allIn(authority, http ? AUTHORITY_HTTP : AUTHORITY_OTHER)) {
    throw new InvalidControlDataError("invalid authority character");
  }
  if (path === "*") {
    if (method !== "OPTIONS") throw new InvalidControlDataError('path "*" is only for OPTIONS');
    return;
  }
  if (path === "") {
    if (http) throw new InvalidControlDataError("empty path for an http(s) request");
    return;
  }
  if (path[0] !== "/" && (http || path[0] !== "?")) throw new InvalidControlDataError("path must start with /");
  if (!allIn(path, PATH)) throw new InvalidControlDataError("invalid path character");
}

function readControlString(r: Reader, limits: Readonly<BhttpLimits>, what: string, lengthWhat: string): string {
  const length = r.varint(lengthWhat);
  if (length > limits.maxControlDataLength) {
    throw new LimitExceededError("maxControlDataLength", length, limits.maxControlDataLength);
  }
  return asciiString(r.bytesN(length, what));
}

export class BinaryRequest {
  readonly method: string;
  readonly scheme: string;
  readonly authority: string;
  readonly path: string;
  readonly headers: readonly Field[];
  readonly content: Uint8Array;
  readonly trailers: readonly Field[];

  /** Throws InvalidControlDataError or InvalidFieldError for anything the decoder would reject. */
  constructor(init: BinaryRequestInit, trusted?: typeof TRUSTED) {
    if (trusted !== TRUSTED) {
      validateRequestControlData(init.method, init.scheme, init.authority, init.path);
      if (init.content !== undefined && !(init.content instanceof Uint8Array)) {
        throw new TypeError("content must be a Uint8Array");
      }
    }
    this.method = init.method;
    this.scheme = init.scheme;
    this.authority = init.authority;
    this.path = init.path;
    this.headers = trusted === TRUSTED ? init.headers! : toFieldList(init.headers, "headers");
    this.content = init.content ?? EMPTY;
    this.trailers = trusted === TRUSTED ? init.trailers! : toFieldList(init.trailers, "trailers");
  }

  /**
   * A request for an absolute URL: scheme, authority (host[:port]) and path with query are
   * taken from the WHATWG-parsed URL; any fragment is dropped. A URL with userinfo or without
   * an authority is rejected with InvalidControlDataError.
   */
  static fromUrl(
    method: string,
    url: string,
    headers: readonly Field[] = [],
    content: Uint8Array = EMPTY,
    trailers: readonly Field[] = [],
  ): BinaryRequest {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new InvalidControlDataError("not an absolute URL");
    }
    if (u.username !== "" || u.password !== "") throw new InvalidControlDataError("URL has userinfo");
    u.hash = "";
    const prefix = `${u.protocol}//${u.host}`;
    // Taken from href rather than pathname + search, which loses a bare trailing "?".
    if (!u.href.startsWith(prefix)) throw new InvalidControlDataError("URL has no authority");
    return new BinaryRequest({
      method,
      scheme: u.protocol.slice(0, -1),
      authority: u.host,
      path: u.href.slice(prefix.length),
      headers,
      content,
      trailers,
    });
  }

  /** scheme://authority + path (path and query); just the authority for CONNECT. */
  get url(): string {
    if (this.scheme === "") return this.authority;
    return `${this.scheme}://${this.authority}${this.path === "*" ? "" : this.path}`;
  }

  serialize(opts?: SerializeOptions): Uint8Array {
    const { padding, truncate, indeterminate } = checkSerializeOptions(opts);
    const body = new BodyPlan(this, indeterminate, truncate);
    // Control data is validated ASCII: string length = byte length.
    const parts = [this.method, this.scheme, this.authority, this.path];
    let size = 1 + body.size + padding;
    for (const s of parts) size += varintSize(s.length) + s.length;
    const out = new Uint8Array(size);
    out[0] = indeterminate ? FRAMING_INDETERMINATE_LENGTH_REQUEST : FRAMING_KNOWN_LENGTH_REQUEST;
    let o = 1;
    for (const s of parts) {
      o = writeVarint(out, o, s.length);
      o = writeUtf8(out, o, s, s.length);
    }
    body.write(out, o); // the padding is the zero-filled tail of `out`
    return out;
  }

  /**
   * Decodes a request in either framing. Every failure is a DecodeError: TruncatedError,
   * VarintError, or a BhttpError subclass. The result never aliases `bytes`.
   */
  static deserialize(bytes: Uint8Array, limits?: Partial<BhttpLimits>): BinaryRequest {
    if (!(bytes instanceof Uint8Array)) throw new TypeError("bytes must be a Uint8Array");
    const st: FieldDecodeState = { limits: resolveLimits(limits), fieldBytes: 0 };
    const r = new Reader(bytes);
    const framing = r.varint("framing indicator");
    if (framing !== FRAMING_KNOWN_LENGTH_REQUEST && framing !== FRAMING_INDETERMINATE_LENGTH_REQUEST) {
      throw new InvalidFramingIndicatorError(framing, "a request (0 or 2)");
    }
    const method = readControlString(r, st.limits, "method", "method length");
    const scheme = readControlString(r, st.limits, "scheme", "scheme length");
    const authority = readControlString(r, st.limits, "authority", "authority length");
    const path = readControlString(r, st.limits, "path", "path length");
    validateRequestControlData(method, scheme, authority, path);
    const body = readBody(r, st, framing === FRAMING_INDETERMINATE_LENGTH_REQUEST);
    return new BinaryRequest({ method, scheme, authority, path, ...body }, TRUSTED);
  }
}
