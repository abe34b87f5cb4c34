// GroupStore on the embedded `level` (LevelDB) database.
//
// Key layout (binary keys and values, inside a sublevel `!<prefix>!`, default prefix "group"):
//   'h' || storageKey(32)                      -> head: version u32 || epoch u64 || lastUsedDay u32
//   'd' || storageKey(32) || recordTag(32)     -> record: keyEpoch u64 || writtenAt u32 || nonce(12) || ct || tag(16)
//   'r' || storageKey(32)                      -> reservation: expiry ms u64
// storageKey = SHA-256("mimi-ds group storage key v1" || group_id); recordTag = kindTag(16) ||
// idTag(16), hashes over the group id (see recordCrypto.ts), so neither group ids nor kind names
// nor leaf indexes appear at rest. Heads live apart from records so a sweep scans only heads.
//
// Concurrency: one process holds the LevelDB lock; read-check-write on a group runs under a
// per-storage-key mutex, and each write is ONE atomic batch (head + puts + deletes) with
// { sync: true }, so it is on disk before the promise resolves.

import { binarySublevel, openBinaryLevel, sharedMutex, StoreOperations, type AnyLevel, type BinaryLevel } from "./level.js";
import { concatBytes } from "../codec/bytes.js";
import type { BatchOptions, DelOptions, PutOptions } from "level";
import type { GroupHead, GroupStore, GroupWrite, RecordRef } from "./GroupStore.js";
import { KeyedMutex } from "./KeyedMutex.js";
import {
  CorruptRecordError,
  GroupExistsError,
  GroupNotFoundError,
  StoreInputError,
  VersionConflictError,
} from "./errors.js";
import {
  RECORD_TAG_LEN,
  STORAGE_KEY_LEN,
  TAG_HALF_LEN,
  checkDay,
  checkEpoch,
  checkKey,
  checkTtlMs,
  checkU32,
  checkWrite,
  decodeExpiry,
  decodeHead,
  decodeRecordMeta,
  encodeExpiry,
  encodeHead,
  groupStorageKey,
  kindTag,
  openRecord,
  recordTag,
  sealRecord,
  toHex,
} from "./recordCrypto.js";

type Bytes = Uint8Array;
// The sublevel we work in: binary keys and values.
type Db = BinaryLevel;
type Op = { type: "put"; key: Bytes; value: Bytes } | { type: "del"; key: Bytes };

const HEAD = 0x68; // 'h'
const DATA = 0x64; // 'd'
const RESERVATION = 0x72; // 'r'
// fsync before resolving (classic-level option; the sublevel forwards it to the root).
const SYNC_BATCH: BatchOptions<Bytes, Bytes> = { sync: true };
const SYNC_PUT: PutOptions<Bytes, Bytes> = { sync: true };
const SYNC_DEL: DelOptions<Bytes> = { sync: true };
const FF = new Uint8Array(RECORD_TAG_LEN).fill(0xff);

const cat = concatBytes;

const headKeyOf = (sk: Bytes) => cat(Uint8Array.of(HEAD), sk);
const reservationKeyOf = (sk: Bytes) => cat(Uint8Array.of(RESERVATION), sk);
const recordKeyOf = (sk: Bytes, tag: Bytes) => cat(Uint8Array.of(DATA), sk, tag);

/** Key (inside the store's sublevel) of a group's head. Exported for tooling and tests. */
export function levelHeadKey(groupId: Uint8Array): Uint8Array {
  return headKeyOf(groupStorageKey(groupId));
}

/** Key (inside the store's sublevel) of one record. */
export function levelRecordKey(groupId: Uint8Array, ref: RecordRef): Uint8Array {
  return recordKeyOf(groupStorageKey(groupId), recordTag(groupId, ref));
}

/** Key (inside the store's sublevel) of a group-id reservation. */
export function levelReservationKey(groupId: Uint8Array): Uint8Array {
  return reservationKeyOf(groupStorageKey(groupId));
}



export class LevelGroupStore implements GroupStore {
  readonly #db: Db;
  readonly #mutex: KeyedMutex;
  /** Set when this store opened the database itself and must close it. */
  readonly #owned: AnyLevel | undefined;
  readonly #ops = new StoreOperations();

  private constructor(db: Db, mutex: KeyedMutex, owned: AnyLevel | undefined) {
    this.#db = db;
    this.#mutex = mutex;
    this.#owned = owned;
  }

  /** Opens (creating if needed) a LevelDB directory used by this store alone (sublevel "group"). */
  static async open(dir: string, prefix = "group"): Promise<LevelGroupStore> {
    const root = await openBinaryLevel(dir);
    return new LevelGroupStore(binarySublevel(root, prefix), sharedMutex(root, prefix), root);
  }

  /**
   * A store inside a sublevel of an existing database, so other ports (queues, key packages) can
   * share one DB. The caller owns `db`; close() here does not close it.
   */
  static fromDb(db: AnyLevel, prefix = "group"): LevelGroupStore {
    return new LevelGroupStore(binarySublevel(db, prefix), sharedMutex(db, prefix), undefined);
  }

  /** Runs one public operation: refuses after close(), tracks it so close() waits, maps errors. */
  #op<T>(fn: () => Promise<T>): Promise<T> {
    return this.#ops.run(fn);
  }

  async #readHead(sk: Bytes): Promise<GroupHead | undefined> {
    const v = await this.#db.get(headKeyOf(sk));
    return v === undefined ? undefined : decodeHead(v);
  }

  /** Keys of every record in [lo, hi] (bounded by what is stored for one group). */
  async #keysIn(lo: Bytes, hi: Bytes): Promise<Bytes[]> {
    const out: Bytes[] = [];
    for await (const k of this.#db.keys({ gte: lo, lte: hi })) out.push(k);
    return out;
  }

  getHead(groupId: Uint8Array): Promise<GroupHead | undefined> {
    return this.#op(() => this.#readHead(groupStorageKey(groupId)));
  }

  getRecords(
    groupId: Uint8Array,
    refs: readonly RecordRef[],
    key: Uint8Array,
    opts: { keyEpoch: bigint; version?: number },
  ): Promise<(Uint8Array | undefined)[]> {
    return this.#op(async () => {
      const sk = groupStorageKey(groupId);
      checkKey(key);
      if (opts === null || typeof opts !== "object") throw new StoreInputError("getRecords needs opts");
      checkEpoch(opts.keyEpoch, "keyEpoch");
      if (opts.version !== undefined) checkU32(opts.version, "version");
      if (!Array.isArray(refs)) throw new StoreInputError("refs must be an array");
      const keys = refs.map((r) => recordKeyOf(sk, recordTag(groupId, r)));
      let version = opts.version;
      let values: (Bytes | undefined)[];
      if (version === undefined) {
        // Head and records from one snapshot: the version the records are checked against is the
        // one they were written with, never a concurrent writer's.
        const snapshot = this.#db.snapshot();
        try {
          const hv = await this.#db.get(headKeyOf(sk), { snapshot });
          if (hv === undefined) return refs.map(() => undefined);
          version = decodeHead(hv).version;
          values = keys.length === 0 ? [] : await this.#db.getMany(keys, { snapshot });
        } finally {
          await snapshot.close();
        }
      } else {
        values = keys.length === 0 ? [] : await this.#db.getMany(keys);
      }
      const v = version;
      return values.map((val, i) =>
        val === undefined
          ? undefined
          : openRecord(groupId, refs[i]!, val, key, opts.keyEpoch, v, () => new VersionConflictError("records are newer than the version read")),
      );
    });
  }

  getRecordEpoch(groupId: Uint8Array, ref: RecordRef): Promise<bigint | undefined> {
    return this.#op(async () => {
      const v = await this.#db.get(levelRecordKey(groupId, ref));
      return v === undefined ? undefined : decodeRecordMeta(v).keyEpoch;
    });
  }

  write(groupId: Uint8Array, w: GroupWrite): Promise<GroupHead> {
    return this.#op(async () => {
      const sk = groupStorageKey(groupId);
      const version = checkWrite(w);
      // The new version is known before the lock, so sealing (the costly part) happens outside it.
      const puts: Op[] = w.puts.map((p) => ({
        type: "put",
        key: recordKeyOf(sk, recordTag(groupId, p.ref)),
        value: sealRecord(groupId, p.ref, p.plaintext, p.key, p.keyEpoch, p.bindVersion ? version : 0),
      }));
      const deletes: Op[] = (w.deletes ?? []).map((r) => ({ type: "del", key: recordKeyOf(sk, recordTag(groupId, r)) }));
      const kindPrefixes = (w.deleteKinds ?? []).map((k) => recordKeyOf(sk, kindTag(groupId, k)));
      return this.#mutex.run(toHex(sk), async () => {
        const old = await this.#readHead(sk);
        if (w.expectedVersion === null) {
          if (old !== undefined) throw new GroupExistsError();
        } else if (old === undefined) {
          throw new GroupNotFoundError();
        } else if (old.version !== w.expectedVersion) {
          throw new VersionConflictError();
        }
        const ops: Op[] = [];
        // Creating a group consumes any reservation of its id, in the same atomic batch.
        if (old === undefined) ops.push({ type: "del", key: reservationKeyOf(sk) });
        for (const p of kindPrefixes) {
          for (const k of await this.#keysIn(p, cat(p, FF.subarray(0, TAG_HALF_LEN)))) ops.push({ type: "del", key: k });
        }
        // Batches apply in order: puts after deletes, so a put wins over a delete of the same record.
        ops.push(...deletes, ...puts);
        const head: GroupHead = {
          version,
          epoch: w.head.epoch,
          // Never move backwards past a touch(): the sweep relies on it.
          lastUsedDay: Math.max(old?.lastUsedDay ?? 0, w.head.lastUsedDay),
        };
        ops.push({ type: "put", key: headKeyOf(sk), value: encodeHead(head) });
        await this.#db.batch(ops, SYNC_BATCH);
        return { ...head };
      });
    });
  }

  deleteGroup(groupId: Uint8Array, expectedVersion: number): Promise<void> {
    return this.#op(async () => {
      const sk = groupStorageKey(groupId);
      checkU32(expectedVersion, "expectedVersion");
      await this.#mutex.run(toHex(sk), async () => {
        const old = await this.#readHead(sk);
        if (old === undefined) throw new GroupNotFoundError();
        if (old.version !== expectedVersion) throw new VersionConflictError();
        await this.#deleteAll(sk);
      });
    });
  }

  /** Removes head and every record of one storage key in one durable batch (caller holds the lock). */
  async #deleteAll(sk: Bytes): Promise<void> {
    const lo = recordKeyOf(sk, new Uint8Array(0));
    const ops: Op[] = (await this.#keysIn(lo, cat(lo, FF))).map((key) => ({ type: "del", key }));
    ops.push({ type: "del", key: headKeyOf(sk) });
    await this.#db.batch(ops, SYNC_BATCH);
  }

  touch(groupId: Uint8Array, day: number): Promise<void> {
    return this.#op(async () => {
      const sk = groupStorageKey(groupId);
      checkDay(day);
      await this.#mutex.run(toHex(sk), async () => {
        const old = await this.#readHead(sk);
        if (old === undefined || old.lastUsedDay >= day) return;
        // Not sync: losing a day bump on a crash only delays expiry by a day.
        await this.#db.put(headKeyOf(sk), encodeHead({ ...old, lastUsedDay: day }));
      });
    });
  }

  reserveGroupId(groupId: Uint8Array, ttlMs: number): Promise<boolean> {
    return this.#op(async () => {
      const sk = groupStorageKey(groupId);
      checkTtlMs(ttlMs);
      return this.#mutex.run(toHex(sk), async () => {
        if ((await this.#db.get(headKeyOf(sk))) !== undefined) return false;
        const r = await this.#db.get(reservationKeyOf(sk));
        const now = Date.now();
        if (r !== undefined && decodeExpiry(r) > now) return false;
        await this.#db.put(reservationKeyOf(sk), encodeExpiry(now + ttlMs), SYNC_PUT);
        return true;
      });
    });
  }

  consumeReservation(groupId: Uint8Array): Promise<boolean> {
    return this.#op(async () => {
      const sk = groupStorageKey(groupId);
      return this.#mutex.run(toHex(sk), async () => {
        const r = await this.#db.get(reservationKeyOf(sk));
        if (r === undefined) return false;
        const live = decodeExpiry(r) > Date.now();
        await this.#db.del(reservationKeyOf(sk), SYNC_DEL);
        return live;
      });
    });
  }

  sweepExpired(todayDay: number, ttlDays: number): Promise<number> {
    return this.#op(async () => {
      checkDay(todayDay);
      checkU32(ttlDays, "ttlDays");
      const cutoff = todayDay - ttlDays; // expired: last used before this day
      const expired: Bytes[] = [];
      const lo = Uint8Array.of(HEAD);
      for await (const [k, v] of this.#db.iterator({ gte: lo, lte: cat(lo, FF) })) {
        if (k.length !== 1 + STORAGE_KEY_LEN) continue;
        let head: GroupHead;
        try {
          head = decodeHead(v);
        } catch (e) {
          if (e instanceof CorruptRecordError) continue; // never let one bad head stop the sweep
          throw e;
        }
        if (head.lastUsedDay < cutoff) expired.push(k.slice(1));
      }
      let deleted = 0;
      for (const sk of expired) {
        await this.#mutex.run(toHex(sk), async () => {
          // Re-check under the lock: a write or touch may have revived it since the scan.
          const head = await this.#readHead(sk).catch(() => undefined);
          if (head === undefined || head.lastUsedDay >= cutoff) return;
          await this.#deleteAll(sk);
          deleted++;
        });
      }
      await this.#sweepReservations();
      return deleted;
    });
  }

  async #sweepReservations(): Promise<void> {
    const lo = Uint8Array.of(RESERVATION);
    const now = Date.now();
    const stale: Bytes[] = [];
    for await (const [k, v] of this.#db.iterator({ gte: lo, lte: cat(lo, FF) })) {
      if (v.length !== 8 || decodeExpiry(v) <= now) stale.push(k.slice(1));
    }
    for (const sk of stale) {
      await this.#mutex.run(toHex(sk), async () => {
        const r = await this.#db.get(reservationKeyOf(sk));
        if (r !== undefined && (r.length !== 8 || decodeExpiry(r) <= now)) await this.#db.del(reservationKeyOf(sk));
      });
    }
  }

  async close(): Promise<void> {
    if (!(await this.#ops.close())) return;
    if (this.#owned !== undefined) await this.#owned.close();
  }
}
