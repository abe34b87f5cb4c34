// What the engine caches to make a commit O(changes * log N) instead of O(N) must give exactly
// what recomputing from scratch (and ts-mls) gives:
//   RFC 9420 s7.8  tree hashes derived from the previous tree's hashes (TreeHasher.derive),
//   s7.9 / s7.5    the UpdatePath merge with cached original-sibling tree hashes,
//                  against ts-mls 1.6.4's applyUpdatePath, accepting and refusing alike,
//   state at rest  node hashes stored with the public group, used only when they fit.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { before, describe, it } from "node:test";
import {
  addLeafNode,
  applyUpdatePath,
  decodeProposal,
  decodeUpdatePath,
  encodeRatchetTree as tsEncodeRatchetTree,
  removeLeafNode,
  toLeafIndex,
  treeHashRoot,
  updateLeafNode,
  type CiphersuiteImpl,
  type RatchetTree,
  type UpdatePath,
} from "../../src/mls/adapter.js";
import { getNodeCiphersuiteImpl } from "../../src/mls/cryptoProvider.js";
import { mergeUpdatePath } from "../../src/ds/engine/commitPath.js";
import { PublicGroup } from "../../src/ds/engine/PublicGroup.js";
import { TreeHasher } from "../../src/ds/engine/TreeHasher.js";
import { decodeRatchetTree, encodeRatchetTree } from "../../src/ds/engine/treeCodec.js";
import { hex, mlsVector, toHex } from "./helpers.js";
import { randomLeaf, randomParent, randomTree, rng } from "./randomTree.js";
import { assertSameAsMembers, commit, create, deliver, engineCs, join, memberCs, newClient, st } from "./scenario.js";

const load = <T>(name: string): T => JSON.parse(readFileSync(mlsVector(name), "utf8")) as T;
const decodeTree = (h: string | Uint8Array): RatchetTree => decodeRatchetTree(typeof h === "string" ? hex(h) : h, 0)![0];

/** Every node hash of `a` equals the one computed from scratch. */
async function assertSameHashes(a: TreeHasher, tree: RatchetTree, cs: CiphersuiteImpl, what: string): Promise<void> {
  const fresh = await TreeHasher.of(tree, cs.hash);
  assert.equal(a.nodeHashes().length, tree.length, `${what}: one hash per node`);
  assert.deepStrictEqual(a.nodeHashes(), fresh.nodeHashes(), `${what}: node hashes`);
}

let cs: CiphersuiteImpl;
before(async () => {
  cs = await getNodeCiphersuiteImpl(1, "engine");
});

describe("RFC 9420 s7.8: tree hashes derived from the previous tree's", () => {
  it("tree-operations vectors: Add, Update and Remove give tree_hash_after", async () => {
    interface Case { cipher_suite: number; tree_before: string; proposal: string; proposal_sender: number; tree_hash_after: string }
    for (const [i, t] of load<Case[]>("tree-operations.json").entries()) {
      const ccs = await getNodeCiphersuiteImpl(t.cipher_suite, "engine");
      const beforeTree = decodeTree(t.tree_before);
      const prev = await TreeHasher.of(beforeTree, ccs.hash);
      const p = decodeProposal(hex(t.proposal), 0)![0];
      const after =
        p.proposalType === "add" ? addLeafNode(beforeTree, p.add.keyPackage.leafNode)[0]
        : p.proposalType === "update" ? updateLeafNode(beforeTree, p.update.leafNode, toLeafIndex(t.proposal_sender))
        : p.proposalType === "remove" ? removeLeafNode(beforeTree, toLeafIndex(p.remove.removed))
        : assert.fail("unexpected proposal");
      const derived = await TreeHasher.derive(prev, after);
      assert.equal(toHex(derived.root()), t.tree_hash_after, `case ${i}`);
      await assertSameHashes(derived, after, ccs, `case ${i}`);
    }
  });

  it("random add / remove / update / path sequences (width grows and shrinks): equal to ts-mls's treeHashRoot, encoding equal to ts-mls's", async () => {
    const r = rng(2024);
    let widthChanges = 0;
    for (let run = 0; run < 6; run++) {
      let tree = decodeTree(encodeRatchetTree(randomTree(r, 1 + r.int(9)))); // decoded: nodes carry cached encodings
      let hasher = await TreeHasher.of(tree, cs.hash);
      for (let step = 0; step < 25; step++) {
        const leaves = tree.flatMap((n, i) => (i % 2 === 0 && n ? [i >> 1] : []));
        const op = r.int(4);
        let next: RatchetTree;
        if (op === 0 || leaves.length < 2) next = addLeafNode(tree, randomLeaf(r))[0];
        else if (op === 1) next = removeLeafNode(tree, toLeafIndex(r.pick(leaves)));
        else if (op === 2) next = updateLeafNode(tree, randomLeaf(r), toLeafIndex(r.pick(leaves)));
        else {
          // a path-like change: new parent nodes on some positions
          next = tree.slice();
          for (let k = 0; k < 3; k++) next[1 + 2 * r.int((tree.length - 1) / 2)] = { nodeType: "parent", parent: randomParent(r, leaves.length) };
        }
        if (next.length !== tree.length) widthChanges++;
        const derived = await TreeHasher.derive(hasher, next);
        assert.deepStrictEqual(derived.root(), await treeHashRoot(next, cs.hash), `run ${run} step ${step} op ${op}`);
        await assertSameHashes(derived, next, cs, `run ${run} step ${step}`);
        assert.deepStrictEqual(encodeRatchetTree(next), tsEncodeRatchetTree(next), `run ${run} step ${step}: encoding`);
        tree = next;
        hasher = derived;
      }
    }
    assert.ok(widthChanges >= 2, `the tree changed width (${widthChanges} times)`);
  });

  it("an unchanged tree reuses its hasher", async () => {
    const tree = decodeTree(encodeRatchetTree(randomTree(rng(5), 6)));
    const h = await TreeHasher.of(tree, cs.hash);
    assert.equal(await TreeHasher.derive(h, tree), h);
  });
});

describe("RFC 9420 s7.5 / s7.9: UpdatePath merge with cached sibling hashes equals ts-mls's applyUpdatePath", () => {
  interface Case { cipher_suite: number; ratchet_tree: string; update_paths: { sender: number; update_path: string; tree_hash_after: string }[] }
  const cases = () => load<Case[]>("treekem.json");

  it("treekem vectors: same merged tree, for a hasher of the tree itself and one derived from an older tree", async () => {
    let paths = 0;
    for (const [i, t] of cases().entries()) {
      const ccs = await getNodeCiphersuiteImpl(t.cipher_suite, "engine");
      const tree = decodeTree(t.ratchet_tree);
      const hasher = await TreeHasher.of(tree, ccs.hash);
      for (const up of t.update_paths) {
        const path = decodeUpdatePath(hex(up.update_path), 0)![0];
        const theirs = await applyUpdatePath(tree, toLeafIndex(up.sender), path, ccs.hash, false);
        const ours = await mergeUpdatePath(tree, up.sender, path, hasher, ccs.hash, false);
        assert.deepStrictEqual(ours, theirs, `case ${i} sender ${up.sender}`);
        assert.equal(toHex((await TreeHasher.derive(hasher, ours)).root()), up.tree_hash_after);
        // hashes carried over from an older tree (another member removed, then back)
        const other = tree.findIndex((n, x) => x % 2 === 0 && n !== undefined && x !== 2 * up.sender);
        if (other >= 0) {
          const older = removeLeafNode(tree, toLeafIndex(other >> 1));
          const carried = await TreeHasher.derive(await TreeHasher.of(older, ccs.hash), tree);
          assert.deepStrictEqual(await mergeUpdatePath(tree, up.sender, path, carried, ccs.hash, false), theirs, `case ${i} sender ${up.sender} (carried hashes)`);
        }
        paths++;
      }
    }
    assert.equal(paths, 434);
  });

  it("refuses what ts-mls refuses: a reused leaf key, a path key already in the tree, a broken parent-hash chain", async () => {
    let checked = 0;
    for (const t of cases().filter((c) => c.cipher_suite === 1).slice(0, 6)) {
      const tree = decodeTree(t.ratchet_tree);
      const hasher = await TreeHasher.of(tree, cs.hash);
      const parentKey = tree.find((n) => n?.nodeType === "parent");
      for (const up of t.update_paths) {
        const path = decodeUpdatePath(hex(up.update_path), 0)![0];
        const old = tree[2 * up.sender];
        const bad: UpdatePath[] = [];
        if (old?.nodeType === "leaf") bad.push({ ...path, leafNode: { ...path.leafNode, hpkePublicKey: old.leaf.hpkePublicKey } });
        if (parentKey?.nodeType === "parent" && path.nodes.length > 0) bad.push({ ...path, nodes: [{ ...path.nodes[0]!, hpkePublicKey: parentKey.parent.hpkePublicKey }, ...path.nodes.slice(1)] });
        if (path.nodes.length >= 2) bad.push({ ...path, nodes: [path.nodes[1]!, path.nodes[0]!, ...path.nodes.slice(2)] });
        for (const b of bad) {
          const theirs = await applyUpdatePath(tree, toLeafIndex(up.sender), b, cs.hash, false).then(() => "ok", () => "refused");
          const ours = await mergeUpdatePath(tree, up.sender, b, hasher, cs.hash, false).then(() => "ok", () => "refused");
          assert.equal(theirs, "refused");
          assert.equal(ours, theirs);
          checked++;
        }
      }
    }
    assert.ok(checked >= 20, `checked ${checked} bad paths`);
  });
});

describe("node hashes stored with the public group state", () => {
  let ecs: CiphersuiteImpl;
  let mcs: CiphersuiteImpl;
  before(async () => {
    ecs = await engineCs();
    mcs = await memberCs();
  });

  async function smallGroup() {
    const [alice, bob, carol] = await Promise.all(["alice", "bob", "carol"].map((n) => newClient(n, mcs)));
    await create(alice!, "hash-cache-group", [], mcs);
    const s = st(alice!);
    let g = await PublicGroup.fromPublicState({ groupContext: s.groupContext, ratchetTree: s.ratchetTree, confirmationTag: s.confirmationTag }, ecs);
    const { commit: c, welcome } = await commit(alice!, mcs, { proposals: [{ proposalType: "add", add: { keyPackage: bob!.keyPackage } }, { proposalType: "add", add: { keyPackage: carol!.keyPackage } }] });
    g = (await g.processCommit(c)).group;
    await join(bob!, welcome!, mcs);
    await join(carol!, welcome!, mcs);
    return { g, alice: alice!, bob: bob!, carol: carol! };
  }

  /** Offset of the optional<node_hashes> field: the state ends with it. */
  function hashField(bytes: Uint8Array, g: PublicGroup): number {
    const n = g.ratchetTree.length * 32;
    const prefix = n < 64 ? 1 : n < 16384 ? 2 : 4;
    return bytes.length - (1 + prefix + n);
  }

  it("are written (version 2), read back, and keep the group following its members", async () => {
    const { g, alice, bob, carol } = await smallGroup();
    const bytes = g.serialize();
    assert.equal(bytes[0], 2);
    const at = hashField(bytes, g);
    assert.equal(bytes[at], 1, "node hashes present");
    const hashes = (await g.treeHasher()).nodeHashes();
    assert.deepStrictEqual(bytes.subarray(bytes.length - hashes.length * 32), Uint8Array.from(hashes.flatMap((h) => [...h])));
    const restored = PublicGroup.deserialize(bytes, ecs);
    assert.deepStrictEqual(restored.serialize(), bytes);
    const { commit: c } = await commit(bob, mcs);
    const next = (await restored.processCommit(c)).group;
    await deliver(c, [alice, carol], mcs);
    assertSameAsMembers(next, [alice, bob, carol]);
  });

  it("a version-1 state (no hashes) still loads; hashes are computed once and written next time", async () => {
    const { g } = await smallGroup();
    const v2 = g.serialize();
    const v1 = v2.slice(0, hashField(v2, g));
    v1[0] = 1;
    const restored = PublicGroup.deserialize(v1, ecs);
    assert.deepStrictEqual(restored.serialize(), v2);
  });

  it("hashes that do not fit the tree or its GroupContext tree hash are ignored and recomputed", async () => {
    const { g } = await smallGroup();
    const good = g.serialize();
    const rootIndex = (1 << Math.floor(Math.log2(g.ratchetTree.length))) - 1;
    const damaged = good.slice();
    const rootAt = good.length - (g.ratchetTree.length - rootIndex) * 32; // first byte of the root's hash
    damaged[rootAt] = damaged[rootAt]! ^ 1;
    assert.deepStrictEqual(PublicGroup.deserialize(damaged, ecs).serialize(), good);
    // absent (optional flag 0) is fine too
    const absent = Uint8Array.from([...good.subarray(0, hashField(good, g)), 0]);
    assert.deepStrictEqual(PublicGroup.deserialize(absent, ecs).serialize(), good);
  });
});
