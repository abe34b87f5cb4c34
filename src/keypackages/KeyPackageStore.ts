// The storage port of the KeyPackage directory (ARCHITECTURE §2 "narrow storage ports"), with the
// pieces both adapters share: storage-key derivation and the per-client serving decision.
//
// Every mutating operation is atomic: an upload, a whole claim transaction (all its users), a
// client removal each become ONE write (one LevelDB batch with { sync: true }, or one synchronous
// step in memory). A claim runs under the per-user locks of all its users, so one single-use
// KeyPackage is never handed out twice, however many claims run at once.
import { createHash } from "node:crypto";
import { KeyMaterialClientCode, type KeyPackagePool } from "../protocol/KeyPackageConstants.js";
import type { KeyPackageCounts } from "../protocol/KeyPackageUploadResponse.js";
import { TlsWriter } from "../protocol/tls.js";

export type { KeyPackageCounts };

export interface StoredClient {
  readonly clientId: Uint8Array;
  /** the client's Ed25519 upload key (32 bytes) */
  readonly publicKey: Uint8Array;
  /** last accepted upload sequence (0 before the first upload) */
  readonly sequence: bigint;
  /** every (pool, cipher suite) this client ever uploaded to, as poolSuite(pool, suite), sorted */
  readonly poolSuites: readonly number[];
}

export interface NewKeyPackage {
  readonly pool: KeyPackagePool;
  readonly suite: number;
  /** leaf_node.lifetime.not_after, seconds */
  readonly notAfter: bigint;
  readonly lastResort: boolean;
  /** SHA-256 of `message`: the storage identity of a KeyPackage */
  readonly id: Uint8Array;
  /** the MLSMessage bytes as uploaded (served byte for byte) */
  readonly message: Uint8Array;
}

export interface UploadWrite {
  /** the key the upload signature was verified with: a re-registration in between refuses it */
  readonly expectedPublicKey: Uint8Array;
  /** must be greater than the stored sequence */
  readonly sequence: bigint;
  readonly keyPackages: readonly NewKeyPackage[];
  /** capacity of each pool of this client in unexpired single-use KeyPackages, all suites */
  readonly maxPerPool: number;
  readonly nowSeconds: bigint;
}

export interface ClaimSpec {
  readonly userId: Uint8Array;
  readonly pool: KeyPackagePool;
  readonly suite: number;
  readonly lastResortAllowed: boolean;
}

export interface ClientClaim {
  readonly clientId: Uint8Array;
  readonly status: KeyMaterialClientCode;
  /** MLSMessage bytes, for success */
  readonly keyPackage?: Uint8Array;
  /** the served KeyPackage is the client's last-resort one (kept, not consumed) */
  readonly lastResort: boolean;
}

export interface StoredToken {
  /** userStorageKey of the user the token was minted for */
  readonly userKey: Uint8Array;
  readonly createdAtMs: number;
  /** 0: never expires */
  readonly expiresAtMs: number;
  /** per-token rate limit; 0 requests means the directory default */
  readonly requests: number;
  readonly windowMs: number;
  /**
   * Pools the token may claim from, as a bit set of (1 << KeyPackagePool); absent or 0: every
   * pool. Discovery tokens are connection-only, so a stranger cannot drain group KeyPackages.
   */
  readonly pools?: number;
}

/** The bit set of StoredToken.pools for these pools (0 for none given: every pool). */
export const poolMask = (pools: readonly KeyPackagePool[] | undefined): number => (pools ?? []).reduce((m, p) => m | (1 << p), 0);
/** Whether a token's pool scope admits a claim from `pool`. */
export const tokenAllowsPool = (t: StoredToken, pool: KeyPackagePool): boolean => !t.pools || (t.pools & (1 << pool)) !== 0;

/** A discovery handle's binding (handleRecord.ts); stored under handleStorageKey(handle). */
export interface StoredHandle {
  /** userStorageKey of the user holding the handle */
  readonly userKey: Uint8Array;
  /** the user id, sealed under a key derived from the handle: the store lists no user ids */
  readonly sealedUserId: Uint8Array;
}

export interface PurgeResult {
  readonly keyPackages: number;
  readonly tokens: number;
}

export interface KeyPackageStore {
  /** Creates a client, or replaces its upload key (KeyPackages and sequence are kept). */
  registerClient(userId: Uint8Array, clientId: Uint8Array, publicKey: Uint8Array, maxClientsPerUser: number): Promise<void>;
  /** Deletes a client with all its KeyPackages; false if it did not exist. */
  removeClient(userId: Uint8Array, clientId: Uint8Array): Promise<boolean>;
  getClient(userId: Uint8Array, clientId: Uint8Array): Promise<StoredClient | undefined>;
  /**
   * Adds KeyPackages (a last-resort one replaces the stored one of its pool and suite) and
   * advances the sequence, atomically. Throws UploadUnauthorizedError (client gone or key
   * replaced), StaleSequenceError, DuplicateKeyPackageError, TooManyKeyPackagesError; then
   * nothing was written.
   */
  upload(userId: Uint8Array, clientId: Uint8Array, w: UploadWrite): Promise<KeyPackageCounts>;
  counts(userId: Uint8Array, clientId: Uint8Array, nowSeconds: bigint): Promise<KeyPackageCounts | undefined>;
  /**
   * Serves one KeyPackage per client of each spec's user (clients in storage-key order), deleting
   * every served single-use KeyPackage in one atomic write. Result i answers specs[i].
   */
  claim(specs: readonly ClaimSpec[], nowSeconds: bigint): Promise<ClientClaim[][]>;
  putToken(tokenHash: Uint8Array, token: StoredToken): Promise<void>;
  getToken(tokenHash: Uint8Array): Promise<StoredToken | undefined>;
  /** false if no such token was stored */
  deleteToken(tokenHash: Uint8Array): Promise<boolean>;
  /** Deletes every token of a user; returns how many. */
  deleteUserTokens(userKey: Uint8Array): Promise<number>;
  /**
   * Binds a handle to a user, atomically. Binding it again for the same user replaces the record
   * (false); bound to another user: throws HandleTakenError and changes nothing. true: new binding.
   */
  putHandle(handleKey: Uint8Array, record: StoredHandle): Promise<boolean>;
  getHandle(handleKey: Uint8Array): Promise<StoredHandle | undefined>;
  /** false if no such handle was bound */
  deleteHandle(handleKey: Uint8Array): Promise<boolean>;
  /** Deletes every handle of a user (account deletion); returns how many. */
  deleteUserHandles(userKey: Uint8Array): Promise<number>;
  /** Deletes KeyPackages with not_after <= nowSeconds and tokens expired at nowMs. */
  purgeExpired(nowSeconds: bigint, nowMs: number): Promise<PurgeResult>;
  close(): Promise<void>;
}

// ---- storage keys -----------------------------------------------------------------------------
// Users, clients and tokens are stored under domain-separated SHA-256 hashes, so a stolen store
// lists neither user ids nor usable bearer tokens (a token's hash does not authorize anything).
// Handles too; a handle's record seals its user id under the handle (handleRecord.ts), so only
// someone who already knows (or guesses) a handle learns whose it is.
const te = new TextEncoder();
const USER_LABEL = te.encode("mimi-ds kp user v1");
const CLIENT_LABEL = te.encode("mimi-ds kp client v1");
const TOKEN_LABEL = te.encode("mimi-ds kp token v1");
const HANDLE_LABEL = te.encode("mimi-ds kp handle v1");
export const STORAGE_KEY_LEN = 32;

function labelledHash(label: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const w = new TlsWriter(64).opaque(label);
  for (const p of parts) w.opaque(p);
  return new Uint8Array(createHash("sha256").update(w.finish()).digest());
}

export const userStorageKey = (userId: Uint8Array): Uint8Array => labelledHash(USER_LABEL, userId);
export const clientStorageKey = (userId: Uint8Array, clientId: Uint8Array): Uint8Array => labelledHash(CLIENT_LABEL, userId, clientId);
/** SHA-256 of a bearer token (domain-separated): the only form in which tokens are stored. */
export const tokenHash = (token: Uint8Array): Uint8Array => labelledHash(TOKEN_LABEL, token);

/** Storage key of a normalized handle (normalizeHandle.ts). */
export const handleStorageKey = (normalizedHandle: string): Uint8Array => labelledHash(HANDLE_LABEL, te.encode(normalizedHandle));

export const poolSuite = (pool: KeyPackagePool, suite: number): number => pool * 0x10000 + suite;

export const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

/** A KeyPackage may be served at nowSeconds only while not_after lies after it. */
export const usable = (notAfter: bigint, nowSeconds: bigint): boolean => notAfter > nowSeconds;

/**
 * What one client answers to one spec (draft-barnes s7.3): its next single-use KeyPackage; else
 * its last-resort one when allowed (onlyLastResort when not); else keyMaterialExhausted if it
 * ever had material for this pool and suite, nothingCompatible if it never did.
 */
export function decideClient(
  spec: ClaimSpec,
  client: StoredClient,
  next: Uint8Array | undefined,
  lastResort: Uint8Array | undefined,
): ClientClaim {
  const clientId = client.clientId;
  if (next !== undefined) return { clientId, status: KeyMaterialClientCode.success, keyPackage: next, lastResort: false };
  if (lastResort !== undefined) {
    return spec.lastResortAllowed
      ? { clientId, status: KeyMaterialClientCode.success, keyPackage: lastResort, lastResort: true }
      : { clientId, status: KeyMaterialClientCode.onlyLastResort, lastResort: false };
  }
  const had = client.poolSuites.includes(poolSuite(spec.pool, spec.suite));
  return { clientId, status: had ? KeyMaterialClientCode.keyMaterialExhausted : KeyMaterialClientCode.nothingCompatible, lastResort: false };
}

export function mergePoolSuites(old: readonly number[], added: readonly NewKeyPackage[]): number[] {
  const s = new Set(old);
  for (const k of added) s.add(poolSuite(k.pool, k.suite));
  return [...s].sort((a, b) => a - b);
}
