export { KeyPackageDirectory, BEARER_TOKEN_BYTES, keyPackageStatusOf } from "./KeyPackageDirectory.js";
export type { KeyPackageDirectoryOptions, MintTokenOptions, MintedToken } from "./KeyPackageDirectory.js";
export { LevelKeyPackageStore, runLocked } from "./LevelKeyPackageStore.js";
export { MemoryKeyPackageStore } from "./MemoryKeyPackageStore.js";
export { FixedWindowRateLimiter } from "./FixedWindowRateLimiter.js";
export type { RateLimit } from "./FixedWindowRateLimiter.js";
export { validateKeyPackage } from "./validateKeyPackage.js";
export type { KeyPackageValidationOptions, ValidatedKeyPackage } from "./validateKeyPackage.js";
export { KeyPackageAdminError, InvalidArgumentError, TooManyClientsError } from "./errors.js";
export { keyPackageMessage, makeDirectoryKeyPackage, lifetimeFor, signUpload, keyPackageTransaction } from "./clientRequests.js";
export type { UploadItem } from "./clientRequests.js";
export { userStorageKey, clientStorageKey, tokenHash, poolSuite, decideClient } from "./KeyPackageStore.js";
export type {
  KeyPackageStore,
  StoredClient,
  NewKeyPackage,
  UploadWrite,
  ClaimSpec,
  ClientClaim,
  StoredToken,
  PurgeResult,
  KeyPackageCounts,
} from "./KeyPackageStore.js";
export { normalizeHandle, isValidHandle, MAX_HANDLE_LENGTH } from "./normalizeHandle.js";
export { InvalidHandleError, HandleTakenError } from "./errors.js";
export { handleStorageKey } from "./KeyPackageStore.js";
export type { StoredHandle } from "./KeyPackageStore.js";
export { TokenBucket } from "./TokenBucket.js";
export {
  IdentifierQueryService,
  DEFAULT_DISCOVERY_TOKEN_TTL_MS,
  DEFAULT_DISCOVERY_TOKEN_RATE_LIMIT,
  DEFAULT_QUERY_RATE_LIMIT,
} from "./IdentifierQueryService.js";
export type { IdentifierQueryServiceOptions } from "./IdentifierQueryService.js";
