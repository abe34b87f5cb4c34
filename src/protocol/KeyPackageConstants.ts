// The KeyPackage directory's wire profile "mimi-kp/1": enum values, labels and size limits.
// Status codes for users and clients are draft-barnes-mimi-protocol s7.3 (KeyMaterialUserCode,
// KeyMaterialClientCode) with their names and values; values we add are marked "ours".

/** Version of the directory's own structs (KeyPackageUpload). Distinct from MLS ProtocolVersion. */
export const KEY_PACKAGE_DIRECTORY_VERSION = 1;
export const SUPPORTED_DIRECTORY_VERSIONS: readonly number[] = [KEY_PACKAGE_DIRECTORY_VERSION];

/** MLS ProtocolVersion mls10 (RFC 9420 s6): the only version a KeyPackageRequest can be served for. */
export const MLS_PROTOCOL_VERSION_MLS10 = 1;

/**
 * Which pool a KeyPackage lives in (uint8). Connection KeyPackages (draft-robert-mimi-delivery-
 * service s"Fetch connection KeyPackages") are served only by the connection request and never
 * mixed with the group pool.
 */
export enum KeyPackagePool {
  group = 0,
  connection = 1,
}

/** KeyMaterialUserCode (uint8), draft-barnes s7.3; rateLimited is ours. */
export enum KeyMaterialUserCode {
  success = 0,
  partialSuccess = 1,
  incompatibleProtocol = 2,
  noCompatibleMaterial = 3,
  /** also the answer for any unknown, revoked, expired or mismatched bearer token */
  userUnknown = 4,
  noConsent = 5,
  noConsentForThisRoom = 6,
  userDeleted = 7,
  /** ours: the (valid) bearer token is over its rate limit; retry after its window */
  rateLimited = 8,
}

/** KeyMaterialClientCode (uint8), draft-barnes s7.3. */
export enum KeyMaterialClientCode {
  success = 0,
  keyMaterialExhausted = 1,
  onlyLastResort = 2,
  nothingCompatible = 3,
}

/**
 * KeyPackageStatus (uint16): the transaction-level or upload-level outcome. ok, or why the whole
 * request was refused (nothing was changed). One error class per value in KeyPackageErrors.ts.
 */
export enum KeyPackageStatus {
  ok = 0,
  malformed = 1,
  unsupported_version = 2,
  /** a transaction names more KeyPackageRequests than this directory serves at once */
  too_many_requests = 3,
  /** upload: unknown (user, client) or a bad upload signature; deliberately one code */
  unauthorized = 4,
  /** upload: sequence not greater than the last accepted one (a replay or a reordered upload) */
  stale_sequence = 5,
  /** upload: more entries than allowed, or a pool over its capacity */
  too_many_key_packages = 6,
  /** a KeyPackage breaks an RFC 9420 s10.1 rule not covered by a more specific code */
  invalid_key_package = 7,
  bad_key_package_signature = 8,
  key_package_expired = 9,
  key_package_lifetime_too_long = 10,
  key_package_not_yet_valid = 11,
  unsupported_ciphersuite = 12,
  missing_queue_config_capability = 13,
  missing_queue_config = 14,
  invalid_queue_config = 15,
  duplicate_key_package = 16,
  /** upload: two last-resort KeyPackages for one (pool, cipher suite) */
  multiple_last_resort = 17,
  temporarily_unavailable = 18,
}

/** SignWithLabel label of KeyPackageUploadTBS (RFC 9420 s5.1.2 prefixes "MLS 1.0 "). */
export const KEY_PACKAGE_UPLOAD_LABEL = "MIMI KeyPackage upload";

/** Decoder limits: a request over these is malformed before any lookup happens. */
export const MAX_USER_ID_BYTES = 255;
export const MAX_CLIENT_ID_BYTES = 255;
export const MAX_BEARER_TOKEN_BYTES = 255;
export const MAX_TRANSACTION_REQUESTS = 256;
export const MAX_UPLOAD_ENTRIES = 1024;
export const MAX_KEY_PACKAGE_BYTES = 65_536;
export const MAX_SIGNATURE_BYTES = 255;
/** sentinel entry index for upload errors not tied to one entry */
export const NO_ENTRY_INDEX = 0xffffffff;
