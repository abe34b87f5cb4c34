// The provider's Queueing Service and the DS side of fanout:
// - the QS with its LevelDB queue store and its queue-reference keys (kept in the data
//   directory, never in the queue store: with them and a DS's state one could link references);
// - the DS's fanout signing keys (published at /verification_key, rotated with an overlap);
// - the fanout sink: each accepted message is signed as one DSFanoutRequest per destination QS
//   and handed to the local QS in-process, or POSTed to a federated provider's /deliver_message.
import { join } from "node:path";
import type { FanoutItem } from "../ds/DeliveryService.js";
import { DSFanoutResponse } from "../protocol/DSFanoutResponse.js";
import {
  DsFanoutSigner,
  fanoutOutcome,
  HttpVerificationKeyResolver,
  LevelQueueStore,
  QueueingService,
  QueueReferenceKeyPair,
  QueueReferenceKeys,
  type VerificationKeyResolver,
} from "../qs/index.js";
import type { Logger } from "../util/log.js";
import { readJsonIfExists, writePrivateJson } from "../util/privateFile.js";
import type { FanoutSink } from "./dsEndpoints.js";

const REF_KEYS_FILE = "qs-reference-keys.json";
const FANOUT_KEYS_FILE = "ds-fanout-keys.json";

const hexOk = (s: unknown): s is string => typeof s === "string" && /^[0-9a-f]{64}$/.test(s);

async function loadReferenceKeys(dataDir: string, domain: string): Promise<QueueReferenceKeys> {
  const path = join(dataDir, REF_KEYS_FILE);
  const j = (await readJsonIfExists(path)) as { keys?: { keyId: number; privateKey: string }[] } | undefined;
  if (j?.keys?.length && j.keys.every((k) => Number.isInteger(k.keyId) && hexOk(k.privateKey))) {
    return new QueueReferenceKeys(domain, j.keys.map((k) => QueueReferenceKeyPair.fromPrivateKey(k.keyId, Buffer.from(k.privateKey, "hex"))));
  }
  if (j !== undefined) throw new Error(`${REF_KEYS_FILE} is malformed`);
  const pair = QueueReferenceKeyPair.generate(1);
  await writePrivateJson(path, { keys: [{ keyId: 1, privateKey: Buffer.from(pair.privateKey).toString("hex") }] });
  return new QueueReferenceKeys(domain, [pair]);
}

async function loadFanoutSigner(dataDir: string, domain: string): Promise<DsFanoutSigner> {
  const path = join(dataDir, FANOUT_KEYS_FILE);
  const j = (await readJsonIfExists(path)) as { keys?: { privateKey: string; retiredAtMs?: number }[] } | undefined;
  if (j?.keys?.length && j.keys.every((k) => hexOk(k.privateKey))) {
    return new DsFanoutSigner(
      domain,
      j.keys.map((k) => ({ privateKey: Buffer.from(k.privateKey, "hex"), retiredAtMs: k.retiredAtMs })),
    );
  }
  if (j !== undefined) throw new Error(`${FANOUT_KEYS_FILE} is malformed`);
  const signer = DsFanoutSigner.generate(domain);
  await writePrivateJson(path, { keys: signer.exportKeys().map((k) => ({ privateKey: Buffer.from(k.privateKey).toString("hex"), retiredAtMs: k.retiredAtMs })) });
  return signer;
}

export interface QsWiring {
  qs: QueueingService;
  signer: DsFanoutSigner;
  sink: FanoutSink;
  close(): Promise<void>;
}

export interface QsWiringOptions {
  domain: string;
  dataDir: string;
  /** federated providers: domain -> base URL of their federation endpoints */
  federation?: ReadonlyMap<string, string>;
  /** longest long-poll a client may ask for; keep it below the gateway's target timeout */
  maxWaitMs?: number;
  logger: Logger;
}

export async function createQsWiring(o: QsWiringOptions): Promise<QsWiring> {
  const referenceKeys = await loadReferenceKeys(o.dataDir, o.domain);
  const signer = await loadFanoutSigner(o.dataDir, o.domain);
  const store = await LevelQueueStore.open(join(o.dataDir, "qs"));
  const federation = o.federation ?? new Map<string, string>();
  const remote = new HttpVerificationKeyResolver({ baseUrl: (d: string) => `${federation.get(d)}/verification_key` });
  // Our own DS's keys are known locally; peers' keys are fetched from their /verification_key.
  const resolver: VerificationKeyResolver = {
    resolve: (domain, opts) => (domain === o.domain ? Promise.resolve(signer.publishedKeys()) : remote.resolve(domain, opts)),
  };
  const qs = new QueueingService({
    store,
    referenceKeys,
    federation: { allowedDomains: (d: string) => d === o.domain || federation.has(d), resolver },
    limits: { maxWaitMs: o.maxWaitMs ?? 8000 },
  });
  qs.startMaintenance(60_000);
  const sink: FanoutSink = {
    async deliver(items: FanoutItem[], ctx) {
      const rejected: FanoutItem[] = [];
      const batch = signer.buildRequests(items);
      for (const i of batch.invalidItems) rejected.push(items[i]!);
      if (batch.invalidItems.length) o.logger.warn("fanout_undecodable_queue_config", { operation: ctx.operation, count: batch.invalidItems.length });
      for (const planned of batch.requests) {
        const bytes = planned.request.serialize();
        let responseBytes: Uint8Array;
        if (planned.qsDomain === o.domain) {
          responseBytes = await qs.handleFanout(bytes);
        } else {
          const base = federation.get(planned.qsDomain);
          if (!base) {
            o.logger.warn("fanout_unknown_qs_domain", { operation: ctx.operation, recipients: planned.itemIndexes.length });
            continue;
          }
          const res = await fetch(`${base}/deliver_message`, {
            method: "POST",
            headers: { "content-type": "application/octet-stream" },
            body: bytes as Uint8Array<ArrayBuffer>,
            signal: AbortSignal.timeout(10_000),
          });
          responseBytes = new Uint8Array(await res.arrayBuffer());
        }
        const outcome = fanoutOutcome(planned, DSFanoutResponse.deserialize(responseBytes));
        for (const i of outcome.invalid) rejected.push(items[i]!);
        if (outcome.invalid.length || outcome.retry.length || outcome.error !== undefined) {
          o.logger.warn("fanout_partial", { operation: ctx.operation, delivered: outcome.delivered.length, invalid: outcome.invalid.length, retry: outcome.retry.length });
        }
      }
      return { rejected };
    },
  };
  return {
    qs,
    signer,
    sink,
    async close() {
      qs.stopMaintenance();
      await qs.close();
      await store.close();
    },
  };
}
