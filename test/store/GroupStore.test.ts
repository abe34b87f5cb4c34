// The GroupStore port (ARCHITECTURE.md §3 "Group state at rest", "State layout for speed",
// "Concurrency"), run against every adapter.
import { strict as assert } from "node:assert";
import { after, before, describe, it } from "node:test";
import type { GroupStore } from "../../src/store/index.js";
import {
  GroupExistsError,
  GroupNotFoundError,
  StoreClosedError,
  StoreInputError,
  VersionConflictError,
  WrongKeyError,
} from "../../src/store/index.js";
import { adapters, createWrite, newGroupId, newKey, put, rejectsWith, td } from "./storeFixtures.js";

const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : td.decode(b));

for (const adapter of adapters) {
  describe(`${adapter.name}`, () => {
    let store: GroupStore;
    let done: () => Promise<void>;
    before(async () => {
      ({ store, done } = await adapter.make());
    });
    after(async () => done());

    describe("§3 Group state at rest: round trips", () => {
      it("stores records of different kinds and ids and reads them back under the epoch key", async () => {
        const gid = newGroupId();
        const k0 = newKey();
        const head = await store.write(
          gid,
          createWrite(0n, 20000, [
            put("state", undefined, "state v1", k0, 0n),
            put("leaves", 0, "leaf index v1", k0, 0n),
            put("leaf", 0, "leaf 0", k0, 0n),
            put("leaf", 1, "leaf 1", k0, 0n),
            put("leaf", 5, "leaf 5", k0, 0n),
          ]),
        );
        assert.deepEqual(head, { version: 1, epoch: 0n, lastUsedDay: 20000 });
        assert.deepEqual(await store.getHead(gid), head);
        const got = await store.getRecords(gid, [{ kind: "state" }, { kind: "leaves" }, { kind: "leaf", id: 5 }, { kind: "leaf", id: 1 }, { kind: "leaf", id: 2 }], k0, { keyEpoch: 0n, version: 1 });
        assert.deepEqual(got.map(text), ["state v1", "leaf index v1", "leaf 5", "leaf 1", undefined]);
        // version defaults to the current head
        assert.deepEqual((await store.getRecords(gid, [{ kind: "leaf", id: 0 }], k0, { keyEpoch: 0n })).map(text), ["leaf 0"]);
        assert.deepEqual(await store.getRecords(gid, [], k0, { keyEpoch: 0n }), []);
        // an unknown group: no head, no records
        assert.equal(await store.getHead(newGroupId()), undefined);
        assert.deepEqual(await store.getRecords(newGroupId(), [{ kind: "state" }], k0, { keyEpoch: 0n }), [undefined]);
        assert.equal(await store.getRecordEpoch(gid, { kind: "state" }), 0n);
        assert.equal(await store.getRecordEpoch(gid, { kind: "leaf", id: 9 }), undefined);
      });

      it("stores empty and large plaintexts byte for byte", async () => {
        const gid = newGroupId();
        const k = newKey();
        const big = new Uint8Array(200_000).map((_, i) => (i * 31) & 0xff);
        await store.write(gid, createWrite(3n, 1, [put("state", 0, new Uint8Array(0), k, 3n), put("leaves", 0, big, k, 3n)]));
        const [a, b] = await store.getRecords(gid, [{ kind: "state" }, { kind: "leaves" }], k, { keyEpoch: 3n });
        assert.equal(a?.length, 0);
        assert.deepEqual(b, big);
      });

      it("deleteKinds removes every record of a kind while puts in the same write win; deletes remove single records", async () => {
        const gid = newGroupId();
        const k = newKey();
        await store.write(gid, createWrite(0n, 1, [put("state", 0, "s1", k, 0n), put("leaf", 0, "a", k, 0n), put("leaf", 1, "b", k, 0n), put("leaf", 2, "c", k, 0n), put("fanout", 0, "f", k, 0n)]));
        const h2 = await store.write(gid, {
          expectedVersion: 1,
          head: { epoch: 0n, lastUsedDay: 1 },
          puts: [put("state", 0, "s2", k, 0n), put("leaf", 1, "b2", k, 0n)],
          deleteKinds: ["leaf"],
          deletes: [{ kind: "fanout" }],
        });
        assert.equal(h2.version, 2);
        const got = await store.getRecords(gid, [{ kind: "state" }, { kind: "leaf", id: 0 }, { kind: "leaf", id: 1 }, { kind: "leaf", id: 2 }, { kind: "fanout" }], k, { keyEpoch: 0n });
        assert.deepEqual(got.map(text), ["s2", undefined, "b2", undefined, undefined]);
      });
    });

    describe("§3 Group state at rest: epoch keys and joiners", () => {
      it("joiner records stay readable with their own older epoch key while head records use the new one", async () => {
        const gid = newGroupId();
        const k0 = newKey();
        const k1 = newKey();
        await store.write(gid, createWrite(0n, 1, [put("state", 0, "epoch0 state", k0, 0n)]));
        // The commit into epoch 1 adds a joiner: its tree is sealed under epoch 0's key (the key
        // the joiner gets with its Welcome), the new state under epoch 1's key.
        await store.write(gid, {
          expectedVersion: 1,
          head: { epoch: 1n, lastUsedDay: 2 },
          puts: [put("state", 0, "epoch1 state", k1, 1n), put("joiner", 0, "tree for joiner at epoch 0", k0, 0n, false)],
        });
        // Later writes do not rewrite the joiner record, and it must not be version-bound.
        await store.write(gid, { expectedVersion: 2, head: { epoch: 2n, lastUsedDay: 2 }, puts: [put("state", 0, "epoch2 state", k1, 2n)] });
        const je = await store.getRecordEpoch(gid, { kind: "joiner" });
        assert.equal(je, 0n);
        assert.deepEqual((await store.getRecords(gid, [{ kind: "joiner" }], k0, { keyEpoch: je! })).map(text), ["tree for joiner at epoch 0"]);
        assert.deepEqual((await store.getRecords(gid, [{ kind: "state" }], k1, { keyEpoch: 2n })).map(text), ["epoch2 state"]);
        // stale key for the head record, new key for the joiner record: refused
        await rejectsWith(store.getRecords(gid, [{ kind: "state" }], k0, { keyEpoch: 0n }), WrongKeyError);
        await rejectsWith(store.getRecords(gid, [{ kind: "joiner" }], k1, { keyEpoch: 2n }), WrongKeyError);
        await rejectsWith(store.getRecords(gid, [{ kind: "joiner" }], k1, { keyEpoch: 0n }), WrongKeyError);
      });

      it("refuses a wrong key, a wrong key epoch and an old version with WrongKeyError, a newer one with VersionConflictError", async () => {
        const gid = newGroupId();
        const k = newKey();
        await store.write(gid, createWrite(7n, 1, [put("state", 0, "s", k, 7n)]));
        await store.write(gid, { expectedVersion: 1, head: { epoch: 7n, lastUsedDay: 1 }, puts: [put("state", 0, "s2", k, 7n)] });
        const e = await rejectsWith(store.getRecords(gid, [{ kind: "state" }], newKey(), { keyEpoch: 7n }), WrongKeyError);
        assert.equal(e.code, "wrong_key");
        assert.equal(e.message, "stale or wrong key");
        await rejectsWith(store.getRecords(gid, [{ kind: "state" }], k, { keyEpoch: 8n }), WrongKeyError);
        await rejectsWith(store.getRecords(gid, [{ kind: "state" }], k, { keyEpoch: 6n }), WrongKeyError);
        await rejectsWith(store.getRecords(gid, [{ kind: "state" }], k, { keyEpoch: 7n, version: 3 }), WrongKeyError);
        await rejectsWith(store.getRecords(gid, [{ kind: "state" }], k, { keyEpoch: 7n, version: 1 }), VersionConflictError);
        assert.deepEqual((await store.getRecords(gid, [{ kind: "state" }], k, { keyEpoch: 7n, version: 2 })).map(text), ["s2"]);
        assert.equal((await store.getHead(gid))?.version, 2);
      });

      it("a bad argument is a StoreInputError and stores nothing", async () => {
        const gid = newGroupId();
        const k = newKey();
        await store.write(gid, createWrite(0n, 1, [put("state", 0, "s", k, 0n)]));
        const bad = [
          { expectedVersion: 1, head: { epoch: 0n, lastUsedDay: 1 }, puts: [put("state", 0, "x", k, 0n), put("leaf", 0, "y", new Uint8Array(16), 0n)] },
          { expectedVersion: 1, head: { epoch: 0n, lastUsedDay: 1 }, puts: [put("leaf", 0, "x", k, 0n), put("leaf", 0, "y", k, 0n)] },
          { expectedVersion: 1, head: { epoch: -1n, lastUsedDay: 1 }, puts: [] },
          { expectedVersion: 1, head: { epoch: 0n, lastUsedDay: 1.5 }, puts: [] },
          { expectedVersion: 1, head: { epoch: 0n, lastUsedDay: 1 }, puts: [put("", 0, "x", k, 0n)] },
          { expectedVersion: 1, head: { epoch: 0n, lastUsedDay: 1 }, puts: [put("leaf", -1, "x", k, 0n)] },
          { expectedVersion: 1, head: { epoch: 0n, lastUsedDay: 1 }, puts: [put("leaf", 0, "x", k, 1n << 64n)] },
          { expectedVersion: 0, head: { epoch: 0n, lastUsedDay: 1 }, puts: [] },
          { expectedVersion: 1, head: { epoch: 0n, lastUsedDay: 1 }, puts: [], deleteKinds: ["x".repeat(256)] },
        ];
        for (const w of bad) await rejectsWith(store.write(gid, w), StoreInputError);
        await rejectsWith(store.write(new Uint8Array(0), createWrite(0n, 1, [])), StoreInputError);
        await rejectsWith(store.getRecords(gid, [{ kind: "state" }], k.subarray(1), { keyEpoch: 0n }), StoreInputError);
        await rejectsWith(store.reserveGroupId(newGroupId(), 0), StoreInputError);
        assert.deepEqual(await store.getHead(gid), { version: 1, epoch: 0n, lastUsedDay: 1 });
        assert.deepEqual((await store.getRecords(gid, [{ kind: "state" }, { kind: "leaf" }], k, { keyEpoch: 0n })).map(text), ["s", undefined]);
      });
    });

    describe("§3 Concurrency: one writer per epoch", () => {
      it("of 50 concurrent writes with the same expectedVersion exactly one succeeds", async () => {
        const gid = newGroupId();
        const k = newKey();
        await store.write(gid, createWrite(0n, 1, [put("state", 0, "base", k, 0n)]));
        const results = await Promise.allSettled(
          Array.from({ length: 50 }, (_, i) => store.write(gid, { expectedVersion: 1, head: { epoch: 1n, lastUsedDay: 1 }, puts: [put("state", 0, `writer ${i}`, k, 1n)] })),
        );
        const won = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
        const lost = results.filter((r) => r.status === "rejected");
        assert.equal(won.length, 1);
        assert.equal(lost.length, 49);
        for (const r of lost) assert.ok(r.status === "rejected" && r.reason instanceof VersionConflictError && r.reason.code === "version_conflict");
        assert.deepEqual(await store.getHead(gid), { version: 2, epoch: 1n, lastUsedDay: 1 });
        assert.deepEqual((await store.getRecords(gid, [{ kind: "state" }], k, { keyEpoch: 1n })).map(text), [`writer ${won[0]}`]);
      });

      it("of 20 concurrent creates exactly one succeeds; create on an existing group is GroupExistsError", async () => {
        const gid = newGroupId();
        const k = newKey();
        const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => store.write(gid, createWrite(0n, 1, [put("state", 0, `c${i}`, k, 0n)]))));
        assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
        for (const r of results) if (r.status === "rejected") assert.ok(r.reason instanceof GroupExistsError && r.reason.code === "group_exists");
        await rejectsWith(store.write(gid, createWrite(0n, 1, [])), GroupExistsError);
      });

      it("a CAS write or delete of a missing group is GroupNotFoundError, a kind of VersionConflictError", async () => {
        const gid = newGroupId();
        const e = await rejectsWith(store.write(gid, { expectedVersion: 1, head: { epoch: 0n, lastUsedDay: 1 }, puts: [] }), GroupNotFoundError);
        assert.ok(e instanceof VersionConflictError);
        assert.equal(e.code, "group_not_found");
        await rejectsWith(store.deleteGroup(gid, 1), GroupNotFoundError);
      });

      it("deleteGroup is a CAS and removes the head and every record", async () => {
        const gid = newGroupId();
        const k = newKey();
        await store.write(gid, createWrite(0n, 1, [put("state", 0, "s", k, 0n), put("leaf", 3, "l", k, 0n), put("joiner", 1, "j", k, 0n, false)]));
        await rejectsWith(store.deleteGroup(gid, 2), VersionConflictError);
        await store.deleteGroup(gid, 1);
        assert.equal(await store.getHead(gid), undefined);
        assert.equal(await store.getRecordEpoch(gid, { kind: "joiner", id: 1 }), undefined);
        assert.equal(await store.getRecordEpoch(gid, { kind: "leaf", id: 3 }), undefined);
        // the id can be used again, with no old record showing through
        await store.write(gid, createWrite(0n, 1, []));
        assert.deepEqual(await store.getRecords(gid, [{ kind: "state" }, { kind: "leaf", id: 3 }], k, { keyEpoch: 0n }), [undefined, undefined]);
      });

      it("touch bumps lastUsedDay only forward and a later write never moves it back", async () => {
        const gid = newGroupId();
        await store.write(gid, createWrite(0n, 100, []));
        await store.touch(gid, 105);
        await store.touch(gid, 101);
        assert.deepEqual(await store.getHead(gid), { version: 1, epoch: 0n, lastUsedDay: 105 });
        const h = await store.write(gid, { expectedVersion: 1, head: { epoch: 1n, lastUsedDay: 100 }, puts: [] });
        assert.equal(h.lastUsedDay, 105);
        await store.touch(newGroupId(), 5); // unknown group: no-op
      });
    });

    describe("§3 Group-id reservations", () => {
      it("reserve twice: the second is refused; consume removes it once", async () => {
        const gid = newGroupId();
        assert.equal(await store.reserveGroupId(gid, 60_000), true);
        assert.equal(await store.reserveGroupId(gid, 60_000), false);
        assert.equal(await store.consumeReservation(gid), true);
        assert.equal(await store.consumeReservation(gid), false);
        assert.equal(await store.reserveGroupId(gid, 60_000), true);
      });

      it("a reservation expires after its TTL", async () => {
        const gid = newGroupId();
        assert.equal(await store.reserveGroupId(gid, 30), true);
        await new Promise((r) => setTimeout(r, 60));
        assert.equal(await store.consumeReservation(gid), false);
        assert.equal(await store.reserveGroupId(gid, 30), true);
        await new Promise((r) => setTimeout(r, 60));
        assert.equal(await store.reserveGroupId(gid, 60_000), true);
      });

      it("an existing group cannot be reserved, and creating a group consumes its reservation", async () => {
        const gid = newGroupId();
        assert.equal(await store.reserveGroupId(gid, 60_000), true);
        await store.write(gid, createWrite(0n, 1, []));
        assert.equal(await store.consumeReservation(gid), false);
        assert.equal(await store.reserveGroupId(gid, 60_000), false);
      });
    });

    describe("§3 Expiry: sweepExpired", () => {
      it("deletes only groups unused for more than ttlDays, with all their records", async () => {
        const k = newKey();
        const ids = [newGroupId(), newGroupId(), newGroupId(), newGroupId()];
        const days = [100, 249, 250, 300];
        for (let i = 0; i < ids.length; i++) {
          await store.write(ids[i]!, createWrite(0n, days[i]!, [put("state", 0, `g${i}`, k, 0n), put("leaf", 1, `l${i}`, k, 0n), put("joiner", 0, `j${i}`, k, 0n, false)]));
        }
        // today 300, ttl 50: last used before day 250 is expired
        const n = await store.sweepExpired(300, 50);
        assert.ok(n >= 2, "at least the two old groups of this test");
        for (const i of [0, 1]) {
          assert.equal(await store.getHead(ids[i]!), undefined);
          for (const ref of [{ kind: "state" }, { kind: "leaf", id: 1 }, { kind: "joiner" }]) assert.equal(await store.getRecordEpoch(ids[i]!, ref), undefined);
        }
        for (const i of [2, 3]) {
          assert.deepEqual((await store.getRecords(ids[i]!, [{ kind: "state" }, { kind: "leaf", id: 1 }, { kind: "joiner" }], k, { keyEpoch: 0n })).map(text), [`g${i}`, `l${i}`, `j${i}`]);
        }
        assert.equal(await store.sweepExpired(300, 50), 0);
        // a swept id is free again
        await store.write(ids[0]!, createWrite(0n, 300, []));
      });
    });
  });
}

describe("StoreClosedError", () => {
  for (const adapter of adapters) {
    it(`${adapter.name}: every operation after close() is refused`, async () => {
      const { store, done } = await adapter.make();
      const gid = newGroupId();
      await store.write(gid, createWrite(0n, 1, []));
      await done();
      await rejectsWith(store.getHead(gid), StoreClosedError);
      await rejectsWith(store.write(gid, createWrite(0n, 1, [])), StoreClosedError);
      await rejectsWith(store.getRecords(gid, [{ kind: "state" }], newKey(), { keyEpoch: 0n }), StoreClosedError);
      await rejectsWith(store.sweepExpired(1, 1), StoreClosedError);
      await store.close(); // idempotent
    });
  }
});
