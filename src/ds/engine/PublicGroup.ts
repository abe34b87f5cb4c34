// The key-less public state of one MLS group, as the Delivery Service tracks it:
//   { GroupContext, ratchet tree, confirmation tag of the last commit, proposals of this epoch }.
// Every operation verifies what a DS can verify without epoch secrets and returns a NEW
// PublicGroup; a rejected message throws a DsEngineError and leaves the input state untouched.
//
// What a key-less DS cannot check: membership_tag and confirmation_tag (both need epoch
// secrets), the ExternalInit kem_output, and whether HPKE ciphertexts decrypt. A member that
// sends a commit with a bad confirmation tag makes the DS advance while members reject it: the
// group forks, members detect it, the DS cannot. The DS state then still equals what an honest
// member would have computed from the same messages.
//
// State transitions reuse ts-mls 1.6.4's own functions (applyProposals, applyUpdatePath,
// nextEpochContext) on a public-only ClientState, so the DS computes byte-for-byte what ts-mls
// members compute; test/ds-engine/passiveClient.test.ts checks this against the official
// passive-client vectors.
import {
  addLeafNode,
  applyProposals,
  bytesToBase64,
  composeBufferEncoders,
  constantTimeEqual,
  contramapBufferEncoders,
  decodeGroupContext,
  decodeGroupInfo,
  decodeProposal,
  decodeSender,
  decodeUint8,
  decodeVarLenData,
  decodeVarLenType,
  encode,
  extensionsSupportedByCapabilities,
  groupContextEncoder,
  makeKeyPackageRef,
  makeProposalRef,
  mapDecoders,
  nextEpochContext,
  proposalEncoder,
  ratchetTreeFromExtension,
  removeLeafNode,
  senderEncoder,
  toLeafIndex,
  uint8Encoder,
  varLenDataEncoder,
  varLenTypeEncoder,
  verifyFramedContentSignature,
  verifyGroupInfoSignature,
  type ApplyProposalsResult,
  type BufferEncoder,
  type CiphersuiteImpl,
  type ClientState,
  type Decoder,
  type Extension,
  type FramedContent,
  type FramedContentCommit,
  type GroupContext,
  type GroupInfo,
  type KeySchedule,
  type LeafNode,
  type Proposal,
  type ProposalOrRef,
  type PublicMessage,
  type RatchetTree,
  type Sender,
  type UnappliedProposals,
  type UpdatePath,
} from "../../mls/adapter.js";
import type { AddedMember, CommitSummary, ProposalSummary, RemovedMember, UpdatedMember } from "./CommitSummary.js";
import {
  BadSignatureError,
  CorruptStateError,
  DuplicateProposalError,
  InvalidGroupInfoError,
  InvalidLeafNodeError,
  InvalidProposalError,
  InvalidSenderError,

  InvalidUpdatePathError,
  MalformedMessageError,
  NonMemberSenderError,
  UnknownGroupError,
  UnknownProposalError,
  UnsupportedVersionError,
  WrongEpochError,
} from "./errors.js";
import { findExternalSender } from "./ExternalSenders.js";
import { toPublicMessage, type HandshakeInput } from "./handshakeInput.js";
import {
  checkExternalCommitProposals,
  checkMemberCommitProposals,
  validateProposal,
  type ResolvedProposal,
} from "./proposalRules.js";
import { resolveOptions, type PublicGroupOptions, type ResolvedOptions } from "./PublicGroupOptions.js";
import { TreeHasher } from "./TreeHasher.js";
import { decodeRatchetTree, encodeRatchetTree } from "./treeCodec.js";
import { applyCommitPath } from "./commitPath.js";
import { guardMls } from "./guardMls.js";
import {
  checkCredentialTypes,
  checkKeyUniqueness,
  validateRatchetTree,
} from "./treeValidation.js";

/** Node hashes of a PublicGroup's tree, once known (a mutable holder: PublicGroup is frozen). */
interface HasherCache {
  value?: TreeHasher;
  pending?: Promise<TreeHasher>;
}

/** A proposal received in the current epoch, addressable by its ProposalRef. */
export interface PendingProposal {
  ref: Uint8Array;
  proposal: Proposal;
  sender: Sender;
}

/** The public state from which a PublicGroup can be (re)built. */
export interface PublicGroupState {
  groupContext: GroupContext;
  ratchetTree: RatchetTree;
  confirmationTag: Uint8Array;
  pendingProposals?: readonly PendingProposal[];
}

export interface ProposalResult {
  group: PublicGroup;
  proposal: ProposalSummary;
}

export interface CommitResult {
  group: PublicGroup;
  summary: CommitSummary;
}

// 1: the fields below; 2: the same, then optional<opaque node_hashes<V>> (every node's tree
// hash, by node index, concatenated), so a commit rehashes only what it changes.
const STATE_VERSION = 2;

const pendingEncoder: BufferEncoder<PendingProposal> = contramapBufferEncoders(
  [varLenDataEncoder, senderEncoder, proposalEncoder],
  (p: PendingProposal) => [p.ref, p.sender, p.proposal] as const,
);
const decodePending: Decoder<PendingProposal> = mapDecoders(
  [decodeVarLenData, decodeSender, decodeProposal],
  (ref, sender, proposal) => ({ ref, sender, proposal }),
);
// State layout: uint8 version; GroupContext; RatchetTree; opaque confirmation_tag<V>;
// PendingProposal pending<V>; [version 2] optional<opaque node_hashes<V>>. The tree, the O(N)
// part, goes through the engine's own codec (treeCodec.ts, byte-identical to ts-mls's and many
// times faster); the small parts through ts-mls.
const encodeHead = encode(composeBufferEncoders<[number, GroupContext]>([uint8Encoder, groupContextEncoder]));
const encodeTail = encode(composeBufferEncoders<[Uint8Array, PendingProposal[]]>([varLenDataEncoder, varLenTypeEncoder(pendingEncoder)]));
const decodeHead = mapDecoders([decodeUint8, decodeGroupContext], (version, groupContext) => ({ version, groupContext }));
const decodeTail = mapDecoders([decodeVarLenData, decodeVarLenType(decodePending)], (confirmationTag, pending) => ({ confirmationTag, pending }));
interface DecodedState {
  version: number;
  groupContext: GroupContext;
  ratchetTree: RatchetTree;
  confirmationTag: Uint8Array;
  pending: PendingProposal[];
  nodeHashes?: Uint8Array[];
}
const decodeState: Decoder<DecodedState> = (b, offset) => {
  const head = decodeHead(b, offset);
  if (head === undefined) return undefined;
  const tree = decodeRatchetTree(b, offset + head[1]);
  if (tree === undefined) return undefined;
  const tail = decodeTail(b, offset + head[1] + tree[1]);
  if (tail === undefined) return undefined;
  let length = head[1] + tree[1] + tail[1];
  const state: DecodedState = { ...head[0], ratchetTree: tree[0], ...tail[0] };
  if (state.version >= 2) {
    const present = decodeUint8(b, offset + length);
    if (present === undefined || present[0] > 1) return undefined;
    length += 1;
    if (present[0] === 1) {
      const all = decodeVarLenData(b, offset + length);
      if (all === undefined) return undefined;
      length += all[1];
      const n = state.ratchetTree.length;
      const size = all[0].length / n;
      if (!Number.isInteger(size) || size === 0) return undefined;
      state.nodeHashes = Array.from({ length: n }, (_, i) => all[0].subarray(i * size, (i + 1) * size));
    }
  }
  return [state, length];
};

// A key-less stand-in for the key schedule: applyProposals only reads it for external commits,
// which the engine never routes through applyProposals.
const NO_SECRETS: KeySchedule = {
  senderDataSecret: new Uint8Array(0),
  exporterSecret: new Uint8Array(0),
  externalSecret: new Uint8Array(0),
  confirmationKey: new Uint8Array(0),
  membershipKey: new Uint8Array(0),
  resumptionPsk: new Uint8Array(0),
  epochAuthenticator: new Uint8Array(0),
  initSecret: new Uint8Array(0),
};

function senderLeafIndexOf(s: Sender): number | undefined {
  return s.senderType === "member" ? s.leafIndex : undefined;
}

function leafOf(tree: RatchetTree, leafIndex: number): LeafNode | undefined {
  if (!Number.isSafeInteger(leafIndex) || leafIndex < 0) return undefined;
  const n = tree[2 * leafIndex];
  return n?.nodeType === "leaf" ? n.leaf : undefined;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && constantTimeEqual(a, b);
}

/** ts-mls validates external_senders with its own (non-RFC) decoder; the engine validates them
 *  itself (proposalRules) and hands ts-mls the proposal without them. */
function withoutExternalSenders(p: Proposal): Proposal {
  if (p.proposalType !== "group_context_extensions") return p;
  const extensions = p.groupContextExtensions.extensions.filter((e) => e.extensionType !== "external_senders");
  return { proposalType: "group_context_extensions", groupContextExtensions: { extensions } };
}

export class PublicGroup {
  private constructor(
    readonly groupContext: Readonly<GroupContext>,
    readonly ratchetTree: Readonly<RatchetTree>,
    readonly confirmationTag: Uint8Array,
    private readonly pending: ReadonlyMap<string, PendingProposal>,
    readonly cs: CiphersuiteImpl,
    private readonly opts: ResolvedOptions,
    // Node hashes of ratchetTree, computed on first use (or handed on by the commit that made
    // this state): later commits rehash only what they change. A holder, as `this` is frozen.
    private readonly hashes: HasherCache = {},
  ) {
    Object.freeze(ratchetTree);
    Object.freeze(groupContext);
    Object.freeze(this);
  }

  // ---- construction -------------------------------------------------------------------------

  /**
   * Bootstrap from a GroupInfo (and the ratchet tree, if the GroupInfo has no ratchet_tree
   * extension): the GroupInfo signature verifies under the signer leaf's key, the tree hash
   * matches the GroupContext and the tree passes the RFC 9420 integrity checks.
   */
  static async fromGroupInfo(
    groupInfo: GroupInfo | Uint8Array,
    ratchetTree: RatchetTree | undefined,
    cs: CiphersuiteImpl,
    options?: PublicGroupOptions,
  ): Promise<PublicGroup> {
    const gi = groupInfo instanceof Uint8Array ? decodeStrict(decodeGroupInfo, groupInfo, "GroupInfo") : groupInfo;
    let tree: RatchetTree | undefined;
    try {
      tree = ratchetTreeFromExtension(gi) ?? ratchetTree;
    } catch (e) {
      throw new InvalidGroupInfoError("undecodable ratchet_tree extension", { cause: e });
    }
    if (tree === undefined) throw new InvalidGroupInfoError("no ratchet tree: neither passed nor in a ratchet_tree extension");
    // signature first: a forged GroupInfo costs one verify, not a tree validation
    const signer = leafOf(tree, gi.signer);
    if (signer === undefined) throw new InvalidGroupInfoError(`GroupInfo signer ${gi.signer} is not a member`);
    const ok = await guardMls(
      () => verifyGroupInfoSignature(gi, signer.signaturePublicKey, cs.signature),
      (m, c) => new InvalidGroupInfoError(m, { cause: c }),
    );
    if (!ok) throw new BadSignatureError("GroupInfo signature does not verify");
    return PublicGroup.fromPublicState(
      { groupContext: gi.groupContext, ratchetTree: tree, confirmationTag: gi.confirmationTag },
      cs,
      options,
    );
  }

  /**
   * Bootstrap from public state the DS obtained otherwise (it created the group, or a creator
   * uploaded it). With `validate` (default) the tree is checked as in fromGroupInfo.
   */
  static async fromPublicState(
    state: PublicGroupState,
    cs: CiphersuiteImpl,
    options?: PublicGroupOptions,
    { validate = true }: { validate?: boolean } = {},
  ): Promise<PublicGroup> {
    const opts = resolveOptions(options);
    const gc = state.groupContext;
    if (gc.version !== "mls10") throw new UnsupportedVersionError(`unsupported protocol version ${String(gc.version)}`);
    if (gc.cipherSuite !== cs.name) throw new UnsupportedVersionError(`group uses ${gc.cipherSuite}, engine given ${cs.name}`);
    const tree = state.ratchetTree.slice();
    const hashes: HasherCache = {};
    if (validate) {
      hashes.value = await validateRatchetTree(tree, gc, cs, opts);
    }
    const pending = new Map<string, PendingProposal>();
    for (const p of state.pendingProposals ?? []) pending.set(bytesToBase64(p.ref), p);
    return new PublicGroup({ ...gc }, tree, state.confirmationTag, pending, cs, opts, hashes);
  }

  /** Rebuild from serialize() output (trusted storage: no re-validation). */
  static deserialize(bytes: Uint8Array, cs: CiphersuiteImpl, options?: PublicGroupOptions): PublicGroup {
    let r: ReturnType<typeof decodeState>;
    try {
      r = decodeState(bytes, 0);
    } catch (e) {
      throw new CorruptStateError("undecodable public group state", { cause: e });
    }
    if (r === undefined || r[1] !== bytes.length) throw new CorruptStateError("undecodable public group state");
    const s = r[0];
    if (s.version !== 1 && s.version !== STATE_VERSION) throw new CorruptStateError(`unknown state version ${s.version}`);
    if (s.groupContext.cipherSuite !== cs.name) throw new CorruptStateError("state cipher suite differs from the engine's");
    const pending = new Map<string, PendingProposal>();
    for (const p of s.pending) pending.set(bytesToBase64(p.ref), p);
    // Stored node hashes are used only if they fit this tree and its GroupContext tree hash.
    const hasher = s.nodeHashes && TreeHasher.restore(s.ratchetTree, cs.hash, s.nodeHashes, s.groupContext.treeHash);
    return new PublicGroup(s.groupContext, s.ratchetTree, s.confirmationTag, pending, cs, resolveOptions(options), hasher ? { value: hasher } : {});
  }

  serialize(): Uint8Array {
    const head = encodeHead([STATE_VERSION, this.groupContext]);
    const tree = encodeRatchetTree(this.ratchetTree);
    const tail = encodeTail([this.confirmationTag, [...this.pending.values()]]);
    // Node hashes: those at hand, else computed now (synchronous digests only; a provider
    // without them stores none and the next load hashes the tree once).
    const hasher = (this.hashes.value ??= TreeHasher.ofSync(this.ratchetTree as RatchetTree, this.cs.hash));
    const nodeHashes = hasher?.nodeHashes() ?? [];
    const hashBytes = nodeHashes.reduce((n, x) => n + x.length, 0);
    const prefix = hasher === undefined ? [0] : [1, ...mlsLengthPrefix(hashBytes)];
    const out = new Uint8Array(head.length + tree.length + tail.length + prefix.length + hashBytes);
    let o = 0;
    for (const part of [head, tree, tail, prefix, ...nodeHashes]) {
      out.set(part, o);
      o += part.length;
    }
    return out;
  }

  // ---- accessors ----------------------------------------------------------------------------

  get groupId(): Uint8Array {
    return this.groupContext.groupId;
  }
  get epoch(): bigint {
    return this.groupContext.epoch;
  }
  get pendingProposals(): readonly PendingProposal[] {
    return [...this.pending.values()];
  }
  pendingProposal(ref: Uint8Array): PendingProposal | undefined {
    return this.pending.get(bytesToBase64(ref));
  }
  /** Tree hashes of every node of the current tree (computed once per PublicGroup state). */
  async treeHasher(): Promise<TreeHasher> {
    if (this.hashes.value) return this.hashes.value;
    const h = this.hashes;
    return (h.pending ??= TreeHasher.of(this.ratchetTree as RatchetTree, this.cs.hash).then((v) => (h.value = v)));
  }

  leaf(leafIndex: number): LeafNode | undefined {
    return leafOf(this.ratchetTree as RatchetTree, leafIndex);
  }
  /** Current members, by leaf index. */
  members(): { leafIndex: number; leafNode: LeafNode }[] {
    const out: { leafIndex: number; leafNode: LeafNode }[] = [];
    for (let i = 0; i < this.ratchetTree.length; i += 2) {
      const n = this.ratchetTree[i];
      if (n?.nodeType === "leaf") out.push({ leafIndex: i >> 1, leafNode: n.leaf });
    }
    return out;
  }

  // ---- proposals ----------------------------------------------------------------------------

  /**
   * A Proposal sent as PublicMessage by a member, an external sender (external_senders
   * extension) or a new member (Add only). Its signature and sender are verified (not its
   * membership_tag, which needs epoch secrets), then it is stored under its ProposalRef.
   */
  async processProposal(input: HandshakeInput): Promise<ProposalResult> {
    const pm = toPublicMessage(input, "proposal");
    this.checkGroupAndEpoch(pm.content);
    if (pm.content.contentType !== "proposal") throw new MalformedMessageError("not a proposal");
    const sender = pm.content.sender;
    await this.verifySignature(pm, this.signatureKey(pm.content));
    const proposal = pm.content.proposal;
    await validateProposal(proposal, sender, this.groupContext, this.ratchetTree as RatchetTree, this.cs, this.opts);
    const ref = await makeProposalRef({ wireformat: "mls_public_message", content: pm.content, auth: pm.auth }, this.cs.hash);
    const key = bytesToBase64(ref);
    if (this.pending.has(key)) throw new DuplicateProposalError("proposal already received in this epoch");
    const pending = new Map(this.pending);
    pending.set(key, { ref, proposal, sender });
    const group = new PublicGroup(this.groupContext, this.ratchetTree, this.confirmationTag, pending, this.cs, this.opts, this.hashes);
    return { group, proposal: { ref, proposal, sender } };
  }

  // ---- commits ------------------------------------------------------------------------------

  /** A Commit sent as PublicMessage by a member, or an external commit by a new member. */
  async processCommit(input: HandshakeInput): Promise<CommitResult> {
    const pm = toPublicMessage(input, "commit");
    this.checkGroupAndEpoch(pm.content);
    const content = pm.content;
    if (content.contentType !== "commit" || pm.auth.contentType !== "commit") throw new MalformedMessageError("not a commit");
    const sender = content.sender;
    if (sender.senderType !== "member" && sender.senderType !== "new_member_commit") {
      throw new InvalidSenderError(`a ${sender.senderType} sender cannot commit`);
    }
    await this.verifySignature(pm, this.signatureKey(content));
    const commitContent = content as FramedContentCommit;
    return sender.senderType === "member"
      ? this.processMemberCommit(commitContent, sender.leafIndex, pm.auth.signature, pm.auth.confirmationTag)
      : this.processExternalCommit(commitContent, pm.auth.signature, pm.auth.confirmationTag);
  }

  private async processMemberCommit(
    content: FramedContentCommit,
    committer: number,
    signature: Uint8Array,
    confirmationTag: Uint8Array,
  ): Promise<CommitResult> {
    const tree = this.ratchetTree as RatchetTree;
    const cs = this.cs;
    const { proposals, path } = content.commit;

    // Resolve references against this epoch's proposals; by-value proposals are the committer's.
    const resolved: ResolvedProposal[] = proposals.map((por) => {
      if (por.proposalOrRefType === "proposal") {
        return { proposal: por.proposal, senderLeafIndex: committer, sender: { senderType: "member", leafIndex: committer }, ref: undefined };
      }
      const p = this.pending.get(bytesToBase64(por.reference));
      if (p === undefined) throw new UnknownProposalError("commit references a proposal not received in this epoch");
      return { proposal: p.proposal, senderLeafIndex: senderLeafIndexOf(p.sender), sender: p.sender, ref: p.ref };
    });
    await checkMemberCommitProposals(resolved, tree, cs, this.opts);

    // Key-less ClientState for ts-mls: public fields only. PSK values only feed the key
    // schedule, so a PSK index returning Nh zero bytes lets applyProposals run without them.
    const unapplied: UnappliedProposals = {};
    for (const [k, p] of this.pending) unapplied[k] = { proposal: withoutExternalSenders(p.proposal), senderLeafIndex: senderLeafIndexOf(p.sender) };
    const forTsMls: ProposalOrRef[] = proposals.map((por) =>
      por.proposalOrRefType === "proposal" ? { proposalOrRefType: "proposal", proposal: withoutExternalSenders(por.proposal) } : por,
    );
    const state: ClientState = {
      groupContext: this.groupContext,
      ratchetTree: tree,
      unappliedProposals: unapplied,
      clientConfig: this.opts.clientConfig,
      confirmationTag: this.confirmationTag,
      privatePath: { leafIndex: committer, privateKeys: {} },
      keySchedule: NO_SECRETS,
      secretTree: [],
      signaturePrivateKey: new Uint8Array(0),
      historicalReceiverData: new Map(),
      groupActiveState: { kind: "active" },
    };
    const zeroPsk = new Uint8Array(cs.kdf.size);
    const result: ApplyProposalsResult = await guardMls(
      () => applyProposals(state, forTsMls, toLeafIndex(committer), { findPsk: () => zeroPsk }, false, cs),
      (m, c) => new InvalidProposalError(m, { cause: c }),
    );
    if (result.additionalResult.kind === "externalCommit") throw new InvalidProposalError("ExternalInit in a member commit");
    const addedLeaves = result.additionalResult.kind === "memberCommit" ? result.additionalResult.addedLeafNodes : [];

    // ts-mls 1.6.4 members replace the GroupContext extensions only when the GroupContextExtensions
    // proposal's list is non-empty; an empty list (RFC 9420: "no extensions") is ignored. The DS
    // must compute what its members compute or it forks from them, so it mirrors that.
    const gceProposals = resolved.filter((r) => r.proposal.proposalType === "group_context_extensions");
    const newExtensions: Extension[] = gceProposals.flatMap((r) =>
      r.proposal.proposalType === "group_context_extensions" ? r.proposal.groupContextExtensions.extensions : [],
    );
    const extensionsChanged = newExtensions.length > 0;
    const nextGroupContextBase: GroupContext = extensionsChanged ? { ...this.groupContext, extensions: newExtensions } : this.groupContext;
    if (extensionsChanged) this.checkExtensionsSupported(result.tree, newExtensions);

    try {
      checkKeyUniqueness(result.tree);
    } catch (e) {
      throw new InvalidProposalError(`proposals make keys non-unique: ${(e as Error).message}`, { cause: e });
    }

    const needsPath = result.needsUpdatePath || (this.opts.requirePathForGroupContextExtensions && gceProposals.length > 0);
    if (needsPath && path === undefined) throw new InvalidUpdatePathError("this commit requires an UpdatePath (s12.4)");
    let finalTree = result.tree;
    if (path !== undefined) {
      const excluded = new Set(addedLeaves.map(([li]) => 2 * li));
      finalTree = await this.applyPath(result.tree, committer, path, excluded, false);
    }
    return this.advance(finalTree, nextGroupContextBase, content, signature, confirmationTag, {
      committer: { kind: "member", leafIndex: committer },
      added: await Promise.all(
        addedLeaves.map(async ([li, kp]): Promise<AddedMember> => ({
          leafIndex: li,
          keyPackage: kp,
          keyPackageRef: await makeKeyPackageRef(kp, cs.hash),
        })),
      ),
      removed: resolved.flatMap((r): RemovedMember[] => {
        if (r.proposal.proposalType !== "remove") return [];
        const leafNode = leafOf(tree, r.proposal.remove.removed);
        return leafNode === undefined ? [] : [{ leafIndex: r.proposal.remove.removed, leafNode }];
      }),
      updated: resolved.flatMap((r): UpdatedMember[] =>
        r.proposal.proposalType === "update" && r.senderLeafIndex !== undefined
          ? [{ leafIndex: r.senderLeafIndex, leafNode: r.proposal.update.leafNode }]
          : [],
      ),
      extensionsChanged,
      reinit: result.additionalResult.kind === "reinit" ? result.additionalResult.reinit : undefined,
      proposals: resolved.map((r) => ({ proposal: r.proposal, sender: r.sender, ref: r.ref })),
    });
  }

  /**
   * External commit (RFC 9420 s12.4.3.2). ts-mls's applyProposals would derive the external key
   * pair from the key schedule, so the engine applies it itself, in the order ts-mls members
   * do: remove the resynced leaf, put the joiner in the first blank leaf (or extend the tree),
   * then merge the UpdatePath.
   */
  private async processExternalCommit(content: FramedContentCommit, signature: Uint8Array, confirmationTag: Uint8Array): Promise<CommitResult> {
    const tree = this.ratchetTree as RatchetTree;
    const path = content.commit.path;
    if (path === undefined) throw new InvalidUpdatePathError("an external commit needs an UpdatePath");
    const plan = checkExternalCommitProposals(content.commit.proposals, path.leafNode, tree, this.cs, this.opts);
    // as for an Add (s12.2): the joiner must support the group's extensions
    if (!extensionsSupportedByCapabilities(this.groupContext.extensions, path.leafNode.capabilities)) {
      throw new InvalidLeafNodeError("the joiner does not support every GroupContext extension");
    }
    const removedLeaf = plan.resyncOf === undefined ? undefined : leafOf(tree, plan.resyncOf);
    const afterRemove = plan.resyncOf === undefined ? tree : removeLeafNode(tree, toLeafIndex(plan.resyncOf));
    const [withJoiner, joinerNode] = addLeafNode(afterRemove, path.leafNode);
    const joiner = joinerNode / 2;
    const finalTree = await this.applyPath(withJoiner, joiner, path, new Set(), true);
    const proposals = content.commit.proposals.flatMap((p) => (p.proposalOrRefType === "proposal" ? [p.proposal] : []));
    return this.advance(finalTree, this.groupContext, content, signature, confirmationTag, {
      committer: { kind: "new_member", leafIndex: joiner, resyncOf: plan.resyncOf },
      added: [],
      removed: removedLeaf === undefined || plan.resyncOf === undefined ? [] : [{ leafIndex: plan.resyncOf, leafNode: removedLeaf }],
      updated: [],
      extensionsChanged: false,
      reinit: undefined,
      proposals: proposals.map((proposal) => ({ proposal, sender: { senderType: "new_member_commit" }, ref: undefined })),
    });
  }

  private applyPath(
    tree: RatchetTree,
    committer: number,
    path: UpdatePath,
    excludedNodes: ReadonlySet<number>,
    isExternal: boolean,
  ): Promise<RatchetTree> {
    // The committer's LeafNode is checked against the pre-commit GroupContext, as members do.
    return this.treeHasher().then((hasher) =>
      applyCommitPath(tree, committer, path, { groupContext: this.groupContext, cs: this.cs, opts: this.opts, excludedNodes, isExternal, hasher }),
    );
  }

  /** Common tail: credential-type compatibility, tree hash, transcript hashes, epoch + 1. */
  private async advance(
    finalTree: RatchetTree,
    groupContextBase: GroupContext,
    content: FramedContentCommit,
    signature: Uint8Array,
    confirmationTag: Uint8Array,
    partial: Omit<CommitSummary, "epoch" | "pathPresent" | "authenticatedData">,
  ): Promise<CommitResult> {
    try {
      checkCredentialTypes(finalTree);
    } catch (e) {
      throw new InvalidLeafNodeError((e as Error).message, { cause: e });
    }
    // only the nodes this commit replaced (and their ancestors) are hashed again
    const hasher = await TreeHasher.derive(await this.treeHasher(), finalTree);
    const treeHash = hasher.root();
    const nextContext = await guardMls(
      () => nextEpochContext(groupContextBase, "mls_public_message", content, signature, treeHash, this.confirmationTag, this.cs.hash),
      (m, c) => new MalformedMessageError(m, { cause: c }),
    );
    const group = new PublicGroup(nextContext, finalTree, confirmationTag, new Map(), this.cs, this.opts, { value: hasher });
    return {
      group,
      summary: {
        ...partial,
        epoch: nextContext.epoch,
        pathPresent: content.commit.path !== undefined,
        authenticatedData: content.authenticatedData,
      },
    };
  }

  // ---- shared checks ------------------------------------------------------------------------

  private checkGroupAndEpoch(content: FramedContent): void {
    if (!bytesEqual(content.groupId, this.groupContext.groupId)) throw new UnknownGroupError("message is for another group");
    if (content.epoch !== this.groupContext.epoch) throw new WrongEpochError(this.groupContext.epoch, content.epoch);
  }

  /** The key that must have signed `content` (RFC 9420 s6.1); proves membership for members. */
  private signatureKey(content: FramedContent): Uint8Array {
    const s = content.sender;
    switch (s.senderType) {
      case "member": {
        const leaf = this.leaf(s.leafIndex);
        if (leaf === undefined) throw new NonMemberSenderError(`leaf ${s.leafIndex} is not a member`);
        return leaf.signaturePublicKey;
      }
      case "external": {
        let ext;
        try {
          ext = findExternalSender(this.groupContext.extensions, s.senderIndex);
        } catch (e) {
          throw new NonMemberSenderError("the group's external_senders extension is undecodable", { cause: e });
        }
        if (ext === undefined) throw new NonMemberSenderError(`no external sender ${s.senderIndex}`);
        return ext.signaturePublicKey;
      }
      case "new_member_proposal":
        if (content.contentType !== "proposal" || content.proposal.proposalType !== "add") {
          throw new InvalidSenderError("a new_member_proposal sender may only send an Add proposal");
        }
        return content.proposal.add.keyPackage.leafNode.signaturePublicKey;
      case "new_member_commit":
        if (content.contentType !== "commit") throw new InvalidSenderError("a new_member_commit sender may only send a commit");
        if (content.commit.path === undefined) throw new InvalidUpdatePathError("an external commit needs an UpdatePath");
        return content.commit.path.leafNode.signaturePublicKey;
    }
  }

  private async verifySignature(pm: PublicMessage, key: Uint8Array): Promise<void> {
    const ok = await guardMls(
      () => verifyFramedContentSignature(key, "mls_public_message", pm.content, pm.auth, this.groupContext, this.cs.signature),
      (m, c) => new BadSignatureError(m, { cause: c }),
    );
    if (!ok) throw new BadSignatureError("FramedContent signature does not verify");
  }

  /** s12.1.7: every member of the new epoch supports every (non-default) GroupContext extension. */
  private checkExtensionsSupported(tree: RatchetTree, extensions: readonly Extension[]): void {
    for (let i = 0; i < tree.length; i += 2) {
      const n = tree[i];
      if (n?.nodeType !== "leaf") continue;
      const caps = n.leaf.capabilities.extensions;
      for (const e of extensions) {
        if (typeof e.extensionType === "number" && !caps.includes(e.extensionType)) {
          throw new InvalidProposalError(`member ${i >> 1} does not support GroupContext extension ${e.extensionType}`);
        }
      }
    }
  }
}

/** RFC 9420 s2.1.2 variable-length prefix, shortest form. */
function mlsLengthPrefix(n: number): number[] {
  if (n < 0x40) return [n];
  if (n < 0x4000) return [0x40 | (n >>> 8), n & 0xff];
  if (n < 0x40000000) return [0x80 | (n >>> 24), (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  throw new RangeError("length too large to encode");
}

function decodeStrict<T>(dec: Decoder<T>, bytes: Uint8Array, what: string): T {
  let r: [T, number] | undefined;
  try {
    r = dec(bytes, 0);
  } catch (e) {
    throw new MalformedMessageError(`undecodable ${what}`, { cause: e });
  }
  if (r === undefined || r[1] !== bytes.length) throw new MalformedMessageError(`undecodable ${what}`);
  return r[0];
}


