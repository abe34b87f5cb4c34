// KeyPackageStore in memory, for unit tests and benches. Same semantics as the level adapter:
// users, clients, tokens and handles under the same hashed storage keys, clients served in storage-key
// order, single-use KeyPackages in (not_after, id) order. Each operation's read-check-write runs
// without an await in between, which makes it atomic on the event loop without a mutex.
import { KeyPackagePool } from "../protocol/KeyPackageConstants.js";
import { DuplicateKeyPackageError, StaleSequenceError, TooManyKeyPackagesError, UploadUnauthorizedError } from "../protocol/KeyPackageErrors.js";
import { StoreClosedError } from "../store/errors.js";
import { HandleTakenError, TooManyClientsError } from "./errors.js";
import {
  bytesEqual,
  clientStorageKey,
  decideClient,
  mergePoolSuites,
  toHex,
  usable,
  userStorageKey,
  type ClaimSpec,
  type ClientClaim,
  type KeyPackageCounts,
  type KeyPackageStore,
  type PurgeResult,
  type StoredClient,
  type StoredHandle,
  type StoredToken,
  type UploadWrite,
} from "./KeyPackageStore.js";

type Bytes = Uint8Array;
interface Single {
  readonly notAfter: bigint;
  readonly idHex: string;
  readonly message: Bytes;
}
interface LastResort {
  readonly notAfter: bigint;
  readonly message: Bytes;
}
interface ClientEntry {
  client: StoredClient;
  /** "pool:suite" -> single-use KeyPackages sorted by (notAfter, id) */
  readonly singles: Map<string, Single[]>;
  readonly lastResort: Map<string, LastResort>;
}

const slot = (pool: KeyPackagePool, suite: number) => `${pool}:${suite}`;
const POOLS = [KeyPackagePool.group, KeyPackagePool.connection] as const;

export class MemoryKeyPackageStore implements KeyPackageStore {
  /** user key hex -> client key hex -> entry */
  readonly #users = new Map<string, Map<string, ClientEntry>>();
  /** token hash hex -> token */
  readonly #tokens = new Map<string, StoredToken>();
  /** handle key hex -> handle record */
  readonly #handles = new Map<string, StoredHandle>();
  #closed = false;

  #open(): void {
    if (this.#closed) throw new StoreClosedError();
  }

  #entry(userId: Bytes, clientId: Bytes): ClientEntry | undefined {
    return this.#users.get(toHex(userStorageKey(userId)))?.get(toHex(clientStorageKey(userId, clientId)));
  }

  /** Clients in storage-key order, as the level adapter lists them. */
  #clientsOf(ukHex: string): ClientEntry[] {
    const m = this.#users.get(ukHex);
    if (m === undefined) return [];
    return [...m.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((e) => e[1]);
  }

  #counts(e: ClientEntry, now: bigint): KeyPackageCounts {
    const count = (pool: KeyPackagePool) => {
      let n = 0;
      for (const [k, list] of e.singles) if (k.startsWith(`${pool}:`)) for (const s of list) if (usable(s.notAfter, now)) n++;
      return n;
    };
    const hasLr = (pool: KeyPackagePool) => [...e.lastResort].some(([k, lr]) => k.startsWith(`${pool}:`) && usable(lr.notAfter, now));
    return { group: count(KeyPackagePool.group), connection: count(KeyPackagePool.connection), groupLastResort: hasLr(KeyPackagePool.group), connectionLastResort: hasLr(KeyPackagePool.connection) };
  }

  async registerClient(userId: Bytes, clientId: Bytes, publicKey: Bytes, maxClientsPerUser: number): Promise<void> {
    this.#open();
    const uk = toHex(userStorageKey(userId));
    const ck = toHex(clientStorageKey(userId, clientId));
    let m = this.#users.get(uk);
    const old = m?.get(ck);
    if (old !== undefined) {
      old.client = { ...old.client, publicKey: new Uint8Array(publicKey) };
      return;
    }
    if ((m?.size ?? 0) >= maxClientsPerUser) throw new TooManyClientsError(maxClientsPerUser);
    if (m === undefined) this.#users.set(uk, (m = new Map()));
    m.set(ck, { client: { clientId: new Uint8Array(clientId), publicKey: new Uint8Array(publicKey), sequence: 0n, poolSuites: [] }, singles: new Map(), lastResort: new Map() });
  }

  async removeClient(userId: Bytes, clientId: Bytes): Promise<boolean> {
    this.#open();
    const uk = toHex(userStorageKey(userId));
    const m = this.#users.get(uk);
    const removed = m?.delete(toHex(clientStorageKey(userId, clientId))) ?? false;
    if (m !== undefined && m.size === 0) this.#users.delete(uk);
    return removed;
  }

  async getClient(userId: Bytes, clientId: Bytes): Promise<StoredClient | undefined> {
    this.#open();
    return this.#entry(userId, clientId)?.client;
  }

  async upload(userId: Bytes, clientId: Bytes, w: UploadWrite): Promise<KeyPackageCounts> {
    this.#open();
    const e = this.#entry(userId, clientId);
    if (e === undefined || !bytesEqual(e.client.publicKey, w.expectedPublicKey)) throw new UploadUnauthorizedError("client unknown or its key was replaced");
    if (w.sequence <= e.client.sequence) throw new StaleSequenceError("upload sequence is not greater than the last accepted one");
    const before = this.#counts(e, w.nowSeconds);
    let group = before.group;
    let connection = before.connection;
    for (const [i, kp] of w.keyPackages.entries()) {
      const idHex = toHex(kp.id);
      for (const pool of POOLS) {
        if (e.singles.get(slot(pool, kp.suite))?.some((s) => s.idHex === idHex)) throw new DuplicateKeyPackageError("KeyPackage is already stored", i);
        const lr = e.lastResort.get(slot(pool, kp.suite));
        if (lr !== undefined && bytesEqual(lr.message, kp.message) && !(kp.lastResort && kp.pool === pool)) {
          throw new DuplicateKeyPackageError("KeyPackage is already stored as last resort", i);
        }
      }
      if (!kp.lastResort) kp.pool === KeyPackagePool.group ? group++ : connection++;
    }
    if (group > w.maxPerPool || connection > w.maxPerPool) throw new TooManyKeyPackagesError(`a pool holds at most ${w.maxPerPool} KeyPackages`);
    // All checks passed: apply (no await from the first check to here).
    for (const kp of w.keyPackages) {
      const s = slot(kp.pool, kp.suite);
      if (kp.lastResort) {
        e.lastResort.set(s, { notAfter: kp.notAfter, message: new Uint8Array(kp.message) });
        continue;
      }
      let list = e.singles.get(s);
      if (list === undefined) e.singles.set(s, (list = []));
      list.push({ notAfter: kp.notAfter, idHex: toHex(kp.id), message: new Uint8Array(kp.message) });
      list.sort((a, b) => (a.notAfter !== b.notAfter ? (a.notAfter < b.notAfter ? -1 : 1) : a.idHex < b.idHex ? -1 : a.idHex > b.idHex ? 1 : 0));
    }
    e.client = { ...e.client, sequence: w.sequence, poolSuites: mergePoolSuites(e.client.poolSuites, w.keyPackages) };
    return this.#counts(e, w.nowSeconds);
  }

  async counts(userId: Bytes, clientId: Bytes, nowSeconds: bigint): Promise<KeyPackageCounts | undefined> {
    this.#open();
    const e = this.#entry(userId, clientId);
    return e === undefined ? undefined : this.#counts(e, nowSeconds);
  }

  async claim(specs: readonly ClaimSpec[], nowSeconds: bigint): Promise<ClientClaim[][]> {
    this.#open();
    return specs.map((spec) => {
      const s = slot(spec.pool, spec.suite);
      return this.#clientsOf(toHex(userStorageKey(spec.userId))).map((e) => {
        const list = e.singles.get(s);
        // The first unexpired one (expired ones sort first and stay for purgeExpired); it is
        // removed now, before any other claim can run.
        const at = list === undefined ? -1 : list.findIndex((x) => usable(x.notAfter, nowSeconds));
        const next = at < 0 ? undefined : list!.splice(at, 1)[0];
        const lr = next === undefined ? e.lastResort.get(s) : undefined;
        return decideClient(spec, e.client, next?.message, lr !== undefined && usable(lr.notAfter, nowSeconds) ? new Uint8Array(lr.message) : undefined);
      });
    });
  }

  async putToken(th: Bytes, token: StoredToken): Promise<void> {
    this.#open();
    this.#tokens.set(toHex(th), { ...token, userKey: new Uint8Array(token.userKey) });
  }

  async getToken(th: Bytes): Promise<StoredToken | undefined> {
    this.#open();
    return this.#tokens.get(toHex(th));
  }

  async deleteToken(th: Bytes): Promise<boolean> {
    this.#open();
    return this.#tokens.delete(toHex(th));
  }

  async deleteUserTokens(uk: Bytes): Promise<number> {
    this.#open();
    let n = 0;
    for (const [k, t] of [...this.#tokens]) {
      if (bytesEqual(t.userKey, uk)) {
        this.#tokens.delete(k);
        n++;
      }
    }
    return n;
  }

  async putHandle(hk: Bytes, record: StoredHandle): Promise<boolean> {
    this.#open();
    const k = toHex(hk);
    const old = this.#handles.get(k);
    if (old !== undefined && !bytesEqual(old.userKey, record.userKey)) throw new HandleTakenError();
    this.#handles.set(k, { userKey: new Uint8Array(record.userKey), sealedUserId: new Uint8Array(record.sealedUserId) });
    return old === undefined;
  }

  async getHandle(hk: Bytes): Promise<StoredHandle | undefined> {
    this.#open();
    return this.#handles.get(toHex(hk));
  }

  async deleteHandle(hk: Bytes): Promise<boolean> {
    this.#open();
    return this.#handles.delete(toHex(hk));
  }

  async deleteUserHandles(uk: Bytes): Promise<number> {
    this.#open();
    let n = 0;
    for (const [k, h] of [...this.#handles]) {
      if (bytesEqual(h.userKey, uk)) {
        this.#handles.delete(k);
        n++;
      }
    }
    return n;
  }

  async purgeExpired(nowSeconds: bigint, nowMs: number): Promise<PurgeResult> {
    this.#open();
    let keyPackages = 0;
    for (const clients of this.#users.values()) {
      for (const e of clients.values()) {
        for (const [k, list] of e.singles) {
          const keep = list.filter((s) => usable(s.notAfter, nowSeconds));
          keyPackages += list.length - keep.length;
          e.singles.set(k, keep);
        }
        for (const [k, lr] of [...e.lastResort]) {
          if (!usable(lr.notAfter, nowSeconds)) {
            e.lastResort.delete(k);
            keyPackages++;
          }
        }
      }
    }
    let tokens = 0;
    for (const [k, t] of [...this.#tokens]) {
      if (t.expiresAtMs !== 0 && t.expiresAtMs <= nowMs) {
        this.#tokens.delete(k);
        tokens++;
      }
    }
    return { keyPackages, tokens };
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}
