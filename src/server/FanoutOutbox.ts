// The DS's durable outbox for fanout to remote Queueing Services (federated providers).
//
// Why: a remote QS may be down when the DS accepts a message. Each signed DSFanoutRequest for a
// remote destination is written to LevelDB (one sync batch per accepted request) BEFORE the
// first send, so whatever the DS acknowledges to a client survives a crash of either provider.
// Retries resend the stored bytes unchanged: the QS deduplicates by (message_id, queue), so a
// request that was enqueued before its response got lost is not enqueued twice, and the hub
// timestamp (which the QS checks against its maxFanoutAgeMs) stays the original one.
//
// Order: one lane per destination domain. While a lane holds an undelivered request, new
// requests to that domain queue behind it instead of being sent inline, so the messages a
// client sends one after another reach a remote queue in the order the DS accepted them. A
// request that the QS answered with queue_full for some recipients leaves its lane and is
// retried on its own timer: one full queue must not stall the whole federation link.
//
// Bounds: exponential backoff with jitter, capped at maxBackoffMs; a request older than
// maxAgeMs (by its hub timestamp) is given up, logged and counted, never silently.
//
// Refused references after a retry: the DS no longer holds that group's state key, so it cannot
// propose the member's removal then; the refusal is logged and counted, and the DS learns of it
// again at that member's next fanout that is answered inline.
//
// At rest (see SECURITY.md): the destination domain, the hub timestamp, the recipient count and
// the signed request itself (message id, sealed queue references, sealed joiner keys, the MLS
// message, the DS's signature). Never a key. LevelDB keeps deleted values in its log and tables
// until a compaction happens to rewrite them (a manual compaction never rewrites the deepest
// level), so an outbox with its own directory, once it has deleted entries and is empty again,
// replaces its database with a fresh one (at most every purgeIntervalMs): a delivered request
// does not outlive its delivery on disk for long.
import { openBinaryLevel } from "../store/level.js";
import { randomBytes } from "node:crypto";
import { readdir, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { AbstractLevel } from "abstract-level";
import type { BatchOptions } from "level";
import { Counter, Gauge, Registry } from "prom-client";
import { DSFanoutResponse } from "../protocol/DSFanoutResponse.js";
import { DSFanoutResponseType, QueueingServiceResponse } from "../protocol/QsConstants.js";
import { QSErrorCode } from "../protocol/QsErrors.js";
import { CorruptRecordError, StoreClosedError, StoreError, StoreInputError, StoreIoError } from "../store/errors.js";
import { type Logger, silentLogger } from "../util/log.js";

type Bytes = Uint8Array;
type Db = AbstractLevel<any, Bytes, Bytes>;
type AnyLevel = AbstractLevel<any, any, any>;

const SYNC: BatchOptions<Bytes, Bytes> = { sync: true };
const RECORD_FORMAT = 1;
const RECORD_FORMAT_PADDED = 2;
const KEY_LEN = 16;
const MAX_DOMAIN_BYTES = 255;
const PURGE_SUFFIX = ".purged-";

/**
 * Sends one DSFanoutRequest to the QS of `qsDomain` and returns its DSFanoutResponse bytes;
 * throws when there is no answer (unreachable, timeout, HTTP error).
 */
export type FanoutSender = (qsDomain: string, request: Uint8Array, opts: { signal: AbortSignal }) => Promise<Uint8Array>;

export interface FanoutOutboxOptions {
  send: FanoutSender;
  /** give a request up this long after its hub timestamp (default 50 min: below the QS's 1 h maxFanoutAgeMs) */
  maxAgeMs?: number;
  /** first retry delay (default 500 ms); doubles per failure */
  initialBackoffMs?: number;
  /** longest retry delay (default 60 s) */
  maxBackoffMs?: number;
  /** timeout of the first, inline attempt, which the client's answer waits for (default 3 s) */
  inlineTimeoutMs?: number;
  /** timeout of a background retry (default 10 s) */
  retryTimeoutMs?: number;
  /** least time between two purges of delivered requests from the files (default 60 s) */
  purgeIntervalMs?: number;
  logger?: Logger;
  /** where the outbox's metrics are registered (the provider's /metrics registry) */
  registry?: Registry;
  now?: () => number;
  /** in [0, 1): jitter source (tests make it deterministic) */
  random?: () => number;
}

/** One request to hand to a remote QS. */
export interface OutboxSubmission {
  readonly qsDomain: string;
  /** the serialized, signed DSFanoutRequest: stored and resent byte for byte */
  readonly request: Uint8Array;
  readonly hubTimestampMs: number;
  /** how many recipients it names (checked against the QS's answer) */
  readonly recipients: number;
  /** how many of them, at the end, are dummies that pad the count (their refusals mean nothing) */
  readonly padding?: number;
}

/** What became of a submission by the time submit() resolves. */
export type OutboxOutcome =
  /** the QS answered every recipient (ok or invalid_client_queue_information); nothing to retry */
  | { readonly status: "delivered"; readonly response: DSFanoutResponse }
  /** kept durably and retried in the background; `response` when the QS answered in part (queue_full) */
  | { readonly status: "pending"; readonly response?: DSFanoutResponse }
  /** the QS refused the request for good (malformed, stale, limit); logged and counted */
  | { readonly status: "rejected"; readonly code: number };

export type OutboxEvent = "persisted" | "delivered" | "retried" | "expired" | "rejected" | "refused_after_retry";

/** Refusals that no retry can cure; everything else (unreachable, key lookup, allow-list) is retried. */
const PERMANENT_CODES = new Set<number>([QSErrorCode.malformed, QSErrorCode.unsupported_version, QSErrorCode.stale_request, QSErrorCode.limit_exceeded]);

interface Entry {
  readonly key: Bytes;
  readonly id: string;
  readonly domain: string;
  readonly hubTimestampMs: number;
  readonly recipients: number;
  /** dummy recipients at the end of the request */
  readonly padding: number;
  /** recipient indexes whose refusal was already reported (inline) or counted */
  readonly reported: Set<number>;
  partialFailures: number;
  timer?: NodeJS.Timeout;
}

interface Lane {
  readonly domain: string;
  /** undelivered requests in submission order; the head blocks the rest */
  readonly entries: Entry[];
  failures: number;
  /** performance.now() before which the head is not retried (monotonic: wall-clock jumps do not matter) */
  notBefore: number;
  running: boolean;
}

type OkResponse = DSFanoutResponse & { readonly body: Extract<DSFanoutResponse["body"], { type: DSFanoutResponseType.ok }> };

type Attempt =
  | { kind: "answered"; response: OkResponse; partial: boolean }
  | { kind: "permanent"; code: number }
  | { kind: "transient" }
  | { kind: "gone" };

const hex = (b: Bytes) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");

// Record formats: 1 = [1][hub ts u64][recipients u32][domain len u8][domain][request];
// 2 = the same with [padding u32] after recipients (written only when the request is padded).
function encodeRecord(s: OutboxSubmission, domain: Bytes): Bytes {
  const padded = (s.padding ?? 0) > 0;
  const head = padded ? 18 : 14;
  const out = new Uint8Array(head + domain.length + s.request.length);
  const dv = new DataView(out.buffer);
  out[0] = padded ? RECORD_FORMAT_PADDED : RECORD_FORMAT;
  dv.setBigUint64(1, BigInt(s.hubTimestampMs));
  dv.setUint32(9, s.recipients);
  if (padded) dv.setUint32(13, s.padding!);
  out[head - 1] = domain.length;
  out.set(domain, head);
  out.set(s.request, head + domain.length);
  return out;
}

function decodeRecord(v: Bytes): { hubTimestampMs: number; recipients: number; padding: number; domain: string; request: Bytes } {
  const padded = v[0] === RECORD_FORMAT_PADDED;
  const head = padded ? 18 : 14;
  if (v.length < head || (v[0] !== RECORD_FORMAT && !padded)) throw new CorruptRecordError("outbox entry");
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  const n = v[head - 1]!;
  if (v.length < head + n + 1) throw new CorruptRecordError("outbox entry");
  const recipients = dv.getUint32(9);
  const padding = padded ? dv.getUint32(13) : 0;
  if (padding >= recipients) throw new CorruptRecordError("outbox entry");
  return {
    hubTimestampMs: Number(dv.getBigUint64(1)),
    recipients,
    padding,
    domain: new TextDecoder("utf-8", { fatal: true }).decode(v.subarray(head, head + n)),
    request: v.subarray(head + n),
  };
}

export class FanoutOutbox {
  #db: Db;
  #root: AnyLevel;
  readonly #prefix: string;
  /** the directory of a database the outbox opened itself (it may then replace it) */
  readonly #dir: string | undefined;
  #swapping: Promise<void> | undefined;
  /** submit() calls under way */
  #busy = 0;
  readonly #send: FanoutSender;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly maxAgeMs: number;
  readonly #initialBackoff: number;
  readonly #maxBackoff: number;
  readonly #inlineTimeout: number;
  readonly #retryTimeout: number;
  readonly #purgeInterval: number;
  #lastPurge = 0;
  #purgeTimer: NodeJS.Timeout | undefined;
  readonly #live = new Map<string, Entry>();
  readonly #lanes = new Map<string, Lane>();
  readonly #tasks = new Set<Promise<unknown>>();
  readonly #sleepers = new Set<() => void>();
  readonly #idleWaiters = new Set<(idle: boolean) => void>();
  readonly #abort = new AbortController();
  readonly #pendingGauge: Gauge;
  readonly #eventCounter: Counter<"event">;
  /** counts per event since start (for tests and the provider's health view) */
  readonly events: Record<OutboxEvent, number> = { persisted: 0, delivered: 0, retried: 0, expired: 0, rejected: 0, refused_after_retry: 0 };
  #counter = 0;
  #closed = false;

  private constructor(root: AnyLevel, prefix: string, dir: string | undefined, o: FanoutOutboxOptions) {
    if (!/^[a-z0-9_-]{1,32}$/.test(prefix)) throw new StoreInputError("sublevel prefix must be 1..32 of [a-z0-9_-]");
    this.#root = root;
    this.#prefix = prefix;
    this.#db = root.sublevel<Bytes, Bytes>(prefix, { keyEncoding: "view", valueEncoding: "view" }) as unknown as Db;
    this.#dir = dir;
    this.#send = o.send;
    this.#log = o.logger ?? silentLogger;
    this.#now = o.now ?? Date.now;
    this.#random = o.random ?? Math.random;
    this.maxAgeMs = o.maxAgeMs ?? 50 * 60_000;
    this.#initialBackoff = o.initialBackoffMs ?? 500;
    this.#maxBackoff = o.maxBackoffMs ?? 60_000;
    this.#inlineTimeout = o.inlineTimeoutMs ?? 3000;
    this.#retryTimeout = o.retryTimeoutMs ?? 10_000;
    this.#purgeInterval = o.purgeIntervalMs ?? 60_000;
    for (const [k, v] of Object.entries({ maxAgeMs: this.maxAgeMs, initialBackoffMs: this.#initialBackoff, maxBackoffMs: this.#maxBackoff, inlineTimeoutMs: this.#inlineTimeout, retryTimeoutMs: this.#retryTimeout, purgeIntervalMs: this.#purgeInterval })) {
      if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${k} must be a positive integer`);
    }
    if (this.#maxBackoff < this.#initialBackoff) throw new RangeError("maxBackoffMs must be at least initialBackoffMs");
    const registers = [o.registry ?? new Registry()];
    this.#pendingGauge = new Gauge({ name: "mimi_provider_fanout_outbox_pending", help: "Fanout requests to remote QSs kept for delivery", registers });
    this.#eventCounter = new Counter({
      name: "mimi_provider_fanout_outbox_events_total",
      help: "Outbox events: persisted, delivered, retried (attempts after a failure), expired (given up), rejected (refused for good), refused_after_retry (recipients)",
      labelNames: ["event"] as const,
      registers,
    });
  }

  /** Opens (creating if needed) a LevelDB directory used by the outbox alone, and resumes what it holds. */
  static async open(dir: string, opts: FanoutOutboxOptions, prefix = "fanout"): Promise<FanoutOutbox> {
    // what a purge interrupted by a crash left behind
    const parent = dirname(dir);
    const stray = `${basename(dir)}${PURGE_SUFFIX}`;
    for (const name of await readdir(parent).catch(() => [] as string[])) if (name.startsWith(stray)) await rm(join(parent, name), { recursive: true, force: true });
    const root = await openBinaryLevel(dir);
    const o = new FanoutOutbox(root, prefix, dir, opts);
    try {
      await o.#resume();
    } catch (e) {
      await root.close();
      throw e;
    }
    return o;
  }

  /** An outbox in a sublevel of an existing database (close() leaves `db` open); resumes what it holds. */
  static async fromDb(db: AnyLevel, opts: FanoutOutboxOptions, prefix = "fanout"): Promise<FanoutOutbox> {
    const o = new FanoutOutbox(db, prefix, undefined, opts);
    await o.#resume();
    return o;
  }

  /** Requests persisted and not yet delivered, given up or refused. */
  get pending(): number {
    return this.#live.size;
  }

  #count(e: OutboxEvent, n = 1): void {
    this.events[e] += n;
    this.#eventCounter.inc({ event: e }, n);
  }

  #backoff(failures: number): number {
    const base = Math.min(this.#maxBackoff, this.#initialBackoff * 2 ** Math.min(failures - 1, 30));
    // "equal jitter": at least half the delay, so retries of many DSs do not synchronise
    return Math.max(1, Math.round(base / 2 + (base / 2) * this.#random()));
  }

  #untilExpiry(e: Entry): number {
    return e.hubTimestampMs + this.maxAgeMs - this.#now();
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#tasks.add(p);
    void p.finally(() => this.#tasks.delete(p)).catch(() => {});
    return p;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.#sleepers.delete(done);
        resolve();
      };
      const t = setTimeout(done, Math.max(0, ms));
      this.#sleepers.add(done);
    });
  }

  #lane(domain: string): Lane {
    let l = this.#lanes.get(domain);
    if (l === undefined) this.#lanes.set(domain, (l = { domain, entries: [], failures: 0, notBefore: 0, running: false }));
    return l;
  }

  #newKey(): Bytes {
    const k = new Uint8Array(KEY_LEN);
    const dv = new DataView(k.buffer);
    dv.setBigUint64(0, BigInt(this.#now()));
    dv.setUint32(8, this.#counter++ >>> 0);
    k.set(randomBytes(4), 12);
    return k;
  }

  /**
   * Persists every submission in ONE sync write, then sends each to its QS once, inline (requests
   * to one domain in order, domains in parallel). A domain whose lane holds an undelivered request
   * gets no inline attempt: the request waits behind it. Resolves with one outcome per submission;
   * throws (nothing persisted) when the write fails.
   */
  async submit(subs: readonly OutboxSubmission[]): Promise<OutboxOutcome[]> {
    if (this.#closed) throw new StoreClosedError();
    if (subs.length === 0) return [];
    this.#busy++;
    try {
      if (this.#swapping !== undefined) await this.#swapping;
      return await this.#submit(subs);
    } finally {
      this.#busy--;
    }
  }

  async #submit(subs: readonly OutboxSubmission[]): Promise<OutboxOutcome[]> {
    const te = new TextEncoder();
    const entries: Entry[] = [];
    const ops: { type: "put"; key: Bytes; value: Bytes }[] = [];
    for (const s of subs) {
      const domain = te.encode(s.qsDomain);
      if (domain.length === 0 || domain.length > MAX_DOMAIN_BYTES) throw new StoreInputError("invalid QS domain");
      if (!(s.request instanceof Uint8Array) || s.request.length === 0) throw new StoreInputError("empty fanout request");
      if (!Number.isSafeInteger(s.hubTimestampMs) || s.hubTimestampMs < 0) throw new StoreInputError("invalid hub timestamp");
      if (!Number.isInteger(s.recipients) || s.recipients < 1 || s.recipients > 0xffffffff) throw new StoreInputError("invalid recipient count");
      const padding = s.padding ?? 0;
      if (!Number.isInteger(padding) || padding < 0 || padding >= s.recipients) throw new StoreInputError("invalid padding count");
      const key = this.#newKey();
      ops.push({ type: "put", key, value: encodeRecord(s, domain) });
      entries.push({ key, id: hex(key), domain: s.qsDomain, hubTimestampMs: s.hubTimestampMs, recipients: s.recipients, padding, reported: new Set(), partialFailures: 0 });
    }
    try {
      await this.#db.batch(ops, SYNC);
    } catch (e) {
      throw e instanceof StoreError ? e : new StoreIoError({ cause: e });
    }
    for (const e of entries) this.#live.set(e.id, e);
    this.#count("persisted", entries.length);
    this.#pendingGauge.set(this.#live.size);

    const out: OutboxOutcome[] = new Array<OutboxOutcome>(subs.length);
    const byDomain = new Map<string, number[]>();
    subs.forEach((s, i) => byDomain.set(s.qsDomain, [...(byDomain.get(s.qsDomain) ?? []), i]));
    await Promise.all(
      [...byDomain].map(async ([domain, idxs]) => {
        const lane = this.#lane(domain);
        for (const i of idxs) {
          const e = entries[i]!;
          if (lane.entries.length > 0 || this.#closed) {
            this.#enqueue(lane, e, false);
            out[i] = { status: "pending" };
            continue;
          }
          const r = await this.#track(this.#attempt(e, subs[i]!.request, this.#inlineTimeout));
          out[i] = await this.#settleInline(lane, e, r);
        }
      }),
    );
    return out;
  }

  async #settleInline(lane: Lane, e: Entry, r: Attempt): Promise<OutboxOutcome> {
    switch (r.kind) {
      case "answered":
        await this.#answered(e, r, true);
        return r.partial ? { status: "pending", response: r.response } : { status: "delivered", response: r.response };
      case "permanent":
        await this.#reject(e, r.code);
        return { status: "rejected", code: r.code };
      case "gone":
        this.#forget(e);
        return { status: "pending" };
      case "transient":
        this.#enqueue(lane, e, true);
        return { status: "pending" };
    }
  }

  /** Puts an entry in its lane (in key order) and makes sure the lane runs. */
  #enqueue(lane: Lane, e: Entry, failedNow: boolean): void {
    let i = lane.entries.length;
    while (i > 0 && Buffer.compare(lane.entries[i - 1]!.key, e.key) > 0) i--;
    lane.entries.splice(i, 0, e);
    if (failedNow) {
      if (lane.failures === 0) this.#log.warn("fanout_outbox_unreachable", { pending: lane.entries.length });
      lane.failures++;
      lane.notBefore = performance.now() + this.#backoff(lane.failures);
    }
    this.#runLane(lane);
  }

  #runLane(lane: Lane): void {
    if (lane.running || this.#closed) return;
    lane.running = true;
    void this.#track(
      this.#laneLoop(lane)
        .catch((err: unknown) => this.#log.error("fanout_outbox_lane_failed", { error: (err as Error).name }))
        .finally(() => {
          lane.running = false;
          // an entry may have arrived while the loop was ending
          if (!this.#closed && lane.entries.length > 0) setTimeout(() => this.#runLane(lane), this.#initialBackoff).unref();
        }),
    );
  }

  async #laneLoop(lane: Lane): Promise<void> {
    // Bounded: each pass either settles the head, gives it up, or sleeps until its next attempt
    // (never past its expiry), and every entry expires after maxAgeMs.
    while (!this.#closed && lane.entries.length > 0) {
      const e = lane.entries[0]!;
      if (this.#untilExpiry(e) <= 0) {
        lane.entries.shift();
        await this.#expire(e);
        continue;
      }
      const wait = lane.notBefore - performance.now();
      if (wait > 0) {
        await this.#sleep(Math.min(wait, this.#untilExpiry(e) + 1));
        continue;
      }
      if (lane.failures > 0) this.#count("retried");
      const r = await this.#attempt(e, undefined, this.#retryTimeout);
      if (this.#closed) return;
      if (r.kind === "transient") {
        lane.failures++;
        lane.notBefore = performance.now() + this.#backoff(lane.failures);
        continue;
      }
      lane.entries.shift();
      if (lane.failures > 0) {
        this.#log.info("fanout_outbox_reachable_again", { failures: lane.failures, pending: lane.entries.length });
        lane.failures = 0;
        lane.notBefore = 0;
      }
      if (r.kind === "answered") await this.#answered(e, r, false);
      else if (r.kind === "permanent") await this.#reject(e, r.code);
      else this.#forget(e);
    }
  }

  /** A partly answered request (queue_full): retried on its own timer, outside its lane. */
  #schedulePartial(e: Entry): void {
    if (this.#closed) return;
    e.partialFailures++;
    const delay = Math.min(this.#backoff(e.partialFailures), Math.max(0, this.#untilExpiry(e)) + 1);
    e.timer = setTimeout(() => {
      e.timer = undefined;
      void this.#track(this.#retryPartial(e)).catch((err: unknown) => this.#log.error("fanout_outbox_retry_failed", { error: (err as Error).name }));
    }, delay);
    e.timer.unref();
  }

  async #retryPartial(e: Entry): Promise<void> {
    if (this.#closed) return;
    if (this.#untilExpiry(e) <= 0) return this.#expire(e);
    this.#count("retried");
    const r = await this.#attempt(e, undefined, this.#retryTimeout);
    if (this.#closed) return;
    if (r.kind === "transient") return this.#schedulePartial(e);
    if (r.kind === "answered") return this.#answered(e, r, false);
    if (r.kind === "permanent") return this.#reject(e, r.code);
    this.#forget(e);
  }

  async #attempt(e: Entry, bytes: Bytes | undefined, timeoutMs: number): Promise<Attempt> {
    let request = bytes;
    if (request === undefined) {
      let v: Bytes | undefined;
      try {
        v = await this.#db.get(e.key);
      } catch (err) {
        if (this.#closed) return { kind: "transient" };
        throw err;
      }
      if (v === undefined) return { kind: "gone" };
      request = decodeRecord(v).request;
    }
    let answer: Bytes;
    try {
      answer = await this.#send(e.domain, request, { signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), this.#abort.signal]) });
    } catch {
      return { kind: "transient" };
    }
    let res: DSFanoutResponse;
    try {
      res = DSFanoutResponse.deserialize(answer);
    } catch {
      return { kind: "transient" };
    }
    if (res.body.type === DSFanoutResponseType.error) return PERMANENT_CODES.has(res.body.code) ? { kind: "permanent", code: res.body.code } : { kind: "transient" };
    // A peer that answers for a different number of recipients is broken: retry until max age.
    if (res.body.results.length !== e.recipients) return { kind: "transient" };
    const partial = res.body.results.some((s) => s !== QueueingServiceResponse.ok && s !== QueueingServiceResponse.invalid_client_queue_information);
    return { kind: "answered", response: res as OkResponse, partial };
  }

  async #answered(e: Entry, r: Extract<Attempt, { kind: "answered" }>, inline: boolean): Promise<void> {
    let late = 0;
    const real = e.recipients - e.padding; // dummies are refused by design
    r.response.body.results.forEach((s, i) => {
      if (i >= real || s !== QueueingServiceResponse.invalid_client_queue_information || e.reported.has(i)) return;
      e.reported.add(i);
      if (!inline) late++;
    });
    if (late > 0) {
      // The DS held the group's state key only while the request was served: it cannot
      // propose this member's removal now. It will at that member's next inline refusal.
      this.#count("refused_after_retry", late);
      this.#log.warn("fanout_outbox_refused_after_retry", { recipients: late });
    }
    if (r.partial) return this.#schedulePartial(e);
    this.#count("delivered");
    await this.#remove(e);
  }

  async #reject(e: Entry, code: number): Promise<void> {
    this.#count("rejected");
    this.#log.error("fanout_outbox_rejected", { code: QSErrorCode[code] ?? String(code), recipients: e.recipients });
    await this.#remove(e);
  }

  async #expire(e: Entry): Promise<void> {
    this.#count("expired");
    this.#log.error("fanout_outbox_expired", { age_ms: this.#now() - e.hubTimestampMs, recipients: e.recipients });
    await this.#remove(e);
  }

  /** Deletes a settled entry. Not synced: a delete lost in a crash only causes a deduplicated resend. */
  async #remove(e: Entry): Promise<void> {
    if (e.timer !== undefined) clearTimeout(e.timer);
    try {
      await this.#db.del(e.key);
      this.#schedulePurge();
    } catch (err) {
      if (!this.#closed) this.#log.warn("fanout_outbox_delete_failed", { error: (err as Error).name });
    } finally {
      this.#forget(e);
    }
  }

  #schedulePurge(): void {
    if (this.#purgeTimer !== undefined || this.#closed || this.#dir === undefined) return;
    const wait = Math.max(0, this.#lastPurge + this.#purgeInterval - performance.now());
    this.#purgeTimer = setTimeout(() => {
      this.#purgeTimer = undefined;
      void this.#track(this.purge()).catch((err: unknown) => this.#log.error("fanout_outbox_purge_failed", { error: (err as Error).name }));
    }, wait);
    this.#purgeTimer.unref();
  }

  /**
   * Removes delivered (expired, refused) requests from the files: when nothing is pending, the
   * outbox closes its database, deletes its directory and starts a fresh one. Returns false (and
   * leaves everything as it is) while something is pending or being submitted; it runs again
   * after the next deletion. Needs a database the outbox opened itself (open()).
   */
  async purge(): Promise<boolean> {
    if (this.#closed) throw new StoreClosedError();
    const dir = this.#dir;
    if (dir === undefined) throw new StoreInputError("the outbox does not own its database");
    this.#lastPurge = performance.now();
    if (this.#live.size > 0 || this.#busy > 0 || [...this.#lanes.values()].some((l) => l.running) || this.#swapping !== undefined) return false;
    this.#swapping = (async () => {
      await this.#root.close();
      // rename first (atomic): a crash mid-delete leaves a stray directory, never a broken database
      const doomed = `${dir}${PURGE_SUFFIX}${randomBytes(6).toString("hex")}`;
      await rename(dir, doomed);
      await rm(doomed, { recursive: true, force: true });
      const root = await openBinaryLevel(dir);
      this.#root = root;
      this.#db = root.sublevel<Bytes, Bytes>(this.#prefix, { keyEncoding: "view", valueEncoding: "view" }) as unknown as Db;
    })();
    try {
      await this.#swapping;
    } finally {
      this.#swapping = undefined;
    }
    return true;
  }

  #forget(e: Entry): void {
    if (e.timer !== undefined) clearTimeout(e.timer);
    e.timer = undefined;
    this.#live.delete(e.id);
    this.#pendingGauge.set(this.#live.size);
    if (this.#live.size === 0) for (const w of [...this.#idleWaiters]) w(true);
  }

  /** Loads what an earlier run left and starts its lanes (each retries at once). */
  async #resume(): Promise<void> {
    let n = 0;
    const corrupt: Bytes[] = [];
    for await (const [k, v] of this.#db.iterator()) {
      let r: ReturnType<typeof decodeRecord>;
      try {
        if (k.length !== KEY_LEN) throw new CorruptRecordError("outbox key");
        r = decodeRecord(v);
      } catch {
        corrupt.push(k);
        continue;
      }
      const e: Entry = { key: Uint8Array.from(k), id: hex(k), domain: r.domain, hubTimestampMs: r.hubTimestampMs, recipients: r.recipients, padding: r.padding, reported: new Set(), partialFailures: 0 };
      this.#live.set(e.id, e);
      this.#lane(e.domain).entries.push(e);
      n++;
    }
    if (corrupt.length > 0) {
      this.#log.error("fanout_outbox_corrupt_entries", { count: corrupt.length });
      await this.#db.batch(corrupt.map((key) => ({ type: "del" as const, key })));
    }
    this.#pendingGauge.set(this.#live.size);
    if (n > 0) this.#log.info("fanout_outbox_resumed", { pending: n, destinations: this.#lanes.size });
    for (const lane of this.#lanes.values()) if (lane.entries.length > 0) this.#runLane(lane);
  }

  /** Resolves true once nothing is pending, false after `timeoutMs`. */
  idle(timeoutMs = 30_000): Promise<boolean> {
    if (this.#live.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (v: boolean) => {
        clearTimeout(t);
        this.#idleWaiters.delete(done);
        resolve(v);
      };
      const t = setTimeout(() => done(false), timeoutMs);
      this.#idleWaiters.add(done);
    });
  }

  /** Stops retrying (what is pending stays stored for the next start) and closes an owned database. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    if (this.#purgeTimer !== undefined) clearTimeout(this.#purgeTimer);
    for (const e of this.#live.values()) if (e.timer !== undefined) clearTimeout(e.timer);
    for (const wake of [...this.#sleepers]) wake();
    await Promise.allSettled([...this.#tasks]);
    for (const w of [...this.#idleWaiters]) w(this.#live.size === 0);
    if (this.#swapping !== undefined) await this.#swapping.catch(() => {});
    if (this.#dir !== undefined) await this.#root.close();
  }
}
