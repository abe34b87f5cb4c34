// KeyPackageStore on the embedded `level` (LevelDB) database.
//
// Key layout (binary keys and values, in a sublevel `!<prefix>!`, default "keypackages";
// uk = userStorageKey, ck = clientStorageKey, both 32-byte hashes, see KeyPackageStore.ts):
//   'c' || uk || ck                                      -> client: opaque public_key<V> || u64 sequence ||
//                                                          opaque client_id<V> || u32 pool_suites<V>
//   'k' || uk || ck || pool(1) || suite(2) || not_after(8) || id(32)
//                                                        -> single-use KeyPackage: MLSMessage bytes
//   'l' || uk || ck || pool(1) || suite(2)               -> last resort: u64 not_after || MLSMessage bytes
//   't' || token_hash(32)                                -> token: uk || u64 created_ms || u64 expires_ms ||
//                                                          u32 requests || u32 window_ms [|| u8 pools]
//   'T' || uk || token_hash                              -> (empty): a user's tokens, for revoke-all
//   'h' || handle_key(32)                                -> handle: uk || sealed user id (handleRecord.ts)
//   'H' || uk || handle_key                              -> (empty): a user's handles, for account deletion
// not_after is big-endian inside the key, so a range scan starting at (now + 1) skips every
// expired KeyPackage without reading it, and the soonest-expiring one is served first.
//
// Concurrency: one process holds the LevelDB lock; every read-check-write runs under per-user
// mutexes (a claim transaction takes all its users' locks in sorted order, so two transactions
// never deadlock), and each write is ONE atomic batch with { sync: true }: on disk before the
// promise resolves, so a KeyPackage handed out is gone even after a crash.
import { concatBytes } from "../codec/bytes.js";
import { binarySublevel, openBinaryLevel, sharedMutex, storeErrorOf, StoreOperations, type AnyLevel, type BinaryLevel } from "../store/level.js";
import type { BatchOptions } from "level";
import { KeyedMutex } from "../store/KeyedMutex.js";
import { CorruptRecordError } from "../store/errors.js";
import { KeyPackageError, DuplicateKeyPackageError, StaleSequenceError, TooManyKeyPackagesError, UploadUnauthorizedError } from "../protocol/KeyPackageErrors.js";
import { KeyPackagePool } from "../protocol/KeyPackageConstants.js";
import { decodeExact, TlsWriter } from "../protocol/tls.js";
import { HandleTakenError, KeyPackageAdminError, TooManyClientsError } from "./errors.js";
import {
  STORAGE_KEY_LEN,
  bytesEqual,
  clientStorageKey,
  decideClient,
  mergePoolSuites,
  toHex,
  usable,
  userStorageKey,
  type ClaimSpec,
  type ClientClaim,
  type KeyPackageCounts,
  type KeyPackageStore,
  type PurgeResult,
  type StoredClient,
  type StoredHandle,
  type StoredToken,
  type UploadWrite,
} from "./KeyPackageStore.js";

type Bytes = Uint8Array;
type Db = BinaryLevel;
type Op = { type: "put"; key: Bytes; value: Bytes } | { type: "del"; key: Bytes };

const CLIENT = 0x63; // 'c'
const KP = 0x6b; // 'k'
const LAST_RESORT = 0x6c; // 'l'
const TOKEN = 0x74; // 't'
const USER_TOKEN = 0x54; // 'T'
const HANDLE = 0x68; // 'h'
const USER_HANDLE = 0x48; // 'H'
const SYNC: BatchOptions<Bytes, Bytes> = { sync: true };
const PURGE_BATCH = 1000;

// offsets inside a 'k' key
const K_POOL = 1 + 2 * STORAGE_KEY_LEN;
const K_NOT_AFTER = K_POOL + 3;
const K_LEN = K_NOT_AFTER + 8 + 32;

const cat = concatBytes;

function be64(v: bigint): Bytes {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, v);
  return out;
}
const readBe64 = (b: Bytes, at: number): bigint => new DataView(b.buffer, b.byteOffset + at, 8).getBigUint64(0);
const poolSuiteBytes = (pool: KeyPackagePool, suite: number): Bytes => Uint8Array.of(pool, (suite >>> 8) & 0xff, suite & 0xff);

/** The smallest key greater than every key starting with `prefix` (undefined: none exists). */
function successor(prefix: Bytes): Bytes | undefined {
  const out = prefix.slice();
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i]! < 0xff) {
      out[i]!++;
      return out.subarray(0, i + 1);
    }
  }
  return undefined;
}
const range = (prefix: Bytes) => {
  const end = successor(prefix);
  return end === undefined ? { gte: prefix } : { gte: prefix, lt: end };
};

const clientKeyOf = (uk: Bytes, ck: Bytes) => cat(Uint8Array.of(CLIENT), uk, ck);
const kpPrefix = (uk: Bytes, ck: Bytes, pool: KeyPackagePool, suite: number) => cat(Uint8Array.of(KP), uk, ck, poolSuiteBytes(pool, suite));
const kpKeyOf = (uk: Bytes, ck: Bytes, pool: KeyPackagePool, suite: number, notAfter: bigint, id: Bytes) => cat(kpPrefix(uk, ck, pool, suite), be64(notAfter), id);
const lastResortKeyOf = (uk: Bytes, ck: Bytes, pool: KeyPackagePool, suite: number) => cat(Uint8Array.of(LAST_RESORT), uk, ck, poolSuiteBytes(pool, suite));
const tokenKeyOf = (th: Bytes) => cat(Uint8Array.of(TOKEN), th);
const userTokenKeyOf = (uk: Bytes, th: Bytes) => cat(Uint8Array.of(USER_TOKEN), uk, th);
const handleKeyOf = (hk: Bytes) => cat(Uint8Array.of(HANDLE), hk);
const userHandleKeyOf = (uk: Bytes, hk: Bytes) => cat(Uint8Array.of(USER_HANDLE), uk, hk);
// Lock names of handle operations, apart from the user locks claims and uploads take (hex of uk).
const handleLock = (hk: Bytes) => `h:${toHex(hk)}`;
const userHandlesLock = (uk: Bytes) => `H:${toHex(uk)}`;

function encodeClient(c: StoredClient): Bytes {
  return new TlsWriter(128).opaque(c.publicKey).u64(c.sequence).opaque(c.clientId).vector(c.poolSuites, (w, v) => w.u32(v)).finish();
}
function decodeClient(b: Bytes): StoredClient {
  try {
    return decodeExact(b, "client record", (r) => ({
      publicKey: new Uint8Array(r.opaque("public_key", 64)),
      sequence: r.u64("sequence"),
      clientId: new Uint8Array(r.opaque("client_id", 255)),
      poolSuites: r.vector("pool_suites", (ir) => ir.u32("pool_suite"), 1 << 17),
    }));
  } catch {
    throw new CorruptRecordError("KeyPackage client record");
  }
}

const TOKEN_LEN = STORAGE_KEY_LEN + 24;
function encodeToken(t: StoredToken): Bytes {
  const w = new TlsWriter(64).raw(t.userKey).u64(BigInt(t.createdAtMs)).u64(BigInt(t.expiresAtMs)).u32(t.requests).u32(t.windowMs);
  // A pool scope is one trailing byte; records without it (every pool) keep the original layout.
  if (t.pools) w.u8(t.pools);
  return w.finish();
}
function decodeToken(b: Bytes): StoredToken {
  if (b.length !== TOKEN_LEN && b.length !== TOKEN_LEN + 1) throw new CorruptRecordError("bearer token record");
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const t: StoredToken = {
    userKey: b.slice(0, STORAGE_KEY_LEN),
    createdAtMs: Number(dv.getBigUint64(STORAGE_KEY_LEN)),
    expiresAtMs: Number(dv.getBigUint64(STORAGE_KEY_LEN + 8)),
    requests: dv.getUint32(STORAGE_KEY_LEN + 16),
    windowMs: dv.getUint32(STORAGE_KEY_LEN + 20),
  };
  return b.length === TOKEN_LEN ? t : { ...t, pools: b[TOKEN_LEN]! };
}

function encodeHandle(h: StoredHandle): Bytes {
  return cat(h.userKey, h.sealedUserId);
}
function decodeHandle(b: Bytes): StoredHandle {
  // nonce (12) + tag (16) + at least one byte of user id
  if (b.length < STORAGE_KEY_LEN + 29) throw new CorruptRecordError("handle record");
  return { userKey: new Uint8Array(b.subarray(0, STORAGE_KEY_LEN)), sealedUserId: new Uint8Array(b.subarray(STORAGE_KEY_LEN)) };
}

function decodeLastResort(b: Bytes): { notAfter: bigint; message: Bytes } {
  if (b.length < 9) throw new CorruptRecordError("last-resort KeyPackage record");
  return { notAfter: readBe64(b, 0), message: b.subarray(8) };
}


function mapError(e: unknown): Error {
  // Typed refusals (wire and admin) pass through; anything from the engine becomes a store error.
  if (e instanceof KeyPackageError || e instanceof KeyPackageAdminError) return e;
  return storeErrorOf(e);
}

/** Runs fn holding the locks of every key, taken in sorted order (no deadlock between holders). */
export function runLocked<T>(mutex: KeyedMutex, keys: readonly string[], fn: () => Promise<T>): Promise<T> {
  const sorted = [...new Set(keys)].sort();
  const step = (i: number): Promise<T> => (i === sorted.length ? fn() : mutex.run(sorted[i]!, () => step(i + 1)));
  return step(0);
}

export class LevelKeyPackageStore implements KeyPackageStore {
  readonly #db: Db;
  readonly #mutex: KeyedMutex;
  readonly #owned: AnyLevel | undefined;
  readonly #ops = new StoreOperations(mapError);

  private constructor(db: Db, mutex: KeyedMutex, owned: AnyLevel | undefined) {
    this.#db = db;
    this.#mutex = mutex;
    this.#owned = owned;
  }

  /** Opens (creating if needed) a LevelDB directory used by this store alone. */
  static async open(dir: string, prefix = "keypackages"): Promise<LevelKeyPackageStore> {
    const root = await openBinaryLevel(dir);
    return new LevelKeyPackageStore(binarySublevel(root, prefix), sharedMutex(root, prefix), root);
  }

  /** A store inside a sublevel of an existing database (shared with other ports); close() leaves `db` open. */
  static fromDb(db: AnyLevel, prefix = "keypackages"): LevelKeyPackageStore {
    return new LevelKeyPackageStore(binarySublevel(db, prefix), sharedMutex(db, prefix), undefined);
  }

  #op<T>(fn: () => Promise<T>): Promise<T> {
    return this.#ops.run(fn);
  }

  async #clients(uk: Bytes): Promise<{ ck: Bytes; client: StoredClient }[]> {
    const out: { ck: Bytes; client: StoredClient }[] = [];
    for await (const [k, v] of this.#db.iterator(range(cat(Uint8Array.of(CLIENT), uk)))) {
      out.push({ ck: k.slice(1 + STORAGE_KEY_LEN), client: decodeClient(v) });
    }
    return out;
  }

  async #readClient(uk: Bytes, ck: Bytes): Promise<StoredClient | undefined> {
    const v = await this.#db.get(clientKeyOf(uk, ck));
    return v === undefined ? undefined : decodeClient(v);
  }

  async #lastResort(uk: Bytes, ck: Bytes, pool: KeyPackagePool, suite: number, now: bigint): Promise<Bytes | undefined> {
    const v = await this.#db.get(lastResortKeyOf(uk, ck, pool, suite));
    if (v === undefined) return undefined;
    const lr = decodeLastResort(v);
    return usable(lr.notAfter, now) ? new Uint8Array(lr.message) : undefined;
  }

  /** Unexpired single-use KeyPackages of one client's pool (all suites), counted from keys only. */
  async #poolCount(uk: Bytes, ck: Bytes, pool: KeyPackagePool, now: bigint): Promise<number> {
    let n = 0;
    for await (const k of this.#db.keys(range(cat(Uint8Array.of(KP), uk, ck, Uint8Array.of(pool))))) {
      if (k.length === K_LEN && usable(readBe64(k, K_NOT_AFTER), now)) n++;
    }
    return n;
  }

  async #hasUsableLastResort(uk: Bytes, ck: Bytes, pool: KeyPackagePool, now: bigint): Promise<boolean> {
    for await (const v of this.#db.values(range(cat(Uint8Array.of(LAST_RESORT), uk, ck, Uint8Array.of(pool))))) {
      if (usable(decodeLastResort(v).notAfter, now)) return true;
    }
    return false;
  }

  async #counts(uk: Bytes, ck: Bytes, now: bigint): Promise<KeyPackageCounts> {
    return {
      group: await this.#poolCount(uk, ck, KeyPackagePool.group, now),
      connection: await this.#poolCount(uk, ck, KeyPackagePool.connection, now),
      groupLastResort: await this.#hasUsableLastResort(uk, ck, KeyPackagePool.group, now),
      connectionLastResort: await this.#hasUsableLastResort(uk, ck, KeyPackagePool.connection, now),
    };
  }

  registerClient(userId: Bytes, clientId: Bytes, publicKey: Bytes, maxClientsPerUser: number): Promise<void> {
    return this.#op(async () => {
      const uk = userStorageKey(userId);
      const ck = clientStorageKey(userId, clientId);
      await this.#mutex.run(toHex(uk), async () => {
        const old = await this.#readClient(uk, ck);
        if (old === undefined && (await this.#clients(uk)).length >= maxClientsPerUser) throw new TooManyClientsError(maxClientsPerUser);
        const rec: StoredClient = old
          ? { ...old, publicKey: new Uint8Array(publicKey) }
          : { clientId: new Uint8Array(clientId), publicKey: new Uint8Array(publicKey), sequence: 0n, poolSuites: [] };
        await this.#db.batch([{ type: "put", key: clientKeyOf(uk, ck), value: encodeClient(rec) }], SYNC);
      });
    });
  }

  removeClient(userId: Bytes, clientId: Bytes): Promise<boolean> {
    return this.#op(async () => {
      const uk = userStorageKey(userId);
      const ck = clientStorageKey(userId, clientId);
      return this.#mutex.run(toHex(uk), async () => {
        if ((await this.#db.get(clientKeyOf(uk, ck))) === undefined) return false;
        const ops: Op[] = [{ type: "del", key: clientKeyOf(uk, ck) }];
        for (const tag of [KP, LAST_RESORT]) {
          for await (const k of this.#db.keys(range(cat(Uint8Array.of(tag), uk, ck)))) ops.push({ type: "del", key: k });
        }
        await this.#db.batch(ops, SYNC);
        return true;
      });
    });
  }

  getClient(userId: Bytes, clientId: Bytes): Promise<StoredClient | undefined> {
    return this.#op(() => this.#readClient(userStorageKey(userId), clientStorageKey(userId, clientId)));
  }

  upload(userId: Bytes, clientId: Bytes, w: UploadWrite): Promise<KeyPackageCounts> {
    return this.#op(async () => {
      const uk = userStorageKey(userId);
      const ck = clientStorageKey(userId, clientId);
      return this.#mutex.run(toHex(uk), async () => {
        const c = await this.#readClient(uk, ck);
        if (c === undefined || !bytesEqual(c.publicKey, w.expectedPublicKey)) throw new UploadUnauthorizedError("client unknown or its key was replaced");
        if (w.sequence <= c.sequence) throw new StaleSequenceError("upload sequence is not greater than the last accepted one");
        const counts = await this.#counts(uk, ck, w.nowSeconds);
        const added = { [KeyPackagePool.group]: 0, [KeyPackagePool.connection]: 0 };
        const lastResortSet = { [KeyPackagePool.group]: counts.groupLastResort, [KeyPackagePool.connection]: counts.connectionLastResort };
        const ops: Op[] = [];
        for (const [i, kp] of w.keyPackages.entries()) {
          // A KeyPackage already stored in either pool, single-use or last resort, must not come
          // back: it would be handed out twice.
          for (const pool of [KeyPackagePool.group, KeyPackagePool.connection]) {
            if ((await this.#db.get(kpKeyOf(uk, ck, pool, kp.suite, kp.notAfter, kp.id))) !== undefined) throw new DuplicateKeyPackageError("KeyPackage is already stored", i);
            const lr = await this.#db.get(lastResortKeyOf(uk, ck, pool, kp.suite));
            if (lr !== undefined && bytesEqual(decodeLastResort(lr).message, kp.message) && !(kp.lastResort && kp.pool === pool)) {
              throw new DuplicateKeyPackageError("KeyPackage is already stored as last resort", i);
            }
          }
          if (kp.lastResort) {
            const value = cat(be64(kp.notAfter), kp.message);
            ops.push({ type: "put", key: lastResortKeyOf(uk, ck, kp.pool, kp.suite), value });
            lastResortSet[kp.pool] = true;
          } else {
            ops.push({ type: "put", key: kpKeyOf(uk, ck, kp.pool, kp.suite, kp.notAfter, kp.id), value: kp.message });
            added[kp.pool]++;
          }
        }
        const group = counts.group + added[KeyPackagePool.group];
        const connection = counts.connection + added[KeyPackagePool.connection];
        if (group > w.maxPerPool || connection > w.maxPerPool) throw new TooManyKeyPackagesError(`a pool holds at most ${w.maxPerPool} KeyPackages`);
        const rec: StoredClient = { ...c, sequence: w.sequence, poolSuites: mergePoolSuites(c.poolSuites, w.keyPackages) };
        ops.push({ type: "put", key: clientKeyOf(uk, ck), value: encodeClient(rec) });
        await this.#db.batch(ops, SYNC);
        return { group, connection, groupLastResort: lastResortSet[KeyPackagePool.group], connectionLastResort: lastResortSet[KeyPackagePool.connection] };
      });
    });
  }

  counts(userId: Bytes, clientId: Bytes, nowSeconds: bigint): Promise<KeyPackageCounts | undefined> {
    return this.#op(async () => {
      const uk = userStorageKey(userId);
      const ck = clientStorageKey(userId, clientId);
      if ((await this.#readClient(uk, ck)) === undefined) return undefined;
      return this.#counts(uk, ck, nowSeconds);
    });
  }

  claim(specs: readonly ClaimSpec[], nowSeconds: bigint): Promise<ClientClaim[][]> {
    return this.#op(async () => {
      if (specs.length === 0) return [];
      const uks = specs.map((s) => userStorageKey(s.userId));
      return runLocked(
        this.#mutex,
        uks.map((u) => toHex(u)),
        async () => {
          const consumed = new Set<string>();
          const dels: Op[] = [];
          const clientsOf = new Map<string, { ck: Bytes; client: StoredClient }[]>();
          const results: ClientClaim[][] = [];
          const from = be64(nowSeconds + 1n);
          for (const [i, spec] of specs.entries()) {
            const uk = uks[i]!;
            const ukHex = toHex(uk);
            let clients = clientsOf.get(ukHex);
            if (clients === undefined) clientsOf.set(ukHex, (clients = await this.#clients(uk)));
            const out: ClientClaim[] = [];
            for (const { ck, client } of clients) {
              const prefix = kpPrefix(uk, ck, spec.pool, spec.suite);
              let next: Bytes | undefined;
              // Skip what an earlier request of this transaction already took (same user twice):
              // at most `consumed.size` keys, so the scan stays bounded.
              for await (const [k, v] of this.#db.iterator({ gte: cat(prefix, from), lt: successor(prefix)!, limit: consumed.size + 1 })) {
                const kh = toHex(k);
                if (consumed.has(kh)) continue;
                consumed.add(kh);
                dels.push({ type: "del", key: k });
                next = v;
                break;
              }
              const lastResort = next === undefined ? await this.#lastResort(uk, ck, spec.pool, spec.suite, nowSeconds) : undefined;
              out.push(decideClient(spec, client, next, lastResort));
            }
            results.push(out);
          }
          // One durable batch for the whole transaction: either every served KeyPackage is gone or
          // (on failure) none was served.
          if (dels.length > 0) await this.#db.batch(dels, SYNC);
          return results;
        },
      );
    });
  }

  putToken(th: Bytes, token: StoredToken): Promise<void> {
    return this.#op(async () => {
      await this.#db.batch(
        [
          { type: "put", key: tokenKeyOf(th), value: encodeToken(token) },
          { type: "put", key: userTokenKeyOf(token.userKey, th), value: new Uint8Array(0) },
        ],
        SYNC,
      );
    });
  }

  getToken(th: Bytes): Promise<StoredToken | undefined> {
    return this.#op(async () => {
      const v = await this.#db.get(tokenKeyOf(th));
      return v === undefined ? undefined : decodeToken(v);
    });
  }

  deleteToken(th: Bytes): Promise<boolean> {
    return this.#op(async () => {
      const v = await this.#db.get(tokenKeyOf(th));
      if (v === undefined) return false;
      const ops: Op[] = [{ type: "del", key: tokenKeyOf(th) }];
      if (v.length >= TOKEN_LEN) ops.push({ type: "del", key: userTokenKeyOf(v.subarray(0, STORAGE_KEY_LEN), th) });
      await this.#db.batch(ops, SYNC);
      return true;
    });
  }

  deleteUserTokens(uk: Bytes): Promise<number> {
    return this.#op(async () => {
      const ops: Op[] = [];
      for await (const k of this.#db.keys(range(cat(Uint8Array.of(USER_TOKEN), uk)))) {
        ops.push({ type: "del", key: k }, { type: "del", key: tokenKeyOf(k.subarray(1 + STORAGE_KEY_LEN)) });
      }
      if (ops.length > 0) await this.#db.batch(ops, SYNC);
      return ops.length / 2;
    });
  }

  putHandle(hk: Bytes, record: StoredHandle): Promise<boolean> {
    return this.#op(() =>
      // The handle's lock orders binders of one handle; the user's handles lock orders this
      // against deleteUserHandles of the same user.
      runLocked(this.#mutex, [handleLock(hk), userHandlesLock(record.userKey)], async () => {
        const v = await this.#db.get(handleKeyOf(hk));
        const old = v === undefined ? undefined : decodeHandle(v);
        if (old !== undefined && !bytesEqual(old.userKey, record.userKey)) throw new HandleTakenError();
        await this.#db.batch(
          [
            { type: "put", key: handleKeyOf(hk), value: encodeHandle(record) },
            { type: "put", key: userHandleKeyOf(record.userKey, hk), value: new Uint8Array(0) },
          ],
          SYNC,
        );
        return old === undefined;
      }),
    );
  }

  getHandle(hk: Bytes): Promise<StoredHandle | undefined> {
    return this.#op(async () => {
      const v = await this.#db.get(handleKeyOf(hk));
      return v === undefined ? undefined : decodeHandle(v);
    });
  }

  deleteHandle(hk: Bytes): Promise<boolean> {
    return this.#op(() =>
      this.#mutex.run(handleLock(hk), async () => {
        const v = await this.#db.get(handleKeyOf(hk));
        if (v === undefined) return false;
        const ops: Op[] = [{ type: "del", key: handleKeyOf(hk) }];
        if (v.length >= STORAGE_KEY_LEN) ops.push({ type: "del", key: userHandleKeyOf(v.subarray(0, STORAGE_KEY_LEN), hk) });
        await this.#db.batch(ops, SYNC);
        return true;
      }),
    );
  }

  deleteUserHandles(uk: Bytes): Promise<number> {
    return this.#op(() =>
      // Lock order as in putHandle ("H:" names sort before "h:" ones): the user's, then each handle's.
      this.#mutex.run(userHandlesLock(uk), async () => {
        const index: Bytes[] = [];
        for await (const k of this.#db.keys(range(cat(Uint8Array.of(USER_HANDLE), uk)))) index.push(k);
        const hks = index.map((k) => k.subarray(1 + STORAGE_KEY_LEN));
        return runLocked(
          this.#mutex,
          hks.map((hk) => handleLock(hk)),
          async () => {
            const ops: Op[] = index.map((key): Op => ({ type: "del", key }));
            let n = 0;
            for (const hk of hks) {
              const v = await this.#db.get(handleKeyOf(hk));
              // Only a record still bound to this user goes (an index entry could outlive it
              // only through corruption; it goes either way).
              if (v !== undefined && v.length >= STORAGE_KEY_LEN && bytesEqual(v.subarray(0, STORAGE_KEY_LEN), uk)) {
                ops.push({ type: "del", key: handleKeyOf(hk) });
                n++;
              }
            }
            if (ops.length > 0) await this.#db.batch(ops, SYNC);
            return n;
          },
        );
      }),
    );
  }

  purgeExpired(nowSeconds: bigint, nowMs: number): Promise<PurgeResult> {
    return this.#op(async () => {
      // Collect first (key-only scans: not_after sits in 'k' keys), then delete per user under its
      // lock, so a purge never interleaves with a claim's read-modify-write of the same user.
      const byUser = new Map<string, Bytes[]>();
      const add = (k: Bytes) => {
        const u = toHex(k.subarray(1, 1 + STORAGE_KEY_LEN));
        let l = byUser.get(u);
        if (l === undefined) byUser.set(u, (l = []));
        l.push(k);
      };
      for await (const k of this.#db.keys(range(Uint8Array.of(KP)))) {
        if (k.length !== K_LEN || !usable(readBe64(k, K_NOT_AFTER), nowSeconds)) add(k);
      }
      for await (const [k, v] of this.#db.iterator(range(Uint8Array.of(LAST_RESORT)))) {
        if (v.length < 9 || !usable(readBe64(v, 0), nowSeconds)) add(k);
      }
      let keyPackages = 0;
      for (const [u, keys] of byUser) {
        await this.#mutex.run(u, async () => {
          for (let i = 0; i < keys.length; i += PURGE_BATCH) {
            await this.#db.batch(
              keys.slice(i, i + PURGE_BATCH).map((key): Op => ({ type: "del", key })),
              SYNC,
            );
          }
        });
        keyPackages += keys.length;
      }
      const tokenOps: Op[] = [];
      for await (const [k, v] of this.#db.iterator(range(Uint8Array.of(TOKEN)))) {
        let t: StoredToken | undefined;
        try {
          t = decodeToken(v);
        } catch {
          t = undefined; // a corrupt token record authorizes nothing: drop it
        }
        if (t !== undefined && (t.expiresAtMs === 0 || t.expiresAtMs > nowMs)) continue;
        tokenOps.push({ type: "del", key: k });
        if (t !== undefined) tokenOps.push({ type: "del", key: userTokenKeyOf(t.userKey, k.subarray(1)) });
      }
      let tokens = 0;
      for (let i = 0; i < tokenOps.length; i += PURGE_BATCH) await this.#db.batch(tokenOps.slice(i, i + PURGE_BATCH), SYNC);
      for (const op of tokenOps) if (op.key[0] === TOKEN) tokens++;
      return { keyPackages, tokens };
    });
  }

  async close(): Promise<void> {
    if (!(await this.#ops.close())) return;
    if (this.#owned !== undefined) await this.#owned.close();
  }
}
