// Ratchet tree integrity checks for a key-less DS (RFC 9420 s12.4.3.1 "joining via Welcome",
// which s12.4.3.2 reuses for external joiners), done here rather than through ts-mls 1.6.4's
// validateRatchetTree, which
//  - requires every non-blank ancestor of an unmerged leaf to carry the parent's whole
//    unmerged_leaves list, while the RFC only requires the non-blank nodes *between* the leaf and
//    the node that lists it to list that leaf: valid OpenMLS trees (two joiners added under
//    different subtrees in one commit, or an old unmerged leaf below a node a later commit
//    refreshed) are refused;
//  - joins "leaf is blank" and "not a descendant" with && where || is needed, accepting some
//    invalid trees;
//  - verifies parent hashes with O(N^2) digests.
// Leaf signatures, the tree-hash inputs and the parent-hash input encoding still come from ts-mls.
import {
  bytesToBase64,
  constantTimeEqual,
  decodeRequiredCapabilities,
  directPath,
  encode,
  extensionsSupportedByCapabilities,
  isAncestor,
  leafWidth,
  leftChild,
  parentHashInputEncoder,
  rightChild,
  toNodeIndex,
  verifyLeafNodeSignature,
  verifyLeafNodeSignatureKeyPackage,
  type AuthenticationService,
  type CiphersuiteImpl,
  type Extension,
  type GroupContext,
  type LeafNode,
  type RatchetTree,
} from "../../mls/adapter.js";
import { BadSignatureError, InvalidLeafNodeError, InvalidTreeError } from "./errors.js";
import { TreeHasher } from "./TreeHasher.js";

const encodeParentHashInput = encode(parentHashInputEncoder);

export interface TreeValidationOptions {
  authService: AuthenticationService;
  /** Check key_package-source leaves' lifetimes against `now` (RFC 9420 allows skipping it for trees). */
  validateLifetimes?: boolean;
  /** Seconds since the epoch; default Date.now(). */
  now?: () => bigint;
}

/** Node types sit at the positions the array representation requires; the last node is non-blank. */
export function checkTreeStructure(tree: RatchetTree): void {
  if (tree.length === 0) throw new InvalidTreeError("empty ratchet tree");
  // a full tree has 2^(d+1)-1 nodes (decodeRatchetTree extends to that size)
  if (((tree.length + 1) & tree.length) !== 0) throw new InvalidTreeError(`tree width ${tree.length} is not 2^k-1`);
  let lastNonBlank = -1;
  for (let i = 0; i < tree.length; i++) {
    const n = tree[i];
    if (n === undefined) continue;
    lastNonBlank = i;
    const leafPos = (i & 1) === 0;
    if (leafPos !== (n.nodeType === "leaf")) throw new InvalidTreeError(`${n.nodeType} node at node index ${i}`);
  }
  if (lastNonBlank < 0) throw new InvalidTreeError("ratchet tree has no members");
}

/**
 * RFC 9420 s12.4.3.1: for each non-blank parent P and each entry L of P.unmerged_leaves, L is a
 * non-blank leaf that descends from P, and every non-blank node strictly between L and P also
 * lists L.
 */
export function checkUnmergedLeaves(tree: RatchetTree): void {
  const width = leafWidth(tree.length);
  for (let p = 1; p < tree.length; p += 2) {
    const node = tree[p];
    if (node === undefined || node.nodeType !== "parent") continue;
    const seen = new Set<number>();
    for (const u of node.parent.unmergedLeaves) {
      if (seen.has(u)) throw new InvalidTreeError(`leaf ${u} listed twice in unmerged_leaves of node ${p}`);
      seen.add(u);
      const l = 2 * u;
      if (!Number.isSafeInteger(u) || l >= tree.length || tree[l]?.nodeType !== "leaf") {
        throw new InvalidTreeError(`unmerged leaf ${u} of node ${p} is blank or outside the tree`);
      }
      if (!isAncestor(toNodeIndex(l), toNodeIndex(p), tree.length)) {
        throw new InvalidTreeError(`unmerged leaf ${u} is not a descendant of node ${p}`);
      }
      for (const x of directPath(toNodeIndex(l), width)) {
        if (x === p) break;
        const between = tree[x];
        if (between !== undefined && between.nodeType === "parent" && !between.parent.unmergedLeaves.includes(u)) {
          throw new InvalidTreeError(`node ${x} between leaf ${u} and node ${p} does not list it as unmerged`);
        }
      }
    }
  }
}

/** Encryption keys are unique over all non-blank nodes; signature keys over all leaves (s7.3, s7.9). */
export function checkKeyUniqueness(tree: RatchetTree): void {
  const hpke = new Set<string>();
  const sig = new Set<string>();
  for (let i = 0; i < tree.length; i++) {
    const n = tree[i];
    if (n === undefined) continue;
    const k = bytesToBase64(n.nodeType === "leaf" ? n.leaf.hpkePublicKey : n.parent.hpkePublicKey);
    if (hpke.has(k)) throw new InvalidTreeError(`encryption key at node ${i} is not unique`);
    hpke.add(k);
    if (n.nodeType === "leaf") {
      const s = bytesToBase64(n.leaf.signaturePublicKey);
      if (sig.has(s)) throw new InvalidTreeError(`signature key of leaf ${i >> 1} is not unique`);
      sig.add(s);
    }
  }
}

function nodeParentHash(tree: RatchetTree, i: number): Uint8Array | undefined {
  const n = tree[i];
  if (n === undefined) return undefined;
  if (n.nodeType === "parent") return n.parent.parentHash;
  return n.leaf.leafNodeSource === "commit" ? n.leaf.parentHash : undefined;
}

/**
 * RFC 9420 s7.9.2: every non-blank parent node is parent-hash valid. Each non-blank node D
 * that carries a parent_hash links to its nearest non-blank ancestor P when
 * D.parent_hash = Hash(ParentHashInput{P.encryption_key, P.parent_hash, original sibling tree hash});
 * a tree is valid when every non-blank parent has exactly one such link. (Chains then reach
 * down to a leaf because every link source is itself linked from below.)
 */
export async function verifyParentHashes(tree: RatchetTree, cs: CiphersuiteImpl, hasher?: TreeHasher): Promise<void> {
  const th = hasher ?? (await TreeHasher.of(tree, cs.hash));
  const width = leafWidth(tree.length);
  const links = new Map<number, number>();
  for (let d = 0; d < tree.length; d++) {
    const ph = nodeParentHash(tree, d);
    if (ph === undefined) continue;
    let child = d;
    let p: number | undefined;
    for (const x of directPath(toNodeIndex(d), width)) {
      if (tree[x] !== undefined) {
        p = x;
        break;
      }
      child = x;
    }
    if (p === undefined) continue; // no non-blank ancestor: nothing to chain to
    const pNode = tree[p];
    if (pNode === undefined || pNode.nodeType !== "parent") continue;
    // the sibling of P's child on D's side
    const sibling = child < p ? rightChild(toNodeIndex(p)) : leftChild(toNodeIndex(p));
    const removed = new Set(pNode.parent.unmergedLeaves);
    const originalSiblingTreeHash = await th.hashWithout(sibling, removed);
    const expected = await cs.hash.digest(
      encodeParentHashInput({
        encryptionKey: pNode.parent.hpkePublicKey,
        parentHash: pNode.parent.parentHash,
        originalSiblingTreeHash,
      }),
    );
    if (constantTimeEqual(expected, ph)) links.set(p, (links.get(p) ?? 0) + 1);
  }
  for (let p = 1; p < tree.length; p += 2) {
    if (tree[p] === undefined) continue;
    const n = links.get(p) ?? 0;
    if (n !== 1) throw new InvalidTreeError(`parent node ${p} is not parent-hash valid (${n} links)`);
  }
}

function requiredCapabilitiesOf(extensions: readonly Extension[]) {
  const ext = extensions.find((e) => e.extensionType === "required_capabilities");
  if (ext === undefined) return undefined;
  const dec = decodeRequiredCapabilities(ext.extensionData, 0);
  if (dec === undefined || dec[1] !== ext.extensionData.length) throw new InvalidTreeError("undecodable required_capabilities");
  return dec[0];
}

/**
 * LeafNode checks of RFC 9420 s7.3 that do not depend on the rest of the tree: signature (with
 * group_id and leaf_index for update/commit sources), credential (AS), required capabilities,
 * extensions listed in its own capabilities, optionally lifetime.
 */
export async function validateLeafNode(
  leaf: LeafNode,
  leafIndex: number,
  groupContext: GroupContext,
  cs: CiphersuiteImpl,
  opts: TreeValidationOptions,
): Promise<void> {
  let sigOk: boolean;
  try {
    sigOk =
      leaf.leafNodeSource === "key_package"
        ? await verifyLeafNodeSignatureKeyPackage(leaf, cs.signature)
        : await verifyLeafNodeSignature(leaf, groupContext.groupId, leafIndex, cs.signature);
  } catch {
    sigOk = false; // other providers may throw on malformed keys instead of returning false
  }
  if (!sigOk) throw new BadSignatureError(`LeafNode signature of leaf ${leafIndex} does not verify`);
  if (!(await opts.authService.validateCredential(leaf.credential, leaf.signaturePublicKey))) {
    throw new InvalidLeafNodeError(`credential of leaf ${leafIndex} rejected by the authentication service`);
  }
  const req = requiredCapabilitiesOf(groupContext.extensions);
  if (req !== undefined) {
    const caps = leaf.capabilities;
    const ok =
      req.credentialTypes.every((c) => caps.credentials.includes(c)) &&
      req.extensionTypes.every((e) => caps.extensions.includes(e)) &&
      req.proposalTypes.every((p) => caps.proposals.includes(p));
    if (!ok) throw new InvalidLeafNodeError(`leaf ${leafIndex} lacks required capabilities`);
  }
  if (!extensionsSupportedByCapabilities(leaf.extensions, leaf.capabilities)) {
    throw new InvalidLeafNodeError(`leaf ${leafIndex} carries an extension it does not list in its capabilities`);
  }
  if (opts.validateLifetimes === true && leaf.leafNodeSource === "key_package") {
    const now = opts.now?.() ?? BigInt(Math.floor(Date.now() / 1000));
    if (leaf.lifetime.notBefore > now || leaf.lifetime.notAfter < now) {
      throw new InvalidLeafNodeError(`leaf ${leafIndex} is outside its lifetime`);
    }
  }
}

/** Every member supports every credential type in use (s7.3). */
export function checkCredentialTypes(tree: RatchetTree): void {
  const used = new Set<string>();
  for (let i = 0; i < tree.length; i += 2) {
    const n = tree[i];
    if (n?.nodeType === "leaf") used.add(n.leaf.credential.credentialType as string);
  }
  for (let i = 0; i < tree.length; i += 2) {
    const n = tree[i];
    if (n?.nodeType !== "leaf") continue;
    for (const t of used) {
      if (!(n.leaf.capabilities.credentials as string[]).includes(t)) {
        throw new InvalidTreeError(`leaf ${i >> 1} does not support credential type ${t} used in the group`);
      }
    }
  }
}

/**
 * Full public validation of a tree received for bootstrap (s12.4.3.1): structure, tree hash
 * against the GroupContext, parent hashes, unmerged leaves, key uniqueness, every leaf node.
 * Returns the hasher so callers can reuse the node hashes.
 */
export async function validateRatchetTree(
  tree: RatchetTree,
  groupContext: GroupContext,
  cs: CiphersuiteImpl,
  opts: TreeValidationOptions,
): Promise<TreeHasher> {
  checkTreeStructure(tree);
  const hasher = await TreeHasher.of(tree, cs.hash);
  if (!constantTimeEqual(hasher.root(), groupContext.treeHash)) {
    throw new InvalidTreeError("tree hash does not match the GroupContext");
  }
  checkUnmergedLeaves(tree);
  checkKeyUniqueness(tree);
  checkCredentialTypes(tree);
  await verifyParentHashes(tree, cs, hasher);
  for (let i = 0; i < tree.length; i += 2) {
    const n = tree[i];
    if (n?.nodeType === "leaf") await validateLeafNode(n.leaf, i >> 1, groupContext, cs, opts);
  }
  return hasher;
}
