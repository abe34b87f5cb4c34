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
