// Proposal and proposal-list rules of RFC 9420 s12.1, s12.2 and s12.4.3.2 that the engine checks
// itself, on top of what ts-mls's applyProposals already enforces for member commits:
//   ts-mls: Update by committer, Remove of committer, several Update/Remove for one leaf,
//           duplicate Adds, Add of a present client (unless removed), KeyPackage + Add leaf
//           validation, Update leaf validation, Remove of a blank leaf, duplicate PSK ids, more
//           than one GroupContextExtensions, ReInit not alone, required_capabilities support.
//   here:   who may send which proposal type; ExternalInit only in external commits; PSK nonce
//           length and resumption usage; external_senders in either wire form with credentials
//           checked; non-default proposal types supported by every member; the whole external
//           commit rule set (ts-mls delegates it to the key schedule, which a DS does not have).
import {
  bytesToBase64,
  constantTimeEqual,
  encodePskId,
  extensionsSupportedByCapabilities,
  decodeRequiredCapabilities,
  verifyKeyPackage,
  type CiphersuiteImpl,
  type Extension,
  type GroupContext,
  type LeafNode,
  type Proposal,
  type ProposalOrRef,
  type RatchetTree,
  type Sender,
} from "../../mls/adapter.js";
import { BadSignatureError, InvalidLeafNodeError, InvalidProposalError, InvalidSenderError } from "./errors.js";
import { readExternalSenders } from "./ExternalSenders.js";
import type { ResolvedOptions } from "./PublicGroupOptions.js";
import { validateLeafNode } from "./treeValidation.js";

export function proposalTypeName(p: Proposal): string {
  return typeof p.proposalType === "number" ? `custom(${p.proposalType})` : p.proposalType;
}

/** Which sender types may send which proposals as standalone Proposal messages (s12.1, s12.1.8). */
export function checkProposalSender(p: Proposal, sender: Sender): void {
  const t = p.proposalType;
  switch (sender.senderType) {
    case "member":
      if (t === "external_init") throw new InvalidSenderError("ExternalInit may only appear by value in an external commit");
      return;
    case "external":
      if (t === "update" || t === "external_init") {
        throw new InvalidSenderError(`an external sender may not propose ${proposalTypeName(p)}`);
      }
      return;
    case "new_member_proposal":
      if (t !== "add") throw new InvalidSenderError("a new_member_proposal sender may only propose Add");
      return;
    case "new_member_commit":
      throw new InvalidSenderError("new_member_commit is not a proposal sender");
  }
}

function leafAt(tree: RatchetTree, leafIndex: number): LeafNode | undefined {
  if (!Number.isSafeInteger(leafIndex) || leafIndex < 0) return undefined;
  const n = tree[2 * leafIndex];
  return n?.nodeType === "leaf" ? n.leaf : undefined;
}

function checkPsk(p: Proposal, cs: CiphersuiteImpl): void {
  if (p.proposalType !== "psk") return;
  const id = p.psk.preSharedKeyId;
  if (id.pskNonce.length !== cs.kdf.size) throw new InvalidProposalError("psk_nonce length must be KDF.Nh (s8.4)");
  if (id.psktype === "resumption" && id.usage !== "application") {
    throw new InvalidProposalError(`a resumption PSK with usage ${id.usage} is not allowed in a commit (s8.6)`);
  }
}

/** New GroupContext extensions: decodable external_senders (either form) with accepted credentials. */
async function checkContextExtensions(exts: readonly Extension[], opts: ResolvedOptions): Promise<void> {
  let senders;
  try {
    senders = readExternalSenders(exts).senders;
  } catch (e) {
    throw new InvalidProposalError("GroupContextExtensions carries an undecodable external_senders", { cause: e });
  }
  for (const s of senders) {
    if (!(await opts.authService.validateCredential(s.credential, s.signaturePublicKey))) {
      throw new InvalidProposalError("an external sender's credential is rejected by the authentication service");
    }
  }
  const rc = exts.find((e) => e.extensionType === "required_capabilities");
  if (rc !== undefined) {
    const d = decodeRequiredCapabilities(rc.extensionData, 0);
    if (d === undefined || d[1] !== rc.extensionData.length) throw new InvalidProposalError("undecodable required_capabilities");
  }
}

/**
 * Checks a standalone proposal can be valid in the current epoch, so an invalid one is refused
 * before it is fanned out (members would otherwise drop every commit that includes it).
 */
export async function validateProposal(
  p: Proposal,
  sender: Sender,
  groupContext: GroupContext,
  tree: RatchetTree,
  cs: CiphersuiteImpl,
  opts: ResolvedOptions,
): Promise<void> {
  checkProposalSender(p, sender);
  switch (p.proposalType) {
    case "add": {
      const kp = p.add.keyPackage;
      if (kp.cipherSuite !== groupContext.cipherSuite || kp.version !== groupContext.version) {
        throw new InvalidProposalError("KeyPackage cipher suite or version differs from the group's");
      }
      if (kp.leafNode.leafNodeSource !== "key_package") throw new InvalidLeafNodeError("Add leaf must have source key_package");
      const kpOk = await verifyKeyPackage(kp, cs.signature).catch(() => false);
      if (!kpOk) throw new BadSignatureError("KeyPackage signature does not verify");
      if (constantTimeEqual(kp.initKey, kp.leafNode.hpkePublicKey)) {
        throw new InvalidProposalError("KeyPackage init_key equals its leaf encryption_key");
      }
      if (!extensionsSupportedByCapabilities(groupContext.extensions, kp.leafNode.capabilities)) {
        throw new InvalidProposalError("the new member does not support every GroupContext extension");
      }
      await validateLeafNode(kp.leafNode, -1, groupContext, cs, opts);
      return;
    }
    case "update": {
      if (sender.senderType !== "member") throw new InvalidSenderError("only members send Update");
      if (p.update.leafNode.leafNodeSource !== "update") throw new InvalidLeafNodeError("Update leaf must have source update");
      await validateLeafNode(p.update.leafNode, sender.leafIndex, groupContext, cs, opts);
      return;
    }
    case "remove":
      if (leafAt(tree, p.remove.removed) === undefined) throw new InvalidProposalError(`Remove of blank leaf ${p.remove.removed}`);
      return;
    case "psk":
      checkPsk(p, cs);
      return;
    case "group_context_extensions":
      await checkContextExtensions(p.groupContextExtensions.extensions, opts);
      return;
    default:
      return;
  }
}

/** A proposal of a commit, resolved (by value or from the pending set). */
export interface ResolvedProposal {
  proposal: Proposal;
  /** Leaf index of the proposal's sender (the committer for by-value proposals); undefined for non-members. */
  senderLeafIndex: number | undefined;
  sender: Sender | undefined;
  ref: Uint8Array | undefined;
}

/** Checks on a member commit's proposal list that ts-mls's applyProposals does not make. */
export async function checkMemberCommitProposals(
  proposals: readonly ResolvedProposal[],
  tree: RatchetTree,
  cs: CiphersuiteImpl,
  opts: ResolvedOptions,
): Promise<void> {
  const removed = new Set<number>();
  for (const { proposal } of proposals) if (proposal.proposalType === "remove") removed.add(proposal.remove.removed);
  for (const { proposal } of proposals) {
    const t = proposal.proposalType;
    if (t === "external_init") throw new InvalidProposalError("ExternalInit in a member commit (s12.2)");
    checkPsk(proposal, cs);
    if (t === "group_context_extensions") await checkContextExtensions(proposal.groupContextExtensions.extensions, opts);
    if (typeof t === "number") {
      // s12.2: non-default proposal types must be supported by every member that processes the commit
      for (let i = 0; i < tree.length; i += 2) {
        const n = tree[i];
        if (n?.nodeType === "leaf" && !removed.has(i >> 1) && !n.leaf.capabilities.proposals.includes(t)) {
          throw new InvalidProposalError(`member ${i >> 1} does not support proposal type ${t}`);
        }
      }
    }
  }
}

export interface ExternalCommitPlan {
  /** Leaf removed by the resync Remove, if any. */
  resyncOf: number | undefined;
}

/**
 * s12.4.3.2: an external commit carries its proposals by value: exactly one ExternalInit, at most
 * one Remove (resync: the removed leaf is the joiner's own old leaf), otherwise only PreSharedKey.
 */
export function checkExternalCommitProposals(
  proposals: readonly ProposalOrRef[],
  joiner: LeafNode,
  tree: RatchetTree,
  cs: CiphersuiteImpl,
  opts: ResolvedOptions,
): ExternalCommitPlan {
  let externalInits = 0;
  let resyncOf: number | undefined;
  const pskIds = new Set<string>();
  for (const por of proposals) {
    if (por.proposalOrRefType !== "proposal") throw new InvalidProposalError("an external commit must carry its proposals by value");
    const p = por.proposal;
    switch (p.proposalType) {
      case "external_init":
        externalInits++;
        break;
      case "remove": {
        if (resyncOf !== undefined) throw new InvalidProposalError("an external commit may carry at most one Remove");
        const old = leafAt(tree, p.remove.removed);
        if (old === undefined) throw new InvalidProposalError(`Remove of blank leaf ${p.remove.removed}`);
        if (!opts.sameClient(old, joiner)) {
          throw new InvalidProposalError("an external commit may only remove the joiner's own previous leaf (resync)");
        }
        resyncOf = p.remove.removed;
        break;
      }
      case "psk": {
        checkPsk(p, cs);
        const id = bytesToBase64(encodePskId(p.psk.preSharedKeyId));
        if (pskIds.has(id)) throw new InvalidProposalError("two PreSharedKey proposals with one PreSharedKeyID (s12.2)");
        pskIds.add(id);
        break;
      }
      default:
        throw new InvalidProposalError(`${proposalTypeName(p)} is not allowed in an external commit`);
    }
  }
  if (externalInits !== 1) throw new InvalidProposalError(`an external commit needs exactly one ExternalInit, has ${externalInits}`);
  return { resyncOf };
}
