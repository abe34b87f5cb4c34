// Find internal address, draft-barnes-mimi-protocol s7.10, byte for byte:
//     enum { reserved(0), handle(1), nick(2), email(3), phone(4), partialName(5),
//            wholeProfile(6), oidcStdClaim(7), vcardField(8), (255) } SearchIdentifierType;
//     struct {
//       SearchIdentifierType searchType;
//       string searchValue;
//       select(type) { case oidcStdClaim: string claimName; case vcardField: string fieldName; };
//     } IdentifierRequest;
//     enum { success(0), notFound(1), ambiguous(2), forbidden(3), unsupportedField(4), (255) } IdentifierQueryCode;
//     enum { reserved(0), oidcStdClaim(7), vcardField(8), (255) } FieldSource;
//     struct { FieldSource fieldSource; string fieldName; opaque fieldValue<V>; } ProfileField;
//     struct { IdentifierUri stableUri; ProfileField fields<V>; } UserProfile;
//     struct { IdentifierQueryCode responseCode; IdentifierUri uri<V>; UserProfile foundProfiles<V>; } IdentifierResponse;
// The draft leaves `string` and IdentifierUri undefined; both are opaque<V> holding UTF-8 here,
// an IdentifierUri being an absolute URI of any scheme (mimi://a.test/u/alice).
//
// Our profile ("discovery mints tokens"): a found user's UserProfile carries a ProfileField with
// fieldSource FIELD_SOURCE_MIMI_DS (0xF0, a private-use value the draft does not define) named
// "key_package_token", whose value is a freshly minted bearer token for that user's connection
// KeyPackages (POST /connection_key_packages, KeyPackageRequest.bearer_token).
import {
  decodeMimi,
  encodeUtf8,
  MimiDecodeError,
  MimiLimitExceededError,
  MimiMalformedError,
  MimiUnknownEnumValueError,
  parseAbsoluteUri,
  readLimitedOpaque,
  readLimitedVector,
  readUtf8,
} from "./MimiDirectory.js";
import { DecodeError } from "../codec/errors.js";
import { TlsWriter, type TlsReader } from "./tls.js";

/** SearchIdentifierType (uint8), draft-barnes s7.10. */
export enum SearchIdentifierType {
  reserved = 0,
  handle = 1,
  nick = 2,
  email = 3,
  phone = 4,
  partialName = 5,
  wholeProfile = 6,
  oidcStdClaim = 7,
  vcardField = 8,
}

/** IdentifierQueryCode (uint8), draft-barnes s7.10. */
export enum IdentifierQueryCode {
  success = 0,
  notFound = 1,
  ambiguous = 2,
  forbidden = 3,
  unsupportedField = 4,
}

/** FieldSource (uint8), draft-barnes s7.10. */
export enum FieldSource {
  reserved = 0,
  oidcStdClaim = 7,
  vcardField = 8,
}

/** Ours (private use): a field the MIMI provider itself adds to a profile, e.g. the KeyPackage token. */
export const FIELD_SOURCE_MIMI_DS = 0xf0;
/** The field carrying the bearer token for the found user's connection KeyPackages. */
export const KEY_PACKAGE_TOKEN_FIELD = "key_package_token";

/** The FieldSource values this profile accepts on the wire (reserved(0) is not one). */
export type ProfileFieldSource = FieldSource.oidcStdClaim | FieldSource.vcardField | typeof FIELD_SOURCE_MIMI_DS;

/** Decoder limits of this profile. */
export const MAX_SEARCH_VALUE_BYTES = 1024;
/** claimName, fieldName (ours: both name fields, request and profile) */
export const MAX_NAME_BYTES = 255;
export const MAX_FIELD_VALUE_BYTES = 4096;
export const MAX_IDENTIFIER_URI_BYTES = 2048;
export const MAX_RESPONSE_URIS = 16;
export const MAX_FOUND_PROFILES = 16;
export const MAX_PROFILE_FIELDS = 32;
const MAX_VECTOR_BYTES = 1 << 20;

// ---- decode errors (the MimiDecodeError family of MimiDirectory.ts) ----------------------------

export class UnknownSearchIdentifierTypeError extends MimiUnknownEnumValueError {
  override name = "UnknownSearchIdentifierTypeError";
}

export class UnknownIdentifierQueryCodeError extends MimiUnknownEnumValueError {
  override name = "UnknownIdentifierQueryCodeError";
}

export class UnknownFieldSourceError extends MimiUnknownEnumValueError {
  override name = "UnknownFieldSourceError";
}

/** IdentifierUri is not an absolute URI. */
export class InvalidIdentifierUriError extends MimiDecodeError {
  override name = "InvalidIdentifierUriError";
  override readonly reason: string = "invalid_uri";
}

/** A response whose code cannot carry results (notFound, forbidden, unsupportedField) lists some. */
export class InconsistentIdentifierResponseError extends MimiDecodeError {
  override name = "InconsistentIdentifierResponseError";
  override readonly reason: string = "inconsistent_response";
}

// ---- answer errors: one per non-success IdentifierQueryCode ------------------------------------

/**
 * A query the provider did not answer with success. The server throws these for refusals, the
 * client SDK raises them for the code it received, so both sides act on the code, never on text.
 */
export class IdentifierQueryError extends Error {
  override name = "IdentifierQueryError";
  /** stable, machine-readable reason: the IdentifierQueryCode name */
  readonly reason: string;
  constructor(
    readonly code: Exclude<IdentifierQueryCode, IdentifierQueryCode.success>,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.reason = IdentifierQueryCode[code] ?? "unknown";
  }
}

const make = (name: string, code: Exclude<IdentifierQueryCode, IdentifierQueryCode.success>) =>
  class extends IdentifierQueryError {
    override name = name;
    constructor(message: string, options?: { cause?: unknown }) {
      super(code, message, options);
    }
  };

export class IdentifierNotFoundError extends make("IdentifierNotFoundError", IdentifierQueryCode.notFound) {}
export class AmbiguousIdentifierError extends make("AmbiguousIdentifierError", IdentifierQueryCode.ambiguous) {}
/** The provider refuses to answer now (our profile: its query rate limit is spent); retry later. */
export class IdentifierQueryForbiddenError extends make("IdentifierQueryForbiddenError", IdentifierQueryCode.forbidden) {}
/** The search type is not offered (our profile: only handle), or the request could not be read. */
export class UnsupportedSearchFieldError extends make("UnsupportedSearchFieldError", IdentifierQueryCode.unsupportedField) {}

export const IDENTIFIER_QUERY_ERRORS: Readonly<
  Record<Exclude<IdentifierQueryCode, IdentifierQueryCode.success>, new (message: string, options?: { cause?: unknown }) => IdentifierQueryError>
> = {
  [IdentifierQueryCode.notFound]: IdentifierNotFoundError,
  [IdentifierQueryCode.ambiguous]: AmbiguousIdentifierError,
  [IdentifierQueryCode.forbidden]: IdentifierQueryForbiddenError,
  [IdentifierQueryCode.unsupportedField]: UnsupportedSearchFieldError,
};

/** A typed error for a non-success code read from the wire. */
export function identifierQueryErrorFor(code: Exclude<IdentifierQueryCode, IdentifierQueryCode.success>): IdentifierQueryError {
  const Cls = IDENTIFIER_QUERY_ERRORS[code];
  return new Cls(`the identifier query was answered ${IdentifierQueryCode[code]}`);
}

/**
 * The code a server answers for anything its handler caught: typed refusals keep theirs; a
 * request that does not decode is unsupportedField (the draft has no malformed code, and the
 * server cannot serve the query as sent); anything else (a store failure) is forbidden, which a
 * client treats as "not now".
 */
export function identifierQueryCodeOf(e: unknown): Exclude<IdentifierQueryCode, IdentifierQueryCode.success> {
  if (e instanceof IdentifierQueryError) return e.code;
  if (e instanceof DecodeError) return IdentifierQueryCode.unsupportedField;
  return IdentifierQueryCode.forbidden;
}

// ---- helpers ----------------------------------------------------------------------------------

const isEnumValue = (e: object, v: number): boolean => typeof (e as Record<number, unknown>)[v] === "string";
const isSearchType = (v: number): v is SearchIdentifierType => v !== SearchIdentifierType.reserved && isEnumValue(SearchIdentifierType, v);
const isFieldSource = (v: number): v is ProfileFieldSource => v === FieldSource.oidcStdClaim || v === FieldSource.vcardField || v === FIELD_SOURCE_MIMI_DS;
const hasSelector = (t: SearchIdentifierType): boolean => t === SearchIdentifierType.oidcStdClaim || t === SearchIdentifierType.vcardField;

function checkIdentifierUri(s: string, struct: string, field: string): void {
  encodeUtf8(s, struct, field, MAX_IDENTIFIER_URI_BYTES);
  if (parseAbsoluteUri(s) === undefined) throw new InvalidIdentifierUriError(struct, `${field}: not an absolute URI`);
}

function readIdentifierUri(r: TlsReader, struct: string, field: string): string {
  const s = readUtf8(r, struct, field, MAX_IDENTIFIER_URI_BYTES);
  if (parseAbsoluteUri(s) === undefined) throw new InvalidIdentifierUriError(struct, `${field}: not an absolute URI`);
  return s;
}

const te = new TextEncoder();

// ---- IdentifierRequest ------------------------------------------------------------------------

export class IdentifierRequest {
  constructor(
    readonly searchType: SearchIdentifierType,
    readonly searchValue: string,
    /** claimName (oidcStdClaim) or fieldName (vcardField); absent for every other type */
    readonly selector?: string,
  ) {
    const S = "IdentifierRequest";
    if (!Number.isInteger(searchType) || !isSearchType(searchType)) throw new UnknownSearchIdentifierTypeError(S, "searchType", searchType);
    encodeUtf8(searchValue, S, "searchValue", MAX_SEARCH_VALUE_BYTES);
    if (hasSelector(searchType) !== (selector !== undefined)) {
      throw new MimiMalformedError(S, "claimName goes with oidcStdClaim, fieldName with vcardField, and nothing else has one");
    }
    if (selector !== undefined) encodeUtf8(selector, S, searchType === SearchIdentifierType.oidcStdClaim ? "claimName" : "fieldName", MAX_NAME_BYTES);
  }

  /** The only search this provider serves: a handle the user opted in to discovery with. */
  static handle(handle: string): IdentifierRequest {
    return new IdentifierRequest(SearchIdentifierType.handle, handle);
  }

  get claimName(): string | undefined {
    return this.searchType === SearchIdentifierType.oidcStdClaim ? this.selector : undefined;
  }

  get fieldName(): string | undefined {
    return this.searchType === SearchIdentifierType.vcardField ? this.selector : undefined;
  }

  serialize(): Uint8Array {
    const w = new TlsWriter(this.searchValue.length + 16).u8(this.searchType).opaque(te.encode(this.searchValue));
    if (this.selector !== undefined) w.opaque(te.encode(this.selector));
    return w.finish();
  }

  static deserialize(bytes: Uint8Array): IdentifierRequest {
    const S = "IdentifierRequest";
    return decodeMimi(bytes, S, (r) => {
      const searchType = r.u8("searchType");
      // An unknown type also hides an unknown select arm, so nothing after it can be read.
      if (!isSearchType(searchType)) throw new UnknownSearchIdentifierTypeError(S, "searchType", searchType);
      const searchValue = readUtf8(r, S, "searchValue", MAX_SEARCH_VALUE_BYTES);
      let selector: string | undefined;
      if (searchType === SearchIdentifierType.oidcStdClaim) selector = readUtf8(r, S, "claimName", MAX_NAME_BYTES);
      else if (searchType === SearchIdentifierType.vcardField) selector = readUtf8(r, S, "fieldName", MAX_NAME_BYTES);
      return new IdentifierRequest(searchType, searchValue, selector);
    });
  }
}

// ---- ProfileField, UserProfile ----------------------------------------------------------------

export class ProfileField {
  readonly fieldValue: Uint8Array;

  constructor(
    readonly fieldSource: ProfileFieldSource,
    readonly fieldName: string,
    fieldValue: Uint8Array,
    struct = "ProfileField",
  ) {
    if (!Number.isInteger(fieldSource) || !isFieldSource(fieldSource)) throw new UnknownFieldSourceError(struct, "fieldSource", fieldSource);
    encodeUtf8(fieldName, struct, "fieldName", MAX_NAME_BYTES);
    if (!(fieldValue instanceof Uint8Array)) throw new MimiMalformedError(struct, "fieldValue: not bytes");
    if (fieldValue.length > MAX_FIELD_VALUE_BYTES) throw new MimiLimitExceededError(struct, `fieldValue: ${fieldValue.length} bytes exceeds the limit of ${MAX_FIELD_VALUE_BYTES}`);
    this.fieldValue = new Uint8Array(fieldValue);
  }

  write(w: TlsWriter): void {
    w.u8(this.fieldSource).opaque(te.encode(this.fieldName)).opaque(this.fieldValue);
  }

  static read(r: TlsReader, struct = "ProfileField"): ProfileField {
    const source = r.u8("fieldSource");
    if (!isFieldSource(source)) throw new UnknownFieldSourceError(struct, "fieldSource", source);
    const name = readUtf8(r, struct, "fieldName", MAX_NAME_BYTES);
    return new ProfileField(source, name, readLimitedOpaque(r, struct, "fieldValue", MAX_FIELD_VALUE_BYTES), struct);
  }

  serialize(): Uint8Array {
    const w = new TlsWriter(this.fieldName.length + this.fieldValue.length + 8);
    this.write(w);
    return w.finish();
  }

  static deserialize(bytes: Uint8Array): ProfileField {
    return decodeMimi(bytes, "ProfileField", (r) => ProfileField.read(r));
  }
}

export class UserProfile {
  readonly fields: readonly ProfileField[];

  constructor(
    readonly stableUri: string,
    fields: readonly ProfileField[],
    struct = "UserProfile",
  ) {
    checkIdentifierUri(stableUri, struct, "stableUri");
    if (!Array.isArray(fields) || fields.some((f) => !(f instanceof ProfileField))) throw new MimiMalformedError(struct, "fields: must be ProfileField objects");
    if (fields.length > MAX_PROFILE_FIELDS) throw new MimiLimitExceededError(struct, `fields: more than ${MAX_PROFILE_FIELDS} items`);
    this.fields = [...fields];
  }

  /** The first field with this source and name. */
  field(source: ProfileFieldSource, name: string): ProfileField | undefined {
    return this.fields.find((f) => f.fieldSource === source && f.fieldName === name);
  }

  write(w: TlsWriter): void {
    w.opaque(te.encode(this.stableUri)).vector(this.fields, (fw, f) => f.write(fw));
  }

  static read(r: TlsReader, struct = "UserProfile"): UserProfile {
    const stableUri = readIdentifierUri(r, struct, "stableUri");
    const fields = readLimitedVector(r, struct, "fields", MAX_VECTOR_BYTES, MAX_PROFILE_FIELDS, (fr) => ProfileField.read(fr, struct));
    return new UserProfile(stableUri, fields, struct);
  }

  serialize(): Uint8Array {
    const w = new TlsWriter(256);
    this.write(w);
    return w.finish();
  }

  static deserialize(bytes: Uint8Array): UserProfile {
    return decodeMimi(bytes, "UserProfile", (r) => UserProfile.read(r));
  }
}

// ---- IdentifierResponse -----------------------------------------------------------------------

/** Only success and ambiguous can carry URIs and profiles. */
const CARRIES_RESULTS = new Set<number>([IdentifierQueryCode.success, IdentifierQueryCode.ambiguous]);

export class IdentifierResponse {
  /** the draft's `IdentifierUri uri<V>` */
  readonly uri: readonly string[];
  readonly foundProfiles: readonly UserProfile[];

  constructor(
    readonly responseCode: IdentifierQueryCode,
    uri: readonly string[],
    foundProfiles: readonly UserProfile[],
  ) {
    const S = "IdentifierResponse";
    if (!Number.isInteger(responseCode) || !isEnumValue(IdentifierQueryCode, responseCode)) throw new UnknownIdentifierQueryCodeError(S, "responseCode", responseCode);
    if (!Array.isArray(uri) || !Array.isArray(foundProfiles) || foundProfiles.some((p) => !(p instanceof UserProfile))) {
      throw new MimiMalformedError(S, "uri must be strings and foundProfiles UserProfile objects");
    }
    if (uri.length > MAX_RESPONSE_URIS) throw new MimiLimitExceededError(S, `uri: more than ${MAX_RESPONSE_URIS} items`);
    if (foundProfiles.length > MAX_FOUND_PROFILES) throw new MimiLimitExceededError(S, `foundProfiles: more than ${MAX_FOUND_PROFILES} items`);
    for (const u of uri) checkIdentifierUri(u, S, "uri");
    if (!CARRIES_RESULTS.has(responseCode) && (uri.length > 0 || foundProfiles.length > 0)) {
      throw new InconsistentIdentifierResponseError(S, `a ${IdentifierQueryCode[responseCode]} response carries no uri and no profiles`);
    }
    this.uri = [...uri];
    this.foundProfiles = [...foundProfiles];
  }

  /** success: one profile, its stable URI listed in `uri`. */
  static success(profile: UserProfile): IdentifierResponse {
    return new IdentifierResponse(IdentifierQueryCode.success, [profile.stableUri], [profile]);
  }

  /** A response without results (for ambiguous: a provider that will not say which). */
  static error(code: Exclude<IdentifierQueryCode, IdentifierQueryCode.success>): IdentifierResponse {
    return new IdentifierResponse(code, [], []);
  }

  /** The typed error this response stands for, or undefined for success. */
  toError(): IdentifierQueryError | undefined {
    return this.responseCode === IdentifierQueryCode.success ? undefined : identifierQueryErrorFor(this.responseCode);
  }

  serialize(): Uint8Array {
    return new TlsWriter(256)
      .u8(this.responseCode)
      .vector(this.uri, (w, u) => w.opaque(te.encode(u)))
      .vector(this.foundProfiles, (w, p) => p.write(w))
      .finish();
  }

  static deserialize(bytes: Uint8Array): IdentifierResponse {
    const S = "IdentifierResponse";
    return decodeMimi(bytes, S, (r) => {
      const code = r.u8("responseCode");
      if (!isEnumValue(IdentifierQueryCode, code)) throw new UnknownIdentifierQueryCodeError(S, "responseCode", code);
      const uri = readLimitedVector(r, S, "uri", MAX_VECTOR_BYTES, MAX_RESPONSE_URIS, (ur) => readIdentifierUri(ur, S, "uri"));
      const profiles = readLimitedVector(r, S, "foundProfiles", MAX_VECTOR_BYTES, MAX_FOUND_PROFILES, (pr) => UserProfile.read(pr, S));
      return new IdentifierResponse(code, uri, profiles);
    });
  }
}

// ---- stable URIs of this profile ----------------------------------------------------------------

/** A MIMI domain as this profile accepts it: DNS labels, optionally with a port. */
const DOMAIN = /^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::[0-9]{1,5})?$/i;

/** `mimi://<domain>/u/<userId>`, the user id percent-encoded (it is UTF-8 text). */
export function mimiUserUri(domain: string, userId: string): string {
  if (typeof domain !== "string" || !DOMAIN.test(domain)) throw new InvalidIdentifierUriError("UserProfile", "stableUri: not a domain name");
  if (typeof userId !== "string" || userId.length === 0) throw new InvalidIdentifierUriError("UserProfile", "stableUri: empty user id");
  encodeUtf8(userId, "UserProfile", "stableUri", MAX_IDENTIFIER_URI_BYTES);
  return `mimi://${domain.toLowerCase()}/u/${encodeURIComponent(userId)}`;
}

/** The domain and user id of a `mimi://<domain>/u/<userId>` URI; undefined for any other URI. */
export function parseMimiUserUri(uri: string): { domain: string; userId: string } | undefined {
  const u = typeof uri === "string" ? parseAbsoluteUri(uri) : undefined;
  if (u === undefined || u.protocol !== "mimi:" || u.search !== "" || u.hash !== "" || u.username !== "" || u.password !== "") return undefined;
  if (!DOMAIN.test(u.host)) return undefined;
  const m = /^\/u\/([^/]+)$/.exec(u.pathname);
  if (m === null) return undefined;
  let userId: string;
  try {
    userId = decodeURIComponent(m[1]!);
  } catch {
    return undefined;
  }
  // Only the canonical spelling (the one mimiUserUri writes), so one user has one URI.
  if (userId.length === 0 || `mimi://${u.host.toLowerCase()}/u/${encodeURIComponent(userId)}` !== uri) return undefined;
  return { domain: u.host.toLowerCase(), userId };
}
