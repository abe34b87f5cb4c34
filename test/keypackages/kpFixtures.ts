// Shared fixtures for the KeyPackage directory tests: an injectable clock, both store adapters,
// real ts-mls KeyPackages (bounded lifetime, queue-config leaf extension) and signed uploads.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CiphersuiteImpl, KeyPackage } from "ts-mls";
import { getNodeCiphersuiteImpl } from "../../src/mls/cryptoProvider.js";
import { generateEd25519 } from "../../src/util/keygen.js";
import {
  KeyPackageDirectory,
  LevelKeyPackageStore,
  MemoryKeyPackageStore,
  keyPackageMessage,
  keyPackageTransaction,
  lifetimeFor,
  makeDirectoryKeyPackage,
  signUpload,
  type KeyPackageDirectoryOptions,
  type KeyPackageStore,
  type UploadItem,
} from "../../src/keypackages/index.js";
import { KeyPackagePool } from "../../src/protocol/KeyPackageConstants.js";
import { KeyPackageTransactionResponse } from "../../src/protocol/KeyPackageTransactionResponse.js";
import { KeyPackageUploadResponse } from "../../src/protocol/KeyPackageUploadResponse.js";

export const SUITE_NAME = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";
export const SUITE = 1;
export const OTHER_SUITE = 3; // MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519
export const te = new TextEncoder();
export const DAY = 86_400;

export class Clock {
  constructor(public ms = Date.UTC(2030, 0, 1)) {}
  now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

let csPromise: Promise<CiphersuiteImpl> | undefined;
export function suite(): Promise<CiphersuiteImpl> {
  return (csPromise ??= getNodeCiphersuiteImpl(SUITE_NAME));
}

export const queueConfig = () => ({ qsDomain: "qs.example", sealedReference: new Uint8Array(randomBytes(48)) });

/** A fresh KeyPackage valid for `seconds` from the clock's now. */
export async function newKeyPackage(clock: Clock, seconds = 30 * DAY, cs?: CiphersuiteImpl): Promise<KeyPackage> {
  const c = cs ?? (await suite());
  const kp = await makeDirectoryKeyPackage(c, new Uint8Array(randomBytes(16)), queueConfig(), lifetimeFor(clock.ms, seconds));
  return kp.publicPackage;
}

export async function newKeyPackages(clock: Clock, n: number, seconds = 30 * DAY): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) out.push(keyPackageMessage(await newKeyPackage(clock, seconds)));
  return out;
}

export interface TestClient {
  readonly userId: Uint8Array;
  readonly clientId: Uint8Array;
  readonly key: { publicKey: Uint8Array; privateKey: Uint8Array };
  sequence: bigint;
}

export async function register(dir: KeyPackageDirectory, user: string, client: string): Promise<TestClient> {
  const key = generateEd25519();
  const c: TestClient = { userId: te.encode(user), clientId: te.encode(client), key, sequence: 0n };
  await dir.registerClient(c.userId, c.clientId, key.publicKey);
  return c;
}

export function uploadBytes(c: TestClient, items: readonly UploadItem[], sequence?: bigint): Uint8Array {
  const seq = sequence ?? ++c.sequence;
  return signUpload({ userId: c.userId, clientId: c.clientId, sequence: seq, items, privateKey: c.key.privateKey, publicKey: c.key.publicKey });
}

/** Uploads and returns the decoded response (throws on transport-level surprises only). */
export async function upload(dir: KeyPackageDirectory, c: TestClient, items: readonly UploadItem[]): Promise<KeyPackageUploadResponse> {
  return KeyPackageUploadResponse.deserialize(await dir.handleUpload(uploadBytes(c, items)));
}

export const group = (kp: Uint8Array, lastResort = false): UploadItem => ({ pool: KeyPackagePool.group, keyPackage: kp, lastResort });
export const connection = (kp: Uint8Array, lastResort = false): UploadItem => ({ pool: KeyPackagePool.connection, keyPackage: kp, lastResort });

export async function fetchGroup(dir: KeyPackageDirectory, targets: { userId: Uint8Array; token: Uint8Array }[], lastResortAllowed = false, cs = SUITE) {
  return KeyPackageTransactionResponse.deserialize(await dir.handleKeyPackageRequest(keyPackageTransaction(targets, cs, lastResortAllowed)));
}

export async function fetchConnection(dir: KeyPackageDirectory, targets: { userId: Uint8Array; token: Uint8Array }[], lastResortAllowed = false, cs = SUITE) {
  return KeyPackageTransactionResponse.deserialize(await dir.handleConnectionKeyPackageRequest(keyPackageTransaction(targets, cs, lastResortAllowed)));
}

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "mimi-kp-"));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Both adapters, so every behavioural test proves the same semantics on each. */
export const ADAPTERS: { name: string; open: () => Promise<{ store: KeyPackageStore; close: () => Promise<void> }> }[] = [
  {
    name: "memory",
    open: async () => {
      const store = new MemoryKeyPackageStore();
      return { store, close: () => store.close() };
    },
  },
  {
    name: "level",
    open: async () => {
      const t = await tempDir();
      const store = await LevelKeyPackageStore.open(t.dir);
      return {
        store,
        close: async () => {
          await store.close();
          await t.cleanup();
        },
      };
    },
  },
];

export async function openDirectory(adapter: (typeof ADAPTERS)[number], opts: Partial<KeyPackageDirectoryOptions> = {}, clock = new Clock()) {
  const { store, close } = await adapter.open();
  const dir = new KeyPackageDirectory({ store, now: clock.now, ...opts });
  return { dir, store, clock, close };
}

export const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
