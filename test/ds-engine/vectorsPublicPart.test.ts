// The public (key-less) part of the official tree-operations, treekem and transcript-hashes
// vectors, through the building blocks the engine uses:
//  - tree-operations (RFC 9420 s12.1.1-s12.1.3): applying Add/Update/Remove to the public tree;
//  - treekem (s7.5, s7.9, s12.4.2): merging each UpdatePath into the public tree with the
//    engine's applyCommitPath (leaf signature, ciphertext counts, parent hashes, key freshness)
//    gives the vector's tree hash; the private half (path secrets, commit secret) needs keys
//    a DS never has and is not meaningful here;
//  - transcript-hashes (s8.2): the confirmed and interim transcript hashes nextEpochContext
//    chains, and the confirmation tag members check (the DS cannot: it has no confirmation_key).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import {
  addLeafNode,
  createConfirmedHash,
  createInterimHash,
  decodeAuthenticatedContent,
  decodeProposal,
  decodeRatchetTree,
  decodeUpdatePath,
  defaultClientConfig,
  encodeRatchetTree,
  removeLeafNode,
  toLeafIndex,
  updateLeafNode,
  type GroupContext,
  type RatchetTree,
} from "../../src/mls/adapter.js";
import { getNodeCiphersuiteImpl } from "../../src/mls/cryptoProvider.js";
import { applyCommitPath } from "../../src/ds/engine/commitPath.js";
import { InvalidUpdatePathError } from "../../src/ds/engine/errors.js";
import { TreeHasher } from "../../src/ds/engine/TreeHasher.js";
import { validateRatchetTree } from "../../src/ds/engine/treeValidation.js";
import { hex, mlsVector, toHex } from "./helpers.js";

const load = <T>(name: string): T => JSON.parse(readFileSync(mlsVector(name), "utf8")) as T;
const opts = { authService: defaultClientConfig.authService };

function decodeTree(h: string): RatchetTree {
  const r = decodeRatchetTree(hex(h), 0);
  assert.ok(r);
  return r[0];
}

describe("tree-operations vectors (RFC 9420 s12.1)", () => {
  interface Case {
    cipher_suite: number;
    tree_before: string;
    proposal: string;
    proposal_sender: number;
    tree_after: string;
    tree_hash_before: string;
    tree_hash_after: string;
  }
  it("Add, Update and Remove give the expected tree and tree hash", async () => {
    const kinds: string[] = [];
    for (const [i, t] of load<Case[]>("tree-operations.json").entries()) {
      const cs = await getNodeCiphersuiteImpl(t.cipher_suite, "engine");
      const before = decodeTree(t.tree_before);
      assert.equal(toHex((await TreeHasher.of(before, cs.hash)).root()), t.tree_hash_before, `case ${i} hash before`);
      const pr = decodeProposal(hex(t.proposal), 0);
      assert.ok(pr);
      const p = pr[0];
      kinds.push(String(p.proposalType));
      let after: RatchetTree;
      if (p.proposalType === "add") after = addLeafNode(before, p.add.keyPackage.leafNode)[0];
      else if (p.proposalType === "update") after = updateLeafNode(before, p.update.leafNode, toLeafIndex(t.proposal_sender));
      else if (p.proposalType === "remove") after = removeLeafNode(before, toLeafIndex(p.remove.removed));
      else throw new Error(`unexpected proposal ${String(p.proposalType)}`);
      assert.equal(toHex(encodeRatchetTree(after)), t.tree_after, `case ${i} tree after`);
      assert.equal(toHex((await TreeHasher.of(after, cs.hash)).root()), t.tree_hash_after, `case ${i} hash after`);
    }
    assert.deepEqual([...new Set(kinds)].sort(), ["add", "remove", "update"]);
  });
});

describe("treekem vectors, public part (RFC 9420 s7.5, s12.4.2)", () => {
  interface Case {
    cipher_suite: number;
    group_id: string;
    epoch: number;
    confirmed_transcript_hash: string;
    ratchet_tree: string;
    update_paths: { sender: number; update_path: string; tree_hash_after: string }[];
  }
  it("each UpdatePath merged into the public tree gives tree_hash_after (all 7 suites)", async () => {
    let paths = 0;
    for (const [i, t] of load<Case[]>("treekem.json").entries()) {
      const cs = await getNodeCiphersuiteImpl(t.cipher_suite, "engine");
      const tree = decodeTree(t.ratchet_tree);
      const hasher = await TreeHasher.of(tree, cs.hash);
      const gc: GroupContext = {
        version: "mls10",
        cipherSuite: cs.name,
        groupId: hex(t.group_id),
        epoch: BigInt(t.epoch),
        treeHash: hasher.root(),
        confirmedTranscriptHash: hex(t.confirmed_transcript_hash),
        extensions: [],
      };
      await validateRatchetTree(tree, gc, cs, opts);
      for (const up of t.update_paths) {
        const dec = decodeUpdatePath(hex(up.update_path), 0);
        assert.ok(dec);
        const merged = await applyCommitPath(tree, up.sender, dec[0], { groupContext: gc, cs, opts });
        assert.equal(toHex((await TreeHasher.of(merged, cs.hash)).root()), up.tree_hash_after, `case ${i} sender ${up.sender}`);
        paths++;
      }
    }
    assert.equal(paths, 434);
  });

  it("a path whose leaf parent_hash does not chain, or with a node missing, is refused", async () => {
    const t = load<Case[]>("treekem.json").find((c) => c.cipher_suite === 1 && c.update_paths.some((u) => decodeUpdatePath(hex(u.update_path), 0)![0].nodes.length >= 2))!;
    const cs = await getNodeCiphersuiteImpl(1, "engine");
    const tree = decodeTree(t.ratchet_tree);
    const gc: GroupContext = { version: "mls10", cipherSuite: cs.name, groupId: hex(t.group_id), epoch: BigInt(t.epoch), treeHash: (await TreeHasher.of(tree, cs.hash)).root(), confirmedTranscriptHash: new Uint8Array(), extensions: [] };
    const up = t.update_paths.find((u) => decodeUpdatePath(hex(u.update_path), 0)![0].nodes.length >= 2)!;
    const path = decodeUpdatePath(hex(up.update_path), 0)![0];
    // swapping two node keys breaks the parent-hash chain the leaf signed
    const swapped = { ...path, nodes: [{ ...path.nodes[0]!, hpkePublicKey: path.nodes[1]!.hpkePublicKey }, { ...path.nodes[1]!, hpkePublicKey: path.nodes[0]!.hpkePublicKey }, ...path.nodes.slice(2)] };
    await assert.rejects(applyCommitPath(tree, up.sender, swapped, { groupContext: gc, cs, opts }), InvalidUpdatePathError);
    await assert.rejects(applyCommitPath(tree, up.sender, { ...path, nodes: path.nodes.slice(1) }, { groupContext: gc, cs, opts }), InvalidUpdatePathError);
    // the input tree is untouched
    assert.equal(toHex(encodeRatchetTree(tree)), t.ratchet_tree);
  });
});

describe("transcript-hashes vectors (RFC 9420 s8.2)", () => {
  interface Case {
    cipher_suite: number;
    confirmation_key: string;
    authenticated_content: string;
    interim_transcript_hash_before: string;
    confirmed_transcript_hash_after: string;
    interim_transcript_hash_after: string;
  }
  it("confirmed and interim transcript hashes, and the confirmation tag, match (all 7 suites)", async () => {
    for (const [i, t] of load<Case[]>("transcript-hashes.json").entries()) {
      const cs = await getNodeCiphersuiteImpl(t.cipher_suite, "engine");
      const dec = decodeAuthenticatedContent(hex(t.authenticated_content), 0);
      assert.ok(dec);
      const ac = dec[0];
      assert.ok(ac.content.contentType === "commit" && ac.auth.contentType === "commit");
      const confirmed = await createConfirmedHash(hex(t.interim_transcript_hash_before), { wireformat: ac.wireformat, content: ac.content, signature: ac.auth.signature }, cs.hash);
      assert.equal(toHex(confirmed), t.confirmed_transcript_hash_after, `case ${i} confirmed`);
      assert.equal(toHex(await createInterimHash(confirmed, ac.auth.confirmationTag, cs.hash)), t.interim_transcript_hash_after, `case ${i} interim`);
      assert.equal(toHex(await cs.hash.mac(hex(t.confirmation_key), confirmed)), toHex(ac.auth.confirmationTag), `case ${i} tag`);
    }
  });
});
