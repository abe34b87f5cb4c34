// Merging a commit's UpdatePath into the public tree (RFC 9420 s7.5, s12.4.2), key-less.
import {
  bytesToBase64,
  constantTimeEqual,
  directPath,
  encode,
  filteredDirectPathAndCopathResolution,
  leafWidth,
  leftChild,
  parentHashInputEncoder,
  rightChild,
  rootNode,
  toLeafIndex,
  toNodeIndex,
  type CiphersuiteImpl,
  type GroupContext,
  type Hash,
  type RatchetTree,
  type UpdatePath,
} from "../../mls/adapter.js";
import { InvalidUpdatePathError } from "./errors.js";
import type { TreeValidationOptions } from "./treeValidation.js";
import { checkKeyUniqueness, validateLeafNode } from "./treeValidation.js";
import { TreeHasher } from "./TreeHasher.js";

const encodeParentHashInput = encode(parentHashInputEncoder);

export interface CommitPathContext {
  /** The GroupContext the committer's LeafNode is validated against (members use the pre-commit one). */
  groupContext: GroupContext;
  cs: CiphersuiteImpl;
  opts: TreeValidationOptions;
  /** Node indexes that get no ciphertext: leaves added by the same commit (they get a Welcome). */
  excludedNodes?: ReadonlySet<number>;
  /** External commit: the committer's leaf was just added, so there is no old leaf to compare. */
  isExternal?: boolean;
  /** Node hashes of a tree close to `tree` (e.g. the pre-commit tree), reused where unchanged. */
  hasher?: TreeHasher;
}

/**
 * Validates the committer's new LeafNode and the UpdatePath's shape, then merges the path's
 * public keys (mergeUpdatePath: recomputes parent hashes, checks the leaf's parent_hash and
 * refuses reused keys). Returns a new tree; `tree` is not modified.
 */
export async function applyCommitPath(
  tree: RatchetTree,
  committer: number,
  path: UpdatePath,
  ctx: CommitPathContext,
): Promise<RatchetTree> {
  if (path.leafNode.leafNodeSource !== "commit") throw new InvalidUpdatePathError("UpdatePath leaf must have source commit");
  await validateLeafNode(path.leafNode, committer, ctx.groupContext, ctx.cs, ctx.opts);
  // One ciphertext per node of the copath child's resolution, minus the excluded new members.
  // A wrong count leaves some members unable to decrypt and forks the group; this shape is the
  // one thing about the ciphertexts a key-less DS can check, so refuse it before fanout.
  const excluded = ctx.excludedNodes ?? new Set<number>();
  const fdp = filteredDirectPathAndCopathResolution(toLeafIndex(committer), tree);
  if (fdp.length !== path.nodes.length) {
    throw new InvalidUpdatePathError(`UpdatePath has ${path.nodes.length} nodes, the filtered direct path ${fdp.length}`);
  }
  for (const [i, { resolution }] of fdp.entries()) {
    const expected = resolution.filter((n) => !excluded.has(n)).length;
    const got = path.nodes[i]!.encryptedPathSecret.length;
    if (got !== expected) throw new InvalidUpdatePathError(`UpdatePath node ${i} has ${got} ciphertexts, expected ${expected}`);
  }
  const hasher = ctx.hasher ? await TreeHasher.derive(ctx.hasher, tree) : await TreeHasher.of(tree, ctx.cs.hash);
  const merged = await mergeUpdatePath(tree, committer, path, hasher, ctx.cs.hash, ctx.isExternal ?? false);
  try {
    checkKeyUniqueness(merged);
  } catch (e) {
    throw new InvalidUpdatePathError(`UpdatePath keys are not unique: ${(e as Error).message}`, { cause: e });
  }
  return merged;
}

/**
 * RFC 9420 s7.5 / s7.9: the public half of merging an UpdatePath, with the same checks and the
 * same result as ts-mls 1.6.4's applyUpdatePath (which it replaces because that function hashes
 * every copath subtree from scratch on each call: O(N) digests per commit):
 *  - a member's new leaf must bring a new encryption key;
 *  - no path key may equal the key of any parent node of the tree before the merge;
 *  - the committer's direct path is blanked, then the filtered direct path is filled top-down,
 *    each node's parent_hash computed over its nearest non-blank ancestor;
 *  - the leaf's parent_hash must equal the one so computed.
 * The original sibling tree hashes come from `hasher` (the hashes of `tree`): a sibling subtree
 * never contains the committer's leaf or direct path, the only nodes the merge replaces.
 */
export async function mergeUpdatePath(tree: RatchetTree, committer: number, path: UpdatePath, hasher: TreeHasher, h: Hash, isExternal: boolean): Promise<RatchetTree> {
  const leafNode = 2 * committer;
  if (!isExternal) {
    const old = tree[leafNode];
    if (old === undefined || old.nodeType !== "leaf") throw new InvalidUpdatePathError("Leaf node not defined or is parent");
    if (constantTimeEqual(old.leaf.hpkePublicKey, path.leafNode.hpkePublicKey)) {
      throw new InvalidUpdatePathError("Public key in the LeafNode is the same as the committer's current leaf node");
    }
  }
  const parentKeys = new Set<string>();
  for (let i = 1; i < tree.length; i += 2) {
    const n = tree[i];
    if (n?.nodeType === "parent") parentKeys.add(bytesToBase64(n.parent.hpkePublicKey));
  }
  if (path.nodes.some((n) => parentKeys.has(bytesToBase64(n.hpkePublicKey)))) {
    throw new InvalidUpdatePathError("Public keys in the UpdatePath may not appear in a node of the new ratchet tree");
  }
  const width = leafWidth(tree.length);
  const rootIndex = rootNode(width);
  const fdp = filteredDirectPathAndCopathResolution(toLeafIndex(committer), tree).map((x) => x.nodeIndex as number);
  if (fdp.length !== path.nodes.length) throw new InvalidUpdatePathError("Invalid length of UpdatePath");
  const copy = tree.slice();
  copy[leafNode] = { nodeType: "leaf", leaf: path.leafNode };
  const dp = directPath(toNodeIndex(leafNode), width) as number[];
  for (const x of dp) copy[x] = undefined;

  // parent_hash of node x: over its nearest non-blank ancestor P in `copy` (RFC 9420 s7.9)
  const parentHashOf = async (x: number): Promise<Uint8Array> => {
    if (x === rootIndex) return new Uint8Array();
    let p = rootIndex as number;
    for (const a of x === leafNode ? dp : dp.slice(dp.indexOf(x) + 1)) {
      if (copy[a] !== undefined) {
        p = a;
        break;
      }
    }
    const pNode = copy[p];
    if (pNode === undefined) return new Uint8Array(); // only the blank root is left above x
    if (pNode.nodeType !== "parent") throw new InvalidUpdatePathError("Expected non-blank parent Node");
    const sibling = x < p ? rightChild(toNodeIndex(p)) : leftChild(toNodeIndex(p));
    // P is a node this merge wrote, so its unmerged_leaves list is empty: nothing to remove
    const originalSiblingTreeHash = await hasher.hashWithout(sibling, new Set(pNode.parent.unmergedLeaves));
    return h.digest(encodeParentHashInput({ encryptionKey: pNode.parent.hpkePublicKey, parentHash: pNode.parent.parentHash, originalSiblingTreeHash }));
  };
  for (let level = fdp.length - 1; level >= 0; level--) {
    const x = fdp[level]!;
    const parentHash = await parentHashOf(x);
    copy[x] = { nodeType: "parent", parent: { hpkePublicKey: path.nodes[level]!.hpkePublicKey, unmergedLeaves: [], parentHash } };
  }
  const leafParentHash = await parentHashOf(leafNode);
  const claimed = path.leafNode.leafNodeSource === "commit" ? path.leafNode.parentHash : undefined;
  if (claimed === undefined || !constantTimeEqual(leafParentHash, claimed)) throw new InvalidUpdatePathError("Parent hash did not match the UpdatePath");
  return copy;
}
