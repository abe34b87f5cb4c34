// The KeyPackage directory (ARCHITECTURE "KeyPackages and bearer tokens"): clients upload
// KeyPackages signed with their provider credential; anyone holding a bearer token minted at
// discovery claims one KeyPackage per client of that token's user. Transport-independent: the
// provider maps its HTTP endpoints onto the handle* methods (bytes in, bytes out).
//
// Token model (README/SECURITY text in the issue note): tokens are 32 random bytes, stored only as
// a domain-separated SHA-256, bound to one user id, optionally expiring, revocable (the record is
// deleted), and rate-limited per token (fixed window, never per IP). Any token that does not
// authorize the request - unknown, revoked, expired, minted for another user or scoped to another
// pool - gets exactly the answer an unknown user gets (userUnknown, the request's user_id echoed,
// no clients), produced by the same code path before any user lookup, so neither tokens nor users
// can be probed.
import { createHash, randomBytes } from "node:crypto";
import { verifyWithLabelEd25519 } from "../ds/signatures.js";
import { DecodeError } from "../codec/errors.js";
import {
  KEY_PACKAGE_UPLOAD_LABEL,
  KeyMaterialClientCode,
  KeyMaterialUserCode,
  KeyPackagePool,
  KeyPackageStatus,
  MAX_CLIENT_ID_BYTES,
  MAX_TRANSACTION_REQUESTS,
  MAX_UPLOAD_ENTRIES,
  MAX_USER_ID_BYTES,
  MLS_PROTOCOL_VERSION_MLS10,
  NO_ENTRY_INDEX,
  SUPPORTED_DIRECTORY_VERSIONS,
} from "../protocol/KeyPackageConstants.js";
import {
  DuplicateKeyPackageError,
  KeyPackageError,
  KeyPackageMalformedError,
  KeyPackageTemporarilyUnavailableError,
  KeyPackageUnsupportedVersionError,
  MultipleLastResortError,
  StaleSequenceError,
  TooManyKeyPackagesError,
  TooManyRequestsError,
  UploadUnauthorizedError,
} from "../protocol/KeyPackageErrors.js";
import { KeyPackageTransaction } from "../protocol/KeyPackageTransaction.js";
import { KeyPackageTransactionResponse, type ClientKeyMaterial, type UserKeyMaterial } from "../protocol/KeyPackageTransactionResponse.js";
import { KeyPackageUpload } from "../protocol/KeyPackageUpload.js";
import { KeyPackageUploadResponse, type KeyPackageCounts } from "../protocol/KeyPackageUploadResponse.js";
import { generateEd25519 } from "../util/keygen.js";
import { InvalidArgumentError } from "./errors.js";
import { openHandleRecord, sealHandleRecord } from "./handleRecord.js";
import { normalizeHandle } from "./normalizeHandle.js";
import { FixedWindowRateLimiter, type RateLimit } from "./FixedWindowRateLimiter.js";
import {
  bytesEqual,
  handleStorageKey,
  poolMask,
  tokenAllowsPool,
  tokenHash,
  toHex,
  userStorageKey,
  type ClaimSpec,
  type ClientClaim,
  type KeyPackageStore,
  type NewKeyPackage,
  type PurgeResult,
  type StoredToken,
} from "./KeyPackageStore.js";
import { validateKeyPackage, type KeyPackageValidationOptions } from "./validateKeyPackage.js";

const DAY_S = 86_400;
export const BEARER_TOKEN_BYTES = 32;

export interface KeyPackageDirectoryOptions {
  readonly store: KeyPackageStore;
  /** clock in ms (injectable for tests); default Date.now */
  readonly now?: () => number;
  /** MLS cipher suite ids accepted at upload; default the RFC 9420 suites 1-7 */
  readonly supportedCipherSuites?: readonly number[];
  /** how far ahead a KeyPackage's not_after may lie; default 90 days */
  readonly maxLifetimeSeconds?: number;
  /** how far ahead not_before may lie; default 300 s */
  readonly maxClockSkewSeconds?: number;
  /** entries per upload; default 256 */
  readonly maxKeyPackagesPerUpload?: number;
  /** unexpired single-use KeyPackages per client and pool; default 1000 */
  readonly maxKeyPackagesPerPool?: number;
  /** default 64 */
  readonly maxClientsPerUser?: number;
  /** KeyPackageRequests per transaction; default 32 */
  readonly maxRequestsPerTransaction?: number;
  /** default limit of every token (mintToken may override); default 30 requests per minute */
  readonly tokenRateLimit?: RateLimit;
  /** optional aggregate limit per target user across all its tokens; default none */
  readonly userRateLimit?: RateLimit;
  /** default lifetime of minted tokens in ms, 0 for none; default 30 days */
  readonly tokenTtlMs?: number;
  /** bound on rate-limiter entries (one per recently used valid token); default 100 000 */
  readonly rateLimiterMaxEntries?: number;
}

export interface MintTokenOptions {
  /** lifetime in ms; 0 = never expires; default the directory's tokenTtlMs */
  readonly ttlMs?: number;
  /** this token's own limit instead of the directory default */
  readonly rateLimit?: RateLimit;
  /** pools the token may claim from; default every pool (discovery mints connection-only tokens) */
  readonly pools?: readonly KeyPackagePool[];
}

export interface MintedToken {
  /** give this to the requester (inside the discovery answer); the directory keeps only its hash */
  readonly token: Uint8Array;
  /** undefined: never expires */
  readonly expiresAtMs: number | undefined;
}

type Id = Uint8Array | string;
const te = new TextEncoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const idBytes = (v: Id): Uint8Array => (typeof v === "string" ? te.encode(v) : v);

function checkId(v: Id, what: string, max: number): Uint8Array {
  const b = idBytes(v);
  if (!(b instanceof Uint8Array) || b.length === 0 || b.length > max) throw new InvalidArgumentError(`${what} must be 1..${max} bytes`);
  return b;
}

function checkLimit(l: RateLimit | undefined, what: string): void {
  if (l === undefined) return;
  const ok = (n: number) => Number.isInteger(n) && n >= 1 && n <= 0xffffffff;
  if (l === null || typeof l !== "object" || !ok(l.requests) || !ok(l.windowMs)) throw new InvalidArgumentError(`${what}: requests and windowMs must be integers in 1..2^32-1`);
}

function positive(v: number | undefined, dflt: number, what: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = v ?? dflt;
  if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`${what} must be an integer in 1..${max}`);
  return n;
}

/** draft-barnes s7.3: success if every client got material, partialSuccess if some did. */
function userCodeOf(clients: readonly ClientClaim[]): KeyMaterialUserCode {
  const served = clients.filter((c) => c.status === KeyMaterialClientCode.success).length;
  if (served === 0) return KeyMaterialUserCode.noCompatibleMaterial;
  return served === clients.length ? KeyMaterialUserCode.success : KeyMaterialUserCode.partialSuccess;
}

function toWire(c: ClientClaim): ClientKeyMaterial {
  if (c.status === KeyMaterialClientCode.success) return { status: c.status, clientId: c.clientId, keyPackage: c.keyPackage! };
  return { status: c.status as Exclude<KeyMaterialClientCode, KeyMaterialClientCode.success>, clientId: c.clientId };
}

/** The wire status of anything a handler caught: typed refusals keep theirs, the rest is temporary. */
export function keyPackageStatusOf(e: unknown): KeyPackageError {
  if (e instanceof KeyPackageError) return e;
  if (e instanceof DecodeError) return new KeyPackageMalformedError(e.message, NO_ENTRY_INDEX, { cause: e });
  return new KeyPackageTemporarilyUnavailableError("the directory could not complete the request", NO_ENTRY_INDEX, { cause: e });
}

export class KeyPackageDirectory {
  readonly #store: KeyPackageStore;
  readonly #now: () => number;
  readonly #validation: KeyPackageValidationOptions;
  readonly #maxPerUpload: number;
  readonly #maxPerPool: number;
  readonly #maxClients: number;
  readonly #maxRequests: number;
  readonly #tokenLimit: RateLimit;
  readonly #userLimit: RateLimit | undefined;
  readonly #tokenTtlMs: number;
  readonly #limiter: FixedWindowRateLimiter;
  /** verified against when the uploading client is unknown, so both refusals cost the same */
  readonly #decoyKey = generateEd25519().publicKey;

  constructor(opts: KeyPackageDirectoryOptions) {
    this.#store = opts.store;
    this.#now = opts.now ?? Date.now;
    const suites = opts.supportedCipherSuites ?? [1, 2, 3, 4, 5, 6, 7];
    if (!Array.isArray(suites) || suites.some((s) => !Number.isInteger(s) || s < 1 || s > 0xffff)) throw new InvalidArgumentError("supportedCipherSuites must be uint16 suite ids");
    this.#validation = {
      supportedCipherSuites: [...suites],
      maxLifetimeSeconds: positive(opts.maxLifetimeSeconds, 90 * DAY_S, "maxLifetimeSeconds"),
      maxClockSkewSeconds: opts.maxClockSkewSeconds === 0 ? 0 : positive(opts.maxClockSkewSeconds, 300, "maxClockSkewSeconds"),
    };
    this.#maxPerUpload = positive(opts.maxKeyPackagesPerUpload, 256, "maxKeyPackagesPerUpload", MAX_UPLOAD_ENTRIES);
    this.#maxPerPool = positive(opts.maxKeyPackagesPerPool, 1000, "maxKeyPackagesPerPool");
    this.#maxClients = positive(opts.maxClientsPerUser, 64, "maxClientsPerUser", 1024);
    this.#maxRequests = positive(opts.maxRequestsPerTransaction, 32, "maxRequestsPerTransaction", MAX_TRANSACTION_REQUESTS);
    checkLimit(opts.tokenRateLimit, "tokenRateLimit");
    checkLimit(opts.userRateLimit, "userRateLimit");
    this.#tokenLimit = opts.tokenRateLimit ?? { requests: 30, windowMs: 60_000 };
    this.#userLimit = opts.userRateLimit;
    this.#tokenTtlMs = opts.tokenTtlMs === 0 ? 0 : positive(opts.tokenTtlMs, 30 * DAY_S * 1000, "tokenTtlMs");
    this.#limiter = new FixedWindowRateLimiter({ now: this.#now, maxEntries: positive(opts.rateLimiterMaxEntries, 100_000, "rateLimiterMaxEntries") });
  }

  #nowSeconds(): bigint {
    return BigInt(Math.floor(this.#now() / 1000));
  }

  // ---- admin (provider-internal, never reachable from the wire) ------------------------------

  /** Registers a client's Ed25519 upload key for (userId, clientId), or replaces it. */
  async registerClient(userId: Id, clientId: Id, publicKey: Uint8Array): Promise<void> {
    const u = checkId(userId, "userId", MAX_USER_ID_BYTES);
    const c = checkId(clientId, "clientId", MAX_CLIENT_ID_BYTES);
    if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) throw new InvalidArgumentError("publicKey must be a 32-byte Ed25519 key");
    await this.#store.registerClient(u, c, publicKey, this.#maxClients);
  }

  /** Deletes a client and every KeyPackage it uploaded. */
  removeClient(userId: Id, clientId: Id): Promise<boolean> {
    return this.#store.removeClient(checkId(userId, "userId", MAX_USER_ID_BYTES), checkId(clientId, "clientId", MAX_CLIENT_ID_BYTES));
  }

  /** A client's unexpired KeyPackages per pool; undefined for an unknown client. */
  counts(userId: Id, clientId: Id): Promise<KeyPackageCounts | undefined> {
    return this.#store.counts(checkId(userId, "userId", MAX_USER_ID_BYTES), checkId(clientId, "clientId", MAX_CLIENT_ID_BYTES), this.#nowSeconds());
  }

  /**
   * Mints a bearer token for `userId` (at discovery). One token per requester isolates abusers;
   * one cached token handed to everyone links nothing to a requester: the provider's choice.
   */
  async mintToken(userId: Id, opts: MintTokenOptions = {}): Promise<MintedToken> {
    const u = checkId(userId, "userId", MAX_USER_ID_BYTES);
    checkLimit(opts.rateLimit, "rateLimit");
    if (opts.pools !== undefined && (!Array.isArray(opts.pools) || opts.pools.length === 0 || opts.pools.some((p) => p !== KeyPackagePool.group && p !== KeyPackagePool.connection))) {
      throw new InvalidArgumentError("pools must be a non-empty list of KeyPackagePool values");
    }
    const ttl = opts.ttlMs ?? this.#tokenTtlMs;
    if (!Number.isInteger(ttl) || ttl < 0) throw new InvalidArgumentError("ttlMs must be a non-negative integer");
    const now = this.#now();
    const token = new Uint8Array(randomBytes(BEARER_TOKEN_BYTES));
    const rec: StoredToken = {
      userKey: userStorageKey(u),
      createdAtMs: now,
      expiresAtMs: ttl === 0 ? 0 : now + ttl,
      requests: opts.rateLimit?.requests ?? 0,
      windowMs: opts.rateLimit?.windowMs ?? 0,
      ...(opts.pools !== undefined && { pools: poolMask(opts.pools) }),
    };
    await this.#store.putToken(tokenHash(token), rec);
    return { token, expiresAtMs: ttl === 0 ? undefined : now + ttl };
  }

  /** Revokes a token: its record is deleted, so from now on it is indistinguishable from one never minted. */
  async revokeToken(token: Uint8Array): Promise<boolean> {
    if (!(token instanceof Uint8Array)) throw new InvalidArgumentError("token must be bytes");
    const th = tokenHash(token);
    this.#limiter.forget(toHex(th));
    return this.#store.deleteToken(th);
  }

  /** Revokes every token of a user (e.g. after abuse or account deletion); returns how many. */
  revokeUserTokens(userId: Id): Promise<number> {
    return this.#store.deleteUserTokens(userStorageKey(checkId(userId, "userId", MAX_USER_ID_BYTES)));
  }

  /** Deletes expired KeyPackages (never served anyway) and expired tokens. Run periodically. */
  purgeExpired(): Promise<PurgeResult> {
    const now = this.#now();
    return this.#store.purgeExpired(BigInt(Math.floor(now / 1000)), now);
  }

  // ---- discovery handles (admin; IdentifierQueryService reads them) ----------------------------

  /**
   * Opts a user in to discovery under `handle` (normalized: trimmed, lower-case). Returns the
   * normalized handle. Throws InvalidHandleError, InvalidArgumentError (the user id must be
   * UTF-8 text: it goes into the found profile's URI) or HandleTakenError (another user's).
   */
  async registerHandle(handle: string, userId: Id): Promise<string> {
    const h = normalizeHandle(handle);
    const u = checkId(userId, "userId", MAX_USER_ID_BYTES);
    try {
      utf8Strict.decode(u);
    } catch {
      throw new InvalidArgumentError("userId must be UTF-8 text to be discoverable");
    }
    const hk = handleStorageKey(h);
    await this.#store.putHandle(hk, sealHandleRecord(h, hk, u));
    return h;
  }

  /** Withdraws a handle from discovery; false if it was not registered. Throws InvalidHandleError. */
  async removeHandle(handle: string): Promise<boolean> {
    return this.#store.deleteHandle(handleStorageKey(normalizeHandle(handle)));
  }

  /** The user id a handle is registered to, or undefined. Throws InvalidHandleError. */
  async lookupHandle(handle: string): Promise<Uint8Array | undefined> {
    const h = normalizeHandle(handle);
    const hk = handleStorageKey(h);
    const rec = await this.#store.getHandle(hk);
    return rec === undefined ? undefined : openHandleRecord(h, hk, rec);
  }

  /** Withdraws every handle of a user (e.g. at account deletion); returns how many. */
  async removeUserHandles(userId: Id): Promise<number> {
    return this.#store.deleteUserHandles(userStorageKey(checkId(userId, "userId", MAX_USER_ID_BYTES)));
  }

  // ---- upload ----------------------------------------------------------------------------------

  /**
   * Validates and stores a KeyPackageUpload atomically. Throws only KeyPackageError subclasses
   * (a store failure is KeyPackageTemporarilyUnavailableError, with the cause); nothing is stored then.
   */
  upload(bytes: Uint8Array): Promise<KeyPackageCounts> {
    return this.#upload(bytes).catch((e: unknown) => {
      throw keyPackageStatusOf(e);
    });
  }

  async #upload(bytes: Uint8Array): Promise<KeyPackageCounts> {
    const version = KeyPackageUpload.peekVersion(bytes);
    if (version !== undefined && !SUPPORTED_DIRECTORY_VERSIONS.includes(version)) throw new KeyPackageUnsupportedVersionError(`directory version ${version} is not supported`);
    const up = KeyPackageUpload.deserialize(bytes);
    const c = up.content;
    const client = await this.#store.getClient(c.userId, c.clientId);
    const signed = verifyWithLabelEd25519(client?.publicKey ?? this.#decoyKey, KEY_PACKAGE_UPLOAD_LABEL, up.tbs, up.signature);
    if (client === undefined || !signed) throw new UploadUnauthorizedError("unknown client or bad upload signature");
    if (c.sequence <= client.sequence) throw new StaleSequenceError("upload sequence is not greater than the last accepted one");
    if (c.entries.length > this.#maxPerUpload) throw new TooManyKeyPackagesError(`an upload carries at most ${this.#maxPerUpload} KeyPackages`);

    const nowSeconds = this.#nowSeconds();
    const ids = new Set<string>();
    const lastResortSlots = new Set<string>();
    const kps: NewKeyPackage[] = [];
    // Sequential on purpose: verification is synchronous node:crypto work, and the first failing
    // entry (lowest index) is the one reported.
    for (const [i, e] of c.entries.entries()) {
      if (e.decoded === undefined) throw new KeyPackageMalformedError("entry was not decoded", i);
      const v = await validateKeyPackage(e.decoded, nowSeconds, this.#validation, i);
      const id = new Uint8Array(createHash("sha256").update(e.keyPackage).digest());
      const idHex = toHex(id);
      if (ids.has(idHex)) throw new DuplicateKeyPackageError("KeyPackage appears twice in the upload", i);
      ids.add(idHex);
      if (e.lastResort) {
        const slot = `${e.pool}:${v.suite}`;
        if (lastResortSlots.has(slot)) throw new MultipleLastResortError("two last-resort KeyPackages for one pool and cipher suite", i);
        lastResortSlots.add(slot);
      }
      kps.push({ pool: e.pool, suite: v.suite, notAfter: v.notAfter, lastResort: e.lastResort, id, message: e.keyPackage });
    }
    return this.#store.upload(c.userId, c.clientId, {
      expectedPublicKey: client.publicKey,
      sequence: c.sequence,
      keyPackages: kps,
      maxPerPool: this.#maxPerPool,
      nowSeconds,
    });
  }

  /** Upload endpoint: never throws; answers a KeyPackageUploadResponse. */
  async handleUpload(bytes: Uint8Array): Promise<Uint8Array> {
    try {
      return KeyPackageUploadResponse.ok(await this.upload(bytes)).serialize();
    } catch (e) {
      return KeyPackageUploadResponse.error(keyPackageStatusOf(e)).serialize();
    }
  }

  // ---- claims ----------------------------------------------------------------------------------

  /**
   * Serves a KeyPackageTransaction from `pool`; throws a KeyPackageError only for refusals of the
   * whole transaction (malformed, too many requests, store failure), in which case nothing was
   * consumed. Per-user outcomes are in the response.
   */
  claim(bytes: Uint8Array, pool: KeyPackagePool): Promise<KeyPackageTransactionResponse> {
    return this.#claim(bytes, pool).catch((e: unknown) => {
      throw keyPackageStatusOf(e);
    });
  }

  async #claim(bytes: Uint8Array, pool: KeyPackagePool): Promise<KeyPackageTransactionResponse> {
    const tx = KeyPackageTransaction.deserialize(bytes);
    if (tx.requests.length > this.#maxRequests) throw new TooManyRequestsError(`a transaction carries at most ${this.#maxRequests} requests`);
    const nowMs = this.#now();
    const hashes = tx.requests.map((r) => tokenHash(r.bearerToken));
    const tokens = await Promise.all(hashes.map((h) => this.#store.getToken(h)));

    const users: (UserKeyMaterial | undefined)[] = [];
    const specs: ClaimSpec[] = [];
    const specUser: number[] = [];
    for (const [i, r] of tx.requests.entries()) {
      const t = tokens[i];
      const uk = userStorageKey(r.userId);
      // A token scoped to other pools is one more token that does not authorize this request.
      const authorized = t !== undefined && (t.expiresAtMs === 0 || t.expiresAtMs > nowMs) && bytesEqual(t.userKey, uk) && tokenAllowsPool(t, pool);
      if (!authorized) {
        // The one answer for every token that does not authorize this user: see the file comment.
        users.push({ status: KeyMaterialUserCode.userUnknown, userId: r.userId, clients: [] });
        continue;
      }
      if (r.version !== MLS_PROTOCOL_VERSION_MLS10) {
        users.push({ status: KeyMaterialUserCode.incompatibleProtocol, userId: r.userId, clients: [] });
        continue;
      }
      const limit = t.requests > 0 ? { requests: t.requests, windowMs: t.windowMs } : this.#tokenLimit;
      const admitted = this.#limiter.take(`t:${toHex(hashes[i]!)}`, limit) && (this.#userLimit === undefined || this.#limiter.take(`u:${toHex(uk)}`, this.#userLimit));
      if (!admitted) {
        users.push({ status: KeyMaterialUserCode.rateLimited, userId: r.userId, clients: [] });
        continue;
      }
      users.push(undefined);
      specs.push({ userId: r.userId, pool, suite: r.cipherSuite, lastResortAllowed: tx.lastResortAllowed });
      specUser.push(i);
    }
    const claims = await this.#store.claim(specs, BigInt(Math.floor(nowMs / 1000)));
    for (const [j, clients] of claims.entries()) {
      const i = specUser[j]!;
      users[i] = { status: userCodeOf(clients), userId: tx.requests[i]!.userId, clients: clients.map(toWire) };
    }
    return new KeyPackageTransactionResponse(KeyPackageStatus.ok, users as UserKeyMaterial[]);
  }

  async #handle(bytes: Uint8Array, pool: KeyPackagePool): Promise<Uint8Array> {
    try {
      return (await this.claim(bytes, pool)).serialize();
    } catch (e) {
      return KeyPackageTransactionResponse.error(keyPackageStatusOf(e).code as Exclude<KeyPackageStatus, KeyPackageStatus.ok>).serialize();
    }
  }

  /** /group_key_packages: a KeyPackageTransaction served from the group pool. Never throws. */
  handleKeyPackageRequest(bytes: Uint8Array): Promise<Uint8Array> {
    return this.#handle(bytes, KeyPackagePool.group);
  }

  /** /connection_key_packages: the same transaction served from the connection pool only. Never throws. */
  handleConnectionKeyPackageRequest(bytes: Uint8Array): Promise<Uint8Array> {
    return this.#handle(bytes, KeyPackagePool.connection);
  }
}
