// One error hierarchy for the Queueing Service. Every refusal is a QsError subclass carrying a
// QSErrorCode that goes on the wire (QsResponse.error, DSFanoutResponse.error), so clients and
// sending DSs act on a code, never on text. Messages are for logs and tests and never carry
// queue ids, keys or message content.

/** QSErrorCode (uint16). Values are part of the wire profile "mimi-qs/1". */
export enum QSErrorCode {
  malformed = 0,
  unsupported_version = 1,
  bad_signature = 2,
  unknown_queue = 3,
  /** request timestamp (or fanout hub timestamp) outside the accepted window */
  stale_request = 4,
  replayed_request = 5,
  /** the fanout's sender domain is not on this QS's federation allow-list */
  sender_not_allowed = 6,
  /** the sender DS's /verification_key could not be obtained (transient) */
  verification_key_unavailable = 7,
  not_allowed = 8,
  limit_exceeded = 9,
  temporarily_unavailable = 10,
  /** a sealed queue reference does not open (library callers; per recipient on the wire) */
  invalid_client_queue_information = 11,
  /** client side: a queued message does not decrypt under the derived key */
  decryption_failed = 12,
}

const KNOWN_CODES = new Set<number>(Object.values(QSErrorCode).filter((v): v is number => typeof v === "number"));
export function isQsErrorCode(v: number): v is QSErrorCode {
  return KNOWN_CODES.has(v);
}

export class QsError extends Error {
  override name = "QsError";
  constructor(
    readonly code: QSErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class QsUnsupportedVersionError extends QsError {
  override name = "QsUnsupportedVersionError";
  constructor(
    readonly received: number,
    readonly supported: readonly number[],
  ) {
    super(QSErrorCode.unsupported_version, `version ${received} is not supported (supported: ${supported.join(", ")})`);
  }
}

const make = (name: string, code: QSErrorCode) =>
  class extends QsError {
    override name = name;
    constructor(message: string, options?: { cause?: unknown }) {
      super(code, message, options);
    }
  };

/** Structurally invalid bytes (any decoder failure: truncation, trailing bytes, bad lengths). */
export class QsMalformedError extends make("QsMalformedError", QSErrorCode.malformed) {}
export class QsBadSignatureError extends make("QsBadSignatureError", QSErrorCode.bad_signature) {}
export class UnknownQueueError extends make("UnknownQueueError", QSErrorCode.unknown_queue) {}
export class StaleRequestError extends make("StaleRequestError", QSErrorCode.stale_request) {}
export class ReplayedRequestError extends make("ReplayedRequestError", QSErrorCode.replayed_request) {}
export class SenderNotAllowedError extends make("SenderNotAllowedError", QSErrorCode.sender_not_allowed) {}
export class VerificationKeyUnavailableError extends make("VerificationKeyUnavailableError", QSErrorCode.verification_key_unavailable) {}
export class QsNotAllowedError extends make("QsNotAllowedError", QSErrorCode.not_allowed) {}
export class LimitExceededError extends make("LimitExceededError", QSErrorCode.limit_exceeded) {}
export class QsTemporarilyUnavailableError extends make("QsTemporarilyUnavailableError", QSErrorCode.temporarily_unavailable) {}
export class InvalidQueueReferenceError extends make("InvalidQueueReferenceError", QSErrorCode.invalid_client_queue_information) {}
export class QueueDecryptionError extends make("QueueDecryptionError", QSErrorCode.decryption_failed) {}

/** The wire code of any error; anything unexpected (store I/O, bugs) is reported as temporary. */
export function qsErrorCodeOf(e: unknown): QSErrorCode {
  if (e instanceof QsError) return e.code;
  return QSErrorCode.temporarily_unavailable;
}
