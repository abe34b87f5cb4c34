// LevelDB plumbing shared by the store adapters: opening a database with binary keys and
// values, a checked sublevel per port, and one lock map per (database, sublevel) so that two
// stores over the same sublevel share their locks.
import type { AbstractLevel } from "abstract-level";
import { Level } from "level";
import { StoreClosedError, StoreError, StoreInputError, StoreIoError } from "./errors.js";
import { KeyedMutex } from "./KeyedMutex.js";

// abstract-level's first type parameter is the format; the stores never depend on it.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type BinaryLevel = AbstractLevel<any, Uint8Array, Uint8Array>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyLevel = AbstractLevel<any, any, any>;

/** Opens (creating if needed) a LevelDB directory with Uint8Array keys and values. */
export async function openBinaryLevel(dir: string): Promise<Level<Uint8Array, Uint8Array>> {
  const root = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: "view", valueEncoding: "view" });
  try {
    await root.open();
  } catch (e) {
    throw new StoreIoError({ cause: e });
  }
  return root;
}

/** The sublevel `prefix` of `db`, binary; prefixes are short fixed names chosen by the code. */
export function binarySublevel(db: AnyLevel, prefix: string): BinaryLevel {
  if (typeof prefix !== "string" || !/^[a-z0-9_-]{1,32}$/.test(prefix)) throw new StoreInputError("sublevel prefix must be 1..32 of [a-z0-9_-]");
  return db.sublevel<Uint8Array, Uint8Array>(prefix, { keyEncoding: "view", valueEncoding: "view" }) as unknown as BinaryLevel;
}

const mutexes = new WeakMap<object, Map<string, KeyedMutex>>();
/** The lock map of (db, prefix): two stores over the same sublevel must share it. */
export function sharedMutex(db: object, prefix: string): KeyedMutex {
  let byPrefix = mutexes.get(db);
  if (byPrefix === undefined) mutexes.set(db, (byPrefix = new Map()));
  let m = byPrefix.get(prefix);
  if (m === undefined) byPrefix.set(prefix, (m = new KeyedMutex()));
  return m;
}

/** An error from the level engine as a store error: typed store errors pass, a closed database is StoreClosedError, the rest StoreIoError. */
export function storeErrorOf(e: unknown): Error {
  if (e instanceof StoreError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  if (code === "LEVEL_DATABASE_NOT_OPEN" || code === "LEVEL_DATABASE_NOT_CLOSED") return new StoreClosedError({ cause: e });
  return new StoreIoError({ cause: e });
}

/**
 * The public operations of one store: refused once closing began, awaited by close(), their
 * errors mapped (storeErrorOf by default; a store may let its own typed refusals through first).
 */
export class StoreOperations {
  #closed = false;
  readonly #inflight = new Set<Promise<unknown>>();

  constructor(private readonly mapError: (e: unknown) => unknown = storeErrorOf) {}

  get closed(): boolean {
    return this.#closed;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreClosedError();
    const p = fn().catch((e: unknown) => {
      throw this.mapError(e);
    });
    this.#inflight.add(p);
    try {
      return await p;
    } finally {
      this.#inflight.delete(p);
    }
  }

  /** Refuses new operations and waits for those under way; false if it was already closing. */
  async close(): Promise<boolean> {
    if (this.#closed) return false;
    this.#closed = true;
    await Promise.allSettled([...this.#inflight]);
    return true;
  }
}
