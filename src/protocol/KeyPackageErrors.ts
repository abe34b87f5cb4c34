// One error hierarchy for the KeyPackage directory. Every refusal is a KeyPackageError subclass
// carrying a KeyPackageStatus that goes on the wire, so a client acts on a code, never on text.
// Messages are for logs and tests and never carry user ids, client ids, tokens or key material.
import { KeyPackageStatus, NO_ENTRY_INDEX } from "./KeyPackageConstants.js";

export class KeyPackageError extends Error {
  override name = "KeyPackageError";
  /** stable, machine-readable reason: the KeyPackageStatus name */
  readonly reason: string;
  constructor(
    readonly code: KeyPackageStatus,
    message: string,
    /** upload errors: index of the offending entry, NO_ENTRY_INDEX when none */
    readonly entryIndex: number = NO_ENTRY_INDEX,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.reason = KeyPackageStatus[code] ?? "unknown";
  }
}

const make = (name: string, code: KeyPackageStatus) =>
  class extends KeyPackageError {
    override name = name;
    constructor(message: string, entryIndex: number = NO_ENTRY_INDEX, options?: { cause?: unknown }) {
      super(code, message, entryIndex, options);
    }
  };

/** Structurally invalid bytes (any decoder failure). */
export class KeyPackageMalformedError extends make("KeyPackageMalformedError", KeyPackageStatus.malformed) {}
export class KeyPackageUnsupportedVersionError extends make("KeyPackageUnsupportedVersionError", KeyPackageStatus.unsupported_version) {}
export class TooManyRequestsError extends make("TooManyRequestsError", KeyPackageStatus.too_many_requests) {}
export class UploadUnauthorizedError extends make("UploadUnauthorizedError", KeyPackageStatus.unauthorized) {}
export class StaleSequenceError extends make("StaleSequenceError", KeyPackageStatus.stale_sequence) {}
export class TooManyKeyPackagesError extends make("TooManyKeyPackagesError", KeyPackageStatus.too_many_key_packages) {}
export class InvalidKeyPackageError extends make("InvalidKeyPackageError", KeyPackageStatus.invalid_key_package) {}
export class BadKeyPackageSignatureError extends make("BadKeyPackageSignatureError", KeyPackageStatus.bad_key_package_signature) {}
export class KeyPackageExpiredError extends make("KeyPackageExpiredError", KeyPackageStatus.key_package_expired) {}
export class LifetimeTooLongError extends make("LifetimeTooLongError", KeyPackageStatus.key_package_lifetime_too_long) {}
export class NotYetValidError extends make("NotYetValidError", KeyPackageStatus.key_package_not_yet_valid) {}
export class UnsupportedCiphersuiteError extends make("KeyPackageUnsupportedCiphersuiteError", KeyPackageStatus.unsupported_ciphersuite) {}
export class MissingQueueConfigCapabilityError extends make("MissingQueueConfigCapabilityError", KeyPackageStatus.missing_queue_config_capability) {}
export class MissingQueueConfigError extends make("MissingQueueConfigError", KeyPackageStatus.missing_queue_config) {}
export class InvalidQueueConfigError extends make("InvalidQueueConfigError", KeyPackageStatus.invalid_queue_config) {}
export class DuplicateKeyPackageError extends make("DuplicateKeyPackageError", KeyPackageStatus.duplicate_key_package) {}
export class MultipleLastResortError extends make("MultipleLastResortError", KeyPackageStatus.multiple_last_resort) {}
export class KeyPackageTemporarilyUnavailableError extends make("KeyPackageTemporarilyUnavailableError", KeyPackageStatus.temporarily_unavailable) {}

/** The error class for each non-ok status (clients turn a response status back into a typed error). */
export const KEY_PACKAGE_ERRORS: Readonly<Record<Exclude<KeyPackageStatus, KeyPackageStatus.ok>, new (message: string, entryIndex?: number) => KeyPackageError>> = {
  [KeyPackageStatus.malformed]: KeyPackageMalformedError,
  [KeyPackageStatus.unsupported_version]: KeyPackageUnsupportedVersionError,
  [KeyPackageStatus.too_many_requests]: TooManyRequestsError,
  [KeyPackageStatus.unauthorized]: UploadUnauthorizedError,
  [KeyPackageStatus.stale_sequence]: StaleSequenceError,
  [KeyPackageStatus.too_many_key_packages]: TooManyKeyPackagesError,
  [KeyPackageStatus.invalid_key_package]: InvalidKeyPackageError,
  [KeyPackageStatus.bad_key_package_signature]: BadKeyPackageSignatureError,
  [KeyPackageStatus.key_package_expired]: KeyPackageExpiredError,
  [KeyPackageStatus.key_package_lifetime_too_long]: LifetimeTooLongError,
  [KeyPackageStatus.key_package_not_yet_valid]: NotYetValidError,
  [KeyPackageStatus.unsupported_ciphersuite]: UnsupportedCiphersuiteError,
  [KeyPackageStatus.missing_queue_config_capability]: MissingQueueConfigCapabilityError,
  [KeyPackageStatus.missing_queue_config]: MissingQueueConfigError,
  [KeyPackageStatus.invalid_queue_config]: InvalidQueueConfigError,
  [KeyPackageStatus.duplicate_key_package]: DuplicateKeyPackageError,
  [KeyPackageStatus.multiple_last_resort]: MultipleLastResortError,
  [KeyPackageStatus.temporarily_unavailable]: KeyPackageTemporarilyUnavailableError,
};

const KNOWN = new Set<number>(Object.values(KeyPackageStatus).filter((v): v is number => typeof v === "number"));
export function isKeyPackageStatus(v: number): v is KeyPackageStatus {
  return KNOWN.has(v);
}

/** A typed error for a non-ok status read from the wire. */
export function keyPackageErrorFor(code: Exclude<KeyPackageStatus, KeyPackageStatus.ok>, entryIndex: number = NO_ENTRY_INDEX): KeyPackageError {
  const Cls = KEY_PACKAGE_ERRORS[code];
  return new Cls(`the KeyPackage directory refused the request: ${KeyPackageStatus[code]}`, entryIndex);
}
