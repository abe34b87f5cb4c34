// Seeded fuzzing of the KeyPackageRequest decoders (draft-mcmillion s3.1) and of the directory
// behind them: a mutated input either decodes to a value that re-serializes to exactly the same
// bytes (the encodings are canonical) or fails with a typed MalformedError; the handlers always
// answer a well-formed response, and KeyPackages only ever leave the pool by being served.
import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { describe, it } from "node:test";
import { DecodeError } from "../../src/codec/errors.js";
import { keyPackageTransaction } from "../../src/keypackages/index.js";
import { MalformedError } from "../../src/protocol/errors.js";
import { KeyMaterialClientCode, KeyPackageStatus } from "../../src/protocol/KeyPackageConstants.js";
import { KeyPackageError } from "../../src/protocol/KeyPackageErrors.js";
import { KeyPackageRequest } from "../../src/protocol/KeyPackageRequest.js";
import { KeyPackageTransaction } from "../../src/protocol/KeyPackageTransaction.js";
import { KeyPackageTransactionResponse } from "../../src/protocol/KeyPackageTransactionResponse.js";
import { KeyPackageUploadResponse } from "../../src/protocol/KeyPackageUploadResponse.js";
import { ADAPTERS, SUITE, group, hex, newKeyPackages, openDirectory, register, te, uploadBytes } from "./kpFixtures.js";

const SEED = 0x6b70f022;

/** mulberry32: tiny and seedable, so a failure is reproducible from (SEED, iteration). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const EDGES = [0x00, 0x01, 0x02, 0x3f, 0x40, 0x7f, 0x80, 0xbf, 0xc0, 0xff];

function mutate(rand: () => number, input: Uint8Array): Uint8Array {
  const b = Array.from(input);
  const ops = 1 + Math.floor(rand() * 3);
  for (let k = 0; k < ops; k++) {
    const at = Math.floor(rand() * (b.length + 1));
    switch (Math.floor(rand() * 8)) {
      case 0:
        if (b.length > 0) b[at % b.length]! ^= 1 << Math.floor(rand() * 8);
        break;
      case 1:
        if (b.length > 0) b[at % b.length] = Math.floor(rand() * 256);
        break;
      case 2: // length-prefix edges (MLS varint boundaries, bools)
        if (b.length > 0) b[at % b.length] = EDGES[Math.floor(rand() * EDGES.length)]!;
        break;
      case 3:
        b.length = at;
        break;
      case 4:
        b.splice(at, 0, Math.floor(rand() * 256));
        break;
      case 5:
        b.splice(at, 1 + Math.floor(rand() * 4));
        break;
      case 6: {
        const from = Math.floor(rand() * (b.length + 1));
        b.splice(at, 0, ...b.slice(from, from + 1 + Math.floor(rand() * 8)));
        break;
      }
      default:
        for (let i = 0, n = 1 + Math.floor(rand() * 6); i < n; i++) b.splice(at, 0, Math.floor(rand() * 256));
    }
  }
  return Uint8Array.from(b);
}

function corpus(): { tx: Uint8Array[]; req: Uint8Array[] } {
  const tok = () => new Uint8Array(randomBytes(32));
  const reqs = [
    new KeyPackageRequest(te.encode("bob@b.example"), tok(), 1, 1),
    new KeyPackageRequest(new Uint8Array(70).fill(0x62), tok(), 1, 3),
    new KeyPackageRequest(te.encode("c"), new Uint8Array(0), 0xffff, 0),
  ];
  return {
    req: reqs.map((r) => r.serialize()),
    tx: [new KeyPackageTransaction([reqs[0]!], false), new KeyPackageTransaction(reqs, true), new KeyPackageTransaction([reqs[1]!, reqs[1]!], false)].map((t) => t.serialize()),
  };
}

describe("fuzz: KeyPackageRequest decoders", () => {
  it("100 000+ seeded mutations: canonical decode or MalformedError, nothing else (< 30 s)", () => {
    const rand = prng(SEED);
    const { tx, req } = corpus();
    const t0 = performance.now();
    let decoded = 0;
    let refused = 0;
    const reasons = new Map<string, number>();
    const N = 110_000;
    for (let i = 0; i < N; i++) {
      const txCase = i % 5 !== 0; // 4/5 transactions, 1/5 bare requests
      const src = txCase ? tx[i % tx.length]! : req[i % req.length]!;
      const input = mutate(rand, src);
      try {
        const v = txCase ? KeyPackageTransaction.deserialize(input) : KeyPackageRequest.deserialize(input);
        assert.deepEqual(v.serialize(), input, `iteration ${i}: decoded but not canonical`);
        decoded++;
      } catch (e) {
        if (!(e instanceof MalformedError) || !(e instanceof DecodeError)) assert.fail(`iteration ${i}: ${(e as Error)?.constructor?.name} escaped: ${(e as Error)?.message}`);
        const key = e.message.replace(/[0-9]+/g, "#").split(":").slice(0, 2).join(":");
        reasons.set(key, (reasons.get(key) ?? 0) + 1);
        refused++;
      }
    }
    const ms = performance.now() - t0;
    assert.equal(decoded + refused, N);
    assert.ok(decoded > 1000 && refused > 50_000, `decoded ${decoded}, refused ${refused}`);
    assert.ok(reasons.size >= 6, `only ${reasons.size} distinct failure points reached`);
    assert.ok(ms < 30_000, `took ${ms.toFixed(0)} ms`);
  });

  it("the directory answers every mutated transaction with a well-formed response; KeyPackages leave only by being served", async () => {
    const env = await openDirectory(ADAPTERS[0]!, { tokenRateLimit: { requests: 1_000_000, windowMs: 60_000 } });
    try {
      const c = await register(env.dir, "bob", "phone");
      const kps = await newKeyPackages(env.clock, 40);
      const lr = kps.pop()!;
      await env.dir.upload(uploadBytes(c, [...kps.map((k) => group(k)), group(lr, true)]));
      const { token } = await env.dir.mintToken("bob");
      const valid = keyPackageTransaction([{ userId: te.encode("bob"), token }, { userId: te.encode("bob"), token }], SUITE);
      const rand = prng(SEED ^ 0x5555);
      const served = new Set<string>();
      let ok = 0;
      for (let i = 0; i < 3000; i++) {
        const r = KeyPackageTransactionResponse.deserialize(await env.dir.handleKeyPackageRequest(mutate(rand, valid)));
        assert.ok([KeyPackageStatus.ok, KeyPackageStatus.malformed, KeyPackageStatus.too_many_requests].includes(r.status), KeyPackageStatus[r.status]);
        if (r.status !== KeyPackageStatus.ok) continue;
        ok++;
        for (const u of r.users) {
          for (const cl of u.clients) {
            if (cl.status !== KeyMaterialClientCode.success || hex(cl.keyPackage) === hex(lr)) continue;
            assert.ok(!served.has(hex(cl.keyPackage)), "a single-use KeyPackage served twice");
            served.add(hex(cl.keyPackage));
          }
        }
      }
      assert.ok(ok > 0);
      assert.equal((await env.dir.counts(c.userId, c.clientId))?.group, kps.length - served.size, "pool shrank by exactly what was served");
    } finally {
      await env.close();
    }
  });

  it("mutated uploads are refused with KeyPackageError subclasses and store nothing", async () => {
    const env = await openDirectory(ADAPTERS[0]!);
    try {
      const c = await register(env.dir, "bob", "phone");
      const kps = await newKeyPackages(env.clock, 2);
      const valid = uploadBytes(c, kps.map((k) => group(k)), 1n);
      const rand = prng(SEED ^ 0xaaaa);
      const codes = new Set<string>();
      for (let i = 0; i < 2000; i++) {
        const input = mutate(rand, valid);
        if (hex(input) === hex(valid)) continue; // a mutation that undid itself
        const r = KeyPackageUploadResponse.deserialize(await env.dir.handleUpload(input));
        if (r.status === KeyPackageStatus.ok) {
          // only a mutation outside the signed bytes can pass: then it stored the signed content
          assert.fail(`iteration ${i}: a mutated upload was accepted`);
        }
        await assert.rejects(env.dir.upload(input), (e: unknown) => e instanceof KeyPackageError && e.code === r.status);
        codes.add(KeyPackageStatus[r.status]);
      }
      assert.deepEqual(await env.dir.counts(c.userId, c.clientId), { group: 0, connection: 0, groupLastResort: false, connectionLastResort: false });
      assert.ok(codes.has("malformed") && codes.has("unauthorized"), [...codes].join(","));
    } finally {
      await env.close();
    }
  });
});
