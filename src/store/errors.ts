// Typed failures of the group-state store. Every error carries a stable, machine-readable `code`
// so the DS maps it to a response without string matching. Messages never contain group ids,
// keys or plaintext.

export abstract class StoreError extends Error {
  override name = "StoreError";
  abstract readonly code: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The CAS failed: the stored version is not the expected one (another writer won). */
export class VersionConflictError extends StoreError {
  override name = "VersionConflictError";
  readonly code: string = "version_conflict";
  constructor(message = "version conflict") {
    super(message);
  }
}

/**
 * The group a CAS write or delete names does not exist (never created, deleted or swept).
 * A VersionConflictError subclass: for a CAS caller it is "the state moved under you".
 */
export class GroupNotFoundError extends VersionConflictError {
  override name = "GroupNotFoundError";
  override readonly code: string = "group_not_found";
  constructor() {
    super("group does not exist");
  }
}

/** A create (expectedVersion null) named a group that already exists. */
export class GroupExistsError extends StoreError {
  override name = "GroupExistsError";
  readonly code = "group_exists";
  constructor() {
    super("group already exists");
  }
}

/**
 * A record exists but does not open under the supplied key, key epoch and version: a stale or
 * wrong key, or a record moved between groups, kinds, ids or versions.
 */
export class WrongKeyError extends StoreError {
  override name = "WrongKeyError";
  readonly code = "wrong_key";
  constructor() {
    super("stale or wrong key");
  }
}

/** A stored value is structurally broken (wrong length or layout). */
export class CorruptRecordError extends StoreError {
  override name = "CorruptRecordError";
  readonly code = "corrupt_record";
  constructor(what: string) {
    super(`corrupt stored ${what}`);
  }
}

/** The store was closed (or its shared database is not open). */
export class StoreClosedError extends StoreError {
  override name = "StoreClosedError";
  readonly code = "store_closed";
  constructor(options?: { cause?: unknown }) {
    super("store is closed", options);
  }
}

/** A caller passed a malformed argument (bad key length, kind, id, epoch, day...). Nothing was stored. */
export class StoreInputError extends StoreError {
  override name = "StoreInputError";
  readonly code = "invalid_input";
}

/** The underlying database failed (I/O, corruption reported by the engine). */
export class StoreIoError extends StoreError {
  override name = "StoreIoError";
  readonly code = "io_error";
  constructor(options?: { cause?: unknown }) {
    super("storage I/O failure", options);
  }
}
