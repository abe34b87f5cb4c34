// The DS's durable fanout outbox (src/server/FanoutOutbox.ts; ARCHITECTURE.md s3 "Concurrency":
// nothing acknowledged is lost): persisted before the first send, deleted when answered,
// retried byte for byte with capped exponential backoff and jitter, in order per destination,
// resumed after a restart, given up after a maximum age (logged and counted), never silently.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { Level } from "level";
import { Registry } from "prom-client";
import { DSFanoutResponse } from "../../src/protocol/DSFanoutResponse.js";
import { DSFanoutResponseType, FANOUT_PROTOCOL_VERSION, QueueingServiceResponse } from "../../src/protocol/QsConstants.js";
import { QSErrorCode } from "../../src/protocol/QsErrors.js";
import { FanoutOutbox, type FanoutOutboxOptions, type FanoutSender, type OutboxSubmission } from "../../src/server/FanoutOutbox.js";
import type { Logger } from "../../src/util/log.js";
import { LevelQueueStore } from "../../src/qs/index.js";
import { createQueue, fetchAll, makeEnv, texts } from "../qs/qsFixtures.js";

type Bytes = Uint8Array;

const okAnswer = (...r: QueueingServiceResponse[]) => new DSFanoutResponse(FANOUT_PROTOCOL_VERSION, { type: DSFanoutResponseType.ok, results: r }).serialize();
const errAnswer = (code: QSErrorCode) => new DSFanoutResponse(FANOUT_PROTOCOL_VERSION, { type: DSFanoutResponseType.error, code }).serialize();
const sub = (domain: string, recipients = 1, hubTimestampMs = Date.now()): OutboxSubmission => ({ qsDomain: domain, request: new Uint8Array(randomBytes(64 + recipients)), hubTimestampMs, recipients });
const same = (a: Bytes, b: Bytes) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

function captureLogger(): Logger & { lines: { level: string; event: string; fields?: object }[] } {
  const lines: { level: string; event: string; fields?: object }[] = [];
  const at = (level: string) => (event: string, fields?: object) => void lines.push({ level, event, fields });
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** A scripted remote QS: `answer` decides per call; every call is recorded with its bytes. */
function scripted(answer: (request: Bytes, call: number) => Bytes | Error) {
  const calls: { at: number; request: Bytes }[] = [];
  const send: FanoutSender = async (_domain, request) => {
    calls.push({ at: performance.now(), request: Uint8Array.from(request) });
    const a = answer(request, calls.length);
    if (a instanceof Error) throw a;
    return a;
  };
  return { calls, send };
}

describe("fanout outbox (FanoutOutbox)", () => {
  let dir: string;
  let db: Level<Bytes, Bytes>;
  const opened: FanoutOutbox[] = [];
  const open = async (o: Partial<FanoutOutboxOptions> & { send: FanoutSender }) => {
    const ob = await FanoutOutbox.fromDb(db, { initialBackoffMs: 20, maxBackoffMs: 80, random: () => 0, registry: new Registry(), ...o });
    opened.push(ob);
    return ob;
  };
  const stored = async () => {
    const out: Bytes[] = [];
    for await (const v of db.sublevel<Bytes, Bytes>("fanout", { keyEncoding: "view", valueEncoding: "view" }).values()) out.push(v);
    return out;
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "mimi-outbox-"));
    db = new Level<Bytes, Bytes>(dir, { keyEncoding: "view", valueEncoding: "view" });
    await db.open();
  });
  afterEach(async () => {
    for (const o of opened.splice(0)) await o.close();
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("persists the signed request before the first send and deletes it once the QS answered", async () => {
    let seenAtSend: Bytes[] = [];
    const s = sub("b.test", 2);
    const ob = await open({
      send: async (domain, request) => {
        assert.equal(domain, "b.test");
        seenAtSend = await stored();
        return okAnswer(QueueingServiceResponse.ok, QueueingServiceResponse.ok);
      },
    });
    const [out] = await ob.submit([s]);
    assert.equal(out!.status, "delivered");
    assert.equal(seenAtSend.length, 1, "the request was on disk when it was sent");
    const rec = seenAtSend[0]!;
    assert.ok(same(rec.subarray(rec.length - s.request.length), s.request), "the record holds the request bytes");
    assert.equal(ob.pending, 0);
    assert.deepEqual(await stored(), [], "deleted once answered");
    assert.equal(ob.events.persisted, 1);
    assert.equal(ob.events.delivered, 1);
  });

  it("retries an unreachable QS byte for byte with capped exponential backoff, keeping later requests behind it in order", async () => {
    let down = true;
    const qs = scripted(() => (down ? new Error("ECONNREFUSED") : okAnswer(QueueingServiceResponse.ok)));
    const ob = await open({ send: qs.send });
    const x = sub("b.test");
    const [ox] = await ob.submit([x]);
    assert.equal(ox!.status, "pending", "not answered: kept for retry");
    assert.equal(qs.calls.length, 1, "one inline attempt");
    const [oy, oz] = await ob.submit([sub("b.test"), sub("b.test")]);
    assert.equal(oy!.status, "pending");
    assert.equal(oz!.status, "pending");
    assert.equal(qs.calls.length, 1, "requests behind an undelivered one get no inline attempt");
    await new Promise((r) => setTimeout(r, 400));
    const attempts = qs.calls.length;
    assert.ok(attempts >= 5 && attempts <= 14, `retried with backoff, not in a tight loop (${attempts} attempts in 400 ms)`);
    for (const c of qs.calls) assert.ok(same(c.request, x.request), "only the head is retried, byte for byte");
    const gaps = qs.calls.slice(1).map((c, i) => c.at - qs.calls[i]!.at);
    // random() = 0: delays are exactly half the base, 20 * 2^(n-1) capped at 80 -> 10, 20, 40, 40, ...
    gaps.forEach((g, i) => assert.ok(g >= Math.min(10 * 2 ** i, 40) - 3, `gap ${i} = ${g.toFixed(1)} ms`));
    assert.ok(gaps.every((g) => g < 200), "capped");
    down = false;
    assert.equal(await ob.idle(2000), true);
    const delivered = qs.calls.slice(attempts);
    assert.equal(delivered.length, 3, "then y and z, once each");
    assert.ok(same(delivered[0]!.request, x.request), "x first");
    assert.ok(ob.events.retried >= attempts - 1);
    assert.deepEqual(await stored(), []);
  });

  it("delivers in submission order per destination after the outage, and other destinations go inline meanwhile", async () => {
    let down = true;
    const seen: Bytes[] = [];
    const ob = await open({
      send: async (domain, request) => {
        if (domain === "b.test" && down) throw new Error("down");
        if (domain === "b.test") seen.push(request);
        return okAnswer(QueueingServiceResponse.ok);
      },
    });
    const subs = Array.from({ length: 5 }, () => sub("b.test"));
    for (const s of subs) await ob.submit([s]);
    const [c] = await ob.submit([sub("c.test")]);
    assert.equal(c!.status, "delivered", "another domain is answered inline");
    down = false;
    assert.equal(await ob.idle(3000), true);
    assert.equal(seen.length, 5);
    subs.forEach((s, i) => assert.ok(same(seen[i]!, s.request), `request ${i} in order`));
  });

  it("resumes what is pending after a restart", async () => {
    const down = scripted(() => new Error("down"));
    const ob1 = await open({ send: down.send });
    const subs = [sub("b.test"), sub("b.test", 3)];
    await ob1.submit(subs);
    assert.equal(ob1.pending, 2);
    await ob1.close();
    assert.equal((await stored()).length, 2, "kept on disk across the restart");
    const up = scripted((_r, n) => (n === 1 ? okAnswer(QueueingServiceResponse.ok) : okAnswer(QueueingServiceResponse.ok, QueueingServiceResponse.ok, QueueingServiceResponse.ok)));
    const ob2 = await open({ send: up.send });
    assert.equal(ob2.pending, 2);
    assert.equal(await ob2.idle(2000), true);
    assert.equal(up.calls.length, 2);
    subs.forEach((s, i) => assert.ok(same(up.calls[i]!.request, s.request), "the same bytes after the restart"));
    assert.deepEqual(await stored(), []);
  });

  it("gives a request up after the maximum age: logged as an error and counted, never silently", async () => {
    let now = 1_750_000_000_000;
    const log = captureLogger();
    const registry = new Registry();
    const ob = await open({ send: scripted(() => new Error("down")).send, now: () => now, maxAgeMs: 60_000, logger: log, registry });
    await ob.submit([sub("b.test", 4, now)]);
    assert.equal(ob.pending, 1);
    now += 61_000;
    assert.equal(await ob.idle(2000), true);
    assert.equal(ob.events.expired, 1);
    const line = log.lines.find((l) => l.event === "fanout_outbox_expired");
    assert.ok(line && line.level === "error", "logged as an error");
    assert.deepEqual(line.fields, { age_ms: 61_000, recipients: 4 });
    assert.match(await registry.metrics(), /mimi_provider_fanout_outbox_events_total\{event="expired"\} 1/);
    assert.match(await registry.metrics(), /mimi_provider_fanout_outbox_pending 0/);
    assert.deepEqual(await stored(), []);
  });

  it("drops a request the QS refuses for good (stale_request) and retries one it refuses for now (verification_key_unavailable)", async () => {
    const log = captureLogger();
    const ob = await open({ send: scripted(() => errAnswer(QSErrorCode.stale_request)).send, logger: log });
    const [o] = await ob.submit([sub("b.test")]);
    assert.deepEqual(o, { status: "rejected", code: QSErrorCode.stale_request });
    assert.equal(ob.events.rejected, 1);
    assert.ok(log.lines.some((l) => l.event === "fanout_outbox_rejected" && l.level === "error"));
    const qs = scripted((_r, n) => (n < 3 ? errAnswer(QSErrorCode.verification_key_unavailable) : okAnswer(QueueingServiceResponse.ok)));
    const ob2 = await open({ send: qs.send });
    const [o2] = await ob2.submit([sub("b.test")]);
    assert.equal(o2!.status, "pending");
    assert.equal(await ob2.idle(2000), true);
    assert.equal(qs.calls.length, 3);
  });

  it("retries a request answered with queue_full outside its lane, and counts references refused only on a retry", async () => {
    const log = captureLogger();
    const full = sub("b.test", 2);
    let fullCalls = 0;
    const ob = await open({
      logger: log,
      send: async (_d, request) => {
        if (!same(request, full.request)) return okAnswer(QueueingServiceResponse.ok);
        fullCalls++;
        if (fullCalls === 1) return okAnswer(QueueingServiceResponse.ok, QueueingServiceResponse.queue_full);
        return okAnswer(QueueingServiceResponse.ok, QueueingServiceResponse.invalid_client_queue_information);
      },
    });
    const [o] = await ob.submit([full]);
    assert.equal(o!.status, "pending");
    assert.ok(o?.status === "pending" && o.response, "the partial answer is handed back (its invalid items can be reported now)");
    const [next] = await ob.submit([sub("b.test")]);
    assert.equal(next!.status, "delivered", "a full queue does not hold the destination's lane");
    assert.equal(await ob.idle(2000), true);
    assert.equal(fullCalls, 2);
    assert.equal(ob.events.refused_after_retry, 1, "the refusal seen on the retry is counted");
    assert.ok(log.lines.some((l) => l.event === "fanout_outbox_refused_after_retry" && l.level === "warn"));
  });

  it("a padded request keeps its padding across a restart, and the dummies' refusals are never counted", async () => {
    const padded = { ...sub("b.test", 4), padding: 2 };
    const down = scripted(() => new Error("down"));
    const ob1 = await open({ send: down.send });
    const [o] = await ob1.submit([padded]);
    assert.equal(o!.status, "pending");
    await ob1.close();
    // after the restart the peer answers: the two real recipients were delivered, the two dummies refused
    const ob2 = await open({ send: async () => okAnswer(QueueingServiceResponse.ok, QueueingServiceResponse.ok, QueueingServiceResponse.invalid_client_queue_information, QueueingServiceResponse.invalid_client_queue_information) });
    assert.equal(await ob2.idle(2000), true);
    assert.equal(ob2.events.delivered, 1);
    assert.equal(ob2.events.refused_after_retry ?? 0, 0, "dummy refusals are not member refusals");
    assert.deepEqual(await stored(), []);
    await ob2.close();
    await assert.rejects(ob2.submit([{ ...sub("b.test"), padding: 1 }]), { name: "StoreClosedError" });
  });

  it("refuses a padding count that leaves no real recipient", async () => {
    const ob = await open({ send: scripted(() => okAnswer(QueueingServiceResponse.ok)).send });
    await assert.rejects(ob.submit([{ ...sub("b.test", 2), padding: 2 }]), { name: "StoreInputError" });
    await assert.rejects(ob.submit([{ ...sub("b.test", 2), padding: -1 }]), { name: "StoreInputError" });
    assert.deepEqual(await stored(), []);
  });

  it("rejects bad submissions with a typed error and persists nothing", async () => {
    const ob = await open({ send: scripted(() => okAnswer(QueueingServiceResponse.ok)).send });
    await assert.rejects(ob.submit([{ qsDomain: "", request: Uint8Array.of(1), hubTimestampMs: 1, recipients: 1 }]), { name: "StoreInputError" });
    await assert.rejects(ob.submit([sub("b.test"), { qsDomain: "b.test", request: new Uint8Array(0), hubTimestampMs: 1, recipients: 1 }]), { name: "StoreInputError" });
    await assert.rejects(ob.submit([{ qsDomain: "b.test", request: Uint8Array.of(1), hubTimestampMs: 1, recipients: 0 }]), { name: "StoreInputError" });
    assert.deepEqual(await stored(), []);
    await ob.close();
    await assert.rejects(ob.submit([sub("b.test")]), { name: "StoreClosedError" });
  });
});

describe("outbox at rest", () => {
  it("a delivered request does not outlive its delivery in the database files (the idle outbox starts a fresh database)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "mimi-outbox-purge-"));
    const marker = new Uint8Array(randomBytes(96));
    const inFiles = async () => {
      for (const f of await readdir(dir)) if (Buffer.from(await readFile(join(dir, f))).includes(Buffer.from(marker))) return true;
      return false;
    };
    const ob = await FanoutOutbox.open(dir, { send: async () => okAnswer(QueueingServiceResponse.ok), purgeIntervalMs: 3_600_000, registry: new Registry() });
    try {
      const [o] = await ob.submit([{ qsDomain: "b.test", request: marker, hubTimestampMs: Date.now(), recipients: 1 }]);
      assert.equal(o!.status, "delivered");
      assert.equal(await inFiles(), true, "LevelDB's log still holds the deleted request");
      assert.equal(await ob.purge(), true);
      assert.equal(await inFiles(), false, "gone from every file after the purge");
      // and the outbox works on
      const [o2] = await ob.submit([{ qsDomain: "b.test", request: Uint8Array.of(1, 2, 3), hubTimestampMs: Date.now(), recipients: 1 }]);
      assert.equal(o2!.status, "delivered");
    } finally {
      await ob.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("outbox purge keeps what is pending", () => {
  it("does not touch the database while a request is pending, and the request survives a restart", async () => {
    const dir = await mkdtemp(join(tmpdir(), "mimi-outbox-purge2-"));
    const req = new Uint8Array(randomBytes(50));
    const ob = await FanoutOutbox.open(dir, { send: async () => Promise.reject(new Error("down")), purgeIntervalMs: 3_600_000, registry: new Registry() });
    try {
      const [o] = await ob.submit([{ qsDomain: "b.test", request: req, hubTimestampMs: Date.now(), recipients: 1 }]);
      assert.equal(o!.status, "pending");
      assert.equal(await ob.purge(), false, "nothing is purged while a request is pending");
    } finally {
      await ob.close();
    }
    const got: Bytes[] = [];
    const ob2 = await FanoutOutbox.open(dir, { send: async (_d, r) => (got.push(r), okAnswer(QueueingServiceResponse.ok)), registry: new Registry() });
    try {
      assert.equal(await ob2.idle(2000), true);
      assert.equal(got.length, 1);
      assert.ok(same(got[0]!, req));
    } finally {
      await ob2.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("outbox retries against a real QS: deduplicated by message id", () => {
  it("a request whose answer was lost is enqueued once, however often it is resent", async () => {
    const dir = await mkdtemp(join(tmpdir(), "mimi-outbox-qs-"));
    const store = await LevelQueueStore.open(join(dir, "qs"));
    const env = makeEnv({ store });
    const q1 = await createQueue(env);
    const q2 = await createQueue(env);
    const batch = env.signer.buildRequests([await q1.queueConfig(), await q2.queueConfig()].map((queueConfig) => ({ queueConfig, message: new TextEncoder().encode("once") })), { hubTimestampMs: env.clock.t });
    const planned = batch.requests[0]!;
    let calls = 0;
    const ob = await FanoutOutbox.open(join(dir, "outbox"), {
      initialBackoffMs: 10,
      maxBackoffMs: 20,
      now: env.clock.now,
      send: async (_d, request) => {
        calls++;
        const answer = await env.qs.handleFanout(request);
        if (calls <= 2) throw new Error("connection reset after the QS enqueued"); // the answer is lost
        return answer;
      },
    });
    try {
      const [o] = await ob.submit([{ qsDomain: "qs.b.test", request: planned.request.serialize(), hubTimestampMs: planned.request.hubTimestampMs, recipients: 2 }]);
      assert.equal(o!.status, "pending");
      assert.equal(await ob.idle(2000), true);
      assert.equal(calls, 3);
      for (const q of [q1, q2]) {
        const f = await fetchAll(env, q);
        assert.deepEqual(texts(q, f.messages), ["once"], "each queue holds the message exactly once");
        assert.equal(f.nextSequence, 1n);
      }
    } finally {
      await ob.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
