// The one place that reaches into ts-mls internals.
//
// ts-mls 1.6.x exports its internal modules through the "./*.js" subpath pattern; the 2.0 line
// drops them. Keeping every deep import in this file means a ts-mls upgrade touches one module,
// and the rest of the project sees a stable, named surface. Public `ts-mls` index imports are fine
// anywhere; anything from "ts-mls/<module>.js" must come through here.

// ---- wire structs and their codecs ----------------------------------------------------------
export type { RatchetTree, Node as TreeNode, NodeLeaf, NodeParent } from "ts-mls/ratchetTree.js";
export {
  encodeRatchetTree,
  decodeRatchetTree,
  ratchetTreeEncoder,
  addLeafNode,
  removeLeafNode,
  updateLeafNode,
  findBlankLeafNodeIndex,
  findBlankLeafNodeIndexOrExtend,
  extendRatchetTree,
  stripBlankNodes,
  resolution as treeResolution,
  filteredDirectPathAndCopathResolution,
} from "ts-mls/ratchetTree.js";

export type { GroupContext } from "ts-mls/groupContext.js";
export { encodeGroupContext, decodeGroupContext, groupContextEncoder } from "ts-mls/groupContext.js";

export type { GroupInfo, GroupInfoTBS } from "ts-mls/groupInfo.js";
export {
  encodeGroupInfo,
  decodeGroupInfo,
  encodeGroupInfoTBS,
  signGroupInfo,
  verifyGroupInfoSignature,
  ratchetTreeFromExtension,
} from "ts-mls/groupInfo.js";

export type { PublicMessage } from "ts-mls/publicMessage.js";
export { encodePublicMessage, decodePublicMessage } from "ts-mls/publicMessage.js";
export type { PrivateMessage } from "ts-mls/privateMessage.js";
export type { SecretTree } from "ts-mls/secretTree.js";
export type { KeySchedule } from "ts-mls/keySchedule.js";

export type { MLSMessage } from "ts-mls/message.js";
export { encodeMlsMessage, decodeMlsMessage } from "ts-mls/message.js";

export type {
  FramedContent,
  FramedContentCommit,
  FramedContentAuthData,
} from "ts-mls/framedContent.js";
export {
  verifyFramedContentSignature,
  encodeFramedContent,
  signFramedContentTBS,
  toTbs as framedContentTBS,
} from "ts-mls/framedContent.js";

export type { AuthenticatedContent } from "ts-mls/authenticatedContent.js";
export { makeProposalRef, decodeAuthenticatedContent } from "ts-mls/authenticatedContent.js";

export type { Sender } from "ts-mls/sender.js";
export { senderEncoder, decodeSender } from "ts-mls/sender.js";
export type {
  Proposal,
  ProposalAdd,
  ProposalRemove,
  ProposalUpdate,
  ProposalPSK,
  ProposalGroupContextExtensions,
  Reinit,
} from "ts-mls/proposal.js";
export { encodeProposal, decodeProposal, proposalEncoder } from "ts-mls/proposal.js";
export type { ProposalOrRef } from "ts-mls/proposalOrRefType.js";
export type { Commit } from "ts-mls/commit.js";
export type { UpdatePath } from "ts-mls/updatePath.js";
export { applyUpdatePath, decodeUpdatePath } from "ts-mls/updatePath.js";

export type { LeafNode, LeafNodeCommit, LeafNodeUpdate, LeafNodeKeyPackage } from "ts-mls/leafNode.js";
export {
  encodeLeafNode,
  encodeLeafNodeTBS,
  verifyLeafNodeSignature,
  verifyLeafNodeSignatureKeyPackage,
} from "ts-mls/leafNode.js";
export type { ParentNode } from "ts-mls/parentNode.js";

export type { KeyPackage, PrivateKeyPackage } from "ts-mls/keyPackage.js";
export { verifyKeyPackage, makeKeyPackageRef } from "ts-mls/keyPackage.js";

export type { Credential } from "ts-mls/credential.js";
export { encodeCredential } from "ts-mls/credential.js";
export type { Extension } from "ts-mls/extension.js";
export { extensionsSupportedByCapabilities, extensionTypeToNumber } from "ts-mls/extension.js";
export type { Capabilities } from "ts-mls/capabilities.js";
export type { ExternalSender } from "ts-mls/externalSender.js";
export { decodeExternalSender, encodeExternalSender, externalSenderEncoder } from "ts-mls/externalSender.js";
export type { PreSharedKeyID } from "ts-mls/presharedkey.js";
export { encodePskId } from "ts-mls/presharedkey.js";
export { decodeRequiredCapabilities } from "ts-mls/requiredCapabilities.js";

export type { ProposalWithSender, UnappliedProposals } from "ts-mls/unappliedProposals.js";
export { unappliedProposalsEncoder, decodeUnappliedProposals } from "ts-mls/unappliedProposals.js";

export type { Welcome } from "ts-mls/welcome.js";
export { decryptGroupSecrets, decryptGroupInfo } from "ts-mls/welcome.js";
export { accumulatePskSecret } from "ts-mls/pskIndex.js";
export type { PskIndex } from "ts-mls/pskIndex.js";

// ---- hashes over the tree and the transcript -----------------------------------------------
export { treeHashRoot, treeHash, leafNodeHashInputEncoder, parentNodeHashInputEncoder } from "ts-mls/treeHash.js";
export { verifyParentHashes, calculateParentHash, parentHashInputEncoder } from "ts-mls/parentHash.js";
export { createConfirmedHash, createInterimHash } from "ts-mls/transcriptHash.js";

// ---- group state transitions (used with a key-less ClientState, see PublicGroup) ------------
export type { ClientState, ApplyProposalsResult } from "ts-mls/clientState.js";
export {
  applyProposals,
  nextEpochContext,
  validateRatchetTree as tsMlsValidateRatchetTree,
  validateLeafNodeUpdateOrCommit,
  validateLeafNodeCredentialAndKeyUniqueness,
} from "ts-mls/clientState.js";
export type { ClientConfig } from "ts-mls/clientConfig.js";
export type { KeyPackageEqualityConfig } from "ts-mls/keyPackageEqualityConfig.js";
export { defaultKeyPackageEqualityConfig } from "ts-mls/keyPackageEqualityConfig.js";
export { defaultClientConfig } from "ts-mls/clientConfig.js";
export type { AuthenticationService } from "ts-mls/authenticationService.js";
export type { LifetimeConfig } from "ts-mls/lifetimeConfig.js";

// ---- tree math ------------------------------------------------------------------------------
export type { LeafIndex, NodeIndex } from "ts-mls/treemath.js";
export {
  toLeafIndex,
  toNodeIndex,
  isLeaf,
  leafToNodeIndex,
  nodeToLeafIndex,
  leafWidth,
  root as rootNode,
  left as leftChild,
  right as rightChild,
  parent as parentNode,
  directPath,
  isAncestor,
} from "ts-mls/treemath.js";

// ---- crypto ---------------------------------------------------------------------------------
export type { CiphersuiteImpl, Ciphersuite, CiphersuiteName, CiphersuiteId } from "ts-mls/crypto/ciphersuite.js";
export {
  ciphersuites,
  getCiphersuiteFromId,
  getCiphersuiteFromName,
  getCiphersuiteNameFromId,
} from "ts-mls/crypto/ciphersuite.js";
export type { CryptoProvider } from "ts-mls/crypto/provider.js";
export type { Hash, HashAlgorithm } from "ts-mls/crypto/hash.js";
export type { Kdf } from "ts-mls/crypto/kdf.js";
export { expandWithLabel } from "ts-mls/crypto/kdf.js";
export type { Signature, SignatureAlgorithm } from "ts-mls/crypto/signature.js";
export { signWithLabel, verifyWithLabel } from "ts-mls/crypto/signature.js";
export type { Hpke } from "ts-mls/crypto/hpke.js";
export { defaultCryptoProvider } from "ts-mls/crypto/implementation/default/provider.js";
export { nobleCryptoProvider } from "ts-mls/crypto/implementation/noble/provider.js";

// ---- codec primitives (for structs ts-mls does not define, e.g. the RFC form of external_senders)
export type { Decoder } from "ts-mls/codec/tlsDecoder.js";
export type { Encoder, BufferEncoder } from "ts-mls/codec/tlsEncoder.js";
export { encode, contramapBufferEncoders, composeBufferEncoders } from "ts-mls/codec/tlsEncoder.js";
export { mapDecoders } from "ts-mls/codec/tlsDecoder.js";
export { uint8Encoder, decodeUint8 } from "ts-mls/codec/number.js";
export {
  decodeVarLenData,
  decodeVarLenType,
  varLenDataEncoder,
  varLenTypeEncoder,
} from "ts-mls/codec/variableLength.js";

// ---- errors and small utilities -------------------------------------------------------------
export {
  MlsError,
  ValidationError as MlsValidationError,
  CodecError as MlsCodecError,
  CryptoVerificationError as MlsCryptoVerificationError,
} from "ts-mls/mlsError.js";
export { bytesToBase64, base64ToBytes } from "ts-mls/util/byteArray.js";
export { constantTimeEqual } from "ts-mls/util/constantTimeCompare.js";

// ---- used by the DS service and its wire protocol (src/ds, src/protocol) --------------------
export { decodeLeafNode } from "ts-mls/leafNode.js";
export { decodeExtension, encodeExtension } from "ts-mls/extension.js";
export { encodeWelcome, decodeWelcome } from "ts-mls/welcome.js";
export { proposeExternal } from "ts-mls/externalProposal.js";
export { mlsExporter } from "ts-mls/keySchedule.js";
