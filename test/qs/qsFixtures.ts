// Shared fixtures for the QS tests: a QS with a static federation, queue owners, fanouts.
import { mulberry32 } from "../helpers/prng.js";
import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeClientQueueConfig } from "../../src/protocol/ClientQueueConfig.js";
import { DSFanoutResponse } from "../../src/protocol/DSFanoutResponse.js";
import { DSFanoutResponseType, QsResponseType, type QueueingServiceResponse } from "../../src/protocol/QsConstants.js";
import type { QsRequest } from "../../src/protocol/QsRequest.js";
import { QsResponse, type QueueMessage } from "../../src/protocol/QsResponse.js";
import type { DSFanoutRequest } from "../../src/protocol/DSFanoutRequest.js";
import {
  DsFanoutSigner,
  MemoryQueueStore,
  newInitialSecret,
  QueueingService,
  QueueMessageDecryptor,
  QueueOwner,
  QueueReferenceKeyPair,
  QueueReferenceKeys,
  sealQueueReference,
  StaticVerificationKeyResolver,
  type QsLimits,
  type QueueStore,
} from "../../src/qs/index.js";
import type { QSErrorCode } from "../../src/protocol/QsErrors.js";

export const te = new TextEncoder();
export const td = new TextDecoder();
export const QS_DOMAIN = "qs.b.test";
export const DS_DOMAIN = "ds.a.test";

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "mimi-qs-"));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export class Clock {
  constructor(public t = 1_750_000_000_000) {}
  readonly now = () => this.t;
}

export interface Env {
  qs: QueueingService;
  store: QueueStore;
  refKeys: QueueReferenceKeys;
  signer: DsFanoutSigner;
  resolver: StaticVerificationKeyResolver;
  clock: Clock;
}

export function makeEnv(opts: { store?: QueueStore; limits?: Partial<QsLimits>; clock?: Clock; refKeys?: QueueReferenceKeys; createPolicy?: (k: Uint8Array) => boolean } = {}): Env {
  const clock = opts.clock ?? new Clock();
  const store = opts.store ?? new MemoryQueueStore();
  const refKeys = opts.refKeys ?? new QueueReferenceKeys(QS_DOMAIN, [QueueReferenceKeyPair.generate(1)]);
  const signer = DsFanoutSigner.generate(DS_DOMAIN, { now: clock.now });
  const resolver = new StaticVerificationKeyResolver({ [DS_DOMAIN]: signer.publishedKeys() });
  const qs = new QueueingService({
    store,
    referenceKeys: refKeys,
    federation: { allowedDomains: [DS_DOMAIN], resolver },
    limits: opts.limits,
    now: clock.now,
    createPolicy: opts.createPolicy,
  });
  return { qs, store, refKeys, signer, resolver, clock };
}

/** The same QS identity (reference keys, federation, clock) over another store: a restart. */
export function restart(env: Env, store: QueueStore): Env {
  const qs = new QueueingService({ store, referenceKeys: env.refKeys, federation: { allowedDomains: [DS_DOMAIN], resolver: env.resolver }, now: env.clock.now });
  return { ...env, store, qs };
}

export async function call(qs: QueueingService, req: QsRequest, signal?: AbortSignal): Promise<QsResponse> {
  return QsResponse.deserialize(await qs.handleClientRequest(req.serialize(), { signal }));
}

export function expectError(r: QsResponse, code: QSErrorCode): void {
  assert.equal(r.body.type, QsResponseType.error, `expected error ${code}, got response type ${r.body.type}`);
  if (r.body.type === QsResponseType.error) assert.equal(r.body.code, code);
}

export interface TestQueue {
  owner: QueueOwner;
  queueId: Uint8Array;
  initialSecret: Uint8Array;
  refKey: { keyId: number; publicKey: Uint8Array };
  decryptor: QueueMessageDecryptor;
  /** a freshly sealed ClientQueueConfig, as a new KeyPackage would carry */
  queueConfig(): Promise<Uint8Array>;
}

export async function createQueue(env: Env, owner = QueueOwner.generate(env.clock.now)): Promise<TestQueue> {
  const initialSecret = newInitialSecret();
  const r = await call(env.qs, owner.createQueue(initialSecret));
  assert.equal(r.body.type, QsResponseType.queue_created);
  if (r.body.type !== QsResponseType.queue_created) throw new Error("unreachable");
  const { queueId, referenceKey } = r.body;
  return {
    owner,
    queueId,
    initialSecret,
    refKey: referenceKey,
    decryptor: QueueMessageDecryptor.fromInitialSecret(queueId, initialSecret),
    queueConfig: async () => encodeClientQueueConfig({ qsDomain: QS_DOMAIN, sealedReference: await sealQueueReference(referenceKey.publicKey, referenceKey.keyId, QS_DOMAIN, queueId) }),
  };
}

export async function sendFanout(qs: QueueingService, req: DSFanoutRequest | Uint8Array): Promise<DSFanoutResponse> {
  return DSFanoutResponse.deserialize(await qs.handleFanout(req instanceof Uint8Array ? req : req.serialize()));
}

export function okResults(r: DSFanoutResponse): readonly QueueingServiceResponse[] {
  if (r.body.type !== DSFanoutResponseType.ok) assert.fail(`fanout refused: ${JSON.stringify(r.body)}`);
  return r.body.results;
}

export function fanoutError(r: DSFanoutResponse): QSErrorCode {
  assert.equal(r.body.type, DSFanoutResponseType.error);
  if (r.body.type !== DSFanoutResponseType.error) throw new Error("unreachable");
  return r.body.code;
}

/** Fans one message out to the given queue configs through the env's signer and QS. */
export async function fanoutTo(env: Env, queueConfigs: Uint8Array[], text: string, joinerKeys?: (Uint8Array | undefined)[]): Promise<readonly QueueingServiceResponse[]> {
  const message = te.encode(text);
  const batch = env.signer.buildRequests(queueConfigs.map((queueConfig, i) => ({ queueConfig, message, sealedJoinerKey: joinerKeys?.[i] })));
  assert.equal(batch.requests.length, 1);
  return okResults(await sendFanout(env.qs, batch.requests[0]!.request));
}

export async function fetchAll(env: Env, q: TestQueue, from = 0n, waitMs = 0): Promise<{ messages: readonly QueueMessage[]; nextSequence: bigint }> {
  const r = await call(env.qs, q.owner.fetch(q.queueId, from, { maxMessages: 1000, waitMs }));
  if (r.body.type !== QsResponseType.messages) assert.fail(`fetch failed: ${JSON.stringify(r.body)}`);
  return r.body;
}

export function texts(q: TestQueue, messages: readonly QueueMessage[]): string[] {
  return messages.map((m) => td.decode(q.decryptor.decrypt(m).message));
}

export const randomId = (n = 16) => new Uint8Array(randomBytes(n));

/** A seeded PRNG (mulberry32) for reproducible fuzzing. */
export const prng = mulberry32;
