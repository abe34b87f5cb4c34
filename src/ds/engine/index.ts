// The key-less public group engine of the Delivery Service.
export { PublicGroup } from "./PublicGroup.js";
export type { PendingProposal, PublicGroupState, ProposalResult, CommitResult } from "./PublicGroup.js";
export type { CommitSummary, ProposalSummary, AddedMember, RemovedMember, UpdatedMember } from "./CommitSummary.js";
export type { PublicGroupOptions } from "./PublicGroupOptions.js";
export { sameCredential } from "./PublicGroupOptions.js";
export type { HandshakeInput } from "./handshakeInput.js";
export { decodeMlsMessageStrict } from "./handshakeInput.js";
export * from "./errors.js";
export { readExternalSenders, findExternalSender, externalSendersExtensions, InvalidExtensionError } from "./ExternalSenders.js";
export type { ExternalSenders, ExternalSendersForm } from "./ExternalSenders.js";
export { TreeHasher } from "./TreeHasher.js";
export {
  validateRatchetTree,
  validateLeafNode,
  verifyParentHashes,
  checkUnmergedLeaves,
  checkKeyUniqueness,
  checkTreeStructure,
  checkCredentialTypes,
} from "./treeValidation.js";
export type { TreeValidationOptions } from "./treeValidation.js";
export { applyCommitPath } from "./commitPath.js";
export { runPassiveClientConformance, formatConformance, compareWithMember } from "./conformance.js";
export type { ConformanceResult, ConformanceOptions, PassiveClientCase } from "./conformance.js";
