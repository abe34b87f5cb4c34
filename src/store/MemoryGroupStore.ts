// GroupStore in memory, for unit tests and benches. Same record format as the level adapter
// (recordCrypto.ts): it stores the very bytes LevelGroupStore would, keyed by storage key and
// record tag. Each operation's read-check-write runs without an await in between, which makes it
// atomic on the event loop and gives the same CAS semantics without a mutex.

import type { GroupHead, GroupStore, GroupWrite, RecordRef } from "./GroupStore.js";
import {
  GroupExistsError,
  GroupNotFoundError,
  StoreClosedError,
  StoreInputError,
  VersionConflictError,
} from "./errors.js";
import {
  checkDay,
  checkEpoch,
  checkGroupId,
  checkKey,
  checkTtlMs,
  checkU32,
  checkWrite,
  decodeHead,
  decodeRecordMeta,
  encodeHead,
  groupStorageKey,
  kindTag,
  openRecord,
  recordTag,
  sealRecord,
  toHex,
} from "./recordCrypto.js";

export class MemoryGroupStore implements GroupStore {
  /** storage key hex -> encoded head */
  readonly #heads = new Map<string, Uint8Array>();
  /** storage key hex -> record tag hex -> record value */
  readonly #records = new Map<string, Map<string, Uint8Array>>();
  /** storage key hex -> expiry ms */
  readonly #reservations = new Map<string, number>();
  #closed = false;

  #open(): void {
    if (this.#closed) throw new StoreClosedError();
  }

  #head(sk: string): GroupHead | undefined {
    const v = this.#heads.get(sk);
    return v === undefined ? undefined : decodeHead(v);
  }

  async getHead(groupId: Uint8Array): Promise<GroupHead | undefined> {
    this.#open();
    return this.#head(toHex(groupStorageKey(groupId)));
  }

  async getRecords(
    groupId: Uint8Array,
    refs: readonly RecordRef[],
    key: Uint8Array,
    opts: { keyEpoch: bigint; version?: number },
  ): Promise<(Uint8Array | undefined)[]> {
    this.#open();
    const sk = toHex(groupStorageKey(groupId));
    checkKey(key);
    if (opts === null || typeof opts !== "object") throw new StoreInputError("getRecords needs opts");
    checkEpoch(opts.keyEpoch, "keyEpoch");
    if (opts.version !== undefined) checkU32(opts.version, "version");
    if (!Array.isArray(refs)) throw new StoreInputError("refs must be an array");
    const tags = refs.map((r) => toHex(recordTag(groupId, r)));
    let version = opts.version;
    if (version === undefined) {
      const head = this.#head(sk);
      if (head === undefined) return refs.map(() => undefined);
      version = head.version;
    }
    const recs = this.#records.get(sk);
    const v = version;
    return tags.map((t, i) => {
      const val = recs?.get(t);
      return val === undefined
        ? undefined
        : openRecord(groupId, refs[i]!, val, key, opts.keyEpoch, v, () => new VersionConflictError("records are newer than the version read"));
    });
  }

  async getRecordEpoch(groupId: Uint8Array, ref: RecordRef): Promise<bigint | undefined> {
    this.#open();
    const sk = toHex(groupStorageKey(groupId));
    const v = this.#records.get(sk)?.get(toHex(recordTag(groupId, ref)));
    return v === undefined ? undefined : decodeRecordMeta(v).keyEpoch;
  }

  async write(groupId: Uint8Array, w: GroupWrite): Promise<GroupHead> {
    this.#open();
    const sk = toHex(groupStorageKey(groupId));
    const version = checkWrite(w);
    const puts = w.puts.map(
      (p) => [toHex(recordTag(groupId, p.ref)), sealRecord(groupId, p.ref, p.plaintext, p.key, p.keyEpoch, p.bindVersion ? version : 0)] as const,
    );
    const deletes = (w.deletes ?? []).map((r) => toHex(recordTag(groupId, r)));
    const kindPrefixes = (w.deleteKinds ?? []).map((k) => toHex(kindTag(groupId, k)));
    // From here to the end: no await, so nothing interleaves (CAS).
    const old = this.#head(sk);
    if (w.expectedVersion === null) {
      if (old !== undefined) throw new GroupExistsError();
    } else if (old === undefined) {
      throw new GroupNotFoundError();
    } else if (old.version !== w.expectedVersion) {
      throw new VersionConflictError();
    }
    if (old === undefined) this.#reservations.delete(sk);
    let recs = this.#records.get(sk);
    if (recs === undefined) this.#records.set(sk, (recs = new Map()));
    for (const t of [...recs.keys()]) if (kindPrefixes.some((p) => t.startsWith(p))) recs.delete(t);
    for (const t of deletes) recs.delete(t);
    for (const [t, v] of puts) recs.set(t, v);
    const head: GroupHead = { version, epoch: w.head.epoch, lastUsedDay: Math.max(old?.lastUsedDay ?? 0, w.head.lastUsedDay) };
    this.#heads.set(sk, encodeHead(head));
    return { ...head };
  }

  async deleteGroup(groupId: Uint8Array, expectedVersion: number): Promise<void> {
    this.#open();
    const sk = toHex(groupStorageKey(groupId));
    checkU32(expectedVersion, "expectedVersion");
    const old = this.#head(sk);
    if (old === undefined) throw new GroupNotFoundError();
    if (old.version !== expectedVersion) throw new VersionConflictError();
    this.#heads.delete(sk);
    this.#records.delete(sk);
  }

  async touch(groupId: Uint8Array, day: number): Promise<void> {
    this.#open();
    const sk = toHex(groupStorageKey(groupId));
    checkDay(day);
    const old = this.#head(sk);
    if (old !== undefined && old.lastUsedDay < day) this.#heads.set(sk, encodeHead({ ...old, lastUsedDay: day }));
  }

  async reserveGroupId(groupId: Uint8Array, ttlMs: number): Promise<boolean> {
    this.#open();
    checkGroupId(groupId);
    checkTtlMs(ttlMs);
    const sk = toHex(groupStorageKey(groupId));
    const now = Date.now();
    if (this.#heads.has(sk)) return false;
    const exp = this.#reservations.get(sk);
    if (exp !== undefined && exp > now) return false;
    this.#reservations.set(sk, Math.ceil(now + ttlMs));
    return true;
  }

  async consumeReservation(groupId: Uint8Array): Promise<boolean> {
    this.#open();
    const sk = toHex(groupStorageKey(groupId));
    const exp = this.#reservations.get(sk);
    if (exp === undefined) return false;
    this.#reservations.delete(sk);
    return exp > Date.now();
  }

  async sweepExpired(todayDay: number, ttlDays: number): Promise<number> {
    this.#open();
    checkDay(todayDay);
    checkU32(ttlDays, "ttlDays");
    const cutoff = todayDay - ttlDays;
    let deleted = 0;
    for (const [sk, v] of [...this.#heads]) {
      let day: number;
      try {
        day = decodeHead(v).lastUsedDay;
      } catch {
        continue;
      }
      if (day < cutoff) {
        this.#heads.delete(sk);
        this.#records.delete(sk);
        deleted++;
      }
    }
    const now = Date.now();
    for (const [sk, exp] of [...this.#reservations]) if (exp <= now) this.#reservations.delete(sk);
    return deleted;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}
