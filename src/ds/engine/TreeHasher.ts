// Tree hashes (RFC 9420 s7.8) of every node of a ratchet tree, computed once, bottom-up.
//
// ts-mls's treeHash() recomputes a subtree from scratch on every call, and its parent-hash
// verification calls it once per chain link on a copy of the whole tree: O(N^2) digests to
// validate a tree. With all node hashes cached, an original sibling tree hash (s7.9) is a lookup,
// or, when the parent has unmerged leaves, a recomputation of only the paths above those leaves.
// Hash inputs come from treeCodec.ts, byte-identical to ts-mls's encoders (tested), so the
// results are byte-identical to treeHashRoot().
import {
  isLeaf,
  leafWidth,
  leftChild,
  rightChild,
  rootNode,
  toNodeIndex,
  type Hash,
  type NodeIndex,
  type RatchetTree,
} from "../../mls/adapter.js";
import { hasDigestSync } from "../../mls/cryptoProvider.js";
import { InvalidTreeError } from "./errors.js";
import { leafNodeHashInput, parentNodeHashInput } from "./treeCodec.js";

/** Level of a node in the array representation: the number of trailing one bits. */
export function nodeLevel(x: number): number {
  let k = 0;
  while (((x >> k) & 1) === 1) k++;
  return k;
}

/** First and last leaf index covered by node x. */
export function leafRange(x: number): [number, number] {
  const span = (1 << nodeLevel(x)) - 1;
  return [(x - span) >> 1, (x + span) >> 1];
}

export class TreeHasher {
  private constructor(
    private readonly tree: RatchetTree,
    private readonly h: Hash,
    private readonly hashes: Uint8Array[],
    readonly rootIndex: NodeIndex,
  ) {}

  /** Hash every node of `tree` (O(N) digests). */
  static async of(tree: RatchetTree, h: Hash): Promise<TreeHasher> {
    if (tree.length === 0) throw new InvalidTreeError("empty ratchet tree");
    const rootIndex = rootNode(leafWidth(tree.length));
    const hashes: Uint8Array[] = new Array<Uint8Array>(tree.length);
    const t = new TreeHasher(tree, h, hashes, rootIndex);
    await t.fill(rootIndex, undefined);
    return t;
  }

  /** Like of(), synchronously; undefined when the hash has no synchronous digest. */
  static ofSync(tree: RatchetTree, h: Hash): TreeHasher | undefined {
    if (!hasDigestSync(h)) return undefined;
    if (tree.length === 0) throw new InvalidTreeError("empty ratchet tree");
    const rootIndex = rootNode(leafWidth(tree.length));
    const t = new TreeHasher(tree, h, new Array<Uint8Array>(tree.length), rootIndex);
    const rec = (i: number): Uint8Array => {
      const d = h.digestSync(t.input(i, undefined, rec));
      t.hashes[i] = d;
      return d;
    };
    rec(rootIndex);
    return t;
  }

  /**
   * Hashes stored earlier for exactly this tree (trusted storage: not recomputed). Undefined if
   * their number or size does not fit the tree or the root differs from `treeHash`, so a stale
   * or damaged cache is never used.
   */
  static restore(tree: RatchetTree, h: Hash, hashes: readonly Uint8Array[], treeHash: Uint8Array): TreeHasher | undefined {
    if (tree.length === 0 || hashes.length !== tree.length) return undefined;
    const size = hashes[0]!.length;
    if (size === 0 || hashes.some((x) => x.length !== size)) return undefined;
    const rootIndex = rootNode(leafWidth(tree.length));
    const root = hashes[rootIndex]!;
    if (root.length !== treeHash.length || Buffer.compare(root, treeHash) !== 0) return undefined;
    return new TreeHasher(tree, h, hashes.slice(), rootIndex);
  }

  /** Every node's hash, by node index (for storing next to the tree). */
  nodeHashes(): readonly Uint8Array[] {
    return this.hashes;
  }

  /**
   * The hashes of `tree`, reusing those of `prev` for every subtree that holds the very same node
   * objects at the same positions. Trees here are immutable values (ts-mls's tree operations and
   * the engine copy the array and replace changed nodes, never edit a node in place), so an
   * unchanged subtree has an unchanged hash: a commit rehashes only the nodes it replaced and
   * their ancestors, O(changes * log N) digests after an O(N) identity scan.
   */
  static async derive(prev: TreeHasher, tree: RatchetTree): Promise<TreeHasher> {
    if (tree === prev.tree) return prev;
    if (tree.length === 0) throw new InvalidTreeError("empty ratchet tree");
    const rootIndex = rootNode(leafWidth(tree.length));
    const hashes: Uint8Array[] = new Array<Uint8Array>(tree.length);
    const old = prev.tree;
    const oldHashes = prev.hashes;
    // Pass 1 (sync): reuse what is unchanged; list what must be recomputed, children first.
    const dirty: number[] = [];
    const scan = (i: number): boolean => {
      let same = i < old.length && tree[i] === old[i];
      if (!isLeaf(toNodeIndex(i))) {
        const l = scan(leftChild(toNodeIndex(i)));
        const r = scan(rightChild(toNodeIndex(i)));
        same = same && l && r;
      }
      if (same) hashes[i] = oldHashes[i]!;
      else dirty.push(i);
      return same;
    };
    scan(rootIndex);
    const t = new TreeHasher(tree, prev.h, hashes, rootIndex);
    // Pass 2: hash the changed nodes; post-order, so children are always ready.
    const h = prev.h;
    const child = (c: number) => hashes[c]!;
    for (const i of dirty) {
      const input = t.input(i, undefined, child);
      hashes[i] = hasDigestSync(h) ? h.digestSync(input) : await h.digest(input);
    }
    return t;
  }

  /** The tree these hashes belong to. */
  get ratchetTree(): Readonly<RatchetTree> {
    return this.tree;
  }

  root(): Uint8Array {
    return this.hashes[this.rootIndex]!;
  }

  /** Tree hash of the subtree rooted at node x (x must lie inside the tree). */
  node(x: number): Uint8Array {
    const v = this.hashes[x];
    if (v === undefined) throw new InvalidTreeError(`node ${x} is outside the tree`);
    return v;
  }

  /**
   * Tree hash of the subtree at x in the tree where the leaves in `removed` are blanked and taken
   * out of every unmerged_leaves list (the "original sibling tree hash" of s7.9). Subtrees that
   * contain none of the removed leaves come from the cache. Assumes unmerged_leaves entries are
   * descendants of the nodes listing them (checked by checkUnmergedLeaves beforehand).
   */
  async hashWithout(x: number, removed: ReadonlySet<number>): Promise<Uint8Array> {
    if (removed.size === 0) return this.node(x);
    return this.fill(x, removed, true);
  }

  private touches(x: number, removed: ReadonlySet<number> | undefined): boolean {
    if (removed === undefined) return true;
    const [lo, hi] = leafRange(x);
    for (const l of removed) if (l >= lo && l <= hi) return true;
    return false;
  }

  // Computes (and, without `removed`, caches) the hash of x. The sync path avoids one promise per
  // node when the provider can digest synchronously (node:crypto); the async path serves others.
  private async fill(x: number, removed: ReadonlySet<number> | undefined, readOnly = false): Promise<Uint8Array> {
    const h = this.h;
    if (hasDigestSync(h)) {
      const rec = (i: number): Uint8Array => {
        if (readOnly && !this.touches(i, removed)) return this.node(i);
        const input = this.input(i, removed, rec);
        const d = h.digestSync(input);
        if (!readOnly) this.hashes[i] = d;
        return d;
      };
      return rec(x);
    }
    const rec = async (i: number): Promise<Uint8Array> => {
      if (readOnly && !this.touches(i, removed)) return this.node(i);
      let l: Uint8Array | undefined;
      let r: Uint8Array | undefined;
      if (!isLeaf(toNodeIndex(i))) {
        l = await rec(leftChild(toNodeIndex(i)));
        r = await rec(rightChild(toNodeIndex(i)));
      }
      const input = this.input(i, removed, (c) => (c < i ? l! : r!));
      const d = await h.digest(input);
      if (!readOnly) this.hashes[i] = d;
      return d;
    };
    return rec(x);
  }

  private input(i: number, removed: ReadonlySet<number> | undefined, child: (c: number) => Uint8Array): Uint8Array {
    const node = this.tree[i];
    const ni = toNodeIndex(i);
    if (isLeaf(ni)) {
      if (node !== undefined && node.nodeType !== "leaf") throw new InvalidTreeError(`parent node at leaf position ${i}`);
      const leafIndex = i >> 1;
      const blank = node === undefined || (removed !== undefined && removed.has(leafIndex));
      return leafNodeHashInput(leafIndex, blank ? undefined : node.leaf);
    }
    if (node !== undefined && node.nodeType !== "parent") throw new InvalidTreeError(`leaf node at parent position ${i}`);
    const leftHash = child(leftChild(ni));
    const rightHash = child(rightChild(ni));
    let parentNode = node?.parent;
    if (parentNode !== undefined && removed !== undefined && parentNode.unmergedLeaves.some((l) => removed.has(l))) {
      parentNode = { ...parentNode, unmergedLeaves: parentNode.unmergedLeaves.filter((l) => !removed.has(l)) };
    }
    return parentNodeHashInput(parentNode, leftHash, rightHash);
  }
}
