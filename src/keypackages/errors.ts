// Failures of the directory's admin calls (registerClient, mintToken, ...). These never reach the
// wire: the provider's own code calls them. Wire refusals are KeyPackageError (protocol).
export abstract class KeyPackageAdminError extends Error {
  override name = "KeyPackageAdminError";
  abstract readonly code: string;
}

/** An argument is out of range (id length, key length, rate limit, ttl). Nothing was stored. */
export class InvalidArgumentError extends KeyPackageAdminError {
  override name = "InvalidArgumentError";
  readonly code = "invalid_argument";
}

/** registerClient would exceed the per-user client limit. */
export class TooManyClientsError extends KeyPackageAdminError {
  override name = "TooManyClientsError";
  readonly code = "too_many_clients";
  constructor(max: number) {
    super(`a user may register at most ${max} clients`);
  }
}

/** A handle is empty, longer than MAX_HANDLE_LENGTH or outside the safe charset (normalizeHandle.ts). */
export class InvalidHandleError extends KeyPackageAdminError {
  override name = "InvalidHandleError";
  readonly code = "invalid_handle";
}

/** registerHandle named a handle another user holds. Nothing was changed. */
export class HandleTakenError extends KeyPackageAdminError {
  override name = "HandleTakenError";
  readonly code = "handle_taken";
  constructor() {
    super("the handle belongs to another user");
  }
}
