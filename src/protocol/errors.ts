// One error hierarchy for the DS protocol. Every rejection the DS can make is a DsError
// subclass carrying a DSErrorCode that goes on the wire in DSResponse.error, so a client can
// act on it without parsing text. Messages are for logs and tests; the wire carries only the
// code (and, for version errors, the supported versions), so the error is no oracle beyond it.
import { DecodeError } from "../codec/errors.js";

/** DSErrorCode (uint16). Values are part of the wire profile (README "Wire profile"). */
export enum DSErrorCode {
  malformed = 0,
  unsupported_version = 1,
  unknown_group = 2,
  invalid_group_id = 3,
  wrong_epoch = 4,
  stale_or_wrong_key = 5,
  bad_signature = 6,
  not_a_member = 7,
  not_allowed = 8,
  invalid_message = 9,
  invalid_proposal = 10,
  invalid_commit = 11,
  invalid_group_info = 12,
  invalid_leaf_node = 13,
  pending_removal = 14,
  invalid_welcome = 15,
  pp_data_required = 16,
  not_found = 17,
  unsupported_operation = 18,
  temporarily_unavailable = 19,
}

export class DsError extends Error {
  override name = "DsError";
  constructor(
    readonly code: DSErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Structurally invalid bytes. Extends DecodeError too, so codec callers can catch one class. */
export class MalformedError extends DecodeError {
  override name = "MalformedError";
  readonly code = DSErrorCode.malformed;
  constructor(message: string) {
    super(message, "malformed");
  }
}

export class UnsupportedVersionError extends DsError {
  override name = "UnsupportedVersionError";
  constructor(
    readonly received: number,
    readonly supported: readonly number[],
  ) {
    super(DSErrorCode.unsupported_version, `protocol version ${received} is not supported (supported: ${supported.join(", ")})`);
  }
}

const make = (name: string, code: DSErrorCode) =>
  class extends DsError {
    override name = name;
    constructor(message: string) {
      super(code, message);
    }
  };

export class UnknownGroupError extends make("UnknownGroupError", DSErrorCode.unknown_group) {}
export class InvalidGroupIdError extends make("InvalidGroupIdError", DSErrorCode.invalid_group_id) {}
export class WrongEpochError extends make("WrongEpochError", DSErrorCode.wrong_epoch) {}
export class StaleOrWrongKeyError extends make("StaleOrWrongKeyError", DSErrorCode.stale_or_wrong_key) {}
export class BadSignatureError extends make("BadSignatureError", DSErrorCode.bad_signature) {}
export class NotAMemberError extends make("NotAMemberError", DSErrorCode.not_a_member) {}
export class NotAllowedError extends make("NotAllowedError", DSErrorCode.not_allowed) {}
export class InvalidMessageError extends make("InvalidMessageError", DSErrorCode.invalid_message) {}
export class InvalidProposalError extends make("InvalidProposalError", DSErrorCode.invalid_proposal) {}
export class InvalidCommitError extends make("InvalidCommitError", DSErrorCode.invalid_commit) {}
export class InvalidGroupInfoError extends make("InvalidGroupInfoError", DSErrorCode.invalid_group_info) {}
export class InvalidLeafNodeError extends make("InvalidLeafNodeError", DSErrorCode.invalid_leaf_node) {}
export class PendingRemovalError extends make("PendingRemovalError", DSErrorCode.pending_removal) {}
export class InvalidWelcomeError extends make("InvalidWelcomeError", DSErrorCode.invalid_welcome) {}
export class PpDataRequiredError extends make("PpDataRequiredError", DSErrorCode.pp_data_required) {}
export class NotFoundError extends make("NotFoundError", DSErrorCode.not_found) {}
export class UnsupportedOperationError extends make("UnsupportedOperationError", DSErrorCode.unsupported_operation) {}
export class TemporarilyUnavailableError extends make("TemporarilyUnavailableError", DSErrorCode.temporarily_unavailable) {}

/** The wire code of any error the DS raises; anything unexpected is reported as temporary. */
export function errorCodeOf(e: unknown): DSErrorCode {
  if (e instanceof DsError || e instanceof MalformedError) return e.code;
  if (e instanceof DecodeError) return DSErrorCode.malformed;
  return DSErrorCode.temporarily_unavailable;
}
