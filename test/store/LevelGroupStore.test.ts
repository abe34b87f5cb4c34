// The level adapter at rest (ARCHITECTURE.md §3 "Group state at rest", "Concurrency"): tampering
// with raw values, durability across close/reopen and SIGKILL, and what a stolen DB shows.
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Level } from "level";
import {
  CorruptRecordError,
  LevelGroupStore,
  StoreIoError,
  VersionConflictError,
  WrongKeyError,
  groupStorageKey,
  levelHeadKey,
  levelRecordKey,
  levelReservationKey,
} from "../../src/store/index.js";
import { createWrite, newGroupId, newKey, put, rejectsWith, td, te, tempDir } from "./storeFixtures.js";

type Bytes = Uint8Array;
const text = (b: Bytes | undefined) => (b === undefined ? undefined : td.decode(b));

/** Opens a raw Level plus a store sharing it, so a test can read and write raw values. */
async function openShared(dir: string) {
  const db = new Level<Bytes, Bytes>(dir, { keyEncoding: "view", valueEncoding: "view" });
  await db.open();
  const raw = db.sublevel<Bytes, Bytes>("group", { keyEncoding: "view", valueEncoding: "view" });
  const store = LevelGroupStore.fromDb(db, "group");
  return { db, raw, store };
}

function indexOf(hay: Buffer, needle: Bytes): number {
  return hay.indexOf(Buffer.from(needle.buffer, needle.byteOffset, needle.byteLength));
}

describe("§3 Group state at rest: records cannot be moved, swapped or replayed (level)", () => {
  let t: Awaited<ReturnType<typeof tempDir>>;
  let s: Awaited<ReturnType<typeof openShared>>;
  before(async () => {
    t = await tempDir();
    s = await openShared(t.dir);
  });
  after(async () => {
    await s.store.close();
    await s.db.close();
    await t.cleanup();
  });

  /** Asserts the read is refused and that head and the untouched records are unchanged. */
  async function refusedWithoutChange(read: () => Promise<unknown>, gid: Bytes, cls: abstract new (...a: never[]) => Error) {
    const before = await s.store.getHead(gid);
    await rejectsWith(read(), cls);
    assert.deepEqual(await s.store.getHead(gid), before);
  }

  it("a record copied under another group's key does not open there, even with that group's key", async () => {
    const a = newGroupId();
    const b = newGroupId();
    const k = newKey(); // same key and epoch for both: only the AAD's group id differs
    await s.store.write(a, createWrite(1n, 1, [put("state", 0, "A state", k, 1n)]));
    await s.store.write(b, createWrite(1n, 1, [put("state", 0, "B state", k, 1n)]));
    const va = await s.raw.get(levelRecordKey(a, { kind: "state" }));
    assert.ok(va);
    await s.raw.put(levelRecordKey(b, { kind: "state" }), va);
    await refusedWithoutChange(() => s.store.getRecords(b, [{ kind: "state" }], k, { keyEpoch: 1n }), b, WrongKeyError);
    assert.deepEqual((await s.store.getRecords(a, [{ kind: "state" }], k, { keyEpoch: 1n })).map(text), ["A state"]);
  });

  it("records swapped between kinds or ids do not open", async () => {
    const g = newGroupId();
    const k = newKey();
    await s.store.write(g, createWrite(0n, 1, [put("state", 0, "S", k, 0n), put("leaves", 0, "L", k, 0n), put("leaf", 1, "one", k, 0n), put("leaf", 2, "two", k, 0n)]));
    const vState = (await s.raw.get(levelRecordKey(g, { kind: "state" })))!;
    const vLeaves = (await s.raw.get(levelRecordKey(g, { kind: "leaves" })))!;
    const v1 = (await s.raw.get(levelRecordKey(g, { kind: "leaf", id: 1 })))!;
    const v2 = (await s.raw.get(levelRecordKey(g, { kind: "leaf", id: 2 })))!;
    await s.raw.batch([
      { type: "put", key: levelRecordKey(g, { kind: "state" }), value: vLeaves },
      { type: "put", key: levelRecordKey(g, { kind: "leaves" }), value: vState },
      { type: "put", key: levelRecordKey(g, { kind: "leaf", id: 1 }), value: v2 },
      { type: "put", key: levelRecordKey(g, { kind: "leaf", id: 2 }), value: v1 },
    ]);
    for (const ref of [{ kind: "state" }, { kind: "leaves" }, { kind: "leaf", id: 1 }, { kind: "leaf", id: 2 }]) {
      await refusedWithoutChange(() => s.store.getRecords(g, [ref], k, { keyEpoch: 0n }), g, WrongKeyError);
    }
  });

  it("an old head record replayed next to a newer head does not open, even with its stored version rewritten", async () => {
    const g = newGroupId();
    const k = newKey();
    await s.store.write(g, createWrite(0n, 1, [put("state", 0, "tree v1", k, 0n), put("leaves", 0, "index v1", k, 0n)]));
    const oldTree = (await s.raw.get(levelRecordKey(g, { kind: "state" })))!;
    await s.store.write(g, { expectedVersion: 1, head: { epoch: 0n, lastUsedDay: 1 }, puts: [put("state", 0, "tree v2", k, 0n), put("leaves", 0, "index v2", k, 0n)] });
    await s.raw.put(levelRecordKey(g, { kind: "state" }), oldTree);
    await refusedWithoutChange(() => s.store.getRecords(g, [{ kind: "state" }, { kind: "leaves" }], k, { keyEpoch: 0n }), g, WrongKeyError);
    // rewrite the plaintext written-at-version field 1 -> 2: the AAD still says 1
    const forged = oldTree.slice();
    new DataView(forged.buffer).setUint32(8, 2);
    await s.raw.put(levelRecordKey(g, { kind: "state" }), forged);
    await refusedWithoutChange(() => s.store.getRecords(g, [{ kind: "state" }], k, { keyEpoch: 0n }), g, WrongKeyError);
    // and marking it "not version-bound" (0) does not help either
    new DataView(forged.buffer).setUint32(8, 0);
    await s.raw.put(levelRecordKey(g, { kind: "state" }), forged);
    await refusedWithoutChange(() => s.store.getRecords(g, [{ kind: "state" }], k, { keyEpoch: 0n }), g, WrongKeyError);
    // a rolled-back head (version 1) next to the new records: seen as a stale read, never opened as v1 state
    const head = (await s.raw.get(levelHeadKey(g)))!.slice();
    new DataView(head.buffer).setUint32(0, 1);
    await s.raw.put(levelHeadKey(g), head);
    await rejectsWith(s.store.getRecords(g, [{ kind: "leaves" }], k, { keyEpoch: 0n }), VersionConflictError);
  });

  it("a rewritten key epoch or flipped ciphertext bit does not open; structurally broken values are CorruptRecordError", async () => {
    const g = newGroupId();
    const k = newKey();
    await s.store.write(g, createWrite(5n, 1, [put("state", 0, "S", k, 5n), put("leaf", 0, "L", k, 5n)]));
    const v = (await s.raw.get(levelRecordKey(g, { kind: "state" })))!;
    const epochForged = v.slice();
    new DataView(epochForged.buffer).setBigUint64(0, 6n);
    await s.raw.put(levelRecordKey(g, { kind: "state" }), epochForged);
    await refusedWithoutChange(() => s.store.getRecords(g, [{ kind: "state" }], k, { keyEpoch: 6n }), g, WrongKeyError);
    const flipped = v.slice();
    flipped[30]! ^= 1;
    await s.raw.put(levelRecordKey(g, { kind: "state" }), flipped);
    await refusedWithoutChange(() => s.store.getRecords(g, [{ kind: "state" }], k, { keyEpoch: 5n }), g, WrongKeyError);
    await s.raw.put(levelRecordKey(g, { kind: "state" }), v.subarray(0, 20));
    await refusedWithoutChange(() => s.store.getRecords(g, [{ kind: "state" }], k, { keyEpoch: 5n }), g, CorruptRecordError);
    await rejectsWith(s.store.getRecordEpoch(g, { kind: "state" }), CorruptRecordError);
    // the other record is untouched
    assert.deepEqual((await s.store.getRecords(g, [{ kind: "leaf" }], k, { keyEpoch: 5n })).map(text), ["L"]);
    await s.raw.put(levelHeadKey(g), new Uint8Array(15));
    const e = await rejectsWith(s.store.getHead(g), CorruptRecordError);
    assert.equal(e.code, "corrupt_record");
    await rejectsWith(s.store.write(g, { expectedVersion: 1, head: { epoch: 5n, lastUsedDay: 1 }, puts: [] }), CorruptRecordError);
  });

  it("two stores over one shared DB and prefix share the CAS lock, and another sublevel is untouched", async () => {
    const other = LevelGroupStore.fromDb(s.db, "group");
    const queues = s.db.sublevel<string, string>("queues", { keyEncoding: "utf8", valueEncoding: "utf8" });
    await queues.put("q", "v");
    const g = newGroupId();
    const k = newKey();
    await s.store.write(g, createWrite(0n, 1, []));
    const rs = await Promise.allSettled([s.store, other, s.store, other].map((st, i) => st.write(g, { expectedVersion: 1, head: { epoch: 0n, lastUsedDay: 1 }, puts: [put("state", 0, `w${i}`, k, 0n)] })));
    assert.equal(rs.filter((r) => r.status === "fulfilled").length, 1);
    await s.store.deleteGroup(g, 2);
    assert.equal(await queues.get("q"), "v");
    await other.close(); // does not close the shared DB
    assert.equal(s.db.status, "open");
    assert.deepEqual(await s.raw.get(levelReservationKey(g)), undefined);
  });
});

describe("§3 Concurrency: acknowledged writes are durable (level)", () => {
  it("write, close, reopen: same head and records", async () => {
    const t = await tempDir();
    try {
      const g = newGroupId();
      const k = newKey();
      let store = await LevelGroupStore.open(t.dir);
      await store.write(g, createWrite(2n, 19000, [put("state", 0, "durable", k, 2n), put("joiner", 3, "j", k, 1n, false)]));
      assert.equal(await store.reserveGroupId(newGroupId(), 60_000), true);
      await store.close();
      // the DB lock is released by close(): a second open works
      store = await LevelGroupStore.open(t.dir);
      assert.deepEqual(await store.getHead(g), { version: 1, epoch: 2n, lastUsedDay: 19000 });
      assert.deepEqual((await store.getRecords(g, [{ kind: "state" }], k, { keyEpoch: 2n })).map(text), ["durable"]);
      assert.equal(await store.getRecordEpoch(g, { kind: "joiner", id: 3 }), 1n);
      // one process holds the DB: a second open while it is held fails with a typed error
      await rejectsWith(LevelGroupStore.open(t.dir), StoreIoError);
      await store.close();
    } finally {
      await t.cleanup();
    }
  });

  it("a process SIGKILLed right after write() resolved: reopening finds the write", async () => {
    const t = await tempDir();
    try {
      const g = newGroupId();
      const k = newKey();
      const self = fileURLToPath(import.meta.url);
      const compiled = !self.endsWith(".ts");
      const child = join(dirname(self), "fixtures", compiled ? "writeChild.js" : "writeChild.ts");
      const argv = [...(compiled ? [] : ["--import", "tsx"]), child, t.dir, Buffer.from(g).toString("hex"), Buffer.from(k).toString("hex"), "survives SIGKILL"];
      const proc = spawn(process.execPath, argv, { stdio: ["ignore", "pipe", "pipe"] });
      let err = "";
      proc.stderr.on("data", (d: Buffer) => (err += d.toString()));
      const exited = new Promise<NodeJS.Signals | null>((resolve) => proc.on("exit", (_code, sig) => resolve(sig)));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`child did not write in time: ${err}`)), 20_000);
        let out = "";
        proc.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          if (out.includes("written\n")) {
            proc.kill("SIGKILL");
            clearTimeout(timer);
            resolve();
          }
        });
        proc.on("exit", () => {
          clearTimeout(timer);
          if (!out.includes("written\n")) reject(new Error(`child exited before writing: ${err}`));
        });
      });
      assert.equal(await exited, "SIGKILL");
      const store = await LevelGroupStore.open(t.dir);
      try {
        assert.deepEqual(await store.getHead(g), { version: 1, epoch: 4n, lastUsedDay: 20_000 });
        assert.deepEqual((await store.getRecords(g, [{ kind: "state" }], k, { keyEpoch: 4n })).map(text), ["survives SIGKILL"]);
      } finally {
        await store.close();
      }
    } finally {
      await t.cleanup();
    }
  });
});

describe("§1 storage at rest (a stolen DB): no group id, plaintext, kind name or key in any file", () => {
  it("scans every file of the closed DB, .log included", async () => {
    const t = await tempDir();
    try {
      const store = await LevelGroupStore.open(t.dir);
      const groups: { gid: Bytes; key: Bytes; marker: string }[] = [];
      // one human-readable group id too: the kind of id a careless deployment might choose
      const ids = [te.encode("group-id-Zq7#alice-and-bob"), newGroupId(), newGroupId(), newGroupId()];
      for (let i = 0; i < ids.length; i++) {
        const gid = ids[i]!;
        const key = newKey();
        const marker = `PLAINTEXT-MARKER-${i}-q8XvL2`;
        groups.push({ gid, key, marker });
        await store.write(gid, createWrite(BigInt(i), 20_000 + i, [put("state", 0, `${marker} state`, key, BigInt(i)), put("leaf", 3, `${marker} leaf`, key, BigInt(i)), put("markerkind-zq", 9, marker, key, BigInt(i))]));
        await store.write(gid, { expectedVersion: 1, head: { epoch: BigInt(i + 1), lastUsedDay: 20_001 + i }, puts: [put("state", 0, `${marker} state2`, key, BigInt(i + 1))] });
        await store.touch(gid, 20_010);
      }
      await store.reserveGroupId(te.encode("reserved-id-Zq7#carol"), 60_000);
      await store.close();

      const files = await readdir(t.dir);
      assert.ok(files.some((f) => f.endsWith(".log")), "the write-ahead log is scanned");
      const blobs = await Promise.all(files.map((f) => readFile(join(t.dir, f))));
      const all = Buffer.concat(blobs);
      const absent = (needle: Bytes, what: string) => assert.equal(indexOf(all, needle), -1, `${what} found at rest`);
      for (const { gid, key, marker } of groups) {
        absent(gid, "group id");
        absent(te.encode(Buffer.from(gid).toString("hex")), "hex group id");
        absent(te.encode(Buffer.from(gid).toString("hex").toUpperCase()), "HEX group id");
        absent(te.encode(Buffer.from(gid).toString("base64")), "base64 group id");
        absent(key, "record key");
        absent(te.encode(Buffer.from(key).toString("hex")), "hex record key");
        absent(te.encode(marker), "plaintext marker");
        // positive control: the scan does see what is meant to be there
        assert.notEqual(indexOf(all, groupStorageKey(gid)), -1, "storage key present");
      }
      absent(te.encode("reserved-id-Zq7#carol"), "reserved group id");
      absent(te.encode("markerkind-zq"), "record kind name");
    } finally {
      await t.cleanup();
    }
  });
});
