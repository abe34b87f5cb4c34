// User discovery (draft-barnes s7.10 "Find internal address") for users who opted in with a
// handle: an IdentifierRequest for a handle answers the user's stable URI and, in the profile, a
// freshly minted bearer token for that user's connection KeyPackages ("discovery mints tokens",
// see IdentifierQuery.ts). Transport-independent like the directory: bytes in, bytes out.
//
// What a query can learn is exactly found / not found for one handle:
//   - only searchType handle is served; every other type (and an undecodable request) is
//     unsupportedField, before any lookup;
//   - a handle that cannot exist (bad charset, too long) gets the same notFound bytes as a
//     well-formed handle nobody holds; a found user gets success whether or not they have
//     clients or KeyPackages (those answers come later, to the token holder, per client);
//   - every handle query is charged to one global token bucket BEFORE the lookup, so probing
//     handles and minting tokens share one bounded budget; over it the answer is forbidden.
// Responses differ in size between found and notFound (the draft's structs have no padding); the
// provider learns the result anyway, and behind OHTTP the relay sees only ciphertext lengths.
import {
  IdentifierQueryCode,
  IdentifierQueryError,
  IdentifierQueryForbiddenError,
  IdentifierRequest,
  IdentifierResponse,
  FIELD_SOURCE_MIMI_DS,
  KEY_PACKAGE_TOKEN_FIELD,
  ProfileField,
  SearchIdentifierType,
  UnsupportedSearchFieldError,
  UserProfile,
  identifierQueryCodeOf,
  mimiUserUri,
} from "../protocol/IdentifierQuery.js";
import { KeyPackagePool } from "../protocol/KeyPackageConstants.js";
import { type Logger, silentLogger } from "../util/log.js";
import { InvalidArgumentError } from "./errors.js";
import type { RateLimit } from "./FixedWindowRateLimiter.js";
import type { KeyPackageDirectory } from "./KeyPackageDirectory.js";
import { isValidHandle } from "./normalizeHandle.js";
import { TokenBucket } from "./TokenBucket.js";

export const DEFAULT_DISCOVERY_TOKEN_TTL_MS = 10 * 60_000;
export const DEFAULT_DISCOVERY_TOKEN_RATE_LIMIT: RateLimit = { requests: 10, windowMs: 10 * 60_000 };
export const DEFAULT_QUERY_RATE_LIMIT: RateLimit = { requests: 60, windowMs: 60_000 };

export interface IdentifierQueryServiceOptions {
  readonly directory: KeyPackageDirectory;
  /** this provider's MIMI domain: stable URIs are mimi://<domain>/u/<userId> */
  readonly domain: string;
  /** clock in ms (injectable for tests); default Date.now. Token expiry follows the directory's clock. */
  readonly now?: () => number;
  /** lifetime of a token minted for a found user; default 10 minutes */
  readonly tokenTtlMs?: number;
  /** per-token limit of those tokens at /connection_key_packages; default 10 per 10 minutes */
  readonly tokenRateLimit?: RateLimit;
  /** one limit for all handle queries together (token bucket); default 60 per minute */
  readonly queryRateLimit?: RateLimit;
  readonly logger?: Logger;
}

const utf8Strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export class IdentifierQueryService {
  readonly #directory: KeyPackageDirectory;
  readonly #domain: string;
  readonly #ttlMs: number;
  readonly #tokenLimit: RateLimit;
  readonly #bucket: TokenBucket;
  readonly #log: Logger;

  constructor(opts: IdentifierQueryServiceOptions) {
    this.#directory = opts.directory;
    this.#domain = opts.domain;
    // Fails now, not at the first found user, if the domain cannot go into a URI.
    try {
      mimiUserUri(opts.domain, "probe");
    } catch {
      throw new InvalidArgumentError("domain must be a DNS name (optionally with a port)");
    }
    const ttl = opts.tokenTtlMs ?? DEFAULT_DISCOVERY_TOKEN_TTL_MS;
    // 0 would mean "never expires" to mintToken: discovery tokens always expire.
    if (!Number.isInteger(ttl) || ttl < 1) throw new InvalidArgumentError("tokenTtlMs must be a positive integer");
    this.#ttlMs = ttl;
    const limit = opts.tokenRateLimit ?? DEFAULT_DISCOVERY_TOKEN_RATE_LIMIT;
    const ok = (n: unknown) => typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= 0xffffffff;
    if (limit === null || typeof limit !== "object" || !ok(limit.requests) || !ok(limit.windowMs)) throw new InvalidArgumentError("tokenRateLimit: requests and windowMs must be integers in 1..2^32-1");
    this.#tokenLimit = { requests: limit.requests, windowMs: limit.windowMs };
    this.#bucket = new TokenBucket(opts.queryRateLimit ?? DEFAULT_QUERY_RATE_LIMIT, { now: opts.now });
    this.#log = opts.logger ?? silentLogger;
  }

  /**
   * Answers an IdentifierRequest: success or notFound. Throws only IdentifierQueryError:
   * UnsupportedSearchFieldError (not a handle search, or not decodable) and
   * IdentifierQueryForbiddenError (the query budget is spent, or the store failed).
   */
  query(bytes: Uint8Array): Promise<IdentifierResponse> {
    return this.#query(bytes).catch((e: unknown) => {
      if (e instanceof IdentifierQueryError) throw e;
      const code = identifierQueryCodeOf(e);
      if (code === IdentifierQueryCode.unsupportedField) throw new UnsupportedSearchFieldError("the request does not decode", { cause: e });
      this.#log.warn("identifier_query_failed", { error: (e as Error)?.name ?? "unknown" });
      throw new IdentifierQueryForbiddenError("the query could not be answered now", { cause: e });
    });
  }

  async #query(bytes: Uint8Array): Promise<IdentifierResponse> {
    const req = IdentifierRequest.deserialize(bytes);
    if (req.searchType !== SearchIdentifierType.handle) throw new UnsupportedSearchFieldError(`searchType ${SearchIdentifierType[req.searchType]} is not offered; only handle`);
    if (!this.#bucket.take()) throw new IdentifierQueryForbiddenError("the provider's identifier query budget is spent; retry later");
    // An impossible handle is simply not found: no separate answer for "invalid".
    if (!isValidHandle(req.searchValue)) return IdentifierResponse.error(IdentifierQueryCode.notFound);
    const userId = await this.#directory.lookupHandle(req.searchValue);
    if (userId === undefined) return IdentifierResponse.error(IdentifierQueryCode.notFound);
    const uri = mimiUserUri(this.#domain, utf8Strict.decode(userId));
    // Connection KeyPackages only: a stranger who knows a handle may offer a connection, not add
    // the user to groups (group KeyPackages need a token the user's contacts get otherwise).
    const t = await this.#directory.mintToken(userId, { ttlMs: this.#ttlMs, rateLimit: this.#tokenLimit, pools: [KeyPackagePool.connection] });
    return IdentifierResponse.success(new UserProfile(uri, [new ProfileField(FIELD_SOURCE_MIMI_DS, KEY_PACKAGE_TOKEN_FIELD, t.token)]));
  }

  /** The /identifier_query endpoint: never throws; answers an IdentifierResponse. */
  async handle(bytes: Uint8Array): Promise<Uint8Array> {
    try {
      return (await this.query(bytes)).serialize();
    } catch (e) {
      return IdentifierResponse.error(identifierQueryCodeOf(e)).serialize();
    }
  }

  /** Whole queries the global budget admits right now (for tests and metrics). */
  get queryBudget(): number {
    return this.#bucket.available;
  }
}
