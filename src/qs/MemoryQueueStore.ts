// QueueStore in process memory, for unit tests and single-process demos. Same semantics as the
// level adapter (hashed keys, atomic multi-queue enqueue, dedup expiry); nothing is durable.
// Every operation's critical section is synchronous, so no locks are needed.
import { StoreClosedError, StoreInputError } from "../store/errors.js";
import {
  checkCreate,
  checkEnqueueOptions,
  checkFetchArgs,
  checkNextChainKey,
  checkSeq,
  dedupKey,
  type HeadState,
  publicHead,
  queueStorageKey,
  toHex,
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

interface MemQueue {
  head: HeadState;
  messages: Map<bigint, Uint8Array>;
}

export class MemoryQueueStore implements QueueStore {
  readonly #queues = new Map<string, MemQueue>();
  readonly #dedup = new Map<string, { expires: number; seq: bigint }>();
  #closed = false;

  #open(): void {
    if (this.#closed) throw new StoreClosedError();
  }

  async createQueue(queueId: Uint8Array, ownerKey: Uint8Array, chainKey: Uint8Array): Promise<void> {
    this.#open();
    const h = toHex(queueStorageKey(queueId));
    checkCreate(ownerKey, chainKey);
    if (this.#queues.has(h)) throw new QueueExistsError();
    this.#queues.set(h, { head: { ownerKey: Uint8Array.from(ownerKey), chainKey: Uint8Array.from(chainKey), nextSeq: 0n, firstSeq: 0n }, messages: new Map() });
  }

  async getHead(queueId: Uint8Array): Promise<QueueHead | undefined> {
    this.#open();
    const q = this.#queues.get(toHex(queueStorageKey(queueId)));
    return q === undefined ? undefined : publicHead(q.head);
  }

  async enqueue(entries: readonly EnqueueEntry[], seal: MessageSealer, opts: EnqueueOptions): Promise<EnqueueOutcome[]> {
    this.#open();
    const now = checkEnqueueOptions(opts);
    if (!Array.isArray(entries)) throw new StoreInputError("entries must be an array");
    const sks = entries.map((e) => queueStorageKey(e.queueId));
    const dks = entries.map((e, i) => toHex(dedupKey(e.messageId, sks[i]!)));
    // Work on copies and commit at the end, so a throwing sealer leaves nothing behind.
    const heads = new Map<string, HeadState>();
    const puts: { h: string; seq: bigint; ct: Uint8Array }[] = [];
    const dedupPuts = new Map<string, bigint>();
    const out: EnqueueOutcome[] = [];
    for (let i = 0; i < entries.length; i++) {
      const h = toHex(sks[i]!);
      const q = this.#queues.get(h);
      if (q === undefined) {
        out.push({ status: "unknown_queue" });
        continue;
      }
      const seen = dedupPuts.get(dks[i]!);
      if (seen !== undefined) {
        out.push({ status: "duplicate", seq: seen });
        continue;
      }
      const d = this.#dedup.get(dks[i]!);
      if (d !== undefined && d.expires > now) {
        out.push({ status: "duplicate", seq: d.seq });
        continue;
      }
      const st = heads.get(h) ?? q.head;
      if (st.nextSeq - st.firstSeq >= BigInt(opts.maxQueueLength)) {
        out.push({ status: "queue_full" });
        continue;
      }
      const seq = st.nextSeq;
      const { ciphertext, nextChainKey } = seal(i, entries[i]!.queueId, seq, st.chainKey);
      checkNextChainKey(nextChainKey);
      heads.set(h, { ...st, chainKey: Uint8Array.from(nextChainKey), nextSeq: seq + 1n });
      puts.push({ h, seq, ct: Uint8Array.from(ciphertext) });
      dedupPuts.set(dks[i]!, seq);
      out.push({ status: "enqueued", seq });
    }
    for (const [h, st] of heads) {
      const q = this.#queues.get(h)!;
      q.head.chainKey.fill(0);
      q.head = st;
    }
    for (const p of puts) this.#queues.get(p.h)!.messages.set(p.seq, p.ct);
    for (const [dk, seq] of dedupPuts) this.#dedup.set(dk, { expires: opts.dedupExpiresAtMs, seq });
    return out;
  }

  async fetch(queueId: Uint8Array, fromSeq: bigint, max: number, maxBytes: number): Promise<FetchResult | undefined> {
    this.#open();
    const q = this.#queues.get(toHex(queueStorageKey(queueId)));
    checkFetchArgs(fromSeq, max, maxBytes);
    if (q === undefined) return undefined;
    const messages: StoredMessage[] = [];
    let bytes = 0;
    for (let s = fromSeq > q.head.firstSeq ? fromSeq : q.head.firstSeq; s < q.head.nextSeq && messages.length < max && bytes < maxBytes; s++) {
      const ct = q.messages.get(s)!;
      messages.push({ seq: s, ciphertext: Uint8Array.from(ct) });
      bytes += ct.length;
    }
    return { head: publicHead(q.head), messages };
  }

  async ack(queueId: Uint8Array, upToSeq: bigint): Promise<QueueHead | undefined> {
    this.#open();
    const q = this.#queues.get(toHex(queueStorageKey(queueId)));
    checkSeq(upToSeq, "upToSeq");
    if (q === undefined) return undefined;
    const newFirst = upToSeq + 1n < q.head.nextSeq ? upToSeq + 1n : q.head.nextSeq;
    for (let s = q.head.firstSeq; s < newFirst; s++) q.messages.delete(s);
    if (newFirst > q.head.firstSeq) q.head = { ...q.head, firstSeq: newFirst };
    return publicHead(q.head);
  }

  async deleteQueue(queueId: Uint8Array): Promise<boolean> {
    this.#open();
    return this.#queues.delete(toHex(queueStorageKey(queueId)));
  }

  async sweepDedup(nowMs: number, limit = 10_000): Promise<number> {
    this.#open();
    let n = 0;
    for (const [k, d] of this.#dedup) {
      if (n >= limit) break;
      if (d.expires <= nowMs) {
        this.#dedup.delete(k);
        n++;
      }
    }
    return n;
  }

  /** Dedup entries held (for tests). */
  get dedupSize(): number {
    return this.#dedup.size;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}
