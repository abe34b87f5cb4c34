// The shared record format (ARCHITECTURE.md §3 "Group state at rest"): storage key, record
// tags, AAD layout, AES-256-GCM value layout, head layout; and the per-group mutex.
import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { CorruptRecordError, KeyedMutex, VersionConflictError, WrongKeyError, groupStorageKey, openRecord, recordAad, recordTag, sealRecord } from "../../src/store/index.js";
import { decodeHead, encodeHead, kindTag } from "../../src/store/recordCrypto.js";
import { newGroupId, newKey, rejectsWith, te } from "./storeFixtures.js";

const conflict = () => new VersionConflictError();
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("§3 storage key: one-way hash of the group id", () => {
  it('is SHA-256("mimi-ds group storage key v1" || group_id)', () => {
    const gid = te.encode("some group");
    const want = createHash("sha256").update("mimi-ds group storage key v1").update(gid).digest();
    assert.equal(hex(groupStorageKey(gid)), want.toString("hex"));
    assert.notEqual(hex(groupStorageKey(te.encode("some group2"))), want.toString("hex"));
  });

  it("record tags: a kind prefix per (group, kind), distinct ids, nothing shared across groups", () => {
    const g = newGroupId();
    const a = recordTag(g, { kind: "leaf", id: 1 });
    const b = recordTag(g, { kind: "leaf", id: 2 });
    assert.equal(a.length, 32);
    assert.equal(hex(a.subarray(0, 16)), hex(kindTag(g, "leaf")));
    assert.equal(hex(b.subarray(0, 16)), hex(kindTag(g, "leaf")));
    assert.notEqual(hex(a), hex(b));
    assert.equal(hex(recordTag(g, { kind: "state" })), hex(recordTag(g, { kind: "state", id: 0 })));
    assert.notEqual(hex(recordTag(newGroupId(), { kind: "leaf", id: 1 })), hex(a));
    assert.notEqual(hex(recordTag(g, { kind: "joiner", id: 1 }).subarray(16)), hex(a.subarray(16)));
  });
});

describe("§3 AAD: label, group id, kind, id, key epoch, bound version", () => {
  it("has the documented layout", () => {
    const aad = recordAad(Uint8Array.of(0xaa, 0xbb), { kind: "leaf", id: 258 }, 7n, 3);
    const want = Buffer.concat([
      Buffer.from("mimi-ds group record v1"),
      Buffer.from([0, 2, 0xaa, 0xbb]),
      Buffer.from([4]),
      Buffer.from("leaf"),
      Buffer.from([0, 0, 0, 0, 0, 0, 1, 2]),
      Buffer.from([0, 0, 0, 0, 0, 0, 0, 7]),
      Buffer.from([0, 0, 0, 3]),
    ]);
    assert.equal(hex(aad), want.toString("hex"));
  });

  it("value = keyEpoch u64 || writtenAt u32 || fresh 12-byte nonce || ciphertext || 16-byte tag", () => {
    const g = newGroupId();
    const k = newKey();
    const pt = te.encode("hello record");
    const v1 = sealRecord(g, { kind: "state" }, pt, k, 9n, 4);
    const v2 = sealRecord(g, { kind: "state" }, pt, k, 9n, 4);
    assert.equal(v1.length, 8 + 4 + 12 + pt.length + 16);
    const dv = new DataView(v1.buffer);
    assert.equal(dv.getBigUint64(0), 9n);
    assert.equal(dv.getUint32(8), 4);
    assert.notEqual(hex(v1.subarray(12, 24)), hex(v2.subarray(12, 24)), "fresh nonce per write");
    assert.equal(Buffer.from(v1).indexOf(Buffer.from(pt)), -1);
    assert.deepEqual(openRecord(g, { kind: "state" }, v1, k, 9n, 4, conflict), pt);
    // unbound records store 0 and open at any head version
    const u = sealRecord(g, { kind: "joiner", id: 2 }, pt, k, 1n, 0);
    assert.equal(new DataView(u.buffer).getUint32(8), 0);
    assert.deepEqual(openRecord(g, { kind: "joiner", id: 2 }, u, k, 1n, 77, conflict), pt);
  });

  it("changing any bound field makes the record refuse to open", () => {
    const g = newGroupId();
    const k = newKey();
    const v = sealRecord(g, { kind: "leaf", id: 5 }, te.encode("x"), k, 2n, 3);
    const tries: [() => unknown, new (...a: never[]) => Error][] = [
      [() => openRecord(newGroupId(), { kind: "leaf", id: 5 }, v, k, 2n, 3, conflict), WrongKeyError],
      [() => openRecord(g, { kind: "leaves", id: 5 }, v, k, 2n, 3, conflict), WrongKeyError],
      [() => openRecord(g, { kind: "leaf", id: 6 }, v, k, 2n, 3, conflict), WrongKeyError],
      [() => openRecord(g, { kind: "leaf", id: 5 }, v, k, 3n, 3, conflict), WrongKeyError],
      [() => openRecord(g, { kind: "leaf", id: 5 }, v, newKey(), 2n, 3, conflict), WrongKeyError],
      [() => openRecord(g, { kind: "leaf", id: 5 }, v, k, 2n, 4, conflict), WrongKeyError],
      [() => openRecord(g, { kind: "leaf", id: 5 }, v, k, 2n, undefined, conflict), WrongKeyError],
      [() => openRecord(g, { kind: "leaf", id: 5 }, v, k, 2n, 2, conflict), VersionConflictError],
      [() => openRecord(g, { kind: "leaf", id: 5 }, v.subarray(0, 39), k, 2n, 3, conflict), CorruptRecordError],
    ];
    for (const [f, cls] of tries) assert.throws(f, cls);
    assert.deepEqual(openRecord(g, { kind: "leaf", id: 5 }, v, k, 2n, 3, conflict), te.encode("x"));
  });

  it("head layout: version u32 || epoch u64 || lastUsedDay u32; broken heads are CorruptRecordError", () => {
    const h = { version: 0xfffffffe, epoch: (1n << 64n) - 1n, lastUsedDay: 20_123 };
    const b = encodeHead(h);
    assert.equal(b.length, 16);
    assert.deepEqual(decodeHead(b), h);
    assert.throws(() => decodeHead(b.subarray(1)), CorruptRecordError);
    assert.throws(() => decodeHead(new Uint8Array(16)), CorruptRecordError);
  });
});

describe("§3 Concurrency: KeyedMutex", () => {
  it("serializes holders of one key, lets other keys run, and forgets idle keys", async () => {
    const m = new KeyedMutex();
    const log: string[] = [];
    const tick = () => new Promise((r) => setImmediate(r));
    const job = (key: string, name: string) =>
      m.run(key, async () => {
        log.push(`${name}+`);
        await tick();
        await tick();
        log.push(`${name}-`);
        return name;
      });
    const failing = m.run("a", async () => {
      throw new Error("boom");
    });
    const results = await Promise.all([job("a", "a1"), job("a", "a2"), job("b", "b1"), failing.catch((e: Error) => e.message)]);
    assert.deepEqual(results, ["a1", "a2", "b1", "boom"]);
    // a1 and a2 never overlap; b1 overlaps a1 (different key)
    assert.ok(log.indexOf("a1-") < log.indexOf("a2+"));
    assert.ok(log.indexOf("b1+") < log.indexOf("a1-"));
    assert.equal(m.size, 0);
    await rejectsWith(m.run("a", async () => Promise.reject(new WrongKeyError())), WrongKeyError);
    assert.equal(m.size, 0);
  });
});
