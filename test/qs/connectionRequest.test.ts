// POST /connection_request at the responder's QS (draft-kohbrok-mimi-moh s"Deliver Connection
// Request", draft-robert-mimi-delivery-service s"Privacy preserving message delivery"):
// QueueingService.handleConnectionRequest / deliverConnectionOffer. A ConnectionRequest whose
// sealed reference opens is queued as a QueuedMessage of content type connection_offer, which
// the queue owner fetches, decrypts and opens; the answer is a DSFanoutResponse with exactly one
// result. Bad references, retries, the per-queue offer cap, malformed bytes and foreign versions
// each get their specific answer, and the handler never throws.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { CiphersuiteImpl } from "ts-mls";
import { openConnectionOffer, sealConnectionOffer } from "../../src/client/connectionOffer.js";
import { makeKeyPackage } from "../../src/client/dsMember.js";
import { getNodeCiphersuiteImpl } from "../../src/mls/cryptoProvider.js";
import { ConnectionOffer } from "../../src/protocol/ConnectionOffer.js";
import { ConnectionRequest } from "../../src/protocol/ConnectionRequest.js";
import { DSFanoutResponse } from "../../src/protocol/DSFanoutResponse.js";
import { CONNECTION_REQUEST_VERSION, DSFanoutResponseType, FANOUT_PROTOCOL_VERSION, QueueingServiceResponse, QueuedContentType } from "../../src/protocol/QsConstants.js";
import { QSErrorCode, QsUnsupportedVersionError } from "../../src/protocol/QsErrors.js";
import { TlsWriter } from "../../src/protocol/tls.js";
import { LevelQueueStore, QueueReferenceKeyPair, QueueReferenceKeys, sealQueueReference } from "../../src/qs/index.js";
import { call, Clock, createQueue, fanoutError, fanoutTo, fetchAll, makeEnv, prng, QS_DOMAIN, tempDir, type Env, type TestQueue } from "./qsFixtures.js";

const rb = (n: number) => new Uint8Array(randomBytes(n));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** The sealed reference a connection KeyPackage of `q` would carry. */
const referenceOf = (q: TestQueue) => sealQueueReference(q.refKey.publicKey, q.refKey.keyId, QS_DOMAIN, q.queueId);

async function post(env: Env, bytes: Uint8Array): Promise<DSFanoutResponse> {
  const out = await env.qs.handleConnectionRequest(bytes);
  const r = DSFanoutResponse.deserialize(out);
  assert.equal(r.version, FANOUT_PROTOCOL_VERSION);
  return r;
}

/** The single per-request result of an ok answer. */
function onlyResult(r: DSFanoutResponse): QueueingServiceResponse {
  if (r.body.type !== DSFanoutResponseType.ok) assert.fail(`connection request refused: ${QSErrorCode[r.body.code]}`);
  assert.equal(r.body.results.length, 1, "exactly one result");
  return r.body.results[0]!;
}

const offerRequest = async (q: TestQueue, sealedOffer = rb(120)) => new ConnectionRequest(await referenceOf(q), sealedOffer).serialize();

describe("connection requests: enqueue a sealed offer for the queue its reference opens to", () => {
  let cs: CiphersuiteImpl;
  before(async () => {
    cs = await getNodeCiphersuiteImpl("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519");
  });

  it("a real sealed offer is queued as connection_offer; the owner fetches, decrypts and opens it", async () => {
    const env = makeEnv();
    const q = await createQueue(env);
    // the responder's connection KeyPackage carries the queue's sealed reference
    const sealedReference = await referenceOf(q);
    const kp = await makeKeyPackage(cs, rb(16), { qsDomain: QS_DOMAIN, sealedReference });
    const offer = new ConnectionOffer("hub.a.test", rb(32), rb(32), "mimi://a.test/u/alice");
    const sealedOffer = await sealConnectionOffer(offer, kp.publicPackage, cs);

    const r = await post(env, new ConnectionRequest(sealedReference, sealedOffer).serialize());
    assert.equal(onlyResult(r), QueueingServiceResponse.ok);

    const f = await fetchAll(env, q);
    assert.equal(f.messages.length, 1);
    const m = q.decryptor.decrypt(f.messages[0]!);
    assert.equal(m.contentType, QueuedContentType.connection_offer);
    assert.deepEqual(m.message, sealedOffer, "the sealed offer bytes, unchanged");
    assert.equal(m.sealedJoinerKey, undefined);
    assert.equal(m.senderDomain, QS_DOMAIN, "offers are stamped with this QS's domain");
    assert.equal(m.hubTimestampMs, env.clock.t, "and its acceptance time");
    // the stored ciphertext does not show the offer
    assert.ok(!hex(f.messages[0]!.ciphertext).includes(hex(sealedOffer.subarray(0, 24))));

    const opened = await openConnectionOffer(m.message, [kp], cs);
    assert.equal(opened.offer.initiatorUri, offer.initiatorUri);
    assert.deepEqual(opened.offer.groupId, offer.groupId);
    assert.deepEqual(opened.offer.earKey, offer.earKey);
  });

  it("offers and group messages share the queue, in order, told apart only after decryption", async () => {
    const env = makeEnv();
    const q = await createQueue(env);
    const qc = await q.queueConfig();
    assert.deepEqual(await fanoutTo(env, [qc], "m0"), [QueueingServiceResponse.ok]);
    const sealedOffer = rb(80);
    assert.equal(onlyResult(await post(env, await offerRequest(q, sealedOffer))), QueueingServiceResponse.ok);
    assert.deepEqual(await fanoutTo(env, [qc], "m2"), [QueueingServiceResponse.ok]);
    const f = await fetchAll(env, q);
    assert.deepEqual(f.messages.map((x) => x.sequence), [0n, 1n, 2n]);
    const d = f.messages.map((x) => q.decryptor.decrypt(x));
    assert.deepEqual(d.map((x) => x.contentType), [QueuedContentType.mls_message, QueuedContentType.connection_offer, QueuedContentType.mls_message]);
    assert.deepEqual(d[1]!.message, sealedOffer);
  });

  it("a reference that does not open answers invalid_client_queue_information and queues nothing", async () => {
    const env = makeEnv();
    const q = await createQueue(env);
    const good = await referenceOf(q);
    const tampered = Uint8Array.from(good);
    tampered[tampered.length - 1]! ^= 1;
    const otherQs = new QueueReferenceKeys(QS_DOMAIN, [QueueReferenceKeyPair.generate(1)]).current;
    const bad = [
      rb(48), // random bytes
      tampered, // a flipped bit in the HPKE ciphertext
      await sealQueueReference(q.refKey.publicKey, q.refKey.keyId, "other.test", q.queueId), // sealed for another QS domain (AAD)
      await sealQueueReference(otherQs.publicKey, q.refKey.keyId, QS_DOMAIN, q.queueId), // to another QS's key
      await sealQueueReference(q.refKey.publicKey, q.refKey.keyId, QS_DOMAIN, rb(16)), // opens, but no such queue
    ];
    for (const [i, ref] of bad.entries()) {
      const r = await post(env, new ConnectionRequest(ref, rb(64)).serialize());
      assert.equal(onlyResult(r), QueueingServiceResponse.invalid_client_queue_information, `bad reference #${i}`);
    }
    assert.equal((await fetchAll(env, q)).messages.length, 0, "nothing was queued");
    // a deleted queue's reference is invalid as well
    await call(env.qs, q.owner.deleteQueue(q.queueId));
    assert.equal(onlyResult(await post(env, new ConnectionRequest(good, rb(64)).serialize())), QueueingServiceResponse.invalid_client_queue_information);
  });

  it("the same offer bytes twice are queued once (a retry is deduplicated), and answered ok both times", async () => {
    const env = makeEnv();
    const q = await createQueue(env);
    const sealedOffer = rb(100);
    const req = await offerRequest(q, sealedOffer);
    assert.equal(onlyResult(await post(env, req)), QueueingServiceResponse.ok);
    env.clock.t += 1000;
    assert.equal(onlyResult(await post(env, req)), QueueingServiceResponse.ok);
    // another sealed reference for the same queue and the same offer: still the same offer
    assert.equal(onlyResult(await post(env, await offerRequest(q, sealedOffer))), QueueingServiceResponse.ok);
    const f = await fetchAll(env, q);
    assert.equal(f.messages.length, 1);
    assert.deepEqual(q.decryptor.decrypt(f.messages[0]!).message, sealedOffer);
    // a different offer is a new message
    assert.equal(onlyResult(await post(env, await offerRequest(q, rb(100)))), QueueingServiceResponse.ok);
    assert.equal((await fetchAll(env, q)).messages.length, 2);
  });

  it("more than maxConnectionOffersPerWindow offers for one queue: limit_exceeded until the window passes", async () => {
    const W = 60_000;
    const env = makeEnv({ limits: { maxConnectionOffersPerWindow: 3, connectionOfferWindowMs: W } });
    const q = await createQueue(env);
    const other = await createQueue(env);
    const start = env.clock.t;
    const first = await offerRequest(q);
    assert.equal(onlyResult(await post(env, first)), QueueingServiceResponse.ok);
    // a retry does not use up the allowance
    assert.equal(onlyResult(await post(env, first)), QueueingServiceResponse.ok);
    for (let i = 0; i < 2; i++) {
      env.clock.t += 1000;
      assert.equal(onlyResult(await post(env, await offerRequest(q))), QueueingServiceResponse.ok, `offer ${i + 2}`);
    }
    for (let i = 0; i < 3; i++) {
      env.clock.t += 1000;
      assert.equal(fanoutError(await post(env, await offerRequest(q))), QSErrorCode.limit_exceeded, `offer ${i + 4}`);
    }
    assert.equal((await fetchAll(env, q)).messages.length, 3, "refused offers are not queued");
    // the cap is per queue
    assert.equal(onlyResult(await post(env, await offerRequest(other))), QueueingServiceResponse.ok);
    // just before the window (counted from its first offer) ends: still refused
    env.clock.t = start + W - 1;
    assert.equal(fanoutError(await post(env, await offerRequest(q))), QSErrorCode.limit_exceeded);
    // once it has passed, offers are accepted again, and the new window has its own cap
    env.clock.t = start + W;
    for (let i = 0; i < 3; i++) assert.equal(onlyResult(await post(env, await offerRequest(q))), QueueingServiceResponse.ok, `new window offer ${i + 1}`);
    assert.equal(fanoutError(await post(env, await offerRequest(q))), QSErrorCode.limit_exceeded);
    assert.equal((await fetchAll(env, q)).messages.length, 6);
  });

  it("a full queue answers queue_full (transient), not an error", async () => {
    const env = makeEnv({ limits: { maxQueueLength: 2 } });
    const q = await createQueue(env);
    for (let i = 0; i < 2; i++) assert.equal(onlyResult(await post(env, await offerRequest(q))), QueueingServiceResponse.ok);
    assert.equal(onlyResult(await post(env, await offerRequest(q))), QueueingServiceResponse.queue_full);
    const f = await fetchAll(env, q);
    assert.equal(f.messages.length, 2);
    await call(env.qs, q.owner.ack(q.queueId, f.nextSequence - 1n));
    assert.equal(onlyResult(await post(env, await offerRequest(q))), QueueingServiceResponse.ok, "accepted once acknowledged");
  });

  it("malformed bytes answer malformed and a foreign version unsupported_version; the handler never throws", async () => {
    const env = makeEnv();
    const q = await createQueue(env);
    const good = await offerRequest(q);
    const ref = await referenceOf(q);
    const malformed = [
      new Uint8Array(0),
      Uint8Array.of(0),
      good.subarray(0, good.length - 1),
      Uint8Array.from([...good, 0]),
      new TlsWriter().u16(1).opaque(ref).opaque(new Uint8Array(0)).finish(), // empty sealed_offer
      new TlsWriter().u16(1).opaque(new Uint8Array(0)).opaque(rb(10)).finish(), // empty sealed_reference
      new TlsWriter().u16(1).opaque(ref).opaque(rb(4097)).finish(), // over-long sealed_offer
      Uint8Array.of(0, 1, 0xc0, 0, 0, 1, 0),
    ];
    for (const [i, bytes] of malformed.entries()) {
      assert.equal(fanoutError(await post(env, bytes)), QSErrorCode.malformed, `malformed #${i}`);
    }
    for (const v of [0, 2, 0xffff]) {
      const bytes = new ConnectionRequest(ref, rb(50), v).serialize();
      assert.equal(fanoutError(await post(env, bytes)), QSErrorCode.unsupported_version, `version ${v}`);
    }
    // the library entry point throws the typed error instead
    await assert.rejects(env.qs.deliverConnectionOffer(new ConnectionRequest(ref, rb(50), 2)), (e) => e instanceof QsUnsupportedVersionError && e.received === 2);
    assert.equal(CONNECTION_REQUEST_VERSION, 1);
    // a seeded stream of random and mutated inputs never throws and always gets a decodable answer
    const rnd = prng(7);
    const byte = () => Math.floor(rnd() * 256);
    const seen = new Set<string>();
    for (let i = 0; i < 150; i++) {
      const m = Uint8Array.from(good);
      for (let k = 0; k < 1 + (i % 3); k++) m[Math.floor(rnd() * m.length)] = byte();
      const r = await post(env, i % 10 === 0 ? Uint8Array.from({ length: i }, byte) : m);
      if (r.body.type === DSFanoutResponseType.ok) {
        assert.equal(r.body.results.length, 1);
        seen.add(QueueingServiceResponse[r.body.results[0]!]!);
      } else seen.add(QSErrorCode[r.body.code]!);
    }
    for (const outcome of ["malformed", "ok", "invalid_client_queue_information"]) assert.ok(seen.has(outcome), `${outcome} among ${[...seen].join(", ")}`);
    assert.ok(![...seen].includes("temporarily_unavailable"), "no internal error");
  });

  it("works over a LevelQueueStore too: queued, deduplicated, and still there after a reopen", async () => {
    const t = await tempDir();
    try {
      const clock = new Clock();
      let store = await LevelQueueStore.open(t.dir);
      const refKeys = new QueueReferenceKeys(QS_DOMAIN, [QueueReferenceKeyPair.generate(1)]);
      let env = makeEnv({ store, clock, refKeys });
      const q = await createQueue(env);
      const sealedOffer = rb(90);
      const req = await offerRequest(q, sealedOffer);
      assert.equal(onlyResult(await post(env, req)), QueueingServiceResponse.ok);
      assert.equal(onlyResult(await post(env, req)), QueueingServiceResponse.ok);
      await store.close();
      store = await LevelQueueStore.open(t.dir);
      env = makeEnv({ store, clock, refKeys });
      // the dedup entry is durable: a retry after a restart is still not queued twice
      assert.equal(onlyResult(await post(env, req)), QueueingServiceResponse.ok);
      const f = await fetchAll(env, q);
      assert.equal(f.messages.length, 1);
      const m = q.decryptor.decrypt(f.messages[0]!);
      assert.equal(m.contentType, QueuedContentType.connection_offer);
      assert.deepEqual(m.message, sealedOffer);
      await store.close();
    } finally {
      await t.cleanup();
    }
  });
});

// Known defects, kept as TODO tests (they run and report, but do not fail the suite) until the
// QS is fixed; each asserts the behaviour the doc comments of deliverConnectionOffer promise.
describe("connection request defects (TODO)", () => {
  let env: Env;
  let q: TestQueue;
  after(() => env?.qs.close());

  it("concurrent offers must not exceed maxConnectionOffersPerWindow", async () => {
    env = makeEnv({ limits: { maxConnectionOffersPerWindow: 3, connectionOfferWindowMs: 60_000 } });
    q = await createQueue(env);
    const reqs = await Promise.all(Array.from({ length: 10 }, () => offerRequest(q)));
    await Promise.all(reqs.map((r) => post(env, r)));
    const queued = (await fetchAll(env, q)).messages.length;
    assert.ok(queued <= 3, `${queued} offers queued with a cap of 3`);
  });

  it("a retry of an accepted offer answers ok (duplicate) even once the window is full", async () => {
    env = makeEnv({ limits: { maxConnectionOffersPerWindow: 2, connectionOfferWindowMs: 60_000 } });
    q = await createQueue(env);
    const a = await offerRequest(q);
    assert.equal(onlyResult(await post(env, a)), QueueingServiceResponse.ok);
    assert.equal(onlyResult(await post(env, await offerRequest(q))), QueueingServiceResponse.ok);
    const retry = await post(env, a);
    assert.equal(retry.body.type, DSFanoutResponseType.ok, `the retry of a delivered offer got ${retry.body.type === DSFanoutResponseType.error ? QSErrorCode[retry.body.code] : "ok"}`);
  });
});
