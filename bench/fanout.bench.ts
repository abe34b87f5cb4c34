// Queueing Service fanout costs, in one run, on LevelDB in a temp dir (ARCHITECTURE.md s4:
// "per-recipient enqueue vs a raw store batch put"):
//   enqueue      - LevelQueueStore.enqueue of one fanout to N = 1000 distinct queues: per
//                  recipient, the dedup check, the forward-secret seal (HKDF chain step and
//                  AES-256-GCM) and its records, all in ONE atomic sync batch; per recipient.
//   raw put      - a raw `level` batch of N puts, one per entry (same ciphertext size, key shape
//                  and sync option): the floor any durable per-recipient write pays; per entry.
//   ratio        - enqueue / raw put, the two measured alternately so drift hits both, each from
//                  a collected heap. Informational: enqueue with a no-crypto sealer (the store's
//                  own work) and the raw floor through a chained batch (what the store uses).
//   fanout       - one message fanned out to 10, 100 and 1000 recipients end to end in-process:
//                  DsFanoutSigner.buildRequests (sign) + QueueingService.fanout (verify the DS
//                  signature, open the sealed references - cached after the first time, as for
//                  a busy group - and enqueue) on LevelQueueStore; the first (cold) run is shown
//                  apart from the warm median.
//
// Run: node --import tsx bench/fanout.bench.ts   or   node dist/bench/fanout.bench.js
// Environment (for quick runs only): FANOUT_BENCH_QUICK=1 shrinks sizes and rounds.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Level } from "level";
import { encodeClientQueueConfig } from "../src/protocol/ClientQueueConfig.js";
import { QueueingServiceResponse } from "../src/protocol/QsConstants.js";
import { QueuedMessage } from "../src/protocol/QueuedMessage.js";
import {
  DsFanoutSigner,
  LevelQueueStore,
  QueueingService,
  QueueReferenceKeyPair,
  QueueReferenceKeys,
  sealQueueReference,
  sealWithChain,
  StaticVerificationKeyResolver,
  type MessageSealer,
} from "../src/qs/index.js";

type Bytes = Uint8Array;
const QS_DOMAIN = "b.test";
const DS_DOMAIN = "a.test";
/** a typical small MLS application message */
const MESSAGE_BYTES = 256;

export interface FanoutBenchOptions {
  /** recipients of the enqueue-vs-raw comparison (default 1000) */
  enqueueN?: number;
  /** measured rounds of each (default 30) */
  rounds?: number;
  /** fanout sizes (default 10, 100, 1000) */
  sizes?: number[];
  /** warm fanouts measured per size (default 20) */
  fanoutRounds?: number;
  log?: (line: string) => void;
}

export interface FanoutBenchResult {
  enqueuePerRecipientUs: number;
  rawPutPerEntryUs: number;
  ratio: number;
  /** informational: enqueue with a sealer that does no cryptography */
  storeOnlyPerRecipientUs: number;
  /** informational: the raw floor through a chained batch */
  rawChainedPerEntryUs: number;
  fanout: { n: number; coldMs: number; warmMedianMs: number; warmPerRecipientUs: number }[];
}

/**
 * A full collection before every timed operation, so neither side pays for the other's garbage
 * (the raw side's operations are built before its timer starts and would otherwise be collected
 * during the next enqueue). Falls back to nothing if the runtime refuses the flag.
 */
const collect: () => void = (() => {
  try {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as unknown;
    if (typeof gc === "function") return gc as () => void;
  } catch {
    // no gc(): timings carry some collection noise
  }
  return () => {};
})();

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** N queues created directly in the store (the owner keys are never used here). */
async function makeQueues(store: LevelQueueStore, n: number): Promise<Bytes[]> {
  const ids: Bytes[] = [];
  for (let i = 0; i < n; i++) {
    const id = new Uint8Array(randomBytes(16));
    await store.createQueue(id, new Uint8Array(randomBytes(32)), new Uint8Array(randomBytes(32)));
    ids.push(id);
  }
  return ids;
}

export async function runFanoutBench(opts: FanoutBenchOptions = {}): Promise<FanoutBenchResult> {
  const log = opts.log ?? (() => {});
  const N = opts.enqueueN ?? 1000;
  const rounds = opts.rounds ?? 30;
  const sizes = opts.sizes ?? [10, 100, 1000];
  const fanoutRounds = opts.fanoutRounds ?? 20;
  const dir = await mkdtemp(join(tmpdir(), "mimi-fanout-bench-"));
  const store = await LevelQueueStore.open(join(dir, "qs"));
  const raw = new Level<Bytes, Bytes>(join(dir, "raw"), { keyEncoding: "view", valueEncoding: "view" });
  await raw.open();
  try {
    // ---- enqueue vs raw put --------------------------------------------------------------
    const queues = await makeQueues(store, N);
    const plaintext = new QueuedMessage(new Uint8Array(randomBytes(MESSAGE_BYTES)), undefined, Date.now(), DS_DOMAIN).serialize();
    const ctLen = 12 + plaintext.length + 16; // nonce, ciphertext, tag
    const sealFs: MessageSealer = (_i, queueId, seq, chainKey) => sealWithChain(chainKey, queueId, seq, plaintext);
    // informational: the store's own work with a sealer that does no cryptography
    const fixedCt = new Uint8Array(randomBytes(ctLen));
    const fixedChain = new Uint8Array(randomBytes(32));
    const sealNone: MessageSealer = () => ({ ciphertext: fixedCt, nextChainKey: Uint8Array.from(fixedChain) });
    const enqueueOnce = async (seal: MessageSealer) => {
      const messageId = new Uint8Array(randomBytes(32));
      const entries = queues.map((queueId) => ({ queueId, messageId }));
      collect();
      const t0 = performance.now();
      const out = await store.enqueue(entries, seal, { dedupExpiresAtMs: Date.now() + 3_600_000, maxQueueLength: 1 << 30 });
      const t = performance.now() - t0;
      if (out.some((o) => o.status !== "enqueued")) throw new Error("enqueue refused a recipient");
      return t;
    };
    // the raw floor: same key shape ('m' || 32-byte storage key || u64 seq) and value size
    const rawKeys = queues.map(() => new Uint8Array(randomBytes(33)));
    let rawSeq = 0n;
    const rawOps = () => {
      const seq = new Uint8Array(8);
      new DataView(seq.buffer).setBigUint64(0, rawSeq++);
      return rawKeys.map((k) => {
        const key = new Uint8Array(41);
        key.set(k);
        key.set(seq, 33);
        return { type: "put" as const, key, value: new Uint8Array(randomBytes(ctLen)) };
      });
    };
    /** `level`'s batch put: db.batch(array of puts, { sync: true }) */
    const rawOnce = async () => {
      const ops = rawOps();
      collect();
      const t0 = performance.now();
      await raw.batch(ops, { sync: true });
      return performance.now() - t0;
    };
    /** informational: the chained form, db.batch().put(...)...write({ sync: true }) */
    const rawChainedOnce = async () => {
      const ops = rawOps();
      collect();
      const t0 = performance.now();
      const b = raw.batch();
      for (const o of ops) b.put(o.key, o.value);
      await b.write({ sync: true });
      return performance.now() - t0;
    };
    for (let i = 0; i < 3; i++) {
      await enqueueOnce(sealFs);
      await rawOnce();
    }
    const t = { enq: [] as number[], raw: [] as number[], enqNoSeal: [] as number[], rawChained: [] as number[] };
    for (let i = 0; i < rounds; i++) {
      t.enq.push(await enqueueOnce(sealFs));
      t.raw.push(await rawOnce());
      t.enqNoSeal.push(await enqueueOnce(sealNone));
      t.rawChained.push(await rawChainedOnce());
    }
    const per = (xs: number[]) => (median(xs) * 1000) / N;
    const enqueuePerRecipientUs = per(t.enq);
    const rawPutPerEntryUs = per(t.raw);
    log(`enqueue  N=${N} rounds=${rounds}: ${enqueuePerRecipientUs.toFixed(2)} us/recipient (message ${MESSAGE_BYTES} B, ciphertext ${ctLen} B; dedup read, seal, message + head + 1/N dedup record, one sync batch)`);
    log(`raw put  N=${N} rounds=${rounds}: ${rawPutPerEntryUs.toFixed(2)} us/entry (level batch of puts, sync)`);
    log(`info: enqueue without cryptography ${per(t.enqNoSeal).toFixed(2)} us/recipient; raw chained batch ${per(t.rawChained).toFixed(2)} us/entry`);

    // ---- fanout end to end ---------------------------------------------------------------
    const refPair = QueueReferenceKeyPair.generate(1);
    const referenceKeys = new QueueReferenceKeys(QS_DOMAIN, [refPair]);
    const signer = DsFanoutSigner.generate(DS_DOMAIN);
    const qs = new QueueingService({
      store,
      referenceKeys,
      federation: { allowedDomains: [DS_DOMAIN], resolver: new StaticVerificationKeyResolver({ [DS_DOMAIN]: signer.publishedKeys() }) },
      limits: { maxQueueLength: 1 << 30 },
    });
    const fanout: FanoutBenchResult["fanout"] = [];
    const maxN = Math.max(...sizes);
    const fqueues = await makeQueues(store, maxN);
    const configs: Bytes[] = [];
    for (const q of fqueues) configs.push(encodeClientQueueConfig({ qsDomain: QS_DOMAIN, sealedReference: await sealQueueReference(refPair.publicKey, 1, QS_DOMAIN, q) }));
    log("fanout       N   cold ms   warm median ms   us/recipient");
    for (const n of sizes) {
      const once = async () => {
        const message = new Uint8Array(randomBytes(MESSAGE_BYTES));
        collect();
        const t0 = performance.now();
        const batch = signer.buildRequests(configs.slice(0, n).map((queueConfig) => ({ queueConfig, message })));
        for (const p of batch.requests) {
          const r = await qs.fanout(p.request);
          if (r.statuses.some((s) => s !== QueueingServiceResponse.ok)) throw new Error("fanout refused a recipient");
        }
        return performance.now() - t0;
      };
      const coldMs = await once();
      const warm: number[] = [];
      for (let i = 0; i < fanoutRounds; i++) warm.push(await once());
      const warmMedianMs = median(warm);
      fanout.push({ n, coldMs, warmMedianMs, warmPerRecipientUs: (warmMedianMs * 1000) / n });
      log(`fanout ${String(n).padStart(7)} ${coldMs.toFixed(2).padStart(9)} ${warmMedianMs.toFixed(2).padStart(16)} ${((warmMedianMs * 1000) / n).toFixed(1).padStart(14)}`);
    }
    qs.close();
    return { enqueuePerRecipientUs, rawPutPerEntryUs, ratio: enqueuePerRecipientUs / rawPutPerEntryUs, storeOnlyPerRecipientUs: per(t.enqNoSeal), rawChainedPerEntryUs: per(t.rawChained), fanout };
  } finally {
    await store.close();
    await raw.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const quick = process.env.FANOUT_BENCH_QUICK === "1";
  const t0 = performance.now();
  const r = await runFanoutBench(quick ? { rounds: 8, sizes: [10, 100], fanoutRounds: 5, log: console.log } : { log: console.log });
  console.log(`# total ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  for (const f of r.fanout) console.log(`time fanout_n${f.n}_ms ${f.warmMedianMs.toFixed(3)} (cold ${f.coldMs.toFixed(3)})`);
  console.log(`ratio enqueue_vs_raw_level_put ${r.ratio.toFixed(3)} goal <= 3`);
}
