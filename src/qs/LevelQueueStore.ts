// QueueStore on the embedded `level` (LevelDB) database.
//
// Key layout (binary keys and values, inside a sublevel `!<prefix>!`, default prefix "queue"):
//   'q' || sk(32)                 -> head (queueStoreCodec.ts): owner key, chain key, next/first seq
//   'm' || sk(32) || seq u64      -> message ciphertext (AES-256-GCM, QueueChain.ts)
//   'x' || dk(32)                 -> dedup entry: expires ms u64 || seq u64
//   'y' || expires u64 || dk(32)  -> (empty) expiry index, so a sweep reads only what expired
// sk = hashed queue id, dk = hashed (message id, sk): no queue id or message id appears at rest.
//
// Concurrency and durability: one process holds the LevelDB lock; every read-check-write runs
// under per-queue locks (a fanout takes all its queues, in sorted order), and each write is ONE
// atomic batch with { sync: true }, so it is on disk before the promise resolves.
//
// Forward secrecy: a head write replaces the chain key, but LevelDB keeps superseded values in
// its write-ahead log and older tables until compaction. purgeSuperseded() compacts the store's
// range, after which no earlier chain key remains in the live files; schedule it to bound how
// long a stolen disk could still hold old chain keys.
import { Level } from "level";
import type { BatchOptions } from "level";
import type { AbstractLevel } from "abstract-level";
import { CorruptRecordError, StoreClosedError, StoreError, StoreInputError, StoreIoError } from "../store/errors.js";
import { KeyLocks } from "./KeyLocks.js";
import {
  cat,
  checkCreate,
  checkEnqueueOptions,
  checkFetchArgs,
  checkNextChainKey,
  checkSeq,
  decodeHead,
  dedupKey,
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
const DEDUP = 0x78; // 'x'
const EXPIRY = 0x79; // 'y'
const SYNC: BatchOptions<Bytes, Bytes> = { sync: true };
const EMPTY = new Uint8Array(0);
const FF8 = new Uint8Array(8).fill(0xff);

const headKeyOf = (sk: Bytes) => cat(Uint8Array.of(HEAD), sk);
const msgKeyOf = (sk: Bytes, seq: bigint) => cat(Uint8Array.of(MSG), sk, u64be(seq));
const dedupKeyOf = (dk: Bytes) => cat(Uint8Array.of(DEDUP), dk);
const expiryKeyOf = (expires: number, dk: Bytes) => cat(Uint8Array.of(EXPIRY), u64be(BigInt(expires)), dk);

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

function encodeDedup(expires: number, seq: bigint): Bytes {
  return cat(u64be(BigInt(expires)), u64be(seq));
}
function decodeDedup(v: Bytes): { expires: number; seq: bigint } {
  if (v.length !== 16) throw new CorruptRecordError("dedup entry");
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  return { expires: Number(dv.getBigUint64(0)), seq: dv.getBigUint64(8) };
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
  readonly #locks: KeyLocks;
  readonly #owned: boolean;
  readonly #inflight = new Set<Promise<unknown>>();
  #closed = false;

  private constructor(root: AnyLevel, prefix: string, owned: boolean) {
    if (typeof prefix !== "string" || !/^[a-z0-9_-]{1,32}$/.test(prefix)) throw new StoreInputError("sublevel prefix must be 1..32 of [a-z0-9_-]");
    this.#root = root;
    this.#db = root.sublevel<Bytes, Bytes>(prefix, { keyEncoding: "view", valueEncoding: "view" }) as unknown as Db;
    this.#locks = sharedLocks(root, prefix);
    this.#owned = owned;
  }

  /** Opens (creating if needed) a LevelDB directory used by this store alone (sublevel "queue"). */
  static async open(dir: string, prefix = "queue"): Promise<LevelQueueStore> {
    const root = new Level<Bytes, Bytes>(dir, { keyEncoding: "view", valueEncoding: "view" });
    try {
      await root.open();
    } catch (e) {
      throw new StoreIoError({ cause: e });
    }
    return new LevelQueueStore(root, prefix, true);
  }

  /** A store inside a sublevel of an existing database (shared with other ports); close() leaves `db` open. */
  static fromDb(db: AnyLevel, prefix = "queue"): LevelQueueStore {
    return new LevelQueueStore(db, prefix, false);
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
    const v = await this.#db.get(headKeyOf(sk));
    return v === undefined ? undefined : decodeHead(v);
  }

  createQueue(queueId: Uint8Array, ownerKey: Uint8Array, chainKey: Uint8Array): Promise<void> {
    return this.#op(async () => {
      const sk = queueStorageKey(queueId);
      checkCreate(ownerKey, chainKey);
      await this.#locks.run([toHex(sk)], async () => {
        if ((await this.#db.get(headKeyOf(sk))) !== undefined) throw new QueueExistsError();
        const head = encodeHead({ ownerKey, chainKey, nextSeq: 0n, firstSeq: 0n });
        await this.#db.batch([{ type: "put", key: headKeyOf(sk), value: head }], SYNC);
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
      const dks = entries.map((e, i) => dedupKey(e.messageId, sks[i]!));
      const hexes = sks.map(toHex);
      return this.#locks.run(hexes, async () => {
        const distinct = [...new Set(hexes)];
        const skByHex = new Map(hexes.map((h, i) => [h, sks[i]!]));
        const headVals = await this.#db.getMany(distinct.map((h) => headKeyOf(skByHex.get(h)!)));
        const state = new Map<string, HeadState & { changed: boolean }>();
        distinct.forEach((h, i) => {
          const v = headVals[i];
          if (v !== undefined) state.set(h, { ...decodeHead(v), changed: false });
        });
        const dedupVals = await this.#db.getMany(dks.map(dedupKeyOf));
        const inBatch = new Map<string, bigint>();
        const ops: Op[] = [];
        const out: EnqueueOutcome[] = [];
        for (let i = 0; i < entries.length; i++) {
          const st = state.get(hexes[i]!);
          if (st === undefined) {
            out.push({ status: "unknown_queue" });
            continue;
          }
          const dkHex = toHex(dks[i]!);
          const seen = inBatch.get(dkHex);
          if (seen !== undefined) {
            out.push({ status: "duplicate", seq: seen });
            continue;
          }
          const dv = dedupVals[i];
          if (dv !== undefined) {
            const d = decodeDedup(dv);
            if (d.expires > now) {
              out.push({ status: "duplicate", seq: d.seq });
              continue;
            }
          }
          if (st.nextSeq - st.firstSeq >= BigInt(opts.maxQueueLength)) {
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
          ops.push({ type: "put", key: dedupKeyOf(dks[i]!), value: encodeDedup(opts.dedupExpiresAtMs, seq) });
          ops.push({ type: "put", key: expiryKeyOf(opts.dedupExpiresAtMs, dks[i]!), value: EMPTY });
          st.chainKey.fill(0); // best effort: the superseded chain key leaves memory too
          state.set(hexes[i]!, { ...st, chainKey: nextChainKey, nextSeq: seq + 1n, changed: true });
          inBatch.set(dkHex, seq);
          out.push({ status: "enqueued", seq });
        }
        for (const [h, st] of state) if (st.changed) ops.push({ type: "put", key: headKeyOf(skByHex.get(h)!), value: encodeHead(st) });
        if (ops.length > 0) await this.#db.batch(ops, SYNC);
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
        ops.push({ type: "put", key: headKeyOf(sk), value: encodeHead(next) });
        await this.#db.batch(ops, SYNC);
        return publicHead(next);
      });
    });
  }

  deleteQueue(queueId: Uint8Array): Promise<boolean> {
    return this.#op(async () => {
      const sk = queueStorageKey(queueId);
      return this.#locks.run([toHex(sk)], async () => {
        if ((await this.#db.get(headKeyOf(sk))) === undefined) return false;
        const ops: Op[] = [];
        const lo = cat(Uint8Array.of(MSG), sk);
        for await (const k of this.#db.keys({ gte: lo, lte: cat(lo, FF8) })) ops.push({ type: "del", key: k });
        ops.push({ type: "del", key: headKeyOf(sk) });
        await this.#db.batch(ops, SYNC);
        return true;
      });
    });
  }

  sweepDedup(nowMs: number, limit = 10_000): Promise<number> {
    return this.#op(async () => {
      if (!Number.isSafeInteger(nowMs) || nowMs < 0) throw new StoreInputError("invalid nowMs");
      if (!Number.isInteger(limit) || limit < 1) throw new StoreInputError("invalid limit");
      const lo = Uint8Array.of(EXPIRY);
      const hi = cat(lo, u64be(BigInt(nowMs)), new Uint8Array(32).fill(0xff));
      const expired: Bytes[] = [];
      for await (const k of this.#db.keys({ gte: lo, lte: hi, limit })) expired.push(k);
      if (expired.length === 0) return 0;
      const dkKeys = expired.map((k) => dedupKeyOf(k.subarray(9)));
      const vals = await this.#db.getMany(dkKeys);
      const ops: Op[] = [];
      expired.forEach((k, i) => {
        ops.push({ type: "del", key: k });
        const v = vals[i];
        const expires = Number(new DataView(k.buffer, k.byteOffset + 1, 8).getBigUint64(0));
        // Only the entry this index row was written for: a renewed entry has a later expiry.
        if (v !== undefined && (v.length !== 16 || decodeDedup(v).expires <= expires)) ops.push({ type: "del", key: dkKeys[i]! });
      });
      // Not sync: a sweep lost in a crash is simply redone.
      await this.#db.batch(ops);
      return expired.length;
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
