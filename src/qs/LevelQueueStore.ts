// QueueStore on the embedded `level` (LevelDB) database.
//
// Key layout (binary keys and values, inside a sublevel `!<prefix>!`, default prefix "queue"):
//   'q' || sk(32)                 -> head (queueStoreCodec.ts): owner key, chain key, next/first seq
//   'm' || sk(32) || seq u64      -> message ciphertext (AES-256-GCM, QueueChain.ts)
//   'f' || expires u64 || fid(32) -> dedup record of one message: 1 || { dk[0..16] || seq u64 }*
// sk = hashed queue id, dk = hashed (message id, sk), fid = hashed message id: no queue id or
// message id appears at rest, and a record's entries name no queue without the message id.
// One dedup record per message (not per recipient): a fanout writes two records per recipient
// (message, head) plus one; the record is keyed by its expiry, so it is its own expiry index (a
// sweep reads only what expired). The caller passes the same expiry for every retry of one
// request (the QS derives it from the hub timestamp), so a retry finds the record in one read.
// A record groups the recipients of one message, as equal expiry times of per-recipient entries
// would; without the message id, which is never stored here, it maps to no queue.
//
// Concurrency and durability: one process holds the LevelDB lock; every read-check-write runs
// under per-queue locks (a fanout takes all its queues, in sorted order), and each write is ONE
// atomic batch with { sync: true }, so it is on disk before the promise resolves. Batches go to
// the top database as chained batches with keys prefixed here (abstract-level's array batch
// through a sublevel costs several times more per record). Queue heads are cached in memory
// (LevelQueueStoreOptions), shared by every store over the same sublevel and updated only after
// the write that changed them is durable.
//
// Forward secrecy: a head write replaces the chain key, but LevelDB keeps superseded values in
// its write-ahead log and older tables until compaction. purgeSuperseded() compacts the store's
// range, after which no earlier chain key remains in the live files; schedule it to bound how
// long a stolen disk could still hold old chain keys.
import { openBinaryLevel } from "../store/level.js";
import type { BatchOptions } from "level";
import type { AbstractLevel } from "abstract-level";
import { CorruptRecordError, StoreClosedError, StoreError, StoreInputError, StoreIoError } from "../store/errors.js";
import { KeyLocks } from "./KeyLocks.js";
import { LruCache } from "./LruCache.js";
import {
  cat,
  checkCreate,
  checkEnqueueOptions,
  checkFetchArgs,
  checkNextChainKey,
  checkSeq,
  decodeHead,
  dedupKey,
  fanoutId,
  encodeHead,
  type HeadState,
  publicHead,
  queueStorageKey,
  STORAGE_KEY_LEN,
  toHex,
  u64be,
} from "./queueStoreCodec.js";
import {
  type EnqueueEntry,
  type EnqueueOptions,
  type EnqueueOutcome,
  type FetchResult,
  type MessageSealer,
  QueueExistsError,
  type QueueHead,
  type QueueStore,
  type StoredMessage,
} from "./QueueStore.js";

type Bytes = Uint8Array;
type Db = AbstractLevel<any, Bytes, Bytes>;
type AnyLevel = AbstractLevel<any, any, any>;
type Op = { type: "put"; key: Bytes; value: Bytes } | { type: "del"; key: Bytes };

const HEAD = 0x71; // 'q'
const MSG = 0x6d; // 'm'
const FANOUT = 0x66; // 'f'
const FANOUT_RECORD_FORMAT = 1;
/** bytes of dk kept per entry: collisions inside one message's record are out of reach */
const DK_PREFIX = 16;
const ENTRY_LEN = DK_PREFIX + 8;
const SYNC: BatchOptions<Bytes, Bytes> = { sync: true };
const NO_SYNC: BatchOptions<Bytes, Bytes> = {};
const VIEW = { keyEncoding: "view", valueEncoding: "view" } as const;
const FF8 = new Uint8Array(8).fill(0xff);

function headKeyOf(sk: Bytes): Bytes {
  const k = new Uint8Array(1 + sk.length);
  k[0] = HEAD;
  k.set(sk, 1);
  return k;
}
function msgKeyOf(sk: Bytes, seq: bigint): Bytes {
  const k = new Uint8Array(1 + sk.length + 8);
  k[0] = MSG;
  k.set(sk, 1);
  new DataView(k.buffer).setBigUint64(1 + sk.length, seq);
  return k;
}
function fanoutKeyOf(expires: number, fid: Bytes): Bytes {
  const k = new Uint8Array(1 + 8 + fid.length);
  k[0] = FANOUT;
  new DataView(k.buffer).setBigUint64(1, BigInt(expires));
  k.set(fid, 9);
  return k;
}

/** A message's dedup record: dk prefix (hex) -> seq, in insertion order. */
function decodeFanoutRecord(v: Bytes): Map<string, bigint> {
  if (v.length < 1 || v[0] !== FANOUT_RECORD_FORMAT || (v.length - 1) % ENTRY_LEN !== 0) throw new CorruptRecordError("dedup record");
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  const out = new Map<string, bigint>();
  for (let o = 1; o < v.length; o += ENTRY_LEN) out.set(toHex(v.subarray(o, o + DK_PREFIX)), dv.getBigUint64(o + DK_PREFIX));
  return out;
}

function encodeFanoutRecord(entries: Map<string, bigint>): Bytes {
  const out = new Uint8Array(1 + entries.size * ENTRY_LEN);
  const dv = new DataView(out.buffer);
  out[0] = FANOUT_RECORD_FORMAT;
  let o = 1;
  for (const [dk, seq] of entries) {
    out.set(Buffer.from(dk, "hex"), o);
    dv.setBigUint64(o + DK_PREFIX, seq);
    o += ENTRY_LEN;
  }
  return out;
}

/** Key (inside the store's sublevel) of a queue's head. For tooling and tests. */
export function levelQueueHeadKey(queueId: Uint8Array): Uint8Array {
  return headKeyOf(queueStorageKey(queueId));
}
/** Key (inside the store's sublevel) of one message. */
export function levelQueueMessageKey(queueId: Uint8Array, seq: bigint): Uint8Array {
  return msgKeyOf(queueStorageKey(queueId), seq);
}
/** The chain key in a raw head value (what a thief of the store would read). For tests. */
export function chainKeyOfRawHead(v: Uint8Array): Uint8Array {
  return decodeHead(v).chainKey;
}


// One lock table per (database, prefix): two stores over the same sublevel share it.
const lockTables = new WeakMap<object, Map<string, KeyLocks>>();
function sharedLocks(db: object, prefix: string): KeyLocks {
  let byPrefix = lockTables.get(db);
  if (byPrefix === undefined) lockTables.set(db, (byPrefix = new Map()));
  let l = byPrefix.get(prefix);
  if (l === undefined) byPrefix.set(prefix, (l = new KeyLocks()));
  return l;
}

// One head cache per (database, prefix) too: every store over a sublevel sees every write.
const headTables = new WeakMap<object, Map<string, LruCache<string, Bytes>>>();
function sharedHeads(db: object, prefix: string, capacity: number): LruCache<string, Bytes> {
  let byPrefix = headTables.get(db);
  if (byPrefix === undefined) headTables.set(db, (byPrefix = new Map()));
  let c = byPrefix.get(prefix);
  if (c === undefined) byPrefix.set(prefix, (c = new LruCache<string, Bytes>(capacity)));
  return c;
}

export interface LevelQueueStoreOptions {
  /**
   * queue heads kept in memory (default 16,384; 0: none). A fanout reads the head of every
   * recipient queue; busy queues' heads are then served without a read. The cache holds what
   * the store holds (the current chain key of each cached queue, never a superseded one: a
   * replaced entry is zeroed) and is written only after the batch that changed it is durable.
   */
  headCacheSize?: number;
}

/** Carries an exception of the caller's sealer through #op unchanged. */
class SealerFailure {
  constructor(readonly error: unknown) {}
}

function mapError(e: unknown): unknown {
  if (e instanceof SealerFailure) return e.error;
  if (e instanceof StoreError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  if (code === "LEVEL_DATABASE_NOT_OPEN" || code === "LEVEL_DATABASE_NOT_CLOSED") return new StoreClosedError({ cause: e });
  return new StoreIoError({ cause: e });
}

export class LevelQueueStore implements QueueStore {
  readonly #db: Db;
  readonly #root: AnyLevel;
  /** the database at the top of the sublevel chain: batches go straight to it */
  readonly #top: AnyLevel;
  readonly #topIsView: boolean;
  readonly #locks: KeyLocks;
  readonly #heads: LruCache<string, Bytes>;
  readonly #owned: boolean;
  readonly #inflight = new Set<Promise<unknown>>();
  #closed = false;

  private constructor(root: AnyLevel, prefix: string, owned: boolean, opts: LevelQueueStoreOptions = {}) {
    if (typeof prefix !== "string" || !/^[a-z0-9_-]{1,32}$/.test(prefix)) throw new StoreInputError("sublevel prefix must be 1..32 of [a-z0-9_-]");
    this.#root = root;
    this.#db = root.sublevel<Bytes, Bytes>(prefix, { keyEncoding: "view", valueEncoding: "view" }) as unknown as Db;
    this.#top = (this.#db as unknown as { db: AnyLevel }).db;
    // per-operation encoding options cost more than the write itself; skip them when the top
    // database already speaks Uint8Array
    this.#topIsView = this.#top.keyEncoding().name === "view" && this.#top.valueEncoding().name === "view";
    this.#locks = sharedLocks(root, prefix);
    this.#heads = sharedHeads(root, prefix, opts.headCacheSize ?? 16_384);
    this.#owned = owned;
  }

  /** Opens (creating if needed) a LevelDB directory used by this store alone (sublevel "queue"). */
  static async open(dir: string, prefix = "queue", opts: LevelQueueStoreOptions = {}): Promise<LevelQueueStore> {
    const root = await openBinaryLevel(dir);
    return new LevelQueueStore(root, prefix, true, opts);
  }

  /** A store inside a sublevel of an existing database (shared with other ports); close() leaves `db` open. */
  static fromDb(db: AnyLevel, prefix = "queue", opts: LevelQueueStoreOptions = {}): LevelQueueStore {
    return new LevelQueueStore(db, prefix, false, opts);
  }

  async #op<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreClosedError();
    const p = fn().catch((e: unknown) => {
      throw mapError(e);
    });
    this.#inflight.add(p);
    try {
      return await p;
    } finally {
      this.#inflight.delete(p);
    }
  }

  async #head(sk: Bytes): Promise<HeadState | undefined> {
    const [v] = await this.#headValues([toHex(sk)], [sk]);
    return v === undefined ? undefined : decodeHead(v);
  }

  /** Raw head values, from the cache or one read for the rest (decodeHead copies: callers never touch cached bytes). */
  async #headValues(hexes: readonly string[], sks: readonly Bytes[]): Promise<(Bytes | undefined)[]> {
    const out: (Bytes | undefined)[] = hexes.map((h) => this.#heads.get(h));
    const miss: number[] = [];
    out.forEach((v, i) => v === undefined && miss.push(i));
    if (miss.length === 0) return out;
    const vals = await this.#db.getMany(miss.map((i) => headKeyOf(sks[i]!)));
    miss.forEach((i, j) => {
      const v = vals[j];
      out[i] = v;
      if (v !== undefined) this.#heads.set(hexes[i]!, v); // a fresh array from the read, owned by the cache
    });
    return out;
  }

  /**
   * After a durable write: the cache takes the new head (zeroing the superseded one) or forgets a
   * deleted queue. `value` is the array just written, owned by the cache from now on (the batch
   * copied it when it was added).
   */
  #cacheHead(hex: string, value: Bytes | undefined): void {
    const old = this.#heads.get(hex);
    if (value === undefined) this.#heads.delete(hex);
    else this.#heads.set(hex, value);
    if (old !== value) old?.fill(0);
  }

  /** A write whose outcome is unknown: drop what the cache holds for these queues. */
  #forgetHeads(hexes: Iterable<string>): void {
    for (const h of hexes) this.#heads.delete(h);
  }

  async #guarded(hexes: Iterable<string>, write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (e) {
      this.#forgetHeads(hexes);
      throw e;
    }
  }

  /**
   * Writes `ops` as ONE atomic LevelDB write batch. A chained batch on the top database with
   * keys prefixed once here is several times cheaper per record than an array batch through
   * the sublevel (which re-encodes and re-prefixes every operation), and a fanout writes
   * thousands of records at once. Same atomicity and durability: one WriteBatch, fsync'd
   * before it resolves when `sync`.
   */
  async #write(ops: readonly Op[], options: BatchOptions<Bytes, Bytes>): Promise<void> {
    const b = this.#top.batch();
    for (const op of ops) {
      const key = this.#db.prefixKey(op.key, "view");
      if (this.#topIsView) {
        if (op.type === "put") b.put(key, op.value);
        else b.del(key);
      } else if (op.type === "put") b.put(key, op.value, VIEW);
      else b.del(key, VIEW);
    }
    await b.write(options);
  }

  createQueue(queueId: Uint8Array, ownerKey: Uint8Array, chainKey: Uint8Array): Promise<void> {
    return this.#op(async () => {
      const sk = queueStorageKey(queueId);
      checkCreate(ownerKey, chainKey);
      await this.#locks.run([toHex(sk)], async () => {
        const hex = toHex(sk);
        if ((await this.#headValues([hex], [sk]))[0] !== undefined) throw new QueueExistsError();
        const head = encodeHead({ ownerKey, chainKey, nextSeq: 0n, firstSeq: 0n });
        await this.#guarded([hex], () => this.#write([{ type: "put", key: headKeyOf(sk), value: head }], SYNC));
        this.#cacheHead(hex, head);
      });
    });
  }

  getHead(queueId: Uint8Array): Promise<QueueHead | undefined> {
    return this.#op(async () => {
      const h = await this.#head(queueStorageKey(queueId));
      return h === undefined ? undefined : publicHead(h);
    });
  }

  enqueue(entries: readonly EnqueueEntry[], seal: MessageSealer, opts: EnqueueOptions): Promise<EnqueueOutcome[]> {
    return this.#op(async () => {
      const now = checkEnqueueOptions(opts);
      if (!Array.isArray(entries)) throw new StoreInputError("entries must be an array");
      if (entries.length === 0) return [];
      const sks = entries.map((e) => queueStorageKey(e.queueId));
      const dks = entries.map((e, i) => toHex(dedupKey(e.messageId, sks[i]!).subarray(0, DK_PREFIX)));
      const hexes = sks.map(toHex);
      // one dedup record per distinct message id of the call (a fanout has one)
      const fidOf = new Map<string, Bytes>();
      const msgOfEntry = entries.map((e) => {
        const m = toHex(e.messageId);
        let f = fidOf.get(m);
        if (f === undefined) fidOf.set(m, (f = fanoutId(e.messageId)));
        return m;
      });
      const messages = [...fidOf.keys()];
      // queue locks, plus one per message: two calls for one message (a DS splits a large
      // group into several requests with one message id) must not overwrite each other's record
      return this.#locks.run([...hexes, ...messages.map((m) => `message:${m}`)], async () => {
        const distinct = [...new Set(hexes)];
        const skByHex = new Map(hexes.map((h, i) => [h, sks[i]!]));
        const headVals = await this.#headValues(distinct, distinct.map((h) => skByHex.get(h)!));
        // decoded copies, updated in place as entries are sealed
        const state = new Map<string, { -readonly [K in keyof HeadState]: HeadState[K] } & { changed: boolean }>();
        distinct.forEach((h, i) => {
          const v = headVals[i];
          if (v !== undefined) state.set(h, { ...decodeHead(v), changed: false });
        });
        // Records expiring at or before now count as absent, and none is written then.
        const live = opts.dedupExpiresAtMs > now;
        const recordKeys = messages.map((m) => fanoutKeyOf(opts.dedupExpiresAtMs, fidOf.get(m)!));
        const recordVals: (Bytes | undefined)[] = live ? await this.#db.getMany(recordKeys) : [];
        const records = new Map<string, Map<string, bigint>>();
        messages.forEach((m, j) => {
          const v = recordVals[j];
          records.set(m, v === undefined ? new Map() : decodeFanoutRecord(v));
        });
        const changedRecords = new Set<string>();
        const maxLength = BigInt(opts.maxQueueLength);
        const ops: Op[] = [];
        const out: EnqueueOutcome[] = [];
        for (let i = 0; i < entries.length; i++) {
          const st = state.get(hexes[i]!);
          if (st === undefined) {
            out.push({ status: "unknown_queue" });
            continue;
          }
          // earlier calls' entries and this call's own (a queue named twice) alike
          const record = records.get(msgOfEntry[i]!)!;
          const seen = record.get(dks[i]!);
          if (seen !== undefined) {
            out.push({ status: "duplicate", seq: seen });
            continue;
          }
          if (st.nextSeq - st.firstSeq >= maxLength) {
            out.push({ status: "queue_full" });
            continue;
          }
          const seq = st.nextSeq;
          let sealed: ReturnType<MessageSealer>;
          try {
            sealed = seal(i, entries[i]!.queueId, seq, st.chainKey);
          } catch (e) {
            throw new SealerFailure(e);
          }
          const { ciphertext, nextChainKey } = sealed;
          checkNextChainKey(nextChainKey);
          ops.push({ type: "put", key: msgKeyOf(sks[i]!, seq), value: ciphertext });
          record.set(dks[i]!, seq);
          changedRecords.add(msgOfEntry[i]!);
          st.chainKey.fill(0); // best effort: the superseded chain key leaves memory too
          st.chainKey = nextChainKey;
          st.nextSeq = seq + 1n;
          st.changed = true;
          out.push({ status: "enqueued", seq });
        }
        if (live) messages.forEach((m, j) => changedRecords.has(m) && ops.push({ type: "put", key: recordKeys[j]!, value: encodeFanoutRecord(records.get(m)!) }));
        const newHeads: [string, Bytes][] = [];
        for (const [h, st] of state) {
          if (!st.changed) continue;
          const value = encodeHead(st);
          ops.push({ type: "put", key: headKeyOf(skByHex.get(h)!), value });
          newHeads.push([h, value]);
        }
        if (ops.length > 0) await this.#guarded(distinct, () => this.#write(ops, SYNC));
        for (const [h, value] of newHeads) this.#cacheHead(h, value);
        return out;
      });
    });
  }

  fetch(queueId: Uint8Array, fromSeq: bigint, max: number, maxBytes: number): Promise<FetchResult | undefined> {
    return this.#op(async () => {
      const sk = queueStorageKey(queueId);
      checkFetchArgs(fromSeq, max, maxBytes);
      // Head and messages from one snapshot, so a concurrent ack or enqueue never shows half.
      const snapshot = this.#db.snapshot();
      try {
        const hv = await this.#db.get(headKeyOf(sk), { snapshot });
        if (hv === undefined) return undefined;
        const head = decodeHead(hv);
        const start = fromSeq > head.firstSeq ? fromSeq : head.firstSeq;
        const messages: StoredMessage[] = [];
        if (start < head.nextSeq) {
          let bytes = 0;
          const it = this.#db.iterator({ gte: msgKeyOf(sk, start), lt: msgKeyOf(sk, head.nextSeq), limit: max, snapshot });
          try {
            for await (const [k, v] of it) {
              const seq = new DataView(k.buffer, k.byteOffset + 1 + STORAGE_KEY_LEN, 8).getBigUint64(0);
              messages.push({ seq, ciphertext: v });
              bytes += v.length;
              if (bytes >= maxBytes) break;
            }
          } finally {
            await it.close();
          }
        }
        return { head: publicHead(head), messages };
      } finally {
        await snapshot.close();
      }
    });
  }

  ack(queueId: Uint8Array, upToSeq: bigint): Promise<QueueHead | undefined> {
    return this.#op(async () => {
      const sk = queueStorageKey(queueId);
      checkSeq(upToSeq, "upToSeq");
      return this.#locks.run([toHex(sk)], async () => {
        const head = await this.#head(sk);
        if (head === undefined) return undefined;
        // Clamp: acknowledging past the last message never touches messages not yet enqueued.
        const newFirst = upToSeq + 1n < head.nextSeq ? upToSeq + 1n : head.nextSeq;
        if (newFirst <= head.firstSeq) return publicHead(head);
        const ops: Op[] = [];
        for (let s = head.firstSeq; s < newFirst; s++) ops.push({ type: "del", key: msgKeyOf(sk, s) });
        const next: HeadState = { ...head, firstSeq: newFirst };
        const value = encodeHead(next);
        ops.push({ type: "put", key: headKeyOf(sk), value });
        const hex = toHex(sk);
        await this.#guarded([hex], () => this.#write(ops, SYNC));
        this.#cacheHead(hex, value);
        return publicHead(next);
      });
    });
  }

  deleteQueue(queueId: Uint8Array): Promise<boolean> {
    return this.#op(async () => {
      const sk = queueStorageKey(queueId);
      return this.#locks.run([toHex(sk)], async () => {
        const hex = toHex(sk);
        if ((await this.#headValues([hex], [sk]))[0] === undefined) return false;
        const ops: Op[] = [];
        const lo = cat(Uint8Array.of(MSG), sk);
        for await (const k of this.#db.keys({ gte: lo, lte: cat(lo, FF8) })) ops.push({ type: "del", key: k });
        ops.push({ type: "del", key: headKeyOf(sk) });
        await this.#guarded([hex], () => this.#write(ops, SYNC));
        this.#cacheHead(hex, undefined);
        return true;
      });
    });
  }

  sweepDedup(nowMs: number, limit = 10_000): Promise<number> {
    return this.#op(async () => {
      if (!Number.isSafeInteger(nowMs) || nowMs < 0) throw new StoreInputError("invalid nowMs");
      if (!Number.isInteger(limit) || limit < 1) throw new StoreInputError("invalid limit");
      const lo = Uint8Array.of(FANOUT);
      const hi = cat(lo, u64be(BigInt(nowMs)), new Uint8Array(32).fill(0xff));
      const expired: Op[] = [];
      let entries = 0;
      for await (const [k, v] of this.#db.iterator({ gte: lo, lte: hi, limit })) {
        expired.push({ type: "del", key: k });
        entries += v.length > 0 ? Math.floor((v.length - 1) / ENTRY_LEN) : 0;
      }
      // Not sync: a sweep lost in a crash is simply redone.
      if (expired.length > 0) await this.#write(expired, NO_SYNC);
      return entries;
    });
  }

  /**
   * Compacts this store's key range so superseded values (earlier chain keys, acknowledged
   * messages) leave LevelDB's log and tables. Needs the root database to be a classic-level.
   */
  purgeSuperseded(): Promise<void> {
    return this.#op(async () => {
      const root = this.#root as unknown as { compactRange?: (a: Bytes, b: Bytes, o: object) => Promise<void> };
      if (typeof root.compactRange !== "function") throw new StoreInputError("the database does not support compaction");
      // The sublevel's keys are "!<prefix>!" || key in the root; compact the whole root range
      // (cheap at this size, and correct whatever the prefix encoding).
      await root.compactRange(new Uint8Array(0), new Uint8Array(256).fill(0xff), { keyEncoding: "view" });
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled([...this.#inflight]);
    if (this.#owned) await this.#root.close();
  }
}
