// Queue lifecycle and owner authentication (QsRequest/QsResponse): create, enqueue via fanout,
// fetch, ack, fetch again, delete; long-poll; signatures bound to operation, queue and nonce;
// sealed references unlinkable across KeyPackages (ARCHITECTURE.md s3 "Opaque queue
// configurations").
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { makeKeyPackage } from "../../src/client/dsMember.js";
import { getNodeCiphersuiteImpl } from "../../src/mls/cryptoProvider.js";
import { decodeClientQueueConfig, encodeClientQueueConfig, leafQueueConfig } from "../../src/protocol/ClientQueueConfig.js";
import { QsRequestType, QsResponseType, QueueingServiceResponse } from "../../src/protocol/QsConstants.js";
import { QSErrorCode, QueueDecryptionError } from "../../src/protocol/QsErrors.js";
import { QsRequest } from "../../src/protocol/QsRequest.js";
import { QueueOwner, QueueReferenceKeyPair, QueueReferenceKeys, sealQueueReference } from "../../src/qs/index.js";
import { call, createQueue, expectError, fanoutTo, fetchAll, makeEnv, QS_DOMAIN, DS_DOMAIN, randomId, te, texts } from "./qsFixtures.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("queue lifecycle: create, fanout, fetch, ack, fetch again, delete", () => {
  it("an acknowledged message is never returned again; sequence numbers are gap-free", async () => {
    const env = makeEnv();
    const q = await createQueue(env);
    assert.equal(q.queueId.length, 16);
    assert.deepEqual(q.refKey, env.refKeys.current);
    const qc = await q.queueConfig();
    for (const t of ["m0", "m1", "m2"]) assert.deepEqual(await fanoutTo(env, [qc], t), [QueueingServiceResponse.ok]);

    let f = await fetchAll(env, q);
    assert.deepEqual(f.messages.map((m) => m.sequence), [0n, 1n, 2n]);
    assert.equal(f.nextSequence, 3n);
    assert.deepEqual(texts(q, f.messages), ["m0", "m1", "m2"]);
    const d = q.decryptor.decrypt(f.messages[1]!);
    assert.equal(d.senderDomain, DS_DOMAIN);
    assert.equal(d.hubTimestampMs, env.clock.t);
    assert.equal(d.sealedJoinerKey, undefined);

    assert.equal((await call(env.qs, q.owner.ack(q.queueId, 1n))).body.type, QsResponseType.ok);
    f = await fetchAll(env, q, 0n);
    assert.deepEqual(f.messages.map((m) => m.sequence), [2n], "messages 0 and 1 are gone, even when asked from 0");
    assert.deepEqual(texts(q, f.messages), ["m2"]);

    assert.deepEqual(await fanoutTo(env, [qc], "m3"), [QueueingServiceResponse.ok]);
    // ack beyond the end is clamped: it never swallows a later message
    assert.equal((await call(env.qs, q.owner.ack(q.queueId, 1000n))).body.type, QsResponseType.ok);
    assert.deepEqual(await fanoutTo(env, [qc], "m4"), [QueueingServiceResponse.ok]);
    f = await fetchAll(env, q, 0n);
    assert.deepEqual(f.messages.map((m) => m.sequence), [4n]);
    assert.deepEqual(texts(q, f.messages), ["m4"]);
    assert.equal(f.nextSequence, 5n);
    // from a later sequence number: nothing, and nothing re-delivered
    assert.equal((await fetchAll(env, q, 5n)).messages.length, 0);

    assert.equal((await call(env.qs, q.owner.deleteQueue(q.queueId))).body.type, QsResponseType.ok);
    expectError(await call(env.qs, q.owner.fetch(q.queueId, 0n)), QSErrorCode.unknown_queue);
    expectError(await call(env.qs, q.owner.deleteQueue(q.queueId)), QSErrorCode.unknown_queue);
    assert.deepEqual(await fanoutTo(env, [qc], "after delete"), [QueueingServiceResponse.invalid_client_queue_information]);
  });

  it("a joiner's sealed key travels with its message; fetch honours max_messages", async () => {
    const env = makeEnv();
    const q = await createQueue(env);
    const qc = await q.queueConfig();
    const joinerKey = randomId(60);
    await fanoutTo(env, [qc], "welcome", [joinerKey]);
    for (let i = 0; i < 5; i++) await fanoutTo(env, [qc], `x${i}`);
    const r = await call(env.qs, q.owner.fetch(q.queueId, 0n, { maxMessages: 2 }));
    assert.equal(r.body.type, QsResponseType.messages);
    if (r.body.type !== QsResponseType.messages) return;
    assert.equal(r.body.messages.length, 2);
    assert.deepEqual(q.decryptor.decrypt(r.body.messages[0]!).sealedJoinerKey, joinerKey);
    assert.equal(q.decryptor.decrypt(r.body.messages[1]!).sealedJoinerKey, undefined);
    // max_messages 0 means one; a huge one is capped at the service limit
    const one = await call(env.qs, q.owner.fetch(q.queueId, 0n, { maxMessages: 0 }));
    assert.equal(one.body.type === QsResponseType.messages && one.body.messages.length, 1);
  });

  it("the client decryptor erases keys it has acknowledged and still reads everything after", async () => {
    const env = makeEnv();
    const q = await createQueue(env);
    const qc = await q.queueConfig();
    for (let i = 0; i < 4; i++) await fanoutTo(env, [qc], `k${i}`);
    const all = (await fetchAll(env, q)).messages;
    assert.deepEqual(texts(q, all), ["k0", "k1", "k2", "k3"]);
    q.decryptor.forget(1n);
    assert.equal(q.decryptor.state.position, 2n);
    assert.throws(() => q.decryptor.decrypt(all[0]!), QueueDecryptionError);
    assert.deepEqual(texts(q, all.slice(2)), ["k2", "k3"]);
    // a tampered ciphertext or a message moved to another sequence number does not open
    const t = Uint8Array.from(all[3]!.ciphertext);
    t[0]! ^= 1;
    assert.throws(() => q.decryptor.decrypt({ sequence: 3n, ciphertext: t }), QueueDecryptionError);
    assert.throws(() => q.decryptor.decrypt({ sequence: 2n, ciphertext: all[3]!.ciphertext }), QueueDecryptionError);
  });
});

describe("long-poll fetch", () => {
  it("a waiting fetch is woken by an enqueue", async () => {
    const env = makeEnv();
    const q = await createQueue(env);
    const qc = await q.queueConfig();
    const t0 = performance.now();
    const pending = fetchAll(env, q, 0n, 10_000);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(env.qs.waiting, 1);
    assert.deepEqual(await fanoutTo(env, [qc], "wake up"), [QueueingServiceResponse.ok]);
    const f = await pending;
    const took = performance.now() - t0;
    assert.deepEqual(texts(q, f.messages), ["wake up"]);
    assert.ok(took < 2000, `woken after ${took} ms`);
    assert.equal(env.qs.waiting, 0);
  });

  it("a waiting fetch times out empty; an abort or close() ends it early", async () => {
    const env = makeEnv();
    const q = await createQueue(env);
    let t0 = performance.now();
    const f = await fetchAll(env, q, 0n, 300);
    const took = performance.now() - t0;
    assert.equal(f.messages.length, 0);
    assert.ok(took >= 280 && took < 2000, `returned after ${took} ms`);

    const ac = new AbortController();
    t0 = performance.now();
    const aborted = call(env.qs, q.owner.fetch(q.queueId, 0n, { waitMs: 10_000 }), ac.signal);
    setTimeout(() => ac.abort(), 50);
    assert.equal((await aborted).body.type, QsResponseType.messages);
    assert.ok(performance.now() - t0 < 2000);

    const closing = call(env.qs, q.owner.fetch(q.queueId, 0n, { waitMs: 10_000 }));
    setTimeout(() => env.qs.close(), 50);
    assert.equal((await closing).body.type, QsResponseType.messages);
    assert.equal(env.qs.waiting, 0);
  });

  it("the wait is capped at limits.maxWaitMs", async () => {
    const env = makeEnv({ limits: { maxWaitMs: 100 } });
    const q = await createQueue(env);
    const t0 = performance.now();
    await fetchAll(env, q, 0n, 60_000);
    assert.ok(performance.now() - t0 < 2000);
  });
});

describe("owner authentication: a signature is bound to operation, queue, time and nonce", () => {
  it("refuses other keys, replays, stale timestamps, swapped operations and swapped queues", async () => {
    const env = makeEnv();
    const q = await createQueue(env);
    const q2 = await createQueue(env, q.owner); // same owner, second queue
    const stranger = QueueOwner.generate(env.clock.now);
    expectError(await call(env.qs, stranger.fetch(q.queueId, 0n)), QSErrorCode.bad_signature);

    const ack = q.owner.ack(q.queueId, 0n);
    assert.equal((await call(env.qs, ack)).body.type, QsResponseType.ok);
    expectError(await call(env.qs, ack), QSErrorCode.replayed_request);

    // same signature, nonce and time, another operation or another queue of the same owner
    const asDelete = new QsRequest(1, { type: QsRequestType.delete_queue, queueId: q.queueId }, ack.timestampMs, ack.nonce, ack.signature);
    expectError(await call(env.qs, asDelete), QSErrorCode.bad_signature);
    const otherQueue = new QsRequest(1, { type: QsRequestType.ack, queueId: q2.queueId, upToSequence: 0n }, ack.timestampMs, ack.nonce, ack.signature);
    expectError(await call(env.qs, otherQueue), QSErrorCode.bad_signature);
    const otherNonce = new QsRequest(1, ack.body, ack.timestampMs, randomId(16), ack.signature);
    expectError(await call(env.qs, otherNonce), QSErrorCode.bad_signature);

    expectError(await call(env.qs, q.owner.sign({ type: QsRequestType.delete_queue, queueId: q.queueId }, { timestampMs: env.clock.t - 600_000 })), QSErrorCode.stale_request);
    expectError(await call(env.qs, q.owner.sign({ type: QsRequestType.delete_queue, queueId: q.queueId }, { timestampMs: env.clock.t + 600_000 })), QSErrorCode.stale_request);
    const v2 = await call(env.qs, q.owner.sign({ type: QsRequestType.delete_queue, queueId: q.queueId }, { version: 2 }));
    expectError(v2, QSErrorCode.unsupported_version);
    assert.deepEqual(v2.body.type === QsResponseType.error && v2.body.supportedVersions, [1]);
    expectError(await call(env.qs, q.owner.fetch(randomId(16), 0n)), QSErrorCode.unknown_queue);
    // a create signed by another key than the one it registers
    const forged = new QsRequest(1, { type: QsRequestType.create_queue, ownerKey: stranger.publicKey, initialSecret: randomId(32) }, env.clock.t, randomId(16), q.owner.createQueue(randomId(32)).signature);
    expectError(await call(env.qs, forged), QSErrorCode.bad_signature);
    // the queues are untouched by all of the above
    assert.ok(await env.store.getHead(q.queueId));
    assert.ok(await env.store.getHead(q2.queueId));
  });

  it("a create policy can refuse queue creation; reference_key returns the current key", async () => {
    const refused = makeEnv({ createPolicy: () => false });
    expectError(await call(refused.qs, QueueOwner.generate(refused.clock.now).createQueue(randomId(32))), QSErrorCode.not_allowed);
    const env = makeEnv();
    const q = await createQueue(env);
    env.refKeys.add(QueueReferenceKeyPair.generate(2));
    const r = await call(env.qs, q.owner.referenceKey(q.queueId));
    assert.equal(r.body.type, QsResponseType.reference_key);
    if (r.body.type === QsResponseType.reference_key) assert.equal(r.body.referenceKey.keyId, 2);
  });
});

describe("s3 Opaque queue configurations: one client in two groups", () => {
  it("two KeyPackages carry different sealed-reference bytes that open to the same queue", async () => {
    const env = makeEnv();
    const q = await createQueue(env);
    const cs = await getNodeCiphersuiteImpl("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519");
    const kps = [];
    for (let i = 0; i < 2; i++) {
      const sealedReference = await sealQueueReference(q.refKey.publicKey, q.refKey.keyId, QS_DOMAIN, q.queueId);
      kps.push(await makeKeyPackage(cs, randomId(16), { qsDomain: QS_DOMAIN, sealedReference }));
    }
    const configs = kps.map((kp) => leafQueueConfig(kp.publicPackage.leafNode)!);
    const refs = configs.map((c) => decodeClientQueueConfig(c).sealedReference);
    assert.notEqual(hex(configs[0]!), hex(configs[1]!));
    assert.notEqual(hex(refs[0]!), hex(refs[1]!));
    // no common substring of 8+ bytes beyond the key id, domain and framing
    const a = hex(refs[0]!.subarray(2));
    for (let i = 0; i + 16 <= a.length; i += 2) assert.ok(!hex(refs[1]!).includes(a.slice(i, i + 16)), "sealed references share bytes");
    assert.ok(!hex(refs[0]!).includes(hex(q.queueId)), "queue id in clear");
    assert.deepEqual(await env.refKeys.open(refs[0]!), q.queueId);
    assert.deepEqual(await env.refKeys.open(refs[1]!), q.queueId);
    // group A's fanout and group B's fanout land in the one queue
    assert.deepEqual(await fanoutTo(env, [configs[0]!], "group A"), [QueueingServiceResponse.ok]);
    assert.deepEqual(await fanoutTo(env, [configs[1]!], "group B"), [QueueingServiceResponse.ok]);
    assert.deepEqual(texts(q, (await fetchAll(env, q)).messages), ["group A", "group B"]);
  });

  it("a reference sealed for another QS domain, under an unknown or retired key, or garbled, does not open", async () => {
    const env = makeEnv();
    const q = await createQueue(env);
    const other = await sealQueueReference(q.refKey.publicKey, q.refKey.keyId, "qs.c.test", q.queueId);
    const unknownKey = await sealQueueReference(q.refKey.publicKey, 9, QS_DOMAIN, q.queueId);
    const good = await sealQueueReference(q.refKey.publicKey, q.refKey.keyId, QS_DOMAIN, q.queueId);
    const garbled = Uint8Array.from(good);
    garbled[garbled.length - 1]! ^= 0x80;
    const cfg = (r: Uint8Array) => encodeClientQueueConfig({ qsDomain: QS_DOMAIN, sealedReference: r });
    const res = await fanoutTo(env, [cfg(other), cfg(unknownKey), cfg(garbled), cfg(te.encode("junk")), cfg(good)], "mixed");
    assert.deepEqual(res, [1, 1, 1, 1, 0]);

    // rotation: the old key keeps opening until retired
    env.refKeys.add(QueueReferenceKeyPair.generate(2));
    const fresh = env.refKeys.current;
    const sealedNew = await sealQueueReference(fresh.publicKey, fresh.keyId, QS_DOMAIN, q.queueId);
    assert.deepEqual(await fanoutTo(env, [cfg(good), cfg(sealedNew)], "rotated"), [0, 0]);
    env.refKeys.retire(1);
    assert.deepEqual(await fanoutTo(env, [cfg(good), cfg(sealedNew)], "retired"), [1, 0]);
    assert.throws(() => env.refKeys.retire(2), RangeError);
    // the reference keys restore from their private key
    const restored = new QueueReferenceKeys(QS_DOMAIN, [QueueReferenceKeyPair.fromPrivateKey(1, QueueReferenceKeyPair.generate(1).privateKey)]);
    assert.equal(restored.current.keyId, 1);
  });
});
