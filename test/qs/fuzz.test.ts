// Seeded fuzzing of every QS decoder and of both QS handlers: a mutated input either decodes to
// a value that re-serializes to exactly the same bytes (the encodings are canonical) or fails
// with a typed QsMalformedError; the handlers always answer with a well-formed response and
// never enqueue from a mutated (unverifiable) fanout.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { DSFanoutResponse } from "../../src/protocol/DSFanoutResponse.js";
import { QsMalformedError } from "../../src/protocol/QsErrors.js";
import { QsResponse } from "../../src/protocol/QsResponse.js";
import { QsResponseType } from "../../src/protocol/QsConstants.js";
import { codecs } from "./wireSamples.js";
import { createQueue, makeEnv, prng, te } from "./qsFixtures.js";

const SEED = 0x51ee7;

function mutate(rand: () => number, input: Uint8Array): Uint8Array {
  const b = Array.from(input);
  const ops = 1 + Math.floor(rand() * 3);
  for (let k = 0; k < ops; k++) {
    const at = Math.floor(rand() * (b.length + 1));
    switch (Math.floor(rand() * 8)) {
      case 0: // bit flip
        if (b.length > 0) b[at % b.length]! ^= 1 << Math.floor(rand() * 8);
        break;
      case 1: // random byte
        if (b.length > 0) b[at % b.length] = Math.floor(rand() * 256);
        break;
      case 2: // interesting byte (length-prefix edges)
        if (b.length > 0) b[at % b.length] = [0x00, 0x01, 0x3f, 0x40, 0x7f, 0x80, 0xbf, 0xc0, 0xff][Math.floor(rand() * 9)]!;
        break;
      case 3: // truncate
        b.length = at;
        break;
      case 4: // insert
        b.splice(at, 0, Math.floor(rand() * 256));
        break;
      case 5: // delete
        b.splice(at, 1 + Math.floor(rand() * 4));
        break;
      case 6: // duplicate a slice
        b.splice(at, 0, ...b.slice(Math.floor(rand() * b.length), Math.floor(rand() * b.length)));
        break;
      case 7: // append garbage
        for (let i = Math.floor(rand() * 8); i > 0; i--) b.push(Math.floor(rand() * 256));
        break;
    }
  }
  return Uint8Array.from(b);
}

describe("decoders under seeded mutation (>= 50k inputs)", () => {
  it("every mutated input decodes canonically or fails with QsMalformedError", () => {
    const rand = prng(SEED);
    const cs = codecs();
    const perCodec = 7000;
    let decoded = 0;
    let refused = 0;
    for (const c of cs) {
      for (let i = 0; i < perCodec; i++) {
        const input = mutate(rand, c.samples[i % c.samples.length]!);
        let v: { serialize(): Uint8Array };
        try {
          v = c.decode(input);
        } catch (e) {
          if (!(e instanceof QsMalformedError)) assert.fail(`${c.name}: ${String(e)} for input ${Buffer.from(input).toString("hex")}`);
          refused++;
          continue;
        }
        assert.equal(Buffer.from(v.serialize()).toString("hex"), Buffer.from(input).toString("hex"), `${c.name} is not canonical`);
        decoded++;
      }
    }
    assert.equal(decoded + refused, cs.length * perCodec);
    assert.ok(decoded + refused >= 50_000);
    // both branches are exercised, so the property is not vacuous
    assert.ok(decoded > 500 && refused > 20_000, `decoded ${decoded}, refused ${refused}`);
  });
});

describe("handlers under seeded mutation", () => {
  it("handleClientRequest and handleFanout always answer well-formed responses; mutated fanouts enqueue nothing", async () => {
    const env = makeEnv();
    const q = await createQueue(env);
    const qc = await q.queueConfig();
    const batch = env.signer.buildRequests([{ queueConfig: qc, message: te.encode("seed message") }]);
    const fanoutBytes = batch.requests[0]!.request.serialize();
    const reqs = [q.owner.fetch(q.queueId, 0n).serialize(), q.owner.ack(q.queueId, 0n).serialize(), q.owner.referenceKey(q.queueId).serialize(), q.owner.createQueue(new Uint8Array(32)).serialize()];
    // Each original is used once first, so a mutation that happens to be the identity is a replay.
    for (const r of reqs) assert.notEqual(QsResponse.deserialize(await env.qs.handleClientRequest(r)).body.type, QsResponseType.error);
    assert.equal(DSFanoutResponse.deserialize(await env.qs.handleFanout(fanoutBytes)).body.type, 0);
    const before = (await env.store.getHead(q.queueId))!.nextSeq;
    const rand = prng(SEED + 1);
    let clientErrors = 0;
    for (let i = 0; i < 2000; i++) {
      const r = QsResponse.deserialize(await env.qs.handleClientRequest(mutate(rand, reqs[i % reqs.length]!)));
      if (r.body.type === QsResponseType.error) clientErrors++;
    }
    let changed = 0;
    for (let i = 0; i < 2000; i++) {
      const input = mutate(rand, fanoutBytes);
      const r = DSFanoutResponse.deserialize(await env.qs.handleFanout(input));
      // a mutation can be the identity (e.g. truncating at the end): that is the original, deduplicated
      if (Buffer.compare(input, fanoutBytes) === 0) continue;
      changed++;
      assert.equal(r.body.type, 1, `a changed fanout was accepted: ${Buffer.from(fanoutBytes).toString("hex")} -> ${Buffer.from(input).toString("hex")}`);
    }
    assert.ok(changed > 1800);
    assert.ok(clientErrors > 1900, `client errors ${clientErrors}`);
    assert.equal((await env.store.getHead(q.queueId))!.nextSeq, before);
    // the queue still works and was not acknowledged by a mutated request
    const r = QsResponse.deserialize(await env.qs.handleClientRequest(q.owner.fetch(q.queueId, 0n).serialize()));
    assert.equal(r.body.type, QsResponseType.messages);
    if (r.body.type === QsResponseType.messages) assert.equal(r.body.messages.length, 1);
  });
});
