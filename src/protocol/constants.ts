// The wire profile "mimi-ds-pp/1": enum values, labels and extension types. README "Wire
// profile" documents each; other implementations interoperate from that text.

/** DSProtocolVersion (uint16). */
export const DS_PROTOCOL_VERSION = 1;
export const SUPPORTED_VERSIONS: readonly number[] = [DS_PROTOCOL_VERSION];

/** DSRequestType (uint8), values 0-13 from draft-robert-mimi-delivery-service, 14-16 ours. */
export enum DSRequestType {
  request_group_id = 0,
  create_group = 1,
  delete_group = 2,
  add_users = 3,
  remove_users = 4,
  add_clients = 5,
  remove_clients = 6,
  self_remove_client = 7,
  update_client = 8,
  external_join = 9,
  send_message = 10,
  signature_public_key = 11,
  key_packages = 12,
  connection_key_packages = 13,
  welcome_info = 14,
  external_commit_info = 15,
  set_role = 16,
}

/** DSAuthType (uint8). */
export enum DSAuthType {
  anonymous = 0,
  client_signature = 1,
  user_signature = 2,
  /** a Welcome joiner, named by its KeyPackageRef before it knows its leaf index */
  key_package_signature = 3,
}

/** DSResponseType (uint8). */
export enum DSResponseType {
  ok = 0,
  error = 1,
  group_id = 2,
  welcome_info = 3,
  external_commit_info = 4,
  signature_public_key = 5,
  key_packages = 6,
  connection_key_packages = 7,
}

/** SignWithLabel labels (RFC 9420 s5.1.2 prefixes "MLS 1.0 "). */
export const CLIENT_SIGNATURE_LABEL = "MIMI DS client request";
export const USER_SIGNATURE_LABEL = "MIMI DS user request";
export const KEY_PACKAGE_SIGNATURE_LABEL = "MIMI DS joiner request";

/** MLS-Exporter label for the per-epoch group-state (encryption at rest) key. */
export const EAR_KEY_EXPORTER_LABEL = "MIMI DS EAR key";
export const EAR_KEY_LENGTH = 32;
/** Domain label of the hash of an epoch's EAR key that a committer puts in the GroupInfo. */
export const EAR_KEY_HASH_LABEL = "MIMI DS EAR key hash";

/** HPKE info for sealing an epoch's EAR key to a Welcome joiner's KeyPackage init key. */
export const JOINER_KEY_HPKE_INFO = "MIMI DS joiner EAR key";

/**
 * The HPKE suite (KEM, KDF, AEAD ids) of a KeyPackage init key, by MLS cipher suite: what the DS
 * seals joiner keys and initiators seal connection offers with (X25519 suites only).
 */
export function joinerSuiteIds(mlsSuite: string): [number, number, number] {
  if (mlsSuite === "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519") return [0x0020, 0x0001, 0x0001];
  if (mlsSuite === "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519") return [0x0020, 0x0001, 0x0003];
  throw new RangeError(`cipher suite ${mlsSuite} is not supported`);
}

/**
 * MLS extension types from the private-use range (RFC 9420 s17.3: 0xF000-0xFFFF).
 * - queue config: a LeafNode extension holding the ClientQueueConfig (issue: fanout/QS).
 * - RBAC: a GroupContext extension `struct { uint32 admins<V>; }`.
 */
export const EXTENSION_TYPE_QUEUE_CONFIG = 0xf0a0;
export const EXTENSION_TYPE_RBAC = 0xf0a1;
/** GroupInfo extension `struct { opaque ear_key_hash<V>; }` committing to the epoch's EAR key. */
export const EXTENSION_TYPE_EAR_KEY_HASH = 0xf0a2;
/**
 * Leaf-node extension of a KeyPackage: struct { opaque salt<V>; opaque user_auth_key<V>; } — the
 * per-group pseudonymous user key an adder hands the DS in add_users. The user derives the key
 * pair from its master secret and the salt, so keys differ per KeyPackage (no cross-group link).
 */
export const EXTENSION_TYPE_USER_AUTH_KEY = 0xf0a3;
export const USER_AUTH_KEY_SALT_LENGTH = 16;
export const USER_AUTH_KEY_DERIVATION_INFO = "MIMI DS user auth key";

/** Sizes the DS accepts in its own structs (MLS structs have ts-mls's own checks). */
export const MAX_GROUP_ID_BYTES = 255;
export const MAX_SIGNATURE_BYTES = 255;
