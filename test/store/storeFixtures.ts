// Shared fixtures for the store tests: temp dirs, deterministic-looking test data, adapters.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { GroupStore, GroupWrite, RecordPut } from "../../src/store/index.js";
import { LevelGroupStore, MemoryGroupStore } from "../../src/store/index.js";

export const te = new TextEncoder();
export const td = new TextDecoder();

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "mimi-store-"));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export const newKey = (): Uint8Array => new Uint8Array(randomBytes(32));
export const newGroupId = (): Uint8Array => new Uint8Array(randomBytes(32));

export function put(kind: string, id: number | undefined, text: string | Uint8Array, key: Uint8Array, keyEpoch: bigint, bindVersion = true): RecordPut {
  return {
    ref: id === undefined ? { kind } : { kind, id },
    plaintext: typeof text === "string" ? te.encode(text) : text,
    key,
    keyEpoch,
    bindVersion,
  };
}

export function createWrite(epoch: bigint, day: number, puts: RecordPut[]): GroupWrite {
  return { expectedVersion: null, head: { epoch, lastUsedDay: day }, puts };
}

export interface Adapter {
  name: string;
  make(): Promise<{ store: GroupStore; done: () => Promise<void> }>;
}

export const adapters: Adapter[] = [
  {
    name: "MemoryGroupStore",
    async make() {
      const store = new MemoryGroupStore();
      return { store, done: () => store.close() };
    },
  },
  {
    name: "LevelGroupStore",
    async make() {
      const { dir, cleanup } = await tempDir();
      const store = await LevelGroupStore.open(dir);
      return {
        store,
        done: async () => {
          await store.close();
          await cleanup();
        },
      };
    },
  },
];

/** Asserts `p` rejects with an instance of `cls`, returning the error. */
export async function rejectsWith<T extends Error>(p: Promise<unknown>, cls: abstract new (...a: never[]) => T): Promise<T> {
  try {
    await p;
  } catch (e) {
    if (e instanceof cls) return e;
    throw new Error(`expected ${cls.name}, got ${(e as Error)?.name}: ${(e as Error)?.message}`);
  }
  throw new Error(`expected ${cls.name}, but it resolved`);
}
