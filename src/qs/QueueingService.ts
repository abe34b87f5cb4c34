// The Queueing Service core, transport-independent: queue owners' requests (QsRequest ->
// QsResponse) and DS fanout intake (DSFanoutRequest -> DSFanoutResponse). The provider's HTTP
// endpoints hand it bytes and send back the bytes it returns; neither handler ever throws.
//
// What the QS sees (ARCHITECTURE.md s1): its own queues and their owners' keys, which sending DS
// domain fanned out a message, and the message ciphertext size. It never learns a group id from
// the fanout request (the MLSMessage is opaque here) and stores no plaintext message: each one
// is sealed under the queue's forward-only chain (QueueChain.ts) before it is written.
import { createHash, randomBytes } from "node:crypto";
import { verifyWithLabelEd25519 } from "../ds/signatures.js";
import { ConnectionRequest } from "../protocol/ConnectionRequest.js";
import { DSFanoutRequest } from "../protocol/DSFanoutRequest.js";
import { DSFanoutResponse } from "../protocol/DSFanoutResponse.js";
import {
  DS_FANOUT_SIGNATURE_LABEL,
  DSFanoutResponseType,
  FANOUT_PROTOCOL_VERSION,
  FANOUT_SUPPORTED_VERSIONS,
  MAX_FETCH_MESSAGES,
  QS_PROTOCOL_VERSION,
  QS_REQUEST_SIGNATURE_LABEL,
  QS_SUPPORTED_VERSIONS,
  QsRequestType,
  QsResponseType,
  QUEUE_ID_LENGTH,
  QueueingServiceResponse,
  QueuedContentType,
  CONNECTION_REQUEST_VERSION,
} from "../protocol/QsConstants.js";
import {
  QSErrorCode,
  QsBadSignatureError,
  LimitExceededError,
  QsError,
  QsNotAllowedError,
  QsTemporarilyUnavailableError,
  QsUnsupportedVersionError,
  ReplayedRequestError,
  SenderNotAllowedError,
  StaleRequestError,
  UnknownQueueError,
  VerificationKeyUnavailableError,
  qsErrorCodeOf,
} from "../protocol/QsErrors.js";
import { QsRequest, type QsRequestBody } from "../protocol/QsRequest.js";
import { QsResponse, type QsResponseBody } from "../protocol/QsResponse.js";
import { QueuedMessage } from "../protocol/QueuedMessage.js";
import { type Logger, silentLogger } from "../util/log.js";
import { initialChainKey, sealWithChain } from "./QueueChain.js";
import type { QueueReferenceKeys } from "./QueueReferenceKeys.js";
import { QueueExistsError, type EnqueueEntry, type QueueStore } from "./QueueStore.js";
import { QueueWaiters } from "./QueueWaiters.js";
import { ReplayCache } from "./ReplayCache.js";
import type { VerificationKeyResolver } from "./VerificationKeyResolver.js";

export interface QsLimits {
  /** accepted |now - timestamp_ms| of a client request (default 5 min) */
  requestWindowMs: number;
  /** longest long-poll wait (default 30 s) */
  maxWaitMs: number;
  /** messages per fetch (default and ceiling 1000) */
  maxFetchMessages: number;
  /** ciphertext bytes per fetch, at least one message (default 4 MiB) */
  maxFetchBytes: number;
  /** unacknowledged messages per queue; beyond it fanout answers queue_full (default 10,000) */
  maxQueueLength: number;
  /** how old a fanout's hub timestamp may be (default 1 h); dedup entries live this long */
  maxFanoutAgeMs: number;
  /** how far in the future a hub timestamp may be (default 5 min) */
  maxClockSkewMs: number;
  /** concurrent long-polls (default 10,000); beyond it fetches return at once */
  maxWaiters: number;
  /** remembered request nonces (default 100,000) */
  replayCacheSize: number;
  /**
   * what one fanout may expand to: recipients x (message + joiner key) bytes, all sealed and
   * written in one batch (default 64 MiB); beyond it the request is refused with limit_exceeded
   */
  maxFanoutBytes: number;
  /** connection offers one queue accepts per window (default 20) */
  maxConnectionOffersPerWindow: number;
  /** that window (default 1 h); retries of one offer are deduplicated for about twice as long */
  connectionOfferWindowMs: number;
}

export const DEFAULT_QS_LIMITS: QsLimits = {
  requestWindowMs: 300_000,
  maxWaitMs: 30_000,
  maxFetchMessages: MAX_FETCH_MESSAGES,
  maxFetchBytes: 4 << 20,
  maxQueueLength: 10_000,
  maxFanoutAgeMs: 3_600_000,
  maxClockSkewMs: 300_000,
  maxWaiters: 10_000,
  replayCacheSize: 100_000,
  maxFanoutBytes: 64 << 20,
  maxConnectionOffersPerWindow: 20,
  connectionOfferWindowMs: 3_600_000,
};

const CONNECTION_OFFER_ID_LABEL = "MIMI connection offer id";

export interface QueueingServiceOptions {
  store: QueueStore;
  /** its queue-reference keys; their qsDomain is this QS's domain (the AAD of every reference) */
  referenceKeys: QueueReferenceKeys;
  federation: {
    /** DS domains whose fanout is accepted */
    allowedDomains: Iterable<string> | ((domain: string) => boolean);
    resolver: VerificationKeyResolver;
  };
  /** may refuse a queue creation (QsNotAllowedError); default: every signed request may create */
  createPolicy?: (ownerKey: Uint8Array) => boolean | Promise<boolean>;
  limits?: Partial<QsLimits>;
  now?: () => number;
  logger?: Logger;
}

export interface FanoutResult {
  readonly statuses: QueueingServiceResponse[];
  /** per recipient: the sequence number its message has in its queue (undefined when refused) */
  readonly sequences: (bigint | undefined)[];
  /** how many messages were written (duplicates and refusals excluded) */
  readonly enqueued: number;
}

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");

export class QueueingService {
  readonly store: QueueStore;
  readonly referenceKeys: QueueReferenceKeys;
  readonly limits: QsLimits;
  readonly #allowed: (domain: string) => boolean;
  readonly #resolver: VerificationKeyResolver;
  readonly #createPolicy: ((ownerKey: Uint8Array) => boolean | Promise<boolean>) | undefined;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #waiters: QueueWaiters;
  readonly #replay: ReplayCache;
  #maintenance: NodeJS.Timeout | undefined;
  /** per queue: connection offers accepted in the current window */
  readonly #offerWindows = new Map<string, { startMs: number; count: number }>();
  /** ids of offers accepted recently, so their retries are not counted against the cap */
  readonly #recentOffers = new Set<string>();

  constructor(opts: QueueingServiceOptions) {
    this.store = opts.store;
    this.referenceKeys = opts.referenceKeys;
    this.limits = { ...DEFAULT_QS_LIMITS, ...opts.limits };
    if (this.limits.maxFetchMessages > MAX_FETCH_MESSAGES || this.limits.maxFetchMessages < 1) throw new RangeError(`maxFetchMessages must be 1..${MAX_FETCH_MESSAGES}`);
    const a = opts.federation.allowedDomains;
    if (typeof a === "function") this.#allowed = a;
    else {
      const set = new Set([...a].map((d) => d.toLowerCase()));
      this.#allowed = (d) => set.has(d);
    }
    this.#resolver = opts.federation.resolver;
    this.#createPolicy = opts.createPolicy;
    this.#now = opts.now ?? Date.now;
    this.#log = opts.logger ?? silentLogger;
    this.#waiters = new QueueWaiters(this.limits.maxWaiters);
    this.#replay = new ReplayCache(this.limits.replayCacheSize);
  }

  /** This QS's domain (the AAD of every queue reference). */
  get domain(): string {
    return this.referenceKeys.qsDomain;
  }

  // ---- client requests -----------------------------------------------------------------------

  /** QsRequest bytes in, QsResponse bytes out; every failure is an error response. */
  async handleClientRequest(bytes: Uint8Array, opts: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    let body: QsResponseBody;
    try {
      body = await this.handle(QsRequest.deserialize(bytes), opts);
    } catch (e) {
      body = this.#errorBody(e, QS_SUPPORTED_VERSIONS);
    }
    return new QsResponse(QS_PROTOCOL_VERSION, body).serialize();
  }

  #errorBody(e: unknown, versions: readonly number[]): QsResponseBody {
    const code = qsErrorCodeOf(e);
    if (!(e instanceof QsError)) this.#log.error("qs_internal_error", { kind: e instanceof Error ? e.name : typeof e });
    return { type: QsResponseType.error, code, supportedVersions: code === QSErrorCode.unsupported_version ? versions : [] };
  }

  /** Handles a decoded request; throws a QsError (or a store error) on refusal. */
  async handle(req: QsRequest, opts: { signal?: AbortSignal } = {}): Promise<QsResponseBody> {
    if (req.version !== QS_PROTOCOL_VERSION) throw new QsUnsupportedVersionError(req.version, QS_SUPPORTED_VERSIONS);
    const now = this.#now();
    if (Math.abs(now - req.timestampMs) > this.limits.requestWindowMs) throw new StaleRequestError("request timestamp is outside the accepted window");
    const b = req.body;
    if (b.type === QsRequestType.create_queue) return this.#create(req, b, now);
    const head = await this.store.getHead(b.queueId);
    if (head === undefined) throw new UnknownQueueError("no such queue");
    this.#authenticate(req, head.ownerKey, now);
    switch (b.type) {
      case QsRequestType.fetch:
        return this.#fetch(b.queueId, b.fromSequence, b.maxMessages, b.waitMs, opts.signal);
      case QsRequestType.ack:
        if ((await this.store.ack(b.queueId, b.upToSequence)) === undefined) throw new UnknownQueueError("no such queue");
        return { type: QsResponseType.ok };
      case QsRequestType.delete_queue:
        if (!(await this.store.deleteQueue(b.queueId))) throw new UnknownQueueError("no such queue");
        this.#waiters.notify(hex(b.queueId));
        return { type: QsResponseType.ok };
      case QsRequestType.reference_key:
        return { type: QsResponseType.reference_key, referenceKey: this.referenceKeys.current };
    }
  }

  /** Signature first, then the nonce: unauthenticated bytes never fill the replay cache. */
  #authenticate(req: QsRequest, ownerKey: Uint8Array, now: number): void {
    if (!verifyWithLabelEd25519(ownerKey, QS_REQUEST_SIGNATURE_LABEL, req.tbs(), req.signature)) throw new QsBadSignatureError("request signature does not verify");
    const id = `${hex(ownerKey)}:${hex(req.nonce)}`;
    if (!this.#replay.check(id, req.timestampMs + this.limits.requestWindowMs + 1, now)) throw new ReplayedRequestError("request nonce was already used");
  }

  async #create(req: QsRequest, b: Extract<QsRequestBody, { type: QsRequestType.create_queue }>, now: number): Promise<QsResponseBody> {
    this.#authenticate(req, b.ownerKey, now);
    if (this.#createPolicy !== undefined && !(await this.#createPolicy(Uint8Array.from(b.ownerKey)))) throw new QsNotAllowedError("queue creation refused by policy");
    for (let attempt = 0; attempt < 3; attempt++) {
      const queueId = new Uint8Array(randomBytes(QUEUE_ID_LENGTH));
      const chain = initialChainKey(b.initialSecret, queueId);
      try {
        await this.store.createQueue(queueId, b.ownerKey, chain);
      } catch (e) {
        if (e instanceof QueueExistsError) continue;
        throw e;
      } finally {
        chain.fill(0);
      }
      this.#log.info("qs_queue_created");
      return { type: QsResponseType.queue_created, queueId, referenceKey: this.referenceKeys.current };
    }
    throw new QsTemporarilyUnavailableError("could not draw a free queue id");
  }

  async #fetch(queueId: Uint8Array, fromSeq: bigint, maxMessages: number, waitMs: number, signal?: AbortSignal): Promise<QsResponseBody> {
    const max = Math.min(Math.max(maxMessages, 1), this.limits.maxFetchMessages);
    const wait = Math.min(waitMs, this.limits.maxWaitMs);
    const read = async () => {
      const r = await this.store.fetch(queueId, fromSeq, max, this.limits.maxFetchBytes);
      if (r === undefined) throw new UnknownQueueError("no such queue");
      return { type: QsResponseType.messages, messages: r.messages.map((m) => ({ sequence: m.seq, ciphertext: m.ciphertext })), nextSequence: r.head.nextSeq } as const;
    };
    const waiter = wait > 0 ? this.#waiters.register(hex(queueId)) : undefined;
    try {
      const first = await read();
      if (first.messages.length > 0 || waiter === undefined) return first;
      await waiter.wait(wait, signal);
      return await read();
    } finally {
      waiter?.cancel();
    }
  }

  // ---- fanout ----------------------------------------------------------------------------------

  /** DSFanoutRequest bytes in, DSFanoutResponse bytes out; every failure is an error response. */
  async handleFanout(bytes: Uint8Array): Promise<Uint8Array> {
    let body: ConstructorParameters<typeof DSFanoutResponse>[1];
    try {
      const r = await this.fanout(DSFanoutRequest.deserialize(bytes));
      body = { type: DSFanoutResponseType.ok, results: r.statuses };
    } catch (e) {
      if (!(e instanceof QsError)) this.#log.error("qs_fanout_internal_error", { kind: e instanceof Error ? e.name : typeof e });
      body = { type: DSFanoutResponseType.error, code: qsErrorCodeOf(e) };
    }
    return new DSFanoutResponse(FANOUT_PROTOCOL_VERSION, body).serialize();
  }

  /**
   * Verifies and enqueues one fanout: every recipient whose reference opens to a live queue is
   * written in ONE atomic, durable batch before this resolves. Throws a QsError when the request
   * as a whole is refused (nothing enqueued).
   */
  async fanout(req: DSFanoutRequest): Promise<FanoutResult> {
    if (req.version !== FANOUT_PROTOCOL_VERSION) throw new QsUnsupportedVersionError(req.version, FANOUT_SUPPORTED_VERSIONS);
    if (!this.#allowed(req.senderDomain)) throw new SenderNotAllowedError("sender domain is not on the federation allow-list");
    const now = this.#now();
    if (req.hubTimestampMs < now - this.limits.maxFanoutAgeMs || req.hubTimestampMs > now + this.limits.maxClockSkewMs) {
      throw new StaleRequestError("hub timestamp is outside the accepted window");
    }
    let expanded = 0;
    for (const r of req.recipients) expanded += req.message.length + (r.sealedJoinerKey?.length ?? 0) + 64;
    if (expanded > this.limits.maxFanoutBytes) throw new LimitExceededError("fanout expands beyond the per-request limit; split it");
    await this.#verifyFanout(req);

    const statuses: QueueingServiceResponse[] = new Array<QueueingServiceResponse>(req.recipients.length).fill(QueueingServiceResponse.invalid_client_queue_information);
    const entries: EnqueueEntry[] = [];
    const entryRecipient: number[] = [];
    for (let i = 0; i < req.recipients.length; i++) {
      try {
        const queueId = await this.referenceKeys.open(req.recipients[i]!.sealedReference);
        entries.push({ queueId, messageId: req.messageId });
        entryRecipient.push(i);
      } catch {
        // stays invalid_client_queue_information
      }
    }
    // Recipients without a joiner key share one plaintext; it is encoded once.
    let shared: Uint8Array | undefined;
    const plaintextOf = (r: number): Uint8Array => {
      const k = req.recipients[r]!.sealedJoinerKey;
      if (k === undefined) return (shared ??= new QueuedMessage(req.message, undefined, req.hubTimestampMs, req.senderDomain).serialize());
      return new QueuedMessage(req.message, k, req.hubTimestampMs, req.senderDomain).serialize();
    };
    const outcomes = await this.store.enqueue(
      entries,
      (index, queueId, seq, chainKey) => sealWithChain(chainKey, queueId, seq, plaintextOf(entryRecipient[index]!)),
      // Keyed to the hub timestamp, not to now: every retry of this request (same bytes) names
      // the same dedup entry, which lives as long as the request could be accepted.
      { dedupExpiresAtMs: req.hubTimestampMs + this.limits.maxFanoutAgeMs + this.limits.maxClockSkewMs + 1, maxQueueLength: this.limits.maxQueueLength, nowMs: now },
    );
    let enqueued = 0;
    const sequences: (bigint | undefined)[] = new Array<bigint | undefined>(req.recipients.length).fill(undefined);
    outcomes.forEach((o, j) => {
      const r = entryRecipient[j]!;
      if (o.status === "enqueued" || o.status === "duplicate") sequences[r] = o.seq;
      if (o.status === "enqueued" || o.status === "duplicate") statuses[r] = QueueingServiceResponse.ok;
      else if (o.status === "queue_full") statuses[r] = QueueingServiceResponse.queue_full;
      if (o.status === "enqueued") {
        enqueued++;
        this.#waiters.notify(hex(entries[j]!.queueId));
      }
    });
    this.#log.debug("qs_fanout", { recipients: req.recipients.length, enqueued });
    return { statuses, sequences, enqueued };
  }

  async #verifyFanout(req: DSFanoutRequest): Promise<void> {
    const tbs = req.tbs();
    const verifies = (keys: readonly Uint8Array[]) => keys.some((k) => verifyWithLabelEd25519(k, DS_FANOUT_SIGNATURE_LABEL, tbs, req.signature));
    const resolve = async (refresh: boolean) => {
      try {
        return await this.#resolver.resolve(req.senderDomain, { refresh });
      } catch (e) {
        if (e instanceof VerificationKeyUnavailableError) throw e;
        throw new VerificationKeyUnavailableError("verification key lookup failed", { cause: e });
      }
    };
    if (req.signature.length !== 64) throw new QsBadSignatureError("fanout is not signed");
    if (verifies(await resolve(false))) return;
    // Perhaps the DS rotated since the keys were cached: one (rate-limited) refresh.
    if (verifies(await resolve(true))) return;
    throw new QsBadSignatureError("fanout signature does not verify");
  }

  // ---- connection requests ---------------------------------------------------------------------

  /** ConnectionRequest bytes in, DSFanoutResponse bytes (one result) out; never throws. */
  async handleConnectionRequest(bytes: Uint8Array): Promise<Uint8Array> {
    let body: ConstructorParameters<typeof DSFanoutResponse>[1];
    try {
      body = { type: DSFanoutResponseType.ok, results: [await this.deliverConnectionOffer(ConnectionRequest.deserialize(bytes))] };
    } catch (e) {
      if (!(e instanceof QsError)) this.#log.error("qs_connection_internal_error", { kind: e instanceof Error ? e.name : typeof e });
      body = { type: DSFanoutResponseType.error, code: qsErrorCodeOf(e) };
    }
    return new DSFanoutResponse(FANOUT_PROTOCOL_VERSION, body).serialize();
  }

  /**
   * Enqueues a sealed connection offer for the queue its reference opens to. The sender is an
   * anonymous OHTTP client; what limits abuse is that the reference came from a connection
   * KeyPackage claimed with a bearer token, plus a per-queue cap on offers per window. A retry of
   * the same offer bytes is deduplicated (the message id is a hash of them).
   */
  async deliverConnectionOffer(req: ConnectionRequest): Promise<QueueingServiceResponse> {
    if (req.version !== CONNECTION_REQUEST_VERSION) throw new QsUnsupportedVersionError(req.version, [CONNECTION_REQUEST_VERSION]);
    let queueId: Uint8Array;
    try {
      queueId = await this.referenceKeys.open(req.sealedReference);
    } catch {
      return QueueingServiceResponse.invalid_client_queue_information;
    }
    const now = this.#now();
    const messageId = createHash("sha256").update(CONNECTION_OFFER_ID_LABEL).update(req.sealedOffer).digest();
    const idHex = hex(messageId);
    const key = hex(queueId);
    // A retry of an offer already accepted is never counted (the store deduplicates it); a new
    // offer takes a slot of this queue's window before the first await, so concurrent requests
    // cannot all see a fresh window, and gives it back unless it was enqueued.
    const retry = this.#recentOffers.has(idHex);
    let window: { startMs: number; count: number } | undefined;
    if (!retry) {
      window = this.#offerWindows.get(key);
      if (window === undefined || window.startMs + this.limits.connectionOfferWindowMs <= now) {
        if (this.#offerWindows.size >= this.limits.maxWaiters) this.#offerWindows.clear(); // bounded memory; a reset only relaxes the cap
        window = { startMs: now, count: 0 };
        this.#offerWindows.set(key, window);
      }
      if (window.count >= this.limits.maxConnectionOffersPerWindow) throw new LimitExceededError("too many connection offers for this queue; try later");
      window.count++;
    }
    let status: string | undefined;
    try {
      const plaintext = new QueuedMessage(req.sealedOffer, undefined, now, this.domain, QueuedContentType.connection_offer).serialize();
      const [o] = await this.store.enqueue([{ queueId, messageId }], (_i, qid, seq, chainKey) => sealWithChain(chainKey, qid, seq, plaintext), {
        dedupExpiresAtMs: Math.floor(now / this.limits.connectionOfferWindowMs) * this.limits.connectionOfferWindowMs + 2 * this.limits.connectionOfferWindowMs,
        maxQueueLength: this.limits.maxQueueLength,
        nowMs: now,
      });
      status = o?.status;
    } finally {
      if (window !== undefined && status !== "enqueued") window.count--;
    }
    if (status === undefined || status === "unknown_queue") return QueueingServiceResponse.invalid_client_queue_information;
    if (status === "queue_full") return QueueingServiceResponse.queue_full;
    if (status === "enqueued") {
      if (this.#recentOffers.size >= this.limits.replayCacheSize) this.#recentOffers.clear(); // the store still deduplicates
      this.#recentOffers.add(idHex);
      this.#waiters.notify(key);
    }
    return QueueingServiceResponse.ok;
  }

  // ---- maintenance -----------------------------------------------------------------------------

  /** Drops expired dedup entries; returns how many. */
  sweep(limit?: number): Promise<number> {
    return this.store.sweepDedup(this.#now(), limit);
  }

  /**
   * Runs sweep() and, when the store supports it, purgeSuperseded() every `intervalMs` (an
   * unref'd timer); the interval bounds how long superseded chain keys stay in store files.
   */
  startMaintenance(intervalMs: number): void {
    this.stopMaintenance();
    const store = this.store as QueueStore & { purgeSuperseded?: () => Promise<void> };
    this.#maintenance = setInterval(() => {
      void (async () => {
        try {
          await this.sweep();
          if (typeof store.purgeSuperseded === "function") await store.purgeSuperseded();
        } catch (e) {
          this.#log.warn("qs_maintenance_failed", { kind: e instanceof Error ? e.name : typeof e });
        }
      })();
    }, intervalMs);
    this.#maintenance.unref();
  }

  stopMaintenance(): void {
    if (this.#maintenance !== undefined) clearInterval(this.#maintenance);
    this.#maintenance = undefined;
  }

  /** Long-polls sleeping now (for tests and metrics). */
  get waiting(): number {
    return this.#waiters.size;
  }

  /** Wakes every long-poll and stops maintenance; the store stays open (its owner closes it). */
  close(): void {
    this.stopMaintenance();
    this.#waiters.close();
  }
}
