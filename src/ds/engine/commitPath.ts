// Merging a commit's UpdatePath into the public tree (RFC 9420 s7.5, s12.4.2), key-less.
import {
  applyUpdatePath,
  filteredDirectPathAndCopathResolution,
  toLeafIndex,
  type CiphersuiteImpl,
  type GroupContext,
  type RatchetTree,
  type UpdatePath,
} from "../../mls/adapter.js";
import { InvalidUpdatePathError } from "./errors.js";
import { guardMls } from "./guardMls.js";
import type { TreeValidationOptions } from "./treeValidation.js";
import { checkKeyUniqueness, validateLeafNode } from "./treeValidation.js";

export interface CommitPathContext {
  /** The GroupContext the committer's LeafNode is validated against (members use the pre-commit one). */
  groupContext: GroupContext;
  cs: CiphersuiteImpl;
  opts: TreeValidationOptions;
  /** Node indexes that get no ciphertext: leaves added by the same commit (they get a Welcome). */
  excludedNodes?: ReadonlySet<number>;
  /** External commit: the committer's leaf was just added, so there is no old leaf to compare. */
  isExternal?: boolean;
}

/**
 * Validates the committer's new LeafNode and the UpdatePath's shape, then merges the path's
 * public keys through ts-mls's applyUpdatePath (which recomputes parent hashes, checks the
 * leaf's parent_hash and refuses reused keys). Returns a new tree; `tree` is not modified.
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
  const merged = await guardMls(
    () => applyUpdatePath(tree, toLeafIndex(committer), path, ctx.cs.hash, ctx.isExternal ?? false),
    (m, c) => new InvalidUpdatePathError(m, { cause: c }),
  );
  try {
    checkKeyUniqueness(merged);
  } catch (e) {
    throw new InvalidUpdatePathError(`UpdatePath keys are not unique: ${(e as Error).message}`, { cause: e });
  }
  return merged;
}
