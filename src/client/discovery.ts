// Client side of user discovery: read a provider's MIMI directory (draft-barnes s7.1), find a user
// by handle (s7.10) and claim their connection KeyPackages with the bearer token the answer
// carries ("discovery mints tokens", src/protocol/IdentifierQuery.ts). Every request goes through
// a FetchLike, the OHTTP transport in production, so the provider never sees who asks.
// No node: imports: this file runs in browsers.
import type { FetchLike } from "./DsHttpClient.js";
import type { SimpleResponse } from "./ObliviousHttpTransport.js";
import { MAX_BEARER_TOKEN_BYTES, MLS_PROTOCOL_VERSION_MLS10, KeyPackageStatus } from "../protocol/KeyPackageConstants.js";
import { keyPackageErrorFor } from "../protocol/KeyPackageErrors.js";
import { KeyPackageRequest } from "../protocol/KeyPackageRequest.js";
import { KeyPackageTransaction } from "../protocol/KeyPackageTransaction.js";
import { KeyPackageTransactionResponse } from "../protocol/KeyPackageTransactionResponse.js";
import {
  FIELD_SOURCE_MIMI_DS,
  IdentifierQueryCode,
  IdentifierRequest,
  IdentifierResponse,
  KEY_PACKAGE_TOKEN_FIELD,
  parseMimiUserUri,
  type UserProfile,
} from "../protocol/IdentifierQuery.js";
import { HttpMethod, MimiDirectory, MimiPrimitive, type MimiDirectoryEntry } from "../protocol/MimiDirectory.js";

export const MIMI_DIRECTORY_WELL_KNOWN = "/.well-known/mimi-protocol-directory";

/** Base of the failures of this module that are not wire errors of the answer itself. */
export class DiscoveryError extends Error {
  override name = "DiscoveryError";
}

/** The FetchLike threw: relay, gateway or network unreachable (the cause says which). */
export class DiscoveryNetworkError extends DiscoveryError {
  override name = "DiscoveryNetworkError";
}

/** The provider answered with an HTTP status other than 200. */
export class DiscoveryHttpError extends DiscoveryError {
  override name = "DiscoveryHttpError";
  constructor(readonly status: number) {
    super(`provider answered HTTP ${status}`);
  }
}

/** The provider's directory does not list the primitive this call needs. */
export class MissingPrimitiveError extends DiscoveryError {
  override name = "MissingPrimitiveError";
  constructor(readonly primitive: MimiPrimitive) {
    super(`the provider's directory does not offer ${MimiPrimitive[primitive] ?? primitive}`);
  }
}

/** A well-formed success answer that breaks this profile (no single profile, token or mimi: URI). */
export class DiscoveryProtocolError extends DiscoveryError {
  override name = "DiscoveryProtocolError";
}

export interface DiscoveredUser {
  /** the user's stable URI, mimi://<domain>/u/<userId> */
  readonly uri: string;
  readonly domain: string;
  /** the user id to put into KeyPackageRequest.user_id (UTF-8 of the URI's user part) */
  readonly userId: Uint8Array;
  /** bearer token for the user's connection KeyPackages; short-lived and rate-limited */
  readonly token: Uint8Array;
  readonly profile: UserProfile;
}

const OCTETS = "application/octet-stream";

async function call(f: FetchLike, url: string, method: "GET" | "POST", body?: Uint8Array): Promise<Uint8Array> {
  let r: SimpleResponse;
  try {
    r = await f.fetch(url, body === undefined ? { method, headers: { accept: OCTETS } } : { method, headers: { "content-type": OCTETS, accept: OCTETS }, body });
  } catch (e) {
    throw new DiscoveryNetworkError(`cannot reach ${url}`, { cause: e });
  }
  if (r.status !== 200) throw new DiscoveryHttpError(r.status);
  return r.body;
}

function entryOf(directory: MimiDirectory, primitive: MimiPrimitive): MimiDirectoryEntry {
  const e = directory.find(primitive);
  if (e === undefined) throw new MissingPrimitiveError(primitive);
  return e;
}

const methodOf = (e: MimiDirectoryEntry): "GET" | "POST" => (e.method === HttpMethod.get ? "GET" : "POST");

/**
 * Fetches and decodes GET <origin>/.well-known/mimi-protocol-directory. `origin` is the provider
 * origin as the gateway names it (e.g. http://a.test). Throws DiscoveryError subclasses or the
 * MimiDecodeError family (a directory that does not decode strictly).
 */
export async function fetchMimiDirectory(f: FetchLike, origin: string): Promise<MimiDirectory> {
  let url: string;
  try {
    url = new URL(MIMI_DIRECTORY_WELL_KNOWN, origin).href;
  } catch {
    throw new DiscoveryError("origin is not an absolute URL");
  }
  return MimiDirectory.deserialize(await call(f, url, "GET"));
}

/**
 * Looks a handle up at the provider's identifierQuery endpoint. Resolves with the user's URI,
 * user id and a fresh bearer token; rejects with an IdentifierQueryError subclass for the answer
 * codes (IdentifierNotFoundError, IdentifierQueryForbiddenError: retry later,
 * UnsupportedSearchFieldError, AmbiguousIdentifierError), a DiscoveryError subclass, or a
 * MimiDecodeError for an answer that does not decode.
 */
export async function queryIdentifier(f: FetchLike, directory: MimiDirectory, handle: string): Promise<DiscoveredUser> {
  const entry = entryOf(directory, MimiPrimitive.identifierQuery);
  const request = IdentifierRequest.handle(handle).serialize();
  const response = IdentifierResponse.deserialize(await call(f, entry.uri, methodOf(entry), request));
  if (response.responseCode !== IdentifierQueryCode.success) throw response.toError()!;
  if (response.foundProfiles.length !== 1) throw new DiscoveryProtocolError(`a handle answer carries one profile, not ${response.foundProfiles.length}`);
  const profile = response.foundProfiles[0]!;
  const field = profile.field(FIELD_SOURCE_MIMI_DS, KEY_PACKAGE_TOKEN_FIELD);
  if (field === undefined) throw new DiscoveryProtocolError(`the profile has no ${KEY_PACKAGE_TOKEN_FIELD} field`);
  const token = field.fieldValue;
  if (token.length === 0 || token.length > MAX_BEARER_TOKEN_BYTES) throw new DiscoveryProtocolError(`the ${KEY_PACKAGE_TOKEN_FIELD} field is not a usable bearer token`);
  const parsed = parseMimiUserUri(profile.stableUri);
  if (parsed === undefined) throw new DiscoveryProtocolError("the profile's stableUri is not a mimi://<domain>/u/<userId> URI");
  return { uri: profile.stableUri, domain: parsed.domain, userId: new TextEncoder().encode(parsed.userId), token: new Uint8Array(token), profile };
}

/**
 * Claims connection KeyPackages for discovered users at the directory's claimKeyMaterial URL
 * (one transaction, one cipher suite). Per-user outcomes are in the response; a refusal of the
 * whole transaction rejects with its KeyPackageError subclass.
 */
export async function claimConnectionKeyPackages(
  f: FetchLike,
  directory: MimiDirectory,
  targets: readonly { readonly userId: Uint8Array; readonly token: Uint8Array }[],
  cipherSuite: number,
  lastResortAllowed = false,
): Promise<KeyPackageTransactionResponse> {
  const entry = entryOf(directory, MimiPrimitive.claimKeyMaterial);
  const tx = new KeyPackageTransaction(
    targets.map((t) => new KeyPackageRequest(t.userId, t.token, MLS_PROTOCOL_VERSION_MLS10, cipherSuite)),
    lastResortAllowed,
  ).serialize();
  const r = KeyPackageTransactionResponse.deserialize(await call(f, entry.uri, methodOf(entry), tx));
  if (r.status !== KeyPackageStatus.ok) throw keyPackageErrorFor(r.status);
  return r;
}
