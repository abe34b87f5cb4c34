// Forward secrecy at rest (ARCHITECTURE.md s1 "storage at rest"): the QS store holds only
// ciphertext and the queue's *current* chain key. A thief of the store files finds no message
// plaintext, no queue id and no initial secret, and cannot open any message enqueued before the
// theft; the queue owner, holding the initial secret, opens all of them.
import { strict as assert } from "node:assert";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Level } from "level";
import { QueueDecryptionError } from "../../src/protocol/QsErrors.js";
import { chainKeyOfRawHead, initialChainKey, LevelQueueStore, levelQueueHeadKey, levelQueueMessageKey, messageKey, nextChainKey, openWithKey, queueStorageKey } from "../../src/qs/index.js";
import { createQueue, fanoutTo, fetchAll, makeEnv, restart, tempDir, te, texts, type TestQueue } from "./qsFixtures.js";

type Bytes = Uint8Array;
const MARKER = "PLAINTEXT-MARKER-q7Zx";

async function rawFiles(dir: string): Promise<{ files: string[]; all: Buffer }> {
  const files = await readdir(dir);
  return { files, all: Buffer.concat(await Promise.all(files.map((f) => readFile(join(dir, f))))) };
}
const contains = (hay: Buffer, needle: Bytes) => hay.indexOf(Buffer.from(needle.buffer, needle.byteOffset, needle.byteLength)) !== -1;

/** chain_0 .. chain_n as the owner derives them from the initial secret. */
function chainKeys(q: TestQueue, n: number): Bytes[] {
  const out = [initialChainKey(q.initialSecret, q.queueId)];
  for (let i = 0; i < n; i++) out.push(nextChainKey(out[i]!, q.queueId, BigInt(i)));
  return out;
}

describe("forward secrecy of queued messages at rest (level)", () => {
  it("a stolen store shows no plaintext, and its current chain key opens no earlier message", async () => {
    const t = await tempDir();
    try {
      let store = await LevelQueueStore.open(t.dir);
      const env = makeEnv({ store });
      const q = await createQueue(env);
      const qc = await q.queueConfig();
      const N = 6;
      for (let i = 0; i < N; i++) await fanoutTo(env, [qc], `${MARKER}-${i}`, i === 2 ? [te.encode(`JOINERKEY-${MARKER}`)] : undefined);
      await store.close();

      // 1. The raw files (write-ahead log included): no plaintext, queue id or initial secret.
      const { files, all } = await rawFiles(t.dir);
      assert.ok(files.some((f) => f.endsWith(".log")), "the write-ahead log is scanned");
      assert.ok(!contains(all, te.encode(MARKER)), "plaintext message found at rest");
      assert.ok(!contains(all, te.encode("JOINERKEY")), "sealed joiner key in clear at rest");
      assert.ok(!contains(all, q.queueId), "queue id found at rest");
      assert.ok(!contains(all, q.initialSecret), "initial secret found at rest");
      assert.ok(contains(all, queueStorageKey(q.queueId)), "positive control: the scan sees the hashed queue key");

      // 2. What a thief reads through the database: the ciphertexts and the current chain key.
      const db = new Level<Bytes, Bytes>(t.dir, { keyEncoding: "view", valueEncoding: "view" });
      await db.open();
      const raw = db.sublevel<Bytes, Bytes>("queue", { keyEncoding: "view", valueEncoding: "view" });
      const stolenChain = chainKeyOfRawHead((await raw.get(levelQueueHeadKey(q.queueId)))!);
      const cts: Bytes[] = [];
      for (let i = 0; i < N; i++) cts.push((await raw.get(levelQueueMessageKey(q.queueId, BigInt(i))))!);
      await db.close();
      const truth = chainKeys(q, N);
      assert.equal(hex(stolenChain), hex(truth[N]!), "the store holds exactly chain_N");
      for (let i = 0; i < N; i++) {
        // as if the stolen key were chain_i, and ratcheted forward from it: neither opens message i
        assert.throws(() => openWithKey(messageKey(stolenChain, q.queueId, BigInt(i)), q.queueId, BigInt(i), cts[i]!), QueueDecryptionError);
        let k = stolenChain;
        for (let s = 0; s < 64; s++) {
          for (let j = 0; j < N; j++) assert.throws(() => openWithKey(messageKey(k, q.queueId, BigInt(j)), q.queueId, BigInt(j), cts[j]!), QueueDecryptionError);
          k = nextChainKey(k, q.queueId, BigInt(N + s));
        }
      }

      // 3. Positive control: the stolen key is live, so the *next* message is readable to the thief.
      store = await LevelQueueStore.open(t.dir);
      const env2 = restart(env, store);
      await fanoutTo(env2, [qc], "after the theft");
      const f = await fetchAll(env2, q);
      assert.equal(f.messages.length, N + 1);
      const pt = openWithKey(messageKey(stolenChain, q.queueId, BigInt(N)), q.queueId, BigInt(N), f.messages[N]!.ciphertext);
      assert.ok(Buffer.from(pt).includes(Buffer.from("after the theft")));

      // 4. The owner decrypts everything from the initial secret.
      const got = texts(q, f.messages);
      assert.deepEqual(got, [...Array.from({ length: N }, (_, i) => `${MARKER}-${i}`), "after the theft"]);
      assert.equal(td(q.decryptor.decrypt(f.messages[2]!).sealedJoinerKey!), `JOINERKEY-${MARKER}`);
      await store.close();
    } finally {
      await t.cleanup();
    }
  });

  it("superseded chain keys linger in LevelDB's log until purgeSuperseded() compacts them away", async () => {
    const t = await tempDir();
    try {
      const store = await LevelQueueStore.open(t.dir);
      const env = makeEnv({ store });
      const q = await createQueue(env);
      const qc = await q.queueConfig();
      const N = 20;
      for (let i = 0; i < N; i++) await fanoutTo(env, [qc], `m${i}`);
      const truth = chainKeys(q, N);
      await store.close();
      const countOld = async () => {
        const { all } = await rawFiles(t.dir);
        return { old: truth.slice(0, N).filter((k) => contains(all, k)).length, current: contains(all, truth[N]!) };
      };
      const before = await countOld();
      // measured, not assumed: LevelDB appends every head write to its log
      assert.ok(before.old > 0, "expected superseded chain keys in the write-ahead log before compaction");
      const s2 = await LevelQueueStore.open(t.dir);
      await s2.purgeSuperseded();
      await s2.close();
      const afterPurge = await countOld();
      assert.deepEqual(afterPurge, { old: 0, current: true }, `before: ${JSON.stringify(before)}`);
    } finally {
      await t.cleanup();
    }
  });
});

const td = (b: Bytes) => new TextDecoder().decode(b);
const hex = (b: Bytes) => Buffer.from(b).toString("hex");
