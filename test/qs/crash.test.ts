// Durability (ARCHITECTURE.md s3 "Concurrency": nothing acknowledged is lost on a crash): a
// process fanning out a burst is SIGKILLed mid-burst; after reopening, every fanout it had
// acknowledged is in both queues at the sequence number it reported, and the queues are
// gap-free and decrypt under the owner's initial secret.
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { LevelQueueStore, QueueReferenceKeyPair, QueueReferenceKeys } from "../../src/qs/index.js";
import { createQueue, fetchAll, makeEnv, QS_DOMAIN, restart, tempDir, texts } from "./qsFixtures.js";

const ACKS_BEFORE_KILL = 60;

describe("crash durability: SIGKILL mid-burst (level)", () => {
  it("every acknowledged fanout survives, in both queues, gap-free", async () => {
    const t = await tempDir();
    try {
      const pair = QueueReferenceKeyPair.generate(1);
      let store = await LevelQueueStore.open(t.dir);
      const env = makeEnv({ store, refKeys: new QueueReferenceKeys(QS_DOMAIN, [pair]) });
      const qa = await createQueue(env);
      const qb = await createQueue(env);
      const [ca, cb] = [await qa.queueConfig(), await qb.queueConfig()];
      await store.close();

      const self = fileURLToPath(import.meta.url);
      const compiled = !self.endsWith(".ts");
      const child = join(dirname(self), "fixtures", compiled ? "fanoutChild.js" : "fanoutChild.ts");
      const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
      const argv = [...(compiled ? [] : ["--import", "tsx"]), child, t.dir, "1", hex(pair.privateKey), QS_DOMAIN, hex(ca), hex(cb)];
      const proc = spawn(process.execPath, argv, { stdio: ["ignore", "pipe", "pipe"] });
      let err = "";
      proc.stderr.on("data", (d: Buffer) => (err += d.toString()));
      const exited = new Promise<NodeJS.Signals | null>((resolve) => proc.on("exit", (_c, sig) => resolve(sig)));
      let out = "";
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`child acknowledged too little in time: ${err}`)), 25_000);
        proc.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          if (out.split("\n").filter((l) => l.startsWith("ack ")).length >= ACKS_BEFORE_KILL) {
            proc.kill("SIGKILL");
            clearTimeout(timer);
            resolve();
          }
        });
        proc.on("exit", () => {
          clearTimeout(timer);
          reject(new Error(`child exited on its own: ${err}`));
        });
      });
      assert.equal(await exited, "SIGKILL");
      // Only complete lines count: a line cut by the kill was not (fully) reported.
      const acks = out
        .split("\n")
        .slice(0, -1)
        .filter((l) => l.startsWith("ack "))
        .map((l) => l.split(" ").slice(1).map((x) => BigInt(x)) as [bigint, bigint, bigint]);
      assert.ok(acks.length >= ACKS_BEFORE_KILL);

      store = await LevelQueueStore.open(t.dir);
      try {
        const env2 = restart(env, store);
        for (const [q, col] of [[qa, 1], [qb, 2]] as const) {
          const f = await fetchAll(env2, q);
          const seqs = f.messages.map((m) => m.sequence);
          assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => BigInt(i)), "gap-free from 0");
          assert.equal(f.nextSequence, BigInt(seqs.length));
          assert.ok(seqs.length >= acks.length, "at least every acknowledged message");
          const bySeq = new Map(texts(q, f.messages).map((txt, i) => [seqs[i]!, txt]));
          for (const a of acks) assert.equal(bySeq.get(a[col]), `crash-${a[0]}`, `acknowledged fanout ${a[0]} at seq ${a[col]}`);
          // nothing twice
          assert.equal(new Set(bySeq.values()).size, bySeq.size);
        }
      } finally {
        await store.close();
      }
    } finally {
      await t.cleanup();
    }
  });
});
