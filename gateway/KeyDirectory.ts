// Persistent OHTTP gateway keys. One JSON manifest per key directory, replaced atomically
// (write to a temporary file, fsync, rename) so a crash never leaves a half-written key set.
//
// Lifecycle of a key: active (published at /.well-known/ohttp-gateway and accepted) ->
// retiring (after a rotation: no longer published, still accepted so clients that cached the
// old configuration keep working) -> retired (past `retireAt`: refused and dropped from disk).
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, stat } from "node:fs/promises";
import { join } from "node:path";
import { GatewayKeyPair } from "../src/ohttp/GatewayKeyPair.js";

export const MANIFEST_FILE = "ohttp-keys.json";
export const DEFAULT_RETENTION_SECONDS = 7 * 24 * 3600;

export interface StoredKey {
  keyId: number;
  /** raw X25519 private key, hex */
  privateKey: string;
  createdAt: string;
  /** set when a newer key replaced this one; the key is still accepted until retireAt */
  retireAt?: string;
}

interface Manifest {
  version: 1;
  keys: StoredKey[];
}

export class KeyDirectoryError extends Error {
  override name = "KeyDirectoryError";
}

export interface LoadedKeys {
  /** keys accepted for decapsulation, the active key first */
  accepted: GatewayKeyPair[];
  /** the key published to clients */
  active: GatewayKeyPair;
  /** earliest retireAt among retiring keys (ms), for scheduling a reload */
  nextRetirement?: number;
}

function manifestPath(dir: string): string {
  return join(dir, MANIFEST_FILE);
}

async function readManifest(dir: string): Promise<Manifest | undefined> {
  let text: string;
  try {
    text = await readFile(manifestPath(dir), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    throw new KeyDirectoryError(`${MANIFEST_FILE} is not valid JSON`);
  }
  if (!isManifest(m)) throw new KeyDirectoryError(`${MANIFEST_FILE} has an unexpected shape`);
  return m;
}

function isManifest(m: unknown): m is Manifest {
  if (typeof m !== "object" || m === null) return false;
  const o = m as Record<string, unknown>;
  if (o.version !== 1 || !Array.isArray(o.keys)) return false;
  return o.keys.every(
    (k: unknown) =>
      typeof k === "object" &&
      k !== null &&
      Number.isInteger((k as StoredKey).keyId) &&
      (k as StoredKey).keyId >= 0 &&
      (k as StoredKey).keyId <= 255 &&
      typeof (k as StoredKey).privateKey === "string" &&
      /^[0-9a-f]{64}$/.test((k as StoredKey).privateKey) &&
      typeof (k as StoredKey).createdAt === "string" &&
      ((k as StoredKey).retireAt === undefined || typeof (k as StoredKey).retireAt === "string"),
  );
}

async function writeManifest(dir: string, m: Manifest): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${MANIFEST_FILE}.${randomBytes(6).toString("hex")}.tmp`);
  const fh = await open(tmp, "wx", 0o600);
  try {
    await fh.writeFile(JSON.stringify(m, null, 2) + "\n");
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, manifestPath(dir));
  // Make the rename itself durable.
  const dh = await open(dir, "r");
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

function isRetired(k: StoredKey, now: number): boolean {
  return k.retireAt !== undefined && Date.parse(k.retireAt) <= now;
}

function pickFreeKeyId(used: Set<number>, after: number): number {
  for (let i = 1; i <= 256; i++) {
    const id = (after + i) % 256;
    if (!used.has(id)) return id;
  }
  throw new KeyDirectoryError("all 256 key ids are in use; wait for retiring keys to expire");
}

async function newStoredKey(keyId: number, now: number): Promise<StoredKey> {
  const kp = await GatewayKeyPair.generate(keyId);
  return { keyId, privateKey: Buffer.from(kp.privateKey).toString("hex"), createdAt: new Date(now).toISOString() };
}

/**
 * Adds a new active key; the previous active key starts retiring and stays accepted for
 * `retentionSeconds`. Keys already past their retirement are dropped.
 */
export async function rotateKeys(
  dir: string,
  opts: { retentionSeconds?: number; now?: number } = {},
): Promise<{ keyId: number; retiring: number[] }> {
  const now = opts.now ?? Date.now();
  const retention = (opts.retentionSeconds ?? DEFAULT_RETENTION_SECONDS) * 1000;
  const m = (await readManifest(dir)) ?? { version: 1, keys: [] };
  const live = m.keys.filter((k) => !isRetired(k, now));
  for (const k of live) if (k.retireAt === undefined) k.retireAt = new Date(now + retention).toISOString();
  const last = live.length > 0 ? live[live.length - 1]!.keyId : Math.floor(Math.random() * 256);
  const keyId = pickFreeKeyId(new Set(live.map((k) => k.keyId)), last);
  live.push(await newStoredKey(keyId, now));
  await writeManifest(dir, { version: 1, keys: live });
  return { keyId, retiring: live.filter((k) => k.keyId !== keyId).map((k) => k.keyId) };
}

/** Lists keys with their state, for `mimi-ds gateway keys list`. */
export async function listKeys(dir: string, now = Date.now()): Promise<Array<StoredKey & { state: string }>> {
  const m = await readManifest(dir);
  if (!m) return [];
  return m.keys.map((k) => ({ ...k, state: isRetired(k, now) ? "retired" : k.retireAt ? "retiring" : "active" }));
}

/**
 * Loads the accepted keys, creating a first key when the directory is empty (so a fresh
 * deployment starts with one command).
 */
export async function loadKeys(dir: string, now = Date.now()): Promise<LoadedKeys> {
  let m = await readManifest(dir);
  if (!m || m.keys.filter((k) => !isRetired(k, now)).length === 0) {
    await rotateKeys(dir, { now });
    m = (await readManifest(dir))!;
  }
  const live = m.keys.filter((k) => !isRetired(k, now));
  const activeStored = [...live].reverse().find((k) => k.retireAt === undefined) ?? live[live.length - 1]!;
  const pairs = new Map<number, GatewayKeyPair>();
  for (const k of live) pairs.set(k.keyId, await GatewayKeyPair.fromPrivateKey(k.keyId, Buffer.from(k.privateKey, "hex")));
  const active = pairs.get(activeStored.keyId)!;
  const accepted = [active, ...[...pairs.values()].filter((p) => p !== active)];
  const retirements = live.filter((k) => k.retireAt !== undefined).map((k) => Date.parse(k.retireAt!));
  return { accepted, active, nextRetirement: retirements.length ? Math.min(...retirements) : undefined };
}

/** The manifest's modification time, used to notice a rotation done by another process. */
export async function manifestVersion(dir: string): Promise<number> {
  try {
    const s = await stat(manifestPath(dir));
    return s.mtimeMs + s.size;
  } catch {
    return 0;
  }
}
