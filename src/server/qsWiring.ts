// The provider's Queueing Service and the DS side of fanout:
// - the QS with its LevelDB queue store and its queue-reference keys (kept in the data
//   directory, never in the queue store: with them and a DS's state one could link references);
// - the DS's fanout signing keys (published at /verification_key, rotated with an overlap);
// - the fanout sink: each accepted message is signed as one DSFanoutRequest per destination QS
//   and handed to the local QS in-process, or to the durable outbox (FanoutOutbox.ts) that
//   POSTs it to a federated provider's /deliver_message and retries until it is answered.
import { join } from "node:path";
import type { FanoutItem } from "../ds/DeliveryService.js";
import { DSFanoutResponse } from "../protocol/DSFanoutResponse.js";
import { DSFanoutResponseType } from "../protocol/QsConstants.js";
import {
  DsFanoutSigner,
  recipientBucket,
  fanoutOutcome,
  type PlannedFanout,
  HttpVerificationKeyResolver,
  LevelQueueStore,
  QueueingService,
  QueueReferenceKeyPair,
  QueueReferenceKeys,
  type VerificationKeyResolver,
} from "../qs/index.js";
import type { Registry } from "prom-client";
import type { Logger } from "../util/log.js";
import { readJsonIfExists, writePrivateJson } from "../util/privateFile.js";
import type { FanoutSink } from "./dsEndpoints.js";
import { FanoutOutbox, type FanoutOutboxOptions, type FanoutSender } from "./FanoutOutbox.js";

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
  /** durable fanout to federated QSs */
  outbox: FanoutOutbox;
  close(): Promise<void>;
}

/** Retry policy of the fanout outbox (FanoutOutbox.ts). */
export type OutboxPolicy = Pick<FanoutOutboxOptions, "maxAgeMs" | "initialBackoffMs" | "maxBackoffMs" | "inlineTimeoutMs" | "retryTimeoutMs">;

export interface QsWiringOptions {
  domain: string;
  dataDir: string;
  /** federated providers: domain -> base URL of their federation endpoints */
  federation?: ReadonlyMap<string, string>;
  /** longest long-poll a client may ask for; keep it below the gateway's target timeout */
  maxWaitMs?: number;
  outbox?: OutboxPolicy;
  /** where outbox metrics go (the provider's /metrics registry) */
  registry?: Registry;
  /** replaces the HTTP POST to a peer's /deliver_message (tests) */
  send?: FanoutSender;
  logger: Logger;
}

/** POSTs a DSFanoutRequest to a federated provider's /deliver_message; throws unless it answers 200. */
export function httpFanoutSender(federation: ReadonlyMap<string, string>): FanoutSender {
  return async (domain, request, { signal }) => {
    const base = federation.get(domain);
    if (base === undefined) throw new Error("QS domain is not federated");
    const res = await fetch(`${base}/deliver_message`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: request as Uint8Array<ArrayBuffer>,
      signal,
      redirect: "error",
    });
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new Error(`deliver_message answered HTTP ${res.status}`);
    }
    return new Uint8Array(await res.arrayBuffer());
  };
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
  let outbox: FanoutOutbox;
  try {
    outbox = await FanoutOutbox.open(join(o.dataDir, "outbox"), { ...o.outbox, send: o.send ?? httpFanoutSender(federation), logger: o.logger, registry: o.registry });
  } catch (e) {
    qs.close();
    await store.close();
    throw e;
  }
  const sink: FanoutSink = {
    async deliver(items: FanoutItem[], ctx) {
      const rejected: FanoutItem[] = [];
      let undelivered = 0;
      // Requests to other providers carry a padded recipient count (SECURITY.md, "What the DS
      // learns from fanout"); the in-process QS needs none.
      const batch = signer.buildRequests(items, { padRecipients: (d, n) => (d === o.domain ? n : recipientBucket(n)) });
      for (const i of batch.invalidItems) rejected.push(items[i]!);
      if (batch.invalidItems.length) o.logger.warn("fanout_undecodable_queue_config", { operation: ctx.operation, count: batch.invalidItems.length });
      const local: PlannedFanout[] = [];
      const remote: PlannedFanout[] = [];
      for (const planned of batch.requests) {
        if (planned.qsDomain === o.domain) local.push(planned);
        else if (federation.has(planned.qsDomain)) remote.push(planned);
        else o.logger.warn("fanout_unknown_qs_domain", { operation: ctx.operation, recipients: planned.itemIndexes.length });
      }
      const take = (planned: PlannedFanout, response: DSFanoutResponse) => {
        const outcome = fanoutOutcome(planned, response);
        for (const i of outcome.invalid) rejected.push(items[i]!);
        if (outcome.invalid.length || outcome.retry.length || outcome.error !== undefined) {
          o.logger.warn("fanout_partial", { operation: ctx.operation, delivered: outcome.delivered.length, invalid: outcome.invalid.length, retry: outcome.retry.length });
        }
      };
      // Remote: persisted in the outbox (one sync write) before the first, inline attempt; what
      // is not answered now is retried in the background. Local: the in-process QS enqueues
      // durably before it answers. Both run at once; the client's answer waits for both.
      const remoteDone = (async () => {
        if (remote.length === 0) return;
        const outcomes = await outbox.submit(
          remote.map((p) => ({ qsDomain: p.qsDomain, request: p.request.serialize(), hubTimestampMs: p.request.hubTimestampMs, recipients: p.request.recipients.length, padding: p.padding })),
        );
        outcomes.forEach((oc, j) => {
          if (oc.status !== "rejected" && oc.response !== undefined) take(remote[j]!, oc.response);
        });
      })();
      const localDone = (async () => {
        for (const planned of local) {
          const response = DSFanoutResponse.deserialize(await qs.handleFanout(planned.request.serialize()));
          if (response.body.type === DSFanoutResponseType.error) undelivered += planned.itemIndexes.length;
          take(planned, response);
        }
      })();
      const [r, l] = await Promise.allSettled([remoteDone, localDone]);
      if (r.status === "rejected") throw r.reason;
      if (l.status === "rejected") throw l.reason;
      return { rejected, undelivered };
    },
  };
  return {
    qs,
    signer,
    sink,
    outbox,
    async close() {
      await outbox.close();
      qs.stopMaintenance();
      qs.close();
      await store.close();
    },
  };
}
