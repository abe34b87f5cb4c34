// The Queueing Service's storage port. What it keeps per queue: the owner's Ed25519 key, the
// queue's current chain key (QueueChain.ts), the next sequence number, the lowest unacknowledged
// one, and the message ciphertexts; plus fanout dedup entries (hashes with an expiry). Never a
// plaintext message, never an initial secret.
//
// Every write that a response depends on is durable before its promise resolves, and an
// enqueue over several queues is ONE atomic write: all recipients of a fanout or none.
import { StoreError } from "../store/errors.js";

export interface QueueHead {
  readonly ownerKey: Uint8Array;
  /** the sequence number the next enqueued message gets */
  readonly nextSeq: bigint;
  /** the lowest sequence number not yet acknowledged (== nextSeq when the queue is empty) */
  readonly firstSeq: bigint;
}

export interface StoredMessage {
  readonly seq: bigint;
  readonly ciphertext: Uint8Array;
}

export interface EnqueueEntry {
  readonly queueId: Uint8Array;
  /**
   * the fanout's message_id: (messageId, queue) is enqueued at most once while its dedup entry
   * lives; the entry is found by (messageId, queue, dedupExpiresAtMs), so retries must pass the
   * same expiry (the QS derives it from the request's hub timestamp)
   */
  readonly messageId: Uint8Array;
}

/**
 * Seals entry `index` as message `seq` of its queue under the queue's current chain key and
 * returns the ciphertext and the successor chain key, which replaces the current one in the same
 * atomic write. Called under the queue's lock, synchronously.
 */
export type MessageSealer = (index: number, queueId: Uint8Array, seq: bigint, chainKey: Uint8Array) => { ciphertext: Uint8Array; nextChainKey: Uint8Array };

export type EnqueueOutcome =
  | { readonly status: "enqueued"; readonly seq: bigint }
  /** already enqueued for this (message id, queue); nothing written */
  | { readonly status: "duplicate"; readonly seq: bigint }
  | { readonly status: "unknown_queue" }
  | { readonly status: "queue_full" };

export interface EnqueueOptions {
  /** when the dedup entries written now expire (ms since the epoch); part of the dedup key */
  readonly dedupExpiresAtMs: number;
  /** the most unacknowledged messages a queue holds */
  readonly maxQueueLength: number;
  /** dedup entries expiring at or before this are treated as absent (default Date.now()) */
  readonly nowMs?: number;
}

export interface FetchResult {
  readonly head: QueueHead;
  readonly messages: StoredMessage[];
}

export interface QueueStore {
  /** Creates a queue; QueueExistsError if the id is taken. */
  createQueue(queueId: Uint8Array, ownerKey: Uint8Array, chainKey: Uint8Array): Promise<void>;
  getHead(queueId: Uint8Array): Promise<QueueHead | undefined>;
  /** One outcome per entry, in order; every "enqueued" one is durable when this resolves. */
  enqueue(entries: readonly EnqueueEntry[], seal: MessageSealer, opts: EnqueueOptions): Promise<EnqueueOutcome[]>;
  /** Up to `max` messages with seq >= max(fromSeq, firstSeq), in order, stopping once `maxBytes` is reached (at least one). */
  fetch(queueId: Uint8Array, fromSeq: bigint, max: number, maxBytes: number): Promise<FetchResult | undefined>;
  /** Deletes every message with seq <= upToSeq (clamped to what exists); undefined if no such queue. */
  ack(queueId: Uint8Array, upToSeq: bigint): Promise<QueueHead | undefined>;
  /** Deletes the queue and its messages; false if it did not exist. */
  deleteQueue(queueId: Uint8Array): Promise<boolean>;
  /** Removes up to `limit` dedup entries that expired at or before `nowMs`; returns how many. */
  sweepDedup(nowMs: number, limit?: number): Promise<number>;
  close(): Promise<void>;
}

/** A create named a queue id that exists (random ids: the caller draws another). */
export class QueueExistsError extends StoreError {
  override name = "QueueExistsError";
  readonly code = "queue_exists";
  constructor() {
    super("queue already exists");
  }
}
