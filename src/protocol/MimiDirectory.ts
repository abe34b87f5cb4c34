// The MIMI URL directory, draft-barnes-mimi-protocol s7.1, byte for byte:
//     enum { get(1), post(2), (255) } HttpMethod;
//     enum { requestConsent(1), updateConsent(2), claimKeyMaterial(3), updateRoom(4),
//            provisionalMessage(5), fanoutMessage(6), claimGroupInfo(7), downloadFile(8),
//            reportAbuse(9), identifierQuery(10), (255) } MimiPrimitive;
//     struct { MimiPrimitive primitive; HttpMethod method; HttpsUri uri; } MimiDirectoryEntry;
//     struct { MimiDirectoryEntry directory<V>; } MimiDirectory;
// served at GET /.well-known/mimi-protocol-directory. The draft leaves HttpsUri undefined; here
// it is opaque<V> holding an absolute UTF-8 URL. Its scheme may be http as well as https: behind
// OHTTP the provider origin is named as the gateway's allow-list names it (e.g. http://a.test),
// and the confidentiality comes from OHTTP, not from TLS to the origin.
//
// Decoding is strict: unknown or reserved enum values, a primitive listed twice, a malformed URL,
// non-UTF-8 text, over-limit lengths, truncation and trailing bytes are each a typed error. The
// error family below (MimiDecodeError) also serves IdentifierQuery.ts, the other draft-barnes
// struct family of this profile, so both report failures the same way.
import { DecodeError, TrailingBytesError, TruncatedError } from "../codec/errors.js";
import { MalformedError } from "./errors.js";
import { decodeExact, TlsReader, TlsWriter } from "./tls.js";

/** HttpMethod (uint8), draft-barnes s7.1. */
export enum HttpMethod {
  get = 1,
  post = 2,
}

/** MimiPrimitive (uint8), draft-barnes s7.1. */
export enum MimiPrimitive {
  requestConsent = 1,
  updateConsent = 2,
  claimKeyMaterial = 3,
  updateRoom = 4,
  provisionalMessage = 5,
  fanoutMessage = 6,
  claimGroupInfo = 7,
  downloadFile = 8,
  reportAbuse = 9,
  identifierQuery = 10,
}

/** Decoder limits of this profile. */
export const MAX_HTTPS_URI_BYTES = 2048;
/** Every primitive at most once, so ten entries today; the bound leaves room for new ones. */
export const MAX_DIRECTORY_ENTRIES = 64;

// ---- the error family -------------------------------------------------------------------------

/**
 * Base of every failure to decode (or construct) a draft-barnes struct of this profile. It
 * extends MalformedError so that decodeExact passes it through unchanged and codec callers that
 * catch DecodeError catch it too. `struct` names the outermost struct being decoded.
 */
export abstract class MimiDecodeError extends MalformedError {
  override name = "MimiDecodeError";
  constructor(
    readonly struct: string,
    message: string,
  ) {
    super(`${struct}: ${message}`);
  }
}

/** The input ended inside a field. */
export class MimiTruncatedError extends MimiDecodeError {
  override name = "MimiTruncatedError";
  override readonly reason: string = "truncated";
}

/** Bytes follow the end of the struct. */
export class MimiTrailingBytesError extends MimiDecodeError {
  override name = "MimiTrailingBytesError";
  override readonly reason: string = "trailing_bytes";
}

/** A structural defect the codec caught: an invalid or non-minimal length prefix, or a non-byte input. */
export class MimiMalformedError extends MimiDecodeError {
  override name = "MimiMalformedError";
  override readonly reason: string = "malformed";
}

/** A length or item count over this profile's limit (checked before the bytes are read). */
export class MimiLimitExceededError extends MimiDecodeError {
  override name = "MimiLimitExceededError";
  override readonly reason: string = "limit_exceeded";
}

/** A text field is not well-formed UTF-8 (or, when encoding, not well-formed Unicode). */
export class MimiInvalidUtf8Error extends MimiDecodeError {
  override name = "MimiInvalidUtf8Error";
  override readonly reason: string = "invalid_utf8";
}

/** An enum value that is reserved or not defined by the draft. */
export abstract class MimiUnknownEnumValueError extends MimiDecodeError {
  override name = "MimiUnknownEnumValueError";
  override readonly reason: string = "unknown_enum_value";
  constructor(
    struct: string,
    readonly field: string,
    readonly value: number,
  ) {
    super(struct, `${field}: undefined or reserved value ${value}`);
  }
}

export class UnknownHttpMethodError extends MimiUnknownEnumValueError {
  override name = "UnknownHttpMethodError";
}

export class UnknownMimiPrimitiveError extends MimiUnknownEnumValueError {
  override name = "UnknownMimiPrimitiveError";
}

/** HttpsUri is not an absolute http(s) URL with a host. */
export class InvalidHttpsUriError extends MimiDecodeError {
  override name = "InvalidHttpsUriError";
  override readonly reason: string = "invalid_uri";
}

/** A MimiDirectory lists one primitive twice: a client could not tell which URL to use. */
export class DuplicateMimiPrimitiveError extends MimiDecodeError {
  override name = "DuplicateMimiPrimitiveError";
  override readonly reason: string = "duplicate_primitive";
}

// ---- codec helpers shared with IdentifierQuery.ts ---------------------------------------------

const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();
/** With the u flag a paired surrogate is one code point, so this matches lone surrogates only. */
const LONE_SURROGATE = /\p{Surrogate}/u;

/** opaque<V> with the profile's limit checked on the length prefix, before any byte is read. */
export function readLimitedOpaque(r: TlsReader, struct: string, field: string, max: number): Uint8Array {
  const n = r.mlsVarint(field);
  if (n > max) throw new MimiLimitExceededError(struct, `${field}: ${n} bytes exceeds the limit of ${max}`);
  return r.bytesN(n, field);
}

/** T items<V>, at most maxItems of them. */
export function readLimitedVector<T>(r: TlsReader, struct: string, field: string, maxBytes: number, maxItems: number, item: (r: TlsReader) => T): T[] {
  const body = readLimitedOpaque(r, struct, field, maxBytes);
  const inner = new TlsReader(body);
  const out: T[] = [];
  while (inner.remaining > 0) {
    if (out.length >= maxItems) throw new MimiLimitExceededError(struct, `${field}: more than ${maxItems} items`);
    out.push(item(inner));
  }
  return out;
}

/** A UTF-8 string carried as opaque<V> (the draft's `string`). */
export function readUtf8(r: TlsReader, struct: string, field: string, max: number): string {
  const b = readLimitedOpaque(r, struct, field, max);
  try {
    return utf8Decoder.decode(b);
  } catch {
    throw new MimiInvalidUtf8Error(struct, `${field}: not well-formed UTF-8`);
  }
}

/** The UTF-8 bytes of a string field; refuses what would not decode back to the same string. */
export function encodeUtf8(s: string, struct: string, field: string, max: number): Uint8Array {
  if (typeof s !== "string") throw new MimiMalformedError(struct, `${field}: not a string`);
  if (LONE_SURROGATE.test(s)) throw new MimiInvalidUtf8Error(struct, `${field}: lone surrogate`);
  const b = utf8Encoder.encode(s);
  if (b.length > max) throw new MimiLimitExceededError(struct, `${field}: ${b.length} bytes exceeds the limit of ${max}`);
  return b;
}

/** No spaces or controls anywhere: the URL parser would silently strip or escape them. */
const URI_CHARS = /^[^\s\u0000-\u001f\u007f]+$/;

/** Parses an absolute URI; undefined when it is not one (any scheme). */
export function parseAbsoluteUri(s: string): URL | undefined {
  if (!URI_CHARS.test(s)) return undefined;
  try {
    return new URL(s);
  } catch {
    return undefined;
  }
}

function checkHttpsUri(s: string, struct: string, field: string): void {
  const u = parseAbsoluteUri(s);
  if (u === undefined || (u.protocol !== "https:" && u.protocol !== "http:") || u.host === "") {
    throw new InvalidHttpsUriError(struct, `${field}: not an absolute http(s) URL`);
  }
}

/**
 * Runs a struct decoder over the whole input with decodeExact, turning codec failures into this
 * family's typed errors (truncation and trailing bytes are classified before decodeExact would
 * fold them into one MalformedError).
 */
export function decodeMimi<T>(bytes: Uint8Array, struct: string, read: (r: TlsReader) => T): T {
  if (!(bytes instanceof Uint8Array)) throw new MimiMalformedError(struct, "input is not a Uint8Array");
  return decodeExact(bytes, struct, (r) => {
    try {
      const v = read(r);
      if (r.remaining > 0) throw new MimiTrailingBytesError(struct, `${r.remaining} unexpected trailing byte(s)`);
      return v;
    } catch (e) {
      if (e instanceof MimiDecodeError) throw e;
      if (e instanceof TruncatedError) throw new MimiTruncatedError(struct, e.message);
      if (e instanceof TrailingBytesError) throw new MimiTrailingBytesError(struct, e.message);
      if (e instanceof DecodeError) throw new MimiMalformedError(struct, e.message);
      throw e;
    }
  });
}

const isEnumValue = (e: object, v: number): boolean => typeof (e as Record<number, unknown>)[v] === "string";

// ---- the structs ------------------------------------------------------------------------------

export class MimiDirectoryEntry {
  constructor(
    readonly primitive: MimiPrimitive,
    readonly method: HttpMethod,
    /** absolute http(s) URL of the primitive's endpoint */
    readonly uri: string,
  ) {
    MimiDirectoryEntry.check(this, "MimiDirectoryEntry");
  }

  private static check(e: MimiDirectoryEntry, struct: string): void {
    if (!Number.isInteger(e.primitive) || !isEnumValue(MimiPrimitive, e.primitive)) throw new UnknownMimiPrimitiveError(struct, "primitive", e.primitive);
    if (!Number.isInteger(e.method) || !isEnumValue(HttpMethod, e.method)) throw new UnknownHttpMethodError(struct, "method", e.method);
    encodeUtf8(e.uri, struct, "uri", MAX_HTTPS_URI_BYTES);
    checkHttpsUri(e.uri, struct, "uri");
  }

  write(w: TlsWriter): void {
    w.u8(this.primitive).u8(this.method).opaque(utf8Encoder.encode(this.uri));
  }

  /** `struct` names the outermost struct in errors (the entry is read inside a MimiDirectory). */
  static read(r: TlsReader, struct = "MimiDirectoryEntry"): MimiDirectoryEntry {
    const primitive = r.u8("primitive");
    if (!isEnumValue(MimiPrimitive, primitive)) throw new UnknownMimiPrimitiveError(struct, "primitive", primitive);
    const method = r.u8("method");
    if (!isEnumValue(HttpMethod, method)) throw new UnknownHttpMethodError(struct, "method", method);
    const uri = readUtf8(r, struct, "uri", MAX_HTTPS_URI_BYTES);
    checkHttpsUri(uri, struct, "uri");
    return new MimiDirectoryEntry(primitive, method, uri);
  }

  serialize(): Uint8Array {
    const w = new TlsWriter(this.uri.length + 8);
    this.write(w);
    return w.finish();
  }

  static deserialize(bytes: Uint8Array): MimiDirectoryEntry {
    return decodeMimi(bytes, "MimiDirectoryEntry", (r) => MimiDirectoryEntry.read(r));
  }
}

export class MimiDirectory {
  readonly entries: readonly MimiDirectoryEntry[];

  constructor(entries: readonly MimiDirectoryEntry[]) {
    if (!Array.isArray(entries) || entries.some((e) => !(e instanceof MimiDirectoryEntry))) throw new MimiMalformedError("MimiDirectory", "directory: entries must be MimiDirectoryEntry objects");
    MimiDirectory.check(entries, "MimiDirectory");
    this.entries = [...entries];
  }

  private static check(entries: readonly MimiDirectoryEntry[], struct: string): void {
    if (entries.length > MAX_DIRECTORY_ENTRIES) throw new MimiLimitExceededError(struct, `directory: more than ${MAX_DIRECTORY_ENTRIES} items`);
    const seen = new Set<number>();
    for (const e of entries) {
      if (seen.has(e.primitive)) throw new DuplicateMimiPrimitiveError(struct, `directory: ${MimiPrimitive[e.primitive]} is listed twice`);
      seen.add(e.primitive);
    }
  }

  /** The entry of a primitive, if the provider offers it. */
  find(primitive: MimiPrimitive): MimiDirectoryEntry | undefined {
    return this.entries.find((e) => e.primitive === primitive);
  }

  serialize(): Uint8Array {
    return new TlsWriter(64 * this.entries.length + 8).vector(this.entries, (w, e) => e.write(w)).finish();
  }

  static deserialize(bytes: Uint8Array): MimiDirectory {
    return decodeMimi(bytes, "MimiDirectory", (r) => {
      const entries = readLimitedVector(r, "MimiDirectory", "directory", MAX_DIRECTORY_ENTRIES * (MAX_HTTPS_URI_BYTES + 4), MAX_DIRECTORY_ENTRIES, (ir) =>
        MimiDirectoryEntry.read(ir, "MimiDirectory"),
      );
      MimiDirectory.check(entries, "MimiDirectory");
      return new MimiDirectory(entries);
    });
  }
}
