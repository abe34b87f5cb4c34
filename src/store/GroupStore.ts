// The Delivery Service's storage port for encrypted group state (ARCHITECTURE.md §3, "Group
// state at rest" / "Concurrency"). Adapters: LevelGroupStore (embedded LevelDB, the default) and
// MemoryGroupStore (tests, benches). Both share the record format in recordCrypto.ts.
//
// At rest, a group is only: a one-way storage key derived from its id, a CAS version, a coarse
// last-used day, and per record the epoch whose key sealed it. Everything else is AES-256-GCM
// ciphertext under keys the caller supplies per call and the store never keeps.

export type RecordKind = "state" | "leaves" | "fanout" | "leaf" | "joiner" | (string & {});

/** A record of a group. `id` defaults to 0 (e.g. a leaf index or an epoch). */
export interface RecordRef {
  kind: RecordKind;
  id?: number;
}

export interface GroupHead {
  version: number;
  epoch: bigint;
  lastUsedDay: number;
}

export interface RecordPut {
  ref: RecordRef;
  plaintext: Uint8Array;
  key: Uint8Array;
  keyEpoch: bigint;
  /**
   * true for records rewritten on every write (bound to the new head version, so an old copy
   * cannot be replayed next to a newer head); false for long-lived ones (e.g. joiner trees).
   */
  bindVersion: boolean;
}

export interface GroupWrite {
  /** null: the group must not exist yet (create). */
  expectedVersion: number | null;
  /** The new version is expectedVersion+1 (or 1 on create). */
  head: Omit<GroupHead, "version">;
  puts: RecordPut[];
  deletes?: RecordRef[];
  /** Delete every record of these kinds; puts in the same write win over these deletes. */
  deleteKinds?: RecordKind[];
}

export interface GroupStore {
  getHead(groupId: Uint8Array): Promise<GroupHead | undefined>;
  /**
   * Decrypts the requested records with `key`; undefined for a missing record. Throws
   * WrongKeyError if a record exists but does not open under key/keyEpoch/version.
   * `version` (default: the current head version, read consistently with the records) is the
   * head version that version-bound records must have been written at; a bound record written
   * at a *newer* version than the one asked for throws VersionConflictError (a stale read).
   */
  getRecords(
    groupId: Uint8Array,
    refs: readonly RecordRef[],
    key: Uint8Array,
    opts: { keyEpoch: bigint; version?: number },
  ): Promise<(Uint8Array | undefined)[]>;
  /** Returns the key epoch a record was written under (plaintext metadata), for joiner records. */
  getRecordEpoch(groupId: Uint8Array, ref: RecordRef): Promise<bigint | undefined>;
  /** CAS on the version + durable before it resolves; throws VersionConflictError / GroupExistsError. */
  write(groupId: Uint8Array, w: GroupWrite): Promise<GroupHead>;
  /** CAS; removes the head and every record. */
  deleteGroup(groupId: Uint8Array, expectedVersion: number): Promise<void>;
  /** Bump lastUsedDay if older (cheap; not CAS-relevant; may be non-sync). */
  touch(groupId: Uint8Array, day: number): Promise<void>;
  /** false if the id is reserved (live reservation) or a group with it exists. */
  reserveGroupId(groupId: Uint8Array, ttlMs: number): Promise<boolean>;
  /** true if there was a live reservation (and removes it). */
  consumeReservation(groupId: Uint8Array): Promise<boolean>;
  /** Deletes groups whose last-used day is more than ttlDays before todayDay; returns how many. */
  sweepExpired(todayDay: number, ttlDays: number): Promise<number>;
  close(): Promise<void>;
}
