// The Queueing Service wire profile ("mimi-qs/1"): versions, enum values, labels and limits of
// the client <-> QS protocol (QsRequest/QsResponse), the DS -> QS fanout (DSFanoutRequest/
// DSFanoutResponse, draft-robert-mimi-delivery-service s"DSFanoutRequests") and the
// /verification_key endpoint (draft-kohbrok-mimi-moh s"Verification Key").

/** QsProtocolVersion (uint16) of QsRequest/QsResponse. */
export const QS_PROTOCOL_VERSION = 1;
export const QS_SUPPORTED_VERSIONS: readonly number[] = [QS_PROTOCOL_VERSION];
/** version (uint16) of DSFanoutRequest/DSFanoutResponse/VerificationKeyResponse. */
export const FANOUT_PROTOCOL_VERSION = 1;
export const FANOUT_SUPPORTED_VERSIONS: readonly number[] = [FANOUT_PROTOCOL_VERSION];

/** QsRequestType (uint8). */
export enum QsRequestType {
  create_queue = 0,
  fetch = 1,
  ack = 2,
  delete_queue = 3,
  /** the QS's current queue-reference public key, to seal references for new KeyPackages */
  reference_key = 4,
}

/** QsResponseType (uint8). */
export enum QsResponseType {
  ok = 0,
  error = 1,
  queue_created = 2,
  messages = 3,
  reference_key = 4,
}

/**
 * QueueingServiceResponse (uint8), one per fanout recipient. 0 and 1 are the draft's values;
 * queue_full is ours: a transient refusal (the queue hit its length limit), never a reason to
 * remove the member.
 */
export enum QueueingServiceResponse {
  ok = 0,
  invalid_client_queue_information = 1,
  queue_full = 2,
}

/** QueuedContentType (uint8): what a queued message carries (inside its encryption). */
export enum QueuedContentType {
  mls_message = 1,
  connection_offer = 2,
}

/** Version of ConnectionRequest (POST /connection_request). */
export const CONNECTION_REQUEST_VERSION = 1;
/** the largest SealedConnectionOffer a QS accepts */
export const MAX_SEALED_OFFER_BYTES = 4096;

/** DSFanoutResponseType (uint8). */
export enum DSFanoutResponseType {
  ok = 0,
  error = 1,
}

/** SignWithLabel labels (RFC 9420 s5.1.2 prefixes "MLS 1.0 "). */
export const QS_REQUEST_SIGNATURE_LABEL = "MIMI QS request";
export const DS_FANOUT_SIGNATURE_LABEL = "MIMI DS fanout";

/** HPKE info of a sealed queue reference (the AAD is the QS domain). */
export const QUEUE_REFERENCE_HPKE_INFO = "MIMI QS queue reference";
/** HPKE suite of queue references: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM. */
export const QUEUE_REFERENCE_KEM_ID = 0x0020;
export const QUEUE_REFERENCE_KDF_ID = 0x0001;
export const QUEUE_REFERENCE_AEAD_ID = 0x0002;

/** TLS SignatureScheme ed25519 (RFC 8446 s4.2.3), the only fanout signature scheme. */
export const SIGNATURE_SCHEME_ED25519 = 0x0807;

/** Sizes. Queue ids are 16 random bytes; decoders accept up to MAX_QUEUE_ID_BYTES. */
export const QUEUE_ID_LENGTH = 16;
export const MAX_QUEUE_ID_BYTES = 64;
export const MESSAGE_ID_LENGTH = 32;
export const REQUEST_NONCE_LENGTH = 16;
export const INITIAL_SECRET_LENGTH = 32;
export const ED25519_PUBLIC_KEY_LENGTH = 32;
export const ED25519_SIGNATURE_LENGTH = 64;
export const MAX_SIGNATURE_BYTES = 255;
export const MAX_DOMAIN_BYTES = 253;
/** as ClientQueueConfig.sealed_reference */
export const MAX_SEALED_REFERENCE_BYTES = 1024;
export const MAX_SEALED_JOINER_KEY_BYTES = 1024;
export const MAX_FANOUT_MESSAGE_BYTES = 1 << 20;
export const MAX_FANOUT_RECIPIENTS = 10_000;
export const MAX_FETCH_MESSAGES = 1000;
export const MAX_VERIFICATION_KEYS = 16;
/** the AES-256-GCM ciphertext of one queued message (message + joiner key + framing + tag) */
export const MAX_QUEUE_CIPHERTEXT_BYTES = MAX_FANOUT_MESSAGE_BYTES + MAX_SEALED_JOINER_KEY_BYTES + 1024;

/** A DNS name, optionally with a port, lowercase (as ClientQueueConfig normalizes it). */
export const DOMAIN_PATTERN = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?$/;
