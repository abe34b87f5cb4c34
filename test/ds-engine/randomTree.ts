// Deterministic random ratchet trees for codec and hashing tests (not a test file itself):
// every leaf source, both credential kinds, known and unknown enum values, length prefixes of
// every size. Trees are structurally valid (node kinds at their positions, last node non-blank)
// but not cryptographically meaningful.
import type { Capabilities, Credential, Extension, LeafNode, ParentNode, RatchetTree, TreeNode } from "../../src/mls/adapter.js";

export function rng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
  const int = (n: number) => Math.floor(next() * n);
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => int(256));
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, bytes, pick };
}
export type Rng = ReturnType<typeof rng>;

const SUITES = ["MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519", "MLS_256_XWING_CHACHA20POLY1305_SHA512_MLDSA87", "4660", "65535"];
const CRED_TYPES = ["basic", "x509", "7", "65000"];
const EXT_TYPES: Extension["extensionType"][] = ["application_id", "ratchet_tree", "required_capabilities", "external_pub", "external_senders", 0, 6, 0xf001, 65535];

function randomExtension(r: Rng): Extension {
  // an occasional large extension exercises the 2- and 4-byte length prefixes
  const len = r.next() < 0.02 ? 16384 + r.int(300) : r.next() < 0.1 ? 64 + r.int(200) : r.int(40);
  return { extensionType: r.pick(EXT_TYPES), extensionData: r.bytes(len) };
}

function randomCapabilities(r: Rng): Capabilities {
  return {
    versions: Array.from({ length: r.int(3) }, () => "mls10" as const),
    ciphersuites: Array.from({ length: r.int(4) }, () => r.pick(SUITES)) as Capabilities["ciphersuites"],
    extensions: Array.from({ length: r.int(5) }, () => r.int(65536)),
    proposals: Array.from({ length: r.int(3) }, () => r.int(65536)),
    credentials: Array.from({ length: r.int(3) }, () => r.pick(CRED_TYPES)) as Capabilities["credentials"],
  };
}

function randomCredential(r: Rng): Credential {
  return r.next() < 0.8
    ? { credentialType: "basic", identity: r.bytes(r.int(80)) }
    : { credentialType: "x509", certificates: Array.from({ length: r.int(3) }, () => r.bytes(r.int(120))) };
}

export function randomLeaf(r: Rng): LeafNode {
  const base = {
    hpkePublicKey: r.bytes(32),
    signaturePublicKey: r.bytes(32),
    credential: randomCredential(r),
    capabilities: randomCapabilities(r),
  };
  const extensions = Array.from({ length: r.int(3) }, () => randomExtension(r));
  const signature = r.bytes(64);
  const k = r.int(3);
  if (k === 0) return { ...base, leafNodeSource: "key_package", lifetime: { notBefore: BigInt(r.int(2 ** 31)), notAfter: 2n ** 63n - 1n - BigInt(r.int(1000)) }, extensions, signature };
  if (k === 1) return { ...base, leafNodeSource: "update", extensions, signature };
  return { ...base, leafNodeSource: "commit", parentHash: r.bytes(r.pick([0, 32, 48])), extensions, signature };
}

export function randomParent(r: Rng, leaves: number): ParentNode {
  return { hpkePublicKey: r.bytes(32), parentHash: r.bytes(r.pick([0, 32])), unmergedLeaves: Array.from({ length: r.int(4) }, () => r.int(leaves)) };
}

/** A structurally valid (leaf/parent positions, non-blank last node) tree of `leaves` leaves. */
export function randomTree(r: Rng, leaves: number): RatchetTree {
  const tree: (TreeNode | undefined)[] = [];
  for (let i = 0; i < 2 * leaves - 1; i++) {
    const blank = r.next() < 0.3;
    if (blank) tree.push(undefined);
    else tree.push(i % 2 === 0 ? { nodeType: "leaf", leaf: randomLeaf(r) } : { nodeType: "parent", parent: randomParent(r, leaves) });
  }
  tree[tree.length - 1] = { nodeType: "leaf", leaf: randomLeaf(r) };
  return tree;
}
