// Typed failures of the key-less public group engine. Every rejection carries a stable,
// machine-readable `code` the DS maps to a DSResponse error without string matching. A failed
// operation never changes state: operations return a new PublicGroup or throw one of these.

export abstract class DsEngineError extends Error {
  override name = "DsEngineError";
  abstract readonly code: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The bytes are not a well-formed MLSMessage / struct. */
export class MalformedMessageError extends DsEngineError {
  override name = "MalformedMessageError";
  readonly code = "malformed_message";
}

/** A handshake (proposal or commit) arrived as PrivateMessage: the DS cannot read or track it. */
export class PrivateHandshakeError extends DsEngineError {
  override name = "PrivateHandshakeError";
  readonly code = "private_handshake";
}

/** Wire format or content type is not what the operation expects (e.g. a proposal sent to processCommit). */
export class UnexpectedContentError extends DsEngineError {
  override name = "UnexpectedContentError";
  readonly code = "unexpected_content";
}

/** The message names another group. */
export class UnknownGroupError extends DsEngineError {
  override name = "UnknownGroupError";
  readonly code = "unknown_group";
}

/** The message is for an epoch other than the current one. */
export class WrongEpochError extends DsEngineError {
  override name = "WrongEpochError";
  readonly code = "wrong_epoch";
  constructor(
    readonly expected: bigint,
    readonly received: bigint,
  ) {
    super(`message for epoch ${received}, group is at epoch ${expected}`);
  }
}

/** Protocol version or cipher suite mismatch. */
export class UnsupportedVersionError extends DsEngineError {
  override name = "UnsupportedVersionError";
  readonly code = "unsupported_version";
}

/** A signature (FramedContent, GroupInfo, LeafNode, KeyPackage) does not verify. */
export class BadSignatureError extends DsEngineError {
  override name = "BadSignatureError";
  readonly code = "bad_signature";
}

/** The sender is not a current member (blank or out-of-range leaf), or an unknown external sender. */
export class NonMemberSenderError extends DsEngineError {
  override name = "NonMemberSenderError";
  readonly code = "non_member_sender";
}

/** The sender type may not send this content (e.g. new_member_proposal with a Remove). */
export class InvalidSenderError extends DsEngineError {
  override name = "InvalidSenderError";
  readonly code = "invalid_sender";
}

/** A commit references a proposal the DS has not seen in this epoch. */
export class UnknownProposalError extends DsEngineError {
  override name = "UnknownProposalError";
  readonly code = "unknown_proposal";
}

/** The same proposal (same ProposalRef) was already stored in this epoch. */
export class DuplicateProposalError extends DsEngineError {
  override name = "DuplicateProposalError";
  readonly code = "duplicate_proposal";
}

/** A proposal, or a commit's proposal list, violates RFC 9420 s12.1/s12.2 (or s12.4.3.2 for external commits). */
export class InvalidProposalError extends DsEngineError {
  override name = "InvalidProposalError";
  readonly code = "invalid_proposal";
}

/** The commit lacks a required UpdatePath, or its UpdatePath / committer LeafNode is invalid. */
export class InvalidUpdatePathError extends DsEngineError {
  override name = "InvalidUpdatePathError";
  readonly code = "invalid_update_path";
}

/** A LeafNode or KeyPackage fails validation (RFC 9420 s7.3, s10.1) other than its signature. */
export class InvalidLeafNodeError extends DsEngineError {
  override name = "InvalidLeafNodeError";
  readonly code = "invalid_leaf_node";
}

/** A ratchet tree fails the integrity checks of RFC 9420 s12.4.3.1 / s7.9.2. */
export class InvalidTreeError extends DsEngineError {
  override name = "InvalidTreeError";
  readonly code = "invalid_tree";
}

/** A GroupInfo (or the state built from it) is inconsistent: tree hash mismatch, bad signer, ... */
export class InvalidGroupInfoError extends DsEngineError {
  override name = "InvalidGroupInfoError";
  readonly code = "invalid_group_info";
}

/** Stored state could not be decoded. */
export class CorruptStateError extends DsEngineError {
  override name = "CorruptStateError";
  readonly code = "corrupt_state";
}
