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
// under per-queue locks (a fanout joins all its queues' locks at once), and each write is ONE
// atomic batch with { sync: true }, so it is on disk before the promise resolves. Batches go to
// the top database as chained batches with keys prefixed here (abstract-level's array batch
// through a sublevel costs several times more per record). Queue heads are cached in memory,
// decoded (LevelQueueStoreOptions), shared by every store over the same sublevel and updated
// only after the write that changed them is durable.
//
// Enqueue cost: a fanout to N queues writes N message records, N head records and one dedup
// record in one batch, and does the per-recipient work in one synchronous pass: no await per
// recipient (locks are joined at once, heads come from the cache or one getMany), keys and head
// values are encoded into scratch arrays that the batch copies at once, the dedup record is
// written as it is built, and its entries are looked up only when a retry or a queue named
// twice can make one match.
//
// Forward secrecy: a head write replaces the chain key, but LevelDB keeps superseded values in
// its write-ahead log and older tables until compaction. purgeSuperseded() compacts the store's
// range, after which no earlier chain key remains in the live files; schedule it to bound how
// long a stolen disk could still hold old chain keys.
import { openBinaryLevel, storeErrorOf, StoreOperations, type AnyLevel, type BinaryLevel } from "../store/level.js";
import { Level, type BatchOptions } from "level";
import { CorruptRecordError, StoreInputError } from "../store/errors.js";
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
  checkMessageId,
  dedupKeyInto,
  dedupKeyPrefix,
  fanoutId,
  encodeHead,
  encodeHeadInto,
  HEAD_LEN,
  type HeadState,
  publicHead,
  queueStorageKey,
  queueStorageKeyInto,
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
type Db = BinaryLevel;
type Op = { type: "put"; key: Bytes; value: Bytes } | { type: "del"; key: Bytes };
/** a chained batch on the top database, taking keys already prefixed */
interface Batch {
  put(key: Bytes, value: Bytes): void;
  del(key: Bytes): void;
  write(options: BatchOptions<Bytes, Bytes>): Promise<void>;
  close(): Promise<void>;
}
const EMPTY = new Uint8Array(0);

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

/** A message's dedup record: dk prefix (hex) -> seq, in insertion order. */
function decodeFanoutRecord(v: Bytes): Map<string, bigint> {
  if (v.length < 1 || v[0] !== FANOUT_RECORD_FORMAT || (v.length - 1) % ENTRY_LEN !== 0) throw new CorruptRecordError("dedup record");
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  const out = new Map<string, bigint>();
  for (let o = 1; o < v.length; o += ENTRY_LEN) out.set(toHex(v.subarray(o, o + DK_PREFIX)), dv.getBigUint64(o + DK_PREFIX));
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
const headTables = new WeakMap<object, Map<string, LruCache<string, HeadState>>>();
function sharedHeads(db: object, prefix: string, capacity: number): LruCache<string, HeadState> {
  let byPrefix = headTables.get(db);
  if (byPrefix === undefined) headTables.set(db, (byPrefix = new Map()));
  let c = byPrefix.get(prefix);
  if (c === undefined) byPrefix.set(prefix, (c = new LruCache<string, HeadState>(capacity)));
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
  return storeErrorOf(e);
}

/** One recipient queue of an enqueue call, as the call moves it forward. */
interface QueueWork {
  readonly hex: string;
  /** its storage key: sks[skAt..skAt+32) */
  readonly sks: Bytes;
  readonly skAt: number;
  /** the cached or read head; undefined: no such queue */
  head: HeadState | undefined;
  /** the chain key for the next message: the head's own until the first seal, then one owned here */
  chainKey: Bytes;
  /** chainKey is a successor made by this call (zeroed once superseded), not the head's */
  owned: boolean;
  nextSeq: bigint;
  changed: boolean;
}

/** One distinct message id of an enqueue call and its dedup record. */
interface MessageWork {
  readonly hex: string;
  /** dedupKeyPrefix(message id) */
  readonly dedup: Bytes;
  readonly recordKey: Bytes;
  /** the record being built: earlier entries (a retry), then this call's, ENTRY_LEN each */
  readonly record: Bytes;
  readonly recordView: DataView;
  recordLen: number;
  /** dk prefix (hex) -> seq, kept only when an entry could match (a stored record, a queue named twice) */
  seen: Map<string, bigint> | undefined;
  changed: boolean;
}

export class LevelQueueStore implements QueueStore {
  readonly #db: Db;
  readonly #root: AnyLevel;
  /** the database at the top of the sublevel chain: batches go straight to it */
  readonly #top: AnyLevel;
  readonly #topIsView: boolean;
  /** the sublevel's key prefix in the top database */
  readonly #prefix: Bytes;
  readonly #locks: KeyLocks;
  readonly #heads: LruCache<string, HeadState>;
  readonly #owned: boolean;
  readonly #ops = new StoreOperations(mapError);
  /**
   * An idle, never written batch: a live instance that keeps the batch's hidden classes across
   * full GCs (QueueChain.ts explains why), so the put path stays optimized. Remade every so
   * many enqueues, so that it has the classes that current batches have.
   */
  #classAnchor: Batch | undefined;
  #enqueuesSinceAnchor = 0;

  private constructor(root: AnyLevel, prefix: string, owned: boolean, opts: LevelQueueStoreOptions = {}) {
    if (typeof prefix !== "string" || !/^[a-z0-9_-]{1,32}$/.test(prefix)) throw new StoreInputError("sublevel prefix must be 1..32 of [a-z0-9_-]");
    this.#root = root;
    this.#db = root.sublevel<Bytes, Bytes>(prefix, { keyEncoding: "view", valueEncoding: "view" }) as unknown as Db;
    this.#top = (this.#db as unknown as { db: AnyLevel }).db;
    this.#prefix = Uint8Array.from(this.#db.prefixKey(new Uint8Array(0), "view"));
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

  #op<T>(fn: () => Promise<T>): Promise<T> {
    return this.#ops.run(fn);
  }

  async #head(sk: Bytes, cache: boolean): Promise<HeadState | undefined> {
    return (await this.#headsOf([toHex(sk)], [sk], cache))[0];
  }

  /**
   * Heads from the cache, or one read for the rest. They are the cache's own objects: callers
   * never mutate them (publicHead and the enqueue copy what they hand out or change). Only a
   * caller holding the queues' locks may `cache` what it read: an unlocked read can finish
   * after a write that it predates, and a stale head in the cache would hand out a sequence
   * number and chain key a second time.
   */
  async #headsOf(hexes: readonly string[], sks: readonly Bytes[], cache: boolean): Promise<(HeadState | undefined)[]> {
    const out: (HeadState | undefined)[] = hexes.map((h) => this.#heads.get(h));
    const miss: number[] = [];
    out.forEach((v, i) => v === undefined && miss.push(i));
    if (miss.length === 0) return out;
    const vals = await this.#db.getMany(miss.map((i) => headKeyOf(sks[i]!)));
    miss.forEach((i, j) => {
      const v = vals[j];
      if (v === undefined) return;
      const h = decodeHead(v);
      v.fill(0); // the read's copy of the chain key: the decoded head holds its own
      out[i] = h;
      if (cache) this.#heads.set(hexes[i]!, h);
    });
    return out;
  }

  /**
   * After a durable write: the cache takes the new head (zeroing the superseded chain key unless
   * the new head shares it) or forgets a deleted queue. `head` is owned by the cache from now on.
   */
  #cacheHead(hex: string, head: HeadState | undefined): void {
    const old = this.#heads.peek(hex);
    if (head === undefined) this.#heads.delete(hex);
    else this.#heads.set(hex, head);
    if (old !== undefined && old.chainKey !== head?.chainKey) old.chainKey.fill(0);
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

  /** A chained batch on the top database; keys given to it are already prefixed (#full*). */
  #batch(): Batch {
    const b = this.#top.batch();
    if (this.#topIsView) return { put: (k, v) => void b.put(k, v), del: (k) => void b.del(k), write: (o) => b.write(o), close: () => b.close() };
    return { put: (k, v) => void b.put(k, v, VIEW), del: (k) => void b.del(k, VIEW), write: (o) => b.write(o), close: () => b.close() };
  }

  /**
   * Whether a batch copies what put() is given before it returns, so scratch arrays may be
   * reused: classic-level's native batch does (leveldb::WriteBatch::Put copies), unless a
   * 'write' listener or prewrite hook on the top database keeps the operations. Any other
   * implementation (memory-level keeps references) gets arrays of its own for every put.
   */
  #putCopies(): boolean {
    const top = this.#top as unknown as { listenerCount?: (e: string) => number; hooks?: { prewrite?: { noop?: boolean } } };
    return this.#top instanceof Level && top.listenerCount?.("write") === 0 && top.hooks?.prewrite?.noop === true;
  }

  /**
   * Writes `ops` as ONE atomic LevelDB write batch. A chained batch on the top database with
   * keys prefixed once here is several times cheaper per record than an array batch through
   * the sublevel (which re-encodes and re-prefixes every operation), and a fanout writes
   * thousands of records at once. Same atomicity and durability: one WriteBatch, fsync'd
   * before it resolves when `sync`.
   */
  async #write(ops: readonly Op[], options: BatchOptions<Bytes, Bytes>): Promise<void> {
    const b = this.#batch();
    for (const op of ops) {
      const key = this.#db.prefixKey(op.key, "view");
      if (op.type === "put") b.put(key, op.value);
      else b.del(key);
    }
    await b.write(options);
  }

  createQueue(queueId: Uint8Array, ownerKey: Uint8Array, chainKey: Uint8Array): Promise<void> {
    return this.#op(async () => {
      const sk = queueStorageKey(queueId);
      checkCreate(ownerKey, chainKey);
      await this.#locks.run([toHex(sk)], async () => {
        const hex = toHex(sk);
        if ((await this.#headsOf([hex], [sk], true))[0] !== undefined) throw new QueueExistsError();
        const head: HeadState = { ownerKey: Uint8Array.from(ownerKey), chainKey: Uint8Array.from(chainKey), nextSeq: 0n, firstSeq: 0n };
        const value = encodeHead(head);
        try {
          await this.#guarded([hex], () => this.#write([{ type: "put", key: headKeyOf(sk), value }], SYNC));
        } finally {
          value.fill(0);
        }
        this.#cacheHead(hex, head);
      });
    });
  }

  getHead(queueId: Uint8Array): Promise<QueueHead | undefined> {
    return this.#op(async () => {
      const h = await this.#head(queueStorageKey(queueId), false);
      return h === undefined ? undefined : publicHead(h);
    });
  }

  enqueue(entries: readonly EnqueueEntry[], seal: MessageSealer, opts: EnqueueOptions): Promise<EnqueueOutcome[]> {
    return this.#op(async () => {
      const now = checkEnqueueOptions(opts);
      if (!Array.isArray(entries)) throw new StoreInputError("entries must be an array");
      const n = entries.length;
      if (n === 0) return [];
      // Everything about the arguments is checked before any lock or read.
      // every storage key in one array, and its hex (the lock and cache key) read off it; the
      // array has room after them for the keys and head value that the enqueue writes
      const sks = new Uint8Array(n * STORAGE_KEY_LEN + this.#scratchLen);
      const skText = Buffer.from(sks.buffer, sks.byteOffset, n * STORAGE_KEY_LEN);
      const hexes = new Array<string>(n);
      /** index into `messages` per entry */
      const msgOf = new Array<number>(n);
      const messages: { hex: string; id: Bytes; count: number }[] = [];
      const msgIndex = new Map<string, number>();
      let lastId: Bytes | undefined;
      let last = -1;
      for (let i = 0; i < n; i++) {
        const e = entries[i];
        if (e === null || typeof e !== "object") throw new StoreInputError("invalid enqueue entry");
        const at = i * STORAGE_KEY_LEN;
        queueStorageKeyInto(e.queueId, sks, at);
        hexes[i] = skText.toString("hex", at, at + STORAGE_KEY_LEN);
        // a fanout names one message id for every entry: hashed and looked up once
        if (e.messageId !== lastId) {
          checkMessageId(e.messageId);
          const hex = toHex(e.messageId);
          let j = msgIndex.get(hex);
          if (j === undefined) {
            msgIndex.set(hex, (j = messages.length));
            messages.push({ hex, id: e.messageId, count: 0 });
          }
          lastId = e.messageId;
          last = j;
        }
        msgOf[i] = last;
        messages[last]!.count++;
      }
      // queue locks, plus one per message: two calls for one message (a DS splits a large
      // group into several requests with one message id) must not overwrite each other's record
      const lockKeys = hexes.slice();
      for (const m of messages) lockKeys.push(`message:${m.hex}`);
      return this.#locks.run(lockKeys, () => this.#enqueueLocked(entries, seal, opts, now, sks, hexes, msgOf, messages));
    });
  }

  async #enqueueLocked(
    entries: readonly EnqueueEntry[],
    seal: MessageSealer,
    opts: EnqueueOptions,
    now: number,
    sks: Bytes,
    hexes: string[],
    msgOf: number[],
    msgs: { hex: string; id: Bytes; count: number }[],
  ): Promise<EnqueueOutcome[]> {
    const n = entries.length;
    // the queues: one QueueWork each, heads from the cache, one read for the misses
    const queues = new Map<string, QueueWork>();
    const workOf = new Array<QueueWork>(n);
    const missing: QueueWork[] = [];
    let repeated = false;
    for (let i = 0; i < n; i++) {
      const hex = hexes[i]!;
      let w = queues.get(hex);
      if (w === undefined) {
        const head = this.#heads.peek(hex); // made most recent when its successor is cached
        w = { hex, sks, skAt: i * STORAGE_KEY_LEN, head, chainKey: EMPTY, owned: false, nextSeq: 0n, changed: false };
        queues.set(hex, w);
        if (head === undefined) missing.push(w);
      } else repeated = true;
      workOf[i] = w;
    }
    if (missing.length > 0) {
      const found = await this.#headsOf(
        missing.map((w) => w.hex),
        missing.map((w) => w.sks.subarray(w.skAt, w.skAt + STORAGE_KEY_LEN)),
        true,
      );
      missing.forEach((w, j) => (w.head = found[j]));
    }
    // The sealer gets the head's own chain key for the queue's first message (it only reads
    // it); the head, cached or not, is replaced only after the write.
    for (const w of queues.values()) {
      if (w.head === undefined) continue;
      w.chainKey = w.head.chainKey;
      w.nextSeq = w.head.nextSeq;
    }
    /** the chain keys this call made and no head took (best effort: keys leave memory) */
    const wipeOwned = () => {
      for (const w of queues.values()) if (w.owned) w.chainKey.fill(0);
    };
    // the dedup records: one per message, read in one getMany. Records expiring at or before
    // now count as absent, and none is written then.
    const live = opts.dedupExpiresAtMs > now;
    const recordKeys = msgs.map((m) => this.#fullFanoutKey(opts.dedupExpiresAtMs, fanoutId(m.id)));
    const stored: (Bytes | undefined)[] = live ? await this.#db.getMany(msgs.map((_, j) => recordKeys[j]!.subarray(this.#prefix.length))) : [];
    const works: MessageWork[] = msgs.map((m, j) => {
      const prior = stored[j];
      const priorLen = prior === undefined ? 1 : prior.length;
      const record = new Uint8Array(priorLen + m.count * ENTRY_LEN);
      if (prior === undefined) record[0] = FANOUT_RECORD_FORMAT;
      else record.set(prior);
      // only a stored record or a queue named twice can make an entry a duplicate
      const seen = prior !== undefined ? decodeFanoutRecord(prior) : repeated ? new Map<string, bigint>() : undefined;
      const recordView = new DataView(record.buffer, record.byteOffset, record.byteLength);
      return { hex: m.hex, dedup: dedupKeyPrefix(m.id), recordKey: recordKeys[j]!, record, recordView, recordLen: priorLen, seen, changed: false };
    });

    // One synchronous pass: check, seal and put each entry. The batch is written only if the
    // whole pass succeeds; a throwing sealer leaves nothing behind.
    const maxLength = BigInt(opts.maxQueueLength);
    const copies = this.#putCopies();
    if (this.#classAnchor === undefined || ++this.#enqueuesSinceAnchor > 64) {
      const old = this.#classAnchor;
      this.#classAnchor = this.#batch();
      this.#enqueuesSinceAnchor = 0;
      void old?.close().catch(() => {});
    }
    const b = this.#batch();
    // scratch keys and head value after the storage keys (the batch copies what it is given);
    // a storage key is copied into them with copyWithin, inside the one array
    const pl = this.#prefix.length;
    const msgAt = n * STORAGE_KEY_LEN;
    const msgKey = sks.subarray(msgAt, msgAt + pl + 1 + STORAGE_KEY_LEN + 8);
    const headAt = msgAt + msgKey.length;
    const headKey = sks.subarray(headAt, headAt + pl + 1 + STORAGE_KEY_LEN);
    const valueAt = headAt + headKey.length;
    const headValue = sks.subarray(valueAt, valueAt + HEAD_LEN);
    msgKey.set(this.#prefix);
    msgKey[pl] = MSG;
    headKey.set(this.#prefix);
    headKey[pl] = HEAD;
    const view = new DataView(sks.buffer, sks.byteOffset, sks.byteLength);
    const seqAt = msgAt + pl + 1 + STORAGE_KEY_LEN;
    const out = new Array<EnqueueOutcome>(n);
    let written = 0;
    try {
      for (let i = 0; i < n; i++) {
        const w = workOf[i]!;
        const head = w.head;
        if (head === undefined) {
          out[i] = { status: "unknown_queue" };
          continue;
        }
        // this entry's dedup entry, written in place at the end of its record
        const m = works[msgOf[i]!]!;
        const at = m.recordLen;
        dedupKeyInto(m.dedup, w.sks, w.skAt, m.record, at, DK_PREFIX);
        let dk: string | undefined;
        if (m.seen !== undefined) {
          dk = toHex(m.record.subarray(at, at + DK_PREFIX));
          const seen = m.seen.get(dk);
          if (seen !== undefined) {
            out[i] = { status: "duplicate", seq: seen };
            continue;
          }
        }
        const seq = w.nextSeq;
        if (seq - head.firstSeq >= maxLength) {
          out[i] = { status: "queue_full" };
          continue;
        }
        let sealed: ReturnType<MessageSealer>;
        try {
          sealed = seal(i, entries[i]!.queueId, seq, w.chainKey);
        } catch (e) {
          throw new SealerFailure(e);
        }
        const { ciphertext, nextChainKey } = sealed;
        checkNextChainKey(nextChainKey);
        if (!(ciphertext instanceof Uint8Array)) throw new StoreInputError("sealer returned an invalid ciphertext");
        sks.copyWithin(msgAt + pl + 1, w.skAt, w.skAt + STORAGE_KEY_LEN);
        view.setBigUint64(seqAt, seq);
        b.put(copies ? msgKey : msgKey.slice(), ciphertext);
        written++;
        m.recordView.setBigUint64(at + DK_PREFIX, seq);
        m.recordLen = at + ENTRY_LEN;
        m.changed = true;
        if (dk !== undefined) m.seen!.set(dk, seq);
        if (w.owned && nextChainKey !== w.chainKey) w.chainKey.fill(0); // best effort: a superseded successor leaves memory too
        w.chainKey = nextChainKey;
        w.owned = true;
        w.nextSeq = seq + 1n;
        w.changed = true;
        out[i] = { status: "enqueued", seq };
      }
      if (written === 0) {
        await b.close();
        return out;
      }
      if (live) for (const m of works) if (m.changed) b.put(m.recordKey, m.record.subarray(0, m.recordLen));
      for (const w of queues.values()) {
        if (!w.changed) continue;
        sks.copyWithin(headAt + pl + 1, w.skAt, w.skAt + STORAGE_KEY_LEN);
        encodeHeadInto(headValue, view, valueAt, w.head!.ownerKey, w.chainKey, w.nextSeq, w.head!.firstSeq);
        b.put(copies ? headKey : headKey.slice(), copies ? headValue : headValue.slice());
      }
      headValue.fill(0);
    } catch (e) {
      wipeOwned();
      await b.close();
      throw e;
    }
    try {
      await this.#guarded(queues.keys(), () => b.write(SYNC));
    } catch (e) {
      wipeOwned();
      throw e;
    }
    // durable: each changed queue's successor head replaces the old one (whose chain key the
    // cache zeroes) and becomes the most recent
    for (const w of queues.values()) {
      if (!w.changed) continue;
      const old = w.head!;
      this.#cacheHead(w.hex, { ownerKey: old.ownerKey, chainKey: w.chainKey, nextSeq: w.nextSeq, firstSeq: old.firstSeq });
      if (old.chainKey !== w.chainKey) old.chainKey.fill(0); // also when the cache had let it go
    }
    return out;
  }

  /** room for a message key, a head key and a head value (see #enqueueLocked) */
  get #scratchLen(): number {
    return 2 * (this.#prefix.length + 1 + STORAGE_KEY_LEN) + 8 + HEAD_LEN;
  }

  /** prefix || kind || zeros(len - 1): a key in the top database, filled in by the caller. */
  #scratchKey(kind: number, len: number): Bytes {
    const k = new Uint8Array(this.#prefix.length + len);
    k.set(this.#prefix);
    k[this.#prefix.length] = kind;
    return k;
  }

  #fullFanoutKey(expires: number, fid: Bytes): Bytes {
    const k = this.#scratchKey(FANOUT, 1 + 8 + fid.length);
    const o = this.#prefix.length + 1;
    new DataView(k.buffer).setBigUint64(o, BigInt(expires));
    k.set(fid, o + 8);
    return k;
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
        const head = await this.#head(sk, true);
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
        try {
          await this.#guarded([hex], () => this.#write(ops, SYNC));
        } finally {
          value.fill(0);
        }
        this.#cacheHead(hex, next);
        return publicHead(next);
      });
    });
  }

  deleteQueue(queueId: Uint8Array): Promise<boolean> {
    return this.#op(async () => {
      const sk = queueStorageKey(queueId);
      return this.#locks.run([toHex(sk)], async () => {
        const hex = toHex(sk);
        if ((await this.#headsOf([hex], [sk], true))[0] === undefined) return false;
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
    if (!(await this.#ops.close())) return;
    await this.#classAnchor?.close().catch(() => {});
    if (this.#owned) await this.#root.close();
  }
}
