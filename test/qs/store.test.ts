// The QueueStore port, on both adapters: gap-free sequence numbers, atomic multi-queue enqueue,
// dedup, ack/delete, bounds, typed errors, and concurrent fanouts over overlapping queues.
import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Level } from "level";
import { StoreClosedError, StoreInputError } from "../../src/store/errors.js";
import { LevelGroupStore } from "../../src/store/index.js";
import { KeyLocks, LevelQueueStore, MemoryQueueStore, QueueExistsError, type MessageSealer, type QueueStore } from "../../src/qs/index.js";
import { tempDir } from "./qsFixtures.js";

const rb = (n: number) => new Uint8Array(randomBytes(n));
const te = new TextEncoder();
const td = new TextDecoder();
const OPTS = { dedupExpiresAtMs: Date.now() + 60_000, maxQueueLength: 100 };

/** A transparent "sealer" for store tests: ciphertext = text, chain key = a counter byte pattern. */
const sealer =
  (label: (i: number) => string): MessageSealer =>
  (i, _q, seq, chainKey) => ({ ciphertext: te.encode(`${label(i)}@${seq}`), nextChainKey: chainKey.map((b) => (b + 1) & 0xff) });

const adapters: { name: string; make(): Promise<{ store: QueueStore; done(): Promise<void> }> }[] = [
  { name: "MemoryQueueStore", make: async () => ({ store: new MemoryQueueStore(), done: async () => {} }) },
  {
    name: "LevelQueueStore",
    make: async () => {
      const t = await tempDir();
      const store = await LevelQueueStore.open(t.dir);
      return { store, done: async () => (await store.close(), await t.cleanup()) };
    },
  },
];

for (const a of adapters) {
  describe(`QueueStore contract: ${a.name}`, () => {
    let s: QueueStore;
    let done: () => Promise<void>;
    before(async () => ({ store: s, done } = await a.make()));
    after(() => done());

    const newQueue = async () => {
      const id = rb(16);
      await s.createQueue(id, rb(32), new Uint8Array(32));
      return id;
    };

    it("create, exists, head", async () => {
      const id = rb(16);
      const owner = rb(32);
      await s.createQueue(id, owner, rb(32));
      await assert.rejects(s.createQueue(id, rb(32), rb(32)), QueueExistsError);
      assert.deepEqual(await s.getHead(id), { ownerKey: owner, nextSeq: 0n, firstSeq: 0n });
      assert.equal(await s.getHead(rb(16)), undefined);
    });

    it("enqueue: gap-free per queue, unknown queues, duplicates inside and across calls, queue_full", async () => {
      const [q1, q2] = [await newQueue(), await newQueue()];
      const m1 = rb(32);
      const out = await s.enqueue(
        [
          { queueId: q1, messageId: m1 },
          { queueId: rb(16), messageId: m1 },
          { queueId: q2, messageId: m1 },
          { queueId: q1, messageId: m1 },
          { queueId: q1, messageId: rb(32) },
        ],
        sealer((i) => `e${i}`),
        OPTS,
      );
      assert.deepEqual(out, [
        { status: "enqueued", seq: 0n },
        { status: "unknown_queue" },
        { status: "enqueued", seq: 0n },
        { status: "duplicate", seq: 0n },
        { status: "enqueued", seq: 1n },
      ]);
      assert.deepEqual(await s.enqueue([{ queueId: q2, messageId: m1 }], sealer(() => "again"), OPTS), [{ status: "duplicate", seq: 0n }]);
      // an expired dedup entry no longer counts
      assert.deepEqual(await s.enqueue([{ queueId: q2, messageId: m1 }], sealer(() => "late"), { ...OPTS, nowMs: OPTS.dedupExpiresAtMs }), [{ status: "enqueued", seq: 1n }]);
      const f = await s.fetch(q1, 0n, 10, 1 << 20);
      assert.deepEqual(f!.messages.map((m) => [m.seq, td.decode(m.ciphertext)]), [[0n, "e0@0"], [1n, "e4@1"]]);
      const small = await newQueue();
      const full = await s.enqueue([0, 1, 2].map(() => ({ queueId: small, messageId: rb(32) })), sealer((i) => `f${i}`), { ...OPTS, maxQueueLength: 2 });
      assert.deepEqual(full.map((o) => o.status), ["enqueued", "enqueued", "queue_full"]);
    });

    it("the chain key handed to the sealer is the successor written by the previous enqueue", async () => {
      const q = await newQueue();
      const seen: number[] = [];
      const spy: MessageSealer = (_i, _q, _seq, ck) => {
        seen.push(ck[0]!);
        return { ciphertext: rb(20), nextChainKey: new Uint8Array(32).fill(ck[0]! + 1) };
      };
      await s.enqueue([{ queueId: q, messageId: rb(32) }, { queueId: q, messageId: rb(32) }], spy, OPTS);
      await s.enqueue([{ queueId: q, messageId: rb(32) }], spy, OPTS);
      assert.deepEqual(seen, [0, 1, 2]);
    });

    it("a sealer that throws midway leaves nothing written (atomic)", async () => {
      const [q1, q2] = [await newQueue(), await newQueue()];
      const boom: MessageSealer = (i, q, seq, ck) => {
        if (i === 1) throw new Error("boom");
        return sealer(() => "x")(i, q, seq, ck);
      };
      await assert.rejects(s.enqueue([{ queueId: q1, messageId: rb(32) }, { queueId: q2, messageId: rb(32) }], boom, OPTS), /boom/);
      assert.equal((await s.getHead(q1))!.nextSeq, 0n);
      assert.equal((await s.fetch(q1, 0n, 10, 1 << 20))!.messages.length, 0);
      const bad: MessageSealer = () => ({ ciphertext: rb(1), nextChainKey: rb(31) });
      await assert.rejects(s.enqueue([{ queueId: q1, messageId: rb(32) }], bad, OPTS), StoreInputError);
      assert.equal((await s.getHead(q1))!.nextSeq, 0n);
    });

    it("fetch bounds, ack (clamped, idempotent), delete", async () => {
      const q = await newQueue();
      await s.enqueue([0, 1, 2, 3, 4].map(() => ({ queueId: q, messageId: rb(32) })), (i, _q, _s, ck) => ({ ciphertext: new Uint8Array(100 + i), nextChainKey: ck }), OPTS);
      assert.deepEqual((await s.fetch(q, 1n, 2, 1 << 20))!.messages.map((m) => m.seq), [1n, 2n]);
      assert.deepEqual((await s.fetch(q, 0n, 10, 150))!.messages.map((m) => m.seq), [0n, 1n], "stops once maxBytes is reached");
      assert.deepEqual((await s.fetch(q, 0n, 10, 1))!.messages.map((m) => m.seq), [0n], "always at least one");
      assert.deepEqual(await s.ack(q, 1n), { ownerKey: (await s.getHead(q))!.ownerKey, nextSeq: 5n, firstSeq: 2n });
      assert.equal((await s.ack(q, 0n))!.firstSeq, 2n, "acking less is a no-op");
      assert.deepEqual((await s.fetch(q, 0n, 10, 1 << 20))!.messages.map((m) => m.seq), [2n, 3n, 4n]);
      assert.equal((await s.ack(q, 99n))!.firstSeq, 5n);
      assert.equal((await s.fetch(q, 0n, 10, 1 << 20))!.messages.length, 0);
      assert.equal(await s.ack(rb(16), 1n), undefined);
      assert.equal(await s.deleteQueue(q), true);
      assert.equal(await s.deleteQueue(q), false);
      assert.equal(await s.fetch(q, 0n, 1, 1), undefined);
    });

    it("bad arguments are StoreInputError and change nothing", async () => {
      const q = await newQueue();
      await assert.rejects(s.createQueue(new Uint8Array(0), rb(32), rb(32)), StoreInputError);
      await assert.rejects(s.createQueue(rb(16), rb(31), rb(32)), StoreInputError);
      await assert.rejects(s.enqueue([{ queueId: q, messageId: rb(31) }], sealer(() => "x"), OPTS), StoreInputError);
      await assert.rejects(s.enqueue([{ queueId: q, messageId: rb(32) }], sealer(() => "x"), { ...OPTS, maxQueueLength: 0 }), StoreInputError);
      await assert.rejects(s.fetch(q, -1n, 1, 1), StoreInputError);
      await assert.rejects(s.fetch(q, 0n, 0, 1), StoreInputError);
      await assert.rejects(s.ack(q, 1n << 64n), StoreInputError);
      assert.equal((await s.getHead(q))!.nextSeq, 0n);
    });

    it("concurrent fanouts over overlapping queues: every queue stays gap-free and complete", async () => {
      const qs = await Promise.all([0, 1, 2, 3, 4].map(() => newQueue()));
      const n = 30;
      const results = await Promise.all(
        Array.from({ length: n }, (_, k) => {
          const targets = qs.filter((_q, j) => (k + j) % 2 === 0 || j === 0);
          return s.enqueue(targets.map((queueId) => ({ queueId, messageId: rb(32) })), sealer(() => `k${k}`), OPTS);
        }),
      );
      assert.ok(results.flat().every((o) => o.status === "enqueued"));
      for (const q of qs) {
        const f = (await s.fetch(q, 0n, 1000, 1 << 30))!;
        assert.deepEqual(f.messages.map((m) => m.seq), Array.from({ length: f.messages.length }, (_, i) => BigInt(i)));
        assert.equal(BigInt(f.messages.length), f.head.nextSeq);
      }
      assert.equal((await s.fetch(qs[0]!, 0n, 1000, 1 << 30))!.messages.length, n);
    });
  });
}

describe("store lifecycle", () => {
  it("a closed store refuses every operation with StoreClosedError", async () => {
    for (const a of adapters) {
      const { store, done } = await a.make();
      await store.close();
      await assert.rejects(store.getHead(rb(16)), StoreClosedError);
      await assert.rejects(store.createQueue(rb(16), rb(32), rb(32)), StoreClosedError);
      await done();
    }
  });

  it("fromDb: queues share one LevelDB with the group store; close() leaves the shared DB open", async () => {
    const t = await tempDir();
    const db = new Level<Uint8Array, Uint8Array>(t.dir, { keyEncoding: "view", valueEncoding: "view" });
    await db.open();
    try {
      const groups = LevelGroupStore.fromDb(db, "group");
      const queues = LevelQueueStore.fromDb(db, "queue");
      const q = rb(16);
      await queues.createQueue(q, rb(32), rb(32));
      await groups.reserveGroupId(rb(32), 60_000);
      await queues.enqueue([{ queueId: q, messageId: rb(32) }], sealer(() => "shared"), OPTS);
      await queues.purgeSuperseded();
      await queues.close();
      await assert.rejects(queues.getHead(q), StoreClosedError);
      const again = LevelQueueStore.fromDb(db, "queue");
      assert.equal((await again.getHead(q))!.nextSeq, 1n);
      assert.throws(() => LevelQueueStore.fromDb(db, "Bad Prefix"), StoreInputError);
      await again.close();
      await groups.close();
    } finally {
      await db.close();
      await t.cleanup();
    }
  });

  it("dedup sweep removes only expired entries (level)", async () => {
    const t = await tempDir();
    const s = await LevelQueueStore.open(t.dir);
    try {
      const q = rb(16);
      await s.createQueue(q, rb(32), rb(32));
      await s.enqueue([{ queueId: q, messageId: rb(32) }], sealer(() => "a"), { dedupExpiresAtMs: 1000, maxQueueLength: 10, nowMs: 0 });
      await s.enqueue([{ queueId: q, messageId: rb(32) }], sealer(() => "b"), { dedupExpiresAtMs: 5000, maxQueueLength: 10, nowMs: 0 });
      assert.equal(await s.sweepDedup(999), 0);
      assert.equal(await s.sweepDedup(1000), 1);
      assert.equal(await s.sweepDedup(4999), 0);
      assert.equal(await s.sweepDedup(10_000, 1), 1);
      assert.equal(await s.sweepDedup(10_000), 0);
    } finally {
      await s.close();
      await t.cleanup();
    }
  });

  it("a head read outside the queue lock never caches a stale head (no sequence number or chain key twice)", async () => {
    const t = await tempDir();
    const db = new Level<Uint8Array, Uint8Array>(t.dir, { keyEncoding: "view", valueEncoding: "view" });
    await db.open();
    const s = LevelQueueStore.fromDb(db, "race", { headCacheSize: 1 });
    try {
      const q = rb(16);
      await s.createQueue(q, rb(32), rb(32));
      assert.deepEqual(await s.enqueue([{ queueId: q, messageId: rb(32) }], sealer(() => "first"), OPTS), [{ status: "enqueued", seq: 0n }]);
      await s.createQueue(rb(16), rb(32), rb(32)); // evicts q's head from the one-entry cache
      // getHead's read of q (nextSeq 1) is held back until an enqueue to q has written seq 1
      const getMany = db.getMany.bind(db);
      let open!: () => void;
      const gate = new Promise<void>((r) => (open = r));
      let held = false;
      db.getMany = (async (keys: Uint8Array[]) => {
        if (held) return getMany(keys);
        held = true;
        const v = await getMany(keys);
        await gate;
        return v;
      }) as typeof db.getMany;
      const stale = s.getHead(q);
      assert.deepEqual(await s.enqueue([{ queueId: q, messageId: rb(32) }], sealer(() => "second"), OPTS), [{ status: "enqueued", seq: 1n }]);
      open();
      assert.equal((await stale)!.nextSeq, 1n, "the read predates the write");
      db.getMany = getMany;
      assert.deepEqual(await s.enqueue([{ queueId: q, messageId: rb(32) }], sealer(() => "third"), OPTS), [{ status: "enqueued", seq: 2n }]);
      const f = (await s.fetch(q, 0n, 10, 1 << 20))!;
      assert.deepEqual(f.messages.map((m) => td.decode(m.ciphertext)), ["first@0", "second@1", "third@2"]);
    } finally {
      await s.close();
      await db.close();
      await t.cleanup();
    }
  });

  it("with a 'write' listener on the shared database every operation it sees is intact (no reused scratch arrays)", async () => {
    const t = await tempDir();
    const db = new Level<Uint8Array, Uint8Array>(t.dir, { keyEncoding: "view", valueEncoding: "view" });
    await db.open();
    const s = LevelQueueStore.fromDb(db, "listened");
    try {
      const qs = [rb(16), rb(16), rb(16)];
      for (const q of qs) await s.createQueue(q, rb(32), rb(32));
      const seen: { key: Uint8Array; value?: Uint8Array }[][] = [];
      db.on("write", (ops: { key: Uint8Array; value?: Uint8Array }[]) => seen.push(ops.map((o) => ({ key: Uint8Array.from(o.key), value: o.value && Uint8Array.from(o.value) }))));
      const m = rb(32);
      const out = await s.enqueue(qs.map((queueId) => ({ queueId, messageId: m })), sealer((i) => `to${i}`), OPTS);
      assert.deepEqual(out.map((o) => o.status), ["enqueued", "enqueued", "enqueued"]);
      const ops = seen.flat();
      assert.equal(ops.length, 3 + 3 + 1, "three messages, three heads, one dedup record");
      assert.equal(new Set(ops.map((o) => Buffer.from(o.key).toString("hex"))).size, ops.length, "every key distinct");
      for (const [i, q] of qs.entries()) {
        const f = (await s.fetch(q, 0n, 10, 1 << 20))!;
        assert.deepEqual(f.messages.map((x) => td.decode(x.ciphertext)), [`to${i}@0`]);
        assert.equal(f.head.nextSeq, 1n);
      }
    } finally {
      await s.close();
      await db.close();
      await t.cleanup();
    }
  });

  it("KeyLocks serialize overlapping key sets without deadlock and leave no entries", async () => {
    const locks = new KeyLocks();
    const holders = new Map<string, number>();
    let maxSeen = 0;
    let ran = 0;
    const job = (keys: string[]) =>
      locks.run(keys, async () => {
        for (const k of new Set(keys)) holders.set(k, (holders.get(k) ?? 0) + 1);
        maxSeen = Math.max(maxSeen, ...holders.values());
        await new Promise((r) => setTimeout(r, 2));
        for (const k of new Set(keys)) holders.set(k, holders.get(k)! - 1);
        ran++;
      });
    // opposite orders would deadlock if keys were taken one at a time in the order given
    await Promise.all(Array.from({ length: 40 }, (_, i) => job(i % 2 ? ["x", "y", "z"] : ["z", "y", "x", "x"]).then(() => job([`solo${i}`, "y"]))));
    assert.equal(ran, 80);
    assert.equal(maxSeen, 1, "never two holders of one key");
    assert.equal(locks.size, 0);
    const many = Array.from({ length: 20_000 }, (_, i) => `k${i}`);
    await locks.run(many, async () => {});
    assert.equal(locks.size, 0);
  });
});
