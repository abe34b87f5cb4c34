// What a processed commit did, in the terms the DS needs for fanout, Welcome routing and policy.
import type { KeyPackage, LeafNode, Proposal, Reinit, Sender } from "../../mls/adapter.js";

export interface AddedMember {
  leafIndex: number;
  keyPackage: KeyPackage;
  /** KeyPackageRef (RFC 9420 s5.2): names the joiner in the Welcome's EncryptedGroupSecrets. */
  keyPackageRef: Uint8Array;
}

export interface RemovedMember {
  leafIndex: number;
  /** The leaf as it was before the commit (e.g. its queue config, for a last delivery). */
  leafNode: LeafNode;
}

export interface UpdatedMember {
  leafIndex: number;
  leafNode: LeafNode;
}

export interface CommitSummary {
  /** The epoch the group is in after the commit. */
  epoch: bigint;
  committer:
    | { kind: "member"; leafIndex: number }
    | { kind: "new_member"; leafIndex: number; resyncOf: number | undefined };
  added: AddedMember[];
  removed: RemovedMember[];
  /** Leaves replaced by Update proposals (not the committer's own path leaf). */
  updated: UpdatedMember[];
  pathPresent: boolean;
  /** GroupContext extensions changed by a GroupContextExtensions proposal. */
  extensionsChanged: boolean;
  /** Set when the commit carried a ReInit: members suspend the group. */
  reinit: Reinit | undefined;
  /** Every proposal the commit applied, in commit order, with its sender. */
  proposals: { proposal: Proposal; sender: Sender | undefined; ref: Uint8Array | undefined }[];
  authenticatedData: Uint8Array;
}

export interface ProposalSummary {
  ref: Uint8Array;
  proposal: Proposal;
  sender: Sender;
}
