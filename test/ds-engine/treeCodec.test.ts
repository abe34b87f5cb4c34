// The engine's fast ratchet-tree codec must be indistinguishable from ts-mls's: same bytes out,
// same values in, failures in the same places. Checked on the RFC 9420 test vectors, on random
// trees that exercise every branch of the encoding, and on mutated encodings.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import {
  decodeRatchetTree as tsDecodeRatchetTree,
  encode,
  encodeRatchetTree as tsEncodeRatchetTree,
  leafNodeHashInputEncoder,
  parentNodeHashInputEncoder,
  type LeafNode,
  type RatchetTree,
} from "../../src/mls/adapter.js";
import { decodeRatchetTree, encodeRatchetTree, leafNodeHashInput, parentNodeHashInput } from "../../src/ds/engine/treeCodec.js";
import { hex, mlsVector } from "./helpers.js";
import { randomLeaf, randomTree, rng } from "./randomTree.js";

const tsLeafInput = encode(leafNodeHashInputEncoder);
const tsParentInput = encode(parentNodeHashInputEncoder);

/** Vector trees: every ratchet tree in the RFC 9420 test vectors that carry one. */
function vectorTrees(): { name: string; bytes: Uint8Array }[] {
  const out: { name: string; bytes: Uint8Array }[] = [];
  const load = (f: string) => JSON.parse(readFileSync(mlsVector(f), "utf8")) as Record<string, unknown>[];
  load("tree-validation.json").forEach((v, i) => out.push({ name: `tree-validation #${i}`, bytes: hex(v.tree as string) }));
  load("treekem.json").forEach((v, i) => out.push({ name: `treekem #${i}`, bytes: hex(v.ratchet_tree as string) }));
  load("tree-operations.json").forEach((v, i) => {
    out.push({ name: `tree-operations #${i} before`, bytes: hex(v.tree_before as string) });
    out.push({ name: `tree-operations #${i} after`, bytes: hex(v.tree_after as string) });
  });
  for (const f of ["passive-client-welcome.json", "passive-client-handling-commit.json"]) {
    load(f).forEach((v, i) => {
      if (typeof v.ratchet_tree === "string" && v.ratchet_tree.length > 0) out.push({ name: `${f} #${i}`, bytes: hex(v.ratchet_tree) });
    });
  }
  return out;
}

/** ts-mls's decoder as an outcome: a value with its length, or "fail" (it returns undefined or throws). */
function tsOutcome(bytes: Uint8Array): [RatchetTree, number] | "fail" {
  try {
    return tsDecodeRatchetTree(bytes, 0) ?? "fail";
  } catch {
    return "fail";
  }
}
function fastOutcome(bytes: Uint8Array): [RatchetTree, number] | "fail" {
  try {
    return decodeRatchetTree(bytes, 0) ?? "fail";
  } catch {
    return "fail";
  }
}

describe("RFC 9420 s12.4.3.3 ratchet_tree encoding: the engine codec equals ts-mls's", () => {
  const vectors = vectorTrees();

  it("decodes every vector tree to ts-mls's value and re-encodes it byte for byte", () => {
    assert.ok(vectors.length > 150, `expected the vector trees, found ${vectors.length}`);
    for (const v of vectors) {
      const ts = tsOutcome(v.bytes);
      assert.notEqual(ts, "fail", `${v.name}: ts-mls decodes it`);
      const fast = fastOutcome(v.bytes);
      assert.deepStrictEqual(fast, ts, v.name);
      const tree = (fast as [RatchetTree, number])[0];
      assert.deepStrictEqual(encodeRatchetTree(tree), tsEncodeRatchetTree(tree), `${v.name}: encoding`);
      assert.deepStrictEqual(encodeRatchetTree(tree), v.bytes, `${v.name}: round trip`);
    }
  });

  it("encodes and decodes random trees exactly as ts-mls does (all leaf sources, credential kinds, enum values, length prefixes)", () => {
    const r = rng(0x5eed);
    let bigPrefix = 0;
    for (let t = 0; t < 150; t++) {
      const tree = randomTree(r, 1 + r.int(t < 140 ? 12 : 200));
      const bytes = encodeRatchetTree(tree);
      assert.deepStrictEqual(bytes, tsEncodeRatchetTree(tree), `tree ${t}: encoding`);
      if (bytes[0]! >> 6 === 2) bigPrefix++;
      const ts = tsOutcome(bytes);
      assert.notEqual(ts, "fail", `tree ${t}: ts-mls decodes it`);
      assert.deepStrictEqual(fastOutcome(bytes), ts, `tree ${t}: decoding`);
    }
    assert.ok(bigPrefix > 0, "some trees need a 4-byte length prefix");
  });

  it("strips trailing blanks like ts-mls and pads decoded trees to full width", () => {
    const r = rng(7);
    const tree = randomTree(r, 3); // 5 nodes, not a full tree
    const padded = [...tree, undefined, undefined];
    assert.deepStrictEqual(encodeRatchetTree(padded), tsEncodeRatchetTree(padded));
    const [decoded] = decodeRatchetTree(encodeRatchetTree(padded), 0)!;
    assert.equal(decoded.length, 7);
    assert.deepStrictEqual(decoded, tsDecodeRatchetTree(tsEncodeRatchetTree(padded), 0)![0]);
  });

  it("a node read from a non-shortest length prefix re-encodes in the shortest form, as ts-mls does", () => {
    const r = rng(11);
    const tree: RatchetTree = [{ nodeType: "leaf", leaf: randomLeaf(r) }];
    const canonical = encodeRatchetTree(tree);
    // outer vector: 2-byte prefix; then present(1) leaf(1) and the hpke key's 1-byte prefix 0x20
    assert.equal(canonical[0]! >> 6, 1);
    assert.deepEqual([...canonical.subarray(2, 5)], [1, 1, 0x20]);
    const len = (((canonical[0]! & 0x3f) << 8) | canonical[1]!) + 1;
    const stretched = Uint8Array.from([0x40 | (len >> 8), len & 0xff, 1, 1, 0x40, 0x20, ...canonical.subarray(5)]);
    const fast = fastOutcome(stretched);
    assert.deepStrictEqual(fast, tsOutcome(stretched));
    const decoded = (fast as [RatchetTree, number])[0];
    assert.deepStrictEqual(encodeRatchetTree(decoded), canonical);
    assert.deepStrictEqual(leafNodeHashInput(0, decoded[0]!.nodeType === "leaf" ? decoded[0]!.leaf : undefined).slice(), tsLeafInput({ nodeType: "leaf", leafIndex: 0, leafNode: (decoded[0] as { leaf: LeafNode }).leaf }));
  });

  it("fails exactly where ts-mls fails on mutated, truncated and extended encodings", () => {
    const r = rng(99);
    let failures = 0;
    let successes = 0;
    const bases = [...vectorTrees().slice(0, 40).map((v) => v.bytes), ...Array.from({ length: 20 }, () => encodeRatchetTree(randomTree(r, 1 + r.int(8))))];
    for (const base of bases) {
      for (let m = 0; m < 40; m++) {
        let bytes = base.slice();
        const kind = r.int(4);
        if (kind === 0) bytes[r.int(bytes.length)] = r.int(256);
        else if (kind === 1) bytes = bytes.subarray(0, r.int(bytes.length));
        else if (kind === 2) bytes[r.int(Math.min(bytes.length, 8))] = r.int(256); // length prefixes
        else {
          const at = r.int(bytes.length);
          bytes = Uint8Array.from([...bytes.subarray(0, at), ...r.bytes(1 + r.int(3)), ...bytes.subarray(at)]);
        }
        const ts = tsOutcome(bytes);
        const fast = fastOutcome(bytes);
        assert.deepStrictEqual(fast, ts, `mutation ${m} (kind ${kind})`);
        if (ts === "fail") failures++;
        else successes++;
      }
    }
    assert.ok(failures > 100 && successes > 100, `both outcomes exercised (${failures} failures, ${successes} successes)`);
  });
});

describe("RFC 9420 s7.8 tree hash inputs: the engine encoders equal ts-mls's", () => {
  it("LeafNodeHashInput and ParentNodeHashInput, blank and non-blank, on vector and random trees", () => {
    const r = rng(3);
    const trees = [...vectorTrees().map((v) => tsDecodeRatchetTree(v.bytes, 0)![0]), ...Array.from({ length: 30 }, () => randomTree(r, 1 + r.int(10)))];
    let n = 0;
    for (const tree of trees) {
      tree.forEach((node, i) => {
        if (i % 2 === 0) {
          const leaf = node?.nodeType === "leaf" ? node.leaf : undefined;
          assert.deepStrictEqual(leafNodeHashInput(i >> 1, leaf).slice(), tsLeafInput({ nodeType: "leaf", leafIndex: i >> 1, leafNode: leaf }));
        } else {
          const parent = node?.nodeType === "parent" ? node.parent : undefined;
          const lh = r.bytes(32);
          const rh = r.bytes(48);
          assert.deepStrictEqual(parentNodeHashInput(parent, lh, rh).slice(), tsParentInput({ nodeType: "parent", parentNode: parent, leftHash: lh, rightHash: rh }));
        }
        n++;
      });
    }
    assert.ok(n > 1000);
  });
});
