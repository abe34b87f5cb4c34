// DS -> QS fanout (draft-robert-mimi-delivery-service s"DSFanoutRequests and DS-to-DS
// authentication"; draft-kohbrok-mimi-moh s"Verification Key"): allow-list, signatures with
// rotating keys fetched from /verification_key, per-recipient answers, one atomic batch per
// request, dedup by (message_id, queue).
import { strict as assert } from "node:assert";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { decodeClientQueueConfig, encodeClientQueueConfig } from "../../src/protocol/ClientQueueConfig.js";
import { DSFanoutRequest } from "../../src/protocol/DSFanoutRequest.js";
import { DSFanoutResponse } from "../../src/protocol/DSFanoutResponse.js";
import { DSFanoutResponseType, QueueingServiceResponse } from "../../src/protocol/QsConstants.js";
import { QSErrorCode, VerificationKeyUnavailableError } from "../../src/protocol/QsErrors.js";
import { VerificationKeyResponse } from "../../src/protocol/VerificationKeyResponse.js";
import {
  DsFanoutSigner,
  Ed25519SigningKey,
  fanoutOutcome,
  recipientBucket,
  HttpVerificationKeyResolver,
  LevelQueueStore,
  MemoryQueueStore,
  QueueingService,
  type EnqueueEntry,
  type EnqueueOptions,
  type MessageSealer,
} from "../../src/qs/index.js";
import { Clock, createQueue, DS_DOMAIN, fanoutError, fetchAll, makeEnv, okResults, randomId, restart, sendFanout, te, tempDir, texts, type Env, type TestQueue } from "./qsFixtures.js";

/** A store that records every enqueue call (to see that one request is one batch). */
class SpyStore extends MemoryQueueStore {
  calls: number[] = [];
  override enqueue(entries: readonly EnqueueEntry[], seal: MessageSealer, opts: EnqueueOptions) {
    this.calls.push(entries.length);
    return super.enqueue(entries, seal, opts);
  }
}

async function nextSeqs(env: Env, qs: TestQueue[]): Promise<bigint[]> {
  return Promise.all(qs.map(async (q) => (await env.store.getHead(q.queueId))!.nextSeq));
}

describe("fanout refusals: nothing is enqueued", () => {
  it("unsigned, wrongly signed, unknown-domain, stale and unverifiable fanouts are refused with typed errors", async () => {
    const env = makeEnv();
    const q = await createQueue(env);
    const qc = await q.queueConfig();
    const fields = { messageId: randomId(32), recipients: [{ sealedReference: decodeClientQueueConfig(qc).sealedReference }], message: te.encode("x"), hubTimestampMs: env.clock.t };
    const good = env.signer.sign(fields);

    const unsigned = new DSFanoutRequest(good, new Uint8Array(0));
    assert.equal(fanoutError(await sendFanout(env.qs, unsigned)), QSErrorCode.bad_signature);

    const otherKey = DsFanoutSigner.generate(DS_DOMAIN, { now: env.clock.now }).sign(fields);
    const callsBefore = env.resolver.calls.get(DS_DOMAIN) ?? 0;
    assert.equal(fanoutError(await sendFanout(env.qs, otherKey)), QSErrorCode.bad_signature);
    assert.equal(env.resolver.calls.get(DS_DOMAIN)! - callsBefore, 2, "cached lookup, then one refresh");

    const flipped = good.serialize();
    flipped[flipped.length - 1]! ^= 1;
    assert.equal(fanoutError(await sendFanout(env.qs, flipped)), QSErrorCode.bad_signature);

    // a correctly signed request whose body was changed after signing
    const tampered = new DSFanoutRequest({ ...good, message: te.encode("y") }, good.signature);
    assert.equal(fanoutError(await sendFanout(env.qs, tampered)), QSErrorCode.bad_signature);

    const stranger = DsFanoutSigner.generate("evil.test", { now: env.clock.now });
    env.resolver.set("evil.test", stranger.publishedKeys());
    assert.equal(fanoutError(await sendFanout(env.qs, stranger.sign(fields))), QSErrorCode.sender_not_allowed);
    assert.equal(env.resolver.calls.get("evil.test"), undefined, "an unlisted domain never triggers a key lookup");

    assert.equal(fanoutError(await sendFanout(env.qs, env.signer.sign({ ...fields, hubTimestampMs: env.clock.t - 3_600_001 }))), QSErrorCode.stale_request);
    assert.equal(fanoutError(await sendFanout(env.qs, env.signer.sign({ ...fields, hubTimestampMs: env.clock.t + 300_001 }))), QSErrorCode.stale_request);
    assert.equal(fanoutError(await sendFanout(env.qs, env.signer.sign({ ...fields, version: 2 }))), QSErrorCode.unsupported_version);
    assert.equal(fanoutError(await sendFanout(env.qs, Uint8Array.of(0, 1, 2))), QSErrorCode.malformed);

    env.resolver.delete(DS_DOMAIN);
    assert.equal(fanoutError(await sendFanout(env.qs, good)), QSErrorCode.verification_key_unavailable);
    assert.deepEqual(await nextSeqs(env, [q]), [0n]);
    assert.equal((await fetchAll(env, q)).messages.length, 0);

    // and the same request, once the keys resolve, goes through
    env.resolver.set(DS_DOMAIN, env.signer.publishedKeys());
    assert.deepEqual(okResults(await sendFanout(env.qs, good)), [QueueingServiceResponse.ok]);
    assert.deepEqual(await nextSeqs(env, [q]), [1n]);
  });
});


describe("per-recipient answers in one atomic batch", () => {
  it("invalid references get invalid_client_queue_information; the valid recipients are enqueued in one batch", async () => {
    const store = new SpyStore();
    const env = makeEnv({ store });
    const [a, b, gone] = [await createQueue(env), await createQueue(env), await createQueue(env)];
    const goneCfg = await gone.queueConfig();
    await env.store.deleteQueue(gone.queueId);
    const cfgs = [await a.queueConfig(), encodeClientQueueConfig({ qsDomain: "qs.b.test", sealedReference: randomId(68) }), await b.queueConfig(), goneCfg];
    const batch = env.signer.buildRequests(cfgs.map((queueConfig) => ({ queueConfig, message: te.encode("to all") })));
    store.calls = [];
    const res = await sendFanout(env.qs, batch.requests[0]!.request);
    assert.deepEqual(okResults(res), [0, 1, 0, 1]);
    assert.deepEqual(store.calls, [3], "one enqueue (one batch) with every recipient whose reference opened");
    assert.deepEqual(texts(a, (await fetchAll(env, a)).messages), ["to all"]);
    assert.deepEqual(texts(b, (await fetchAll(env, b)).messages), ["to all"]);
    const out = fanoutOutcome(batch.requests[0]!, res);
    assert.deepEqual(out, { delivered: [0, 2], invalid: [1, 3], retry: [] });
  });

  it("recipient-count padding: a padded request names a size bucket, the QS refuses the dummies and the DS ignores them", async () => {
    assert.deepEqual([1, 2, 4, 5, 8, 9, 100].map(recipientBucket), [4, 4, 4, 8, 8, 16, 128]);
    const env = makeEnv();
    const [a, b, c] = [await createQueue(env), await createQueue(env), await createQueue(env)];
    const cfgs = [await a.queueConfig(), await b.queueConfig(), await c.queueConfig()];
    const batch = env.signer.buildRequests(cfgs.map((queueConfig) => ({ queueConfig, message: te.encode("padded") })), { padRecipients: (_d, n) => recipientBucket(n) });
    const planned = batch.requests[0]!;
    assert.equal(planned.request.recipients.length, 4);
    assert.equal(planned.padding, 1);
    assert.deepEqual(planned.itemIndexes, [0, 1, 2]);
    const realLength = planned.request.recipients[0]!.sealedReference.length;
    assert.ok(planned.request.recipients.every((r) => r.sealedReference.length === realLength && r.sealedJoinerKey === undefined), "dummies look like real references on the wire");
    const res = await sendFanout(env.qs, planned.request);
    assert.deepEqual(okResults(res), [0, 0, 0, 1], "the QS refuses only the dummy");
    assert.deepEqual(fanoutOutcome(planned, res), { delivered: [0, 1, 2], invalid: [], retry: [] }, "no removal is proposed for a dummy");
    for (const q of [a, b, c]) assert.deepEqual(texts(q, (await fetchAll(env, q)).messages), ["padded"]);
    // without padding nothing changes, and padding never exceeds the request limits
    const plain = env.signer.buildRequests(cfgs.map((queueConfig) => ({ queueConfig, message: te.encode("plain") })));
    assert.equal(plain.requests[0]!.request.recipients.length, 3);
    assert.equal(plain.requests[0]!.padding, 0);
    const capped = env.signer.buildRequests(cfgs.map((queueConfig) => ({ queueConfig, message: te.encode("capped") })), { padRecipients: () => 1_000_000 });
    assert.ok(capped.requests[0]!.request.recipients.length <= 1000);
    assert.throws(() => fanoutOutcome({ ...planned, padding: 0 }, res), /different number of results/);
  });

  it("a full queue answers queue_full (transient) while the others are delivered", async () => {
    const env = makeEnv({ limits: { maxQueueLength: 2 } });
    const [a, b] = [await createQueue(env), await createQueue(env)];
    const [ca, cb] = [await a.queueConfig(), await b.queueConfig()];
    const send = async (cfgs: Uint8Array[], t: string) => {
      const batch = env.signer.buildRequests(cfgs.map((queueConfig) => ({ queueConfig, message: te.encode(t) })));
      return { planned: batch.requests[0]!, res: await sendFanout(env.qs, batch.requests[0]!.request) };
    };
    await send([ca], "1");
    await send([ca], "2");
    const { planned, res } = await send([ca, cb], "3");
    assert.deepEqual(okResults(res), [QueueingServiceResponse.queue_full, QueueingServiceResponse.ok]);
    assert.deepEqual(fanoutOutcome(planned, res), { delivered: [1], invalid: [], retry: [0] });
    await env.qs.handleClientRequest(a.owner.ack(a.queueId, 0n).serialize());
    assert.deepEqual(okResults((await send([ca], "4")).res), [QueueingServiceResponse.ok]);
    assert.deepEqual(texts(a, (await fetchAll(env, a)).messages), ["2", "4"]);
  });
});

describe("dedup by (message_id, queue)", () => {
  it("the same fanout sent twice enqueues once, also after an ack and after a restart (level)", async () => {
    const t = await tempDir();
    try {
      let store = await LevelQueueStore.open(t.dir);
      const clock = new Clock();
      const env = makeEnv({ store, clock });
      const [a, b] = [await createQueue(env), await createQueue(env)];
      const [ca, cb] = [await a.queueConfig(), await b.queueConfig()];
      const bytes = env.signer.buildRequests([ca, cb].map((queueConfig) => ({ queueConfig, message: te.encode("once") }))).requests[0]!.request.serialize();
      assert.deepEqual(okResults(await sendFanout(env.qs, bytes)), [0, 0]);
      assert.deepEqual(okResults(await sendFanout(env.qs, bytes)), [0, 0], "a retry is answered ok");
      assert.deepEqual(await nextSeqs(env, [a, b]), [1n, 1n]);
      // both references of one queue in one request: one message
      const twice = env.signer.buildRequests([ca, await a.queueConfig()].map((queueConfig) => ({ queueConfig, message: te.encode("dup in request") })));
      assert.deepEqual(okResults(await sendFanout(env.qs, twice.requests[0]!.request)), [0, 0]);
      assert.deepEqual(await nextSeqs(env, [a]), [2n]);

      await env.qs.handleClientRequest(a.owner.ack(a.queueId, 1n).serialize());
      assert.deepEqual(okResults(await sendFanout(env.qs, bytes)), [0, 0]);
      assert.equal((await fetchAll(env, a)).messages.length, 0, "an acknowledged message is not re-enqueued by a retry");

      await store.close();
      store = await LevelQueueStore.open(t.dir);
      const env2 = restart(env, store);
      assert.deepEqual(okResults(await sendFanout(env2.qs, bytes)), [0, 0]);
      assert.deepEqual(await nextSeqs(env2, [a, b]), [2n, 1n], "dedup entries are durable");

      // entries live while the request could still be accepted, then the sweep drops them
      clock.t += 60_000;
      assert.equal(await env2.qs.sweep(), 0);
      clock.t += 3_600_000 + 300_000;
      assert.equal(fanoutError(await sendFanout(env2.qs, bytes)), QSErrorCode.stale_request, "past the window the request itself is refused");
      assert.equal(await env2.qs.sweep(), 3, "(once, a) (once, b) (dup in request, a)");
      assert.equal(await env2.qs.sweep(), 0);
      await store.close();
    } finally {
      await t.cleanup();
    }
  });
});

describe("DsFanoutSigner: grouping, splitting, rotation", () => {
  it("builds one request per (QS domain, message), split at the recipient limit; bad queue configs are reported", () => {
    const signer = DsFanoutSigner.generate("ds.a.test", { maxRecipientsPerRequest: 2 });
    const cfg = (d: string) => encodeClientQueueConfig({ qsDomain: d, sealedReference: randomId(68) });
    const m1 = te.encode("commit");
    const m2 = te.encode("welcome");
    const items = [
      { queueConfig: cfg("qs.b.test"), message: m1 },
      { queueConfig: cfg("qs.c.test"), message: m1 },
      { queueConfig: randomId(5), message: m1 },
      { queueConfig: cfg("qs.b.test"), message: Uint8Array.from(m1) }, // same content, other array
      { queueConfig: cfg("qs.b.test"), message: m2, sealedJoinerKey: randomId(50) },
      { queueConfig: cfg("qs.b.test"), message: m1 },
    ];
    const batch = signer.buildRequests(items, { hubTimestampMs: 77 });
    assert.deepEqual(batch.invalidItems, [2]);
    const summary = batch.requests.map((p) => [p.qsDomain, new TextDecoder().decode(p.request.message), p.itemIndexes]);
    assert.deepEqual(summary, [
      ["qs.b.test", "commit", [0, 3]],
      ["qs.b.test", "commit", [5]],
      ["qs.c.test", "commit", [1]],
      ["qs.b.test", "welcome", [4]],
    ]);
    const r = batch.requests;
    assert.deepEqual(r[0]!.request.messageId, r[1]!.request.messageId, "one message, one message_id");
    assert.notDeepEqual(r[0]!.request.messageId, r[3]!.request.messageId);
    assert.deepEqual(r[3]!.request.recipients[0]!.sealedJoinerKey, items[4]!.sealedJoinerKey);
    for (const p of r) {
      assert.equal(p.request.hubTimestampMs, 77);
      assert.equal(p.request.senderDomain, "ds.a.test");
    }
    const err = new DSFanoutResponse(1, { type: DSFanoutResponseType.error, code: QSErrorCode.bad_signature });
    assert.deepEqual(fanoutOutcome(r[0]!, err), { delivered: [], invalid: [], retry: [0, 3], error: QSErrorCode.bad_signature });
    assert.throws(() => fanoutOutcome(r[0]!, new DSFanoutResponse(1, { type: DSFanoutResponseType.ok, results: [0] })));
  });

  it("splits by expanded size, and a QS refuses a request that expands beyond its limit (limit_exceeded)", async () => {
    const env = makeEnv({ limits: { maxFanoutBytes: 10_000 } });
    const qs = [await createQueue(env), await createQueue(env), await createQueue(env)];
    const cfgs = await Promise.all(qs.map((q) => q.queueConfig()));
    const message = new Uint8Array(4000).fill(7);
    const whole = env.signer.buildRequests(cfgs.map((queueConfig) => ({ queueConfig, message })));
    assert.equal(whole.requests.length, 1);
    assert.equal(fanoutError(await sendFanout(env.qs, whole.requests[0]!.request)), QSErrorCode.limit_exceeded);
    assert.deepEqual(await nextSeqs(env, qs), [0n, 0n, 0n]);
    const small = new DsFanoutSigner(DS_DOMAIN, env.signer.exportKeys(), { now: env.clock.now, maxExpandedBytes: 9000 });
    const split = small.buildRequests(cfgs.map((queueConfig) => ({ queueConfig, message })));
    assert.deepEqual(split.requests.map((p) => p.itemIndexes), [[0, 1], [2]]);
    for (const p of split.requests) assert.deepEqual(okResults(await sendFanout(env.qs, p.request)), p.itemIndexes.map(() => 0));
    assert.deepEqual(await nextSeqs(env, qs), [1n, 1n, 1n]);
  });

  it("rotation keeps the old key published for the overlap window; the keys persist and restore", () => {
    const clock = new Clock();
    const signer = DsFanoutSigner.generate("ds.a.test", { now: clock.now, overlapMs: 1000 });
    const k1 = signer.currentPublicKey;
    signer.rotate();
    const k2 = signer.currentPublicKey;
    assert.deepEqual(signer.publishedKeys(), [k2, k1]);
    const vkr = VerificationKeyResponse.deserialize(signer.verificationKeyResponse().serialize());
    assert.deepEqual(vkr.keys.map((k) => [k.signatureScheme, k.publicKey]), [[0x0807, k2], [0x0807, k1]]);
    const restored = new DsFanoutSigner("ds.a.test", signer.exportKeys(), { now: clock.now, overlapMs: 1000 });
    assert.deepEqual(restored.publishedKeys(), [k2, k1]);
    clock.t += 1000;
    assert.deepEqual(signer.publishedKeys(), [k2]);
    assert.equal(signer.exportKeys().length, 1);
    assert.throws(() => new DsFanoutSigner("ds.a.test", []), RangeError);
    assert.deepEqual(Ed25519SigningKey.fromPrivateKey(signer.exportKeys()[0]!.privateKey).publicKey, k2);
  });
});

/** A loopback /verification_key endpoint serving whatever `body()` returns. */
async function keyServer(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return { base: `http://127.0.0.1:${port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe("HttpVerificationKeyResolver against GET /verification_key (loopback)", () => {
  it("fetches, caches, refreshes once after the DS rotated, and rate-limits refreshes", async () => {
    const clock = new Clock();
    const signer = DsFanoutSigner.generate(DS_DOMAIN, { now: clock.now });
    const paths: string[] = [];
    const srv = await keyServer((req, res) => {
      paths.push(`${req.method} ${req.url}`);
      res.writeHead(200, { "content-type": "application/octet-stream" }).end(signer.verificationKeyResponse().serialize());
    });
    try {
      const resolver = new HttpVerificationKeyResolver({ baseUrl: srv.base, now: clock.now, ttlMs: 60_000, minRefreshIntervalMs: 5_000 });
      const store = new MemoryQueueStore();
      const env = makeEnv({ store, clock });
      const qs = new QueueingService({ store, referenceKeys: env.refKeys, federation: { allowedDomains: [DS_DOMAIN], resolver }, now: clock.now });
      const q = await createQueue({ ...env, qs });
      const qc = await q.queueConfig();
      const send = (s: DsFanoutSigner, t: string) => sendFanout(qs, s.buildRequests([{ queueConfig: qc, message: te.encode(t) }]).requests[0]!.request);

      assert.deepEqual(okResults(await send(signer, "1")), [0]);
      assert.deepEqual(okResults(await send(signer, "2")), [0]);
      assert.equal(resolver.fetches, 1, "cached");
      assert.deepEqual(paths, ["GET /verification_key"]);

      const beforeRotation = new DsFanoutSigner(DS_DOMAIN, signer.exportKeys(), { now: clock.now });
      clock.t += 6_000;
      signer.rotate();
      assert.deepEqual(okResults(await send(signer, "3 (new key)")), [0]);
      assert.equal(resolver.fetches, 2, "one refresh for the unknown key");
      assert.deepEqual(okResults(await send(beforeRotation, "4 (old key, in overlap)")), [0]);

      const impostor = DsFanoutSigner.generate(DS_DOMAIN, { now: clock.now });
      for (let i = 0; i < 5; i++) assert.equal(fanoutError(await send(impostor, `bad ${i}`)), QSErrorCode.bad_signature);
      assert.equal(resolver.fetches, 2, "bad signatures inside the refresh interval cause no fetch");
      clock.t += 5_000;
      assert.equal(fanoutError(await send(impostor, "bad later")), QSErrorCode.bad_signature);
      assert.equal(resolver.fetches, 3, "at most one refresh per interval");
      assert.deepEqual(texts(q, (await fetchAll({ ...env, qs }, q)).messages), ["1", "2", "3 (new key)", "4 (old key, in overlap)"]);
      clock.t += 60_000;
      await resolver.resolve(DS_DOMAIN);
      assert.equal(resolver.fetches, 4, "refetched after the TTL");
    } finally {
      await srv.close();
    }
  });

  it("non-200, oversized, garbage, redirecting and key-less answers are VerificationKeyUnavailableError; a cached answer is served while fetches fail", async () => {
    let mode = "ok";
    const signer = DsFanoutSigner.generate(DS_DOMAIN);
    const srv = await keyServer((_req, res) => {
      if (mode === "ok") res.writeHead(200).end(signer.verificationKeyResponse().serialize());
      else if (mode === "500") res.writeHead(500).end();
      else if (mode === "big") res.writeHead(200).end(new Uint8Array(20_000));
      else if (mode === "garbage") res.writeHead(200).end(Uint8Array.of(1, 2, 3));
      else if (mode === "redirect") res.writeHead(302, { location: "http://127.0.0.1:1/" }).end();
      else if (mode === "nokeys") res.writeHead(200).end(new VerificationKeyResponse(1, [{ signatureScheme: 0x0403, publicKey: randomId(65) }]).serialize());
    });
    try {
      const clock = new Clock();
      for (const m of ["500", "big", "garbage", "redirect", "nokeys"]) {
        mode = m;
        const r = new HttpVerificationKeyResolver({ baseUrl: srv.base, now: clock.now });
        await assert.rejects(r.resolve(DS_DOMAIN), VerificationKeyUnavailableError, m);
        await assert.rejects(r.resolve(DS_DOMAIN), VerificationKeyUnavailableError, `${m} (remembered)`);
        assert.equal(r.fetches, 1, `${m}: a failure is remembered for errorTtlMs`);
      }
      mode = "ok";
      const r = new HttpVerificationKeyResolver({ baseUrl: (d) => `${srv.base}/verification_key?d=${d}`, now: clock.now, ttlMs: 1000, errorTtlMs: 100, staleIfErrorMs: 10_000 });
      assert.deepEqual(await r.resolve(DS_DOMAIN), signer.publishedKeys());
      mode = "500";
      clock.t += 2000;
      assert.deepEqual(await r.resolve(DS_DOMAIN), signer.publishedKeys(), "stale answer while the DS is down");
      clock.t += 10_000;
      await assert.rejects(r.resolve(DS_DOMAIN), VerificationKeyUnavailableError);
      await assert.rejects(new HttpVerificationKeyResolver().resolve("not a domain/x"), VerificationKeyUnavailableError);
      // concurrent lookups share one fetch
      mode = "ok";
      const c = new HttpVerificationKeyResolver({ baseUrl: srv.base });
      await Promise.all([c.resolve(DS_DOMAIN), c.resolve(DS_DOMAIN), c.resolve(DS_DOMAIN)]);
      assert.equal(c.fetches, 1);
    } finally {
      await srv.close();
    }
  });
});
