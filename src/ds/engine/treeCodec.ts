// A fast codec for the ratchet tree (RFC 9420 s12.4.3.3 `optional<Node> ratchet_tree<V>`) and
// for the tree-hash inputs (s7.8), byte- and value-identical to ts-mls 1.6.4's
// encodeRatchetTree / decodeRatchetTree / leafNodeHashInputEncoder / parentNodeHashInputEncoder.
//
// Why: ts-mls's combinator codecs rebuild an enum reverse map for every enum they decode (about
// twenty per leaf) and chain one closure per field when encoding, so decoding the tree the DS
// loads on every commit cost ~90 ms at 500 members, most of it garbage. These are straight-line
// readers and writers over one buffer. Decoded values have exactly the shape ts-mls produces
// (same keys, enum names, byte fields as views into the input), decoding fails exactly where
// ts-mls's fails (test/ds-engine/treeCodec.test.ts checks both on the RFC vectors, on random
// trees and on mutated encodings), and trees are extended to full width as ts-mls does.
//
// Encodings are also remembered per node object (a WeakMap): a node decoded from canonical bytes
// keeps a view of them, a node encoded once keeps its bytes, so re-encoding a tree after a commit
// or hashing a leaf copies bytes instead of walking structures. This relies on tree nodes being
// immutable values, which they are in ts-mls 1.6.4 and in the engine: every tree operation
// copies the array and puts NEW node objects where something changed.
import { credentialTypes, ciphersuites, defaultExtensionTypes, protocolVersions } from "ts-mls";
import {
  extendRatchetTree,
  type Capabilities,
  type Credential,
  type Extension,
  type LeafNode,
  type ParentNode,
  type RatchetTree,
  type TreeNode,
} from "../../mls/adapter.js";

// ---- enum tables (ts-mls's, inverted once) ---------------------------------------------------

function invert(t: Record<string, number>): Map<number, string> {
  return new Map(Object.entries(t).map(([k, v]) => [v, k]));
}
const CIPHERSUITE_NAMES = invert(ciphersuites);
const CREDENTIAL_TYPE_NAMES = invert(credentialTypes);
const EXTENSION_TYPE_NAMES = invert(defaultExtensionTypes);
const VERSION_NAMES = invert(protocolVersions);
const ciphersuiteIds = ciphersuites as Record<string, number>;
const credentialTypeIds = credentialTypes as Record<string, number>;
const extensionTypeIds = defaultExtensionTypes as Record<string, number>;
const versionIds = protocolVersions as Record<string, number>;

// ---- writer --------------------------------------------------------------------------------

/** A growable buffer with the MLS (RFC 9420 s2.1.2) length prefix of at most 4 bytes. */
class Writer {
  buf: Uint8Array;
  view: DataView;
  pos = 0;

  constructor(size: number) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }

  private grow(n: number): void {
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  ensure(n: number): void {
    if (this.pos + n > this.buf.length) this.grow(n);
  }

  // Integer writers convert like ts-mls's DataView setters (ToUint8/16/32: modulo 2^k).
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v & 0xff;
  }
  u16(v: number): void {
    this.ensure(2);
    const x = v & 0xffff;
    this.buf[this.pos++] = x >>> 8;
    this.buf[this.pos++] = x & 0xff;
  }
  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, v);
    this.pos += 4;
  }
  u64(v: bigint): void {
    this.ensure(8);
    this.view.setBigUint64(this.pos, v);
    this.pos += 8;
  }

  private length(len: number): void {
    if (len < 64) {
      this.ensure(1);
      this.buf[this.pos++] = len;
    } else if (len < 16384) {
      this.ensure(2);
      this.buf[this.pos++] = 0x40 | (len >>> 8);
      this.buf[this.pos++] = len & 0xff;
    } else if (len < 0x40000000) {
      this.ensure(4);
      this.buf[this.pos++] = 0x80 | (len >>> 24);
      this.buf[this.pos++] = (len >>> 16) & 0xff;
      this.buf[this.pos++] = (len >>> 8) & 0xff;
      this.buf[this.pos++] = len & 0xff;
    } else {
      throw new RangeError("Length too large to encode (max is 2^30 - 1)");
    }
  }

  raw(data: Uint8Array): void {
    this.ensure(data.length);
    this.buf.set(data, this.pos);
    this.pos += data.length;
  }

  /** opaque data<V> */
  bytes(data: Uint8Array): void {
    this.length(data.length);
    this.ensure(data.length);
    this.buf.set(data, this.pos);
    this.pos += data.length;
  }

  /** T items<V>: reserves the longest prefix, writes the items, then closes the gap. */
  vector<T>(items: readonly T[], write: (w: Writer, item: T) => void): void {
    this.ensure(4);
    const start = this.pos;
    this.pos += 4;
    for (const item of items) write(this, item);
    const len = this.pos - start - 4;
    const prefix = len < 64 ? 1 : len < 16384 ? 2 : 4;
    if (len >= 0x40000000) throw new RangeError("Length too large to encode (max is 2^30 - 1)");
    if (prefix !== 4) this.buf.copyWithin(start + prefix, start + 4, this.pos);
    const end = start + prefix + len;
    this.pos = start;
    this.length(len);
    this.pos = end;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

const writeExtension = (w: Writer, e: Extension): void => {
  const t = e.extensionType;
  w.u16(typeof t === "number" ? t : (extensionTypeIds[t] as number));
  w.bytes(e.extensionData);
};
const writeU16 = (w: Writer, v: number): void => w.u16(v);
const writeU32 = (w: Writer, v: number): void => w.u32(v);
const writeBytes = (w: Writer, b: Uint8Array): void => w.bytes(b);

function writeCredential(w: Writer, c: Credential): void {
  const t = c.credentialType as string;
  w.u16(credentialTypeIds[t] ?? Number(t));
  if (t === "basic") w.bytes((c as { identity: Uint8Array }).identity);
  else if (t === "x509") w.vector((c as { certificates: Uint8Array[] }).certificates, writeBytes);
  else w.bytes((c as unknown as { data: Uint8Array }).data); // ts-mls's CredentialCustom
}

function writeCapabilities(w: Writer, c: Capabilities): void {
  w.vector(c.versions, (iw, v) => iw.u16(versionIds[v] as number));
  w.vector(c.ciphersuites, (iw, s) => iw.u16(ciphersuiteIds[s] ?? Number(s)));
  w.vector(c.extensions, writeU16);
  w.vector(c.proposals, writeU16);
  w.vector(c.credentials, (iw, t) => iw.u16(credentialTypeIds[t as string] ?? Number(t)));
}

// Exact encodings of LeafNode / ParentNode objects (see the file comment).
const encodings = new WeakMap<object, Uint8Array>();
const scratch = new Writer(1024);

function encodedLeafNode(leaf: LeafNode): Uint8Array {
  let e = encodings.get(leaf);
  if (e === undefined) {
    scratch.pos = 0;
    writeLeafNodeFields(scratch, leaf);
    e = scratch.buf.slice(0, scratch.pos);
    scratch.buf.fill(0, 0, scratch.pos); // keep no copy of group state in a module buffer
    encodings.set(leaf, e);
  }
  return e;
}

function encodedParentNode(parent: ParentNode): Uint8Array {
  let e = encodings.get(parent);
  if (e === undefined) {
    scratch.pos = 0;
    writeParentNodeFields(scratch, parent);
    e = scratch.buf.slice(0, scratch.pos);
    scratch.buf.fill(0, 0, scratch.pos);
    encodings.set(parent, e);
  }
  return e;
}

function writeLeafNodeFields(w: Writer, leaf: LeafNode): void {
  w.bytes(leaf.hpkePublicKey);
  w.bytes(leaf.signaturePublicKey);
  writeCredential(w, leaf.credential);
  writeCapabilities(w, leaf.capabilities);
  switch (leaf.leafNodeSource) {
    case "key_package":
      w.u8(1);
      w.u64(leaf.lifetime.notBefore);
      w.u64(leaf.lifetime.notAfter);
      break;
    case "update":
      w.u8(2);
      break;
    case "commit":
      w.u8(3);
      w.bytes(leaf.parentHash);
      break;
    default:
      throw new TypeError(`unknown leaf node source ${String((leaf as { leafNodeSource: unknown }).leafNodeSource)}`);
  }
  w.vector(leaf.extensions, writeExtension);
  w.bytes(leaf.signature);
}

function writeParentNodeFields(w: Writer, p: ParentNode): void {
  w.bytes(p.hpkePublicKey);
  w.bytes(p.parentHash);
  w.vector(p.unmergedLeaves, writeU32);
}

function writeNode(w: Writer, node: TreeNode | undefined): void {
  // optional<Node>: ts-mls tests truthiness, so any falsy entry is a blank
  if (!node) {
    w.u8(0);
    return;
  }
  w.u8(1);
  if (node.nodeType === "leaf") {
    w.u8(1);
    w.raw(encodedLeafNode(node.leaf));
  } else {
    w.u8(2);
    w.raw(encodedParentNode(node.parent));
  }
}

/** Same bytes as ts-mls's encodeRatchetTree: trailing blank nodes are stripped first. */
export function encodeRatchetTree(tree: Readonly<RatchetTree>): Uint8Array {
  let last = tree.length - 1;
  while (last >= 0 && tree[last] === undefined) last--;
  const w = new Writer(Math.max(64, (last + 1) * 160));
  w.vector(tree.slice(0, last + 1), writeNode);
  return w.finish();
}

/** LeafNodeHashInput { uint32 leaf_index; optional<LeafNode> leaf_node; } behind node_type 1. */
export function leafNodeHashInput(leafIndex: number, leaf: LeafNode | undefined): Uint8Array {
  const enc = leaf ? encodedLeafNode(leaf) : undefined;
  const w = new Writer(6 + (enc?.length ?? 0));
  w.u8(1);
  w.u32(leafIndex);
  if (enc) {
    w.u8(1);
    w.raw(enc);
  } else {
    w.u8(0);
  }
  return w.buf;
}

/** ParentNodeHashInput { optional<ParentNode> parent_node; opaque left_hash<V>; opaque right_hash<V>; } behind node_type 2. */
export function parentNodeHashInput(parent: ParentNode | undefined, leftHash: Uint8Array, rightHash: Uint8Array): Uint8Array {
  const enc = parent ? encodedParentNode(parent) : undefined;
  const w = new Writer(2 + (enc?.length ?? 0) + 8 + leftHash.length + rightHash.length);
  w.u8(2);
  if (enc) {
    w.u8(1);
    w.raw(enc);
  } else {
    w.u8(0);
  }
  w.bytes(leftHash);
  w.bytes(rightHash);
  return w.finish();
}

// ---- reader --------------------------------------------------------------------------------

/** Thrown inside the reader only; the exported decoder turns it into `undefined`, as ts-mls does. */
class Fail extends Error {}
const FAIL = new Fail();

// Reads are bounded by `end`, which a vector narrows to its own contents: ts-mls decodes vector
// items from a subarray, so an item can never read past its vector.
class Reader {
  pos: number;
  end: number;
  /** set when a length prefix was not in its shortest form: such bytes are not re-encodable as they are */
  nonMinimal = false;
  constructor(
    readonly buf: Uint8Array,
    offset: number,
  ) {
    this.pos = offset;
    this.end = buf.length;
  }
  u8(): number {
    if (this.pos >= this.end) throw FAIL;
    return this.buf[this.pos++]!;
  }
  u16(): number {
    if (this.pos + 2 > this.end) throw FAIL;
    const b = this.buf;
    const v = (b[this.pos]! << 8) | b[this.pos + 1]!;
    this.pos += 2;
    return v;
  }
  u32(): number {
    if (this.pos + 4 > this.end) throw FAIL;
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
  }
  u64(): bigint {
    const hi = this.u32();
    const lo = this.u32();
    return (BigInt(hi) << 32n) | BigInt(lo);
  }
  /** The MLS variable-length prefix: 1, 2 or 4 bytes (non-minimal forms accepted, like ts-mls). */
  length(): number {
    const first = this.u8();
    switch (first >> 6) {
      case 0:
        return first & 0x3f;
      case 1: {
        const v = ((first & 0x3f) << 8) | this.u8();
        if (v < 64) this.nonMinimal = true;
        return v;
      }
      case 2: {
        const b1 = this.u8();
        const b2 = this.u8();
        const b3 = this.u8();
        const v = ((first & 0x3f) << 24) | (b1 << 16) | (b2 << 8) | b3;
        if (v < 16384) this.nonMinimal = true;
        return v;
      }
      default:
        throw FAIL;
    }
  }
  bytes(): Uint8Array {
    const len = this.length();
    if (this.pos + len > this.end) throw FAIL;
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  vector<T>(read: (r: Reader) => T): T[] {
    const len = this.length();
    const end = this.pos + len;
    if (end > this.end) throw FAIL;
    const outer = this.end;
    this.end = end;
    const out: T[] = [];
    while (this.pos < end) out.push(read(this));
    this.end = outer;
    return out;
  }
}

function readExtension(r: Reader): Extension {
  const t = r.u16();
  return { extensionType: (EXTENSION_TYPE_NAMES.get(t) ?? t) as Extension["extensionType"], extensionData: r.bytes() };
}
const readU16 = (r: Reader): number => r.u16();
const readU32 = (r: Reader): number => r.u32();
const readBytes = (r: Reader): Uint8Array => r.bytes();

function readCredential(r: Reader): Credential {
  const t = r.u16();
  if (t === 1) return { credentialType: "basic", identity: r.bytes() };
  if (t === 2) return { credentialType: "x509", certificates: r.vector(readBytes) };
  throw FAIL; // ts-mls cannot decode other credential types either
}

function readCapabilities(r: Reader): Capabilities {
  const versions = r.vector((ir) => {
    const name = VERSION_NAMES.get(ir.u16());
    if (name === undefined) throw FAIL;
    return name;
  });
  const cs = r.vector((ir) => {
    const id = ir.u16();
    return CIPHERSUITE_NAMES.get(id) ?? String(id);
  });
  const extensions = r.vector(readU16);
  const proposals = r.vector(readU16);
  const credentials = r.vector((ir) => {
    const id = ir.u16();
    return CREDENTIAL_TYPE_NAMES.get(id) ?? String(id);
  });
  return { versions, ciphersuites: cs, extensions, proposals, credentials } as Capabilities;
}

function readLeafNode(r: Reader): LeafNode {
  const hpkePublicKey = r.bytes();
  const signaturePublicKey = r.bytes();
  const credential = readCredential(r);
  const capabilities = readCapabilities(r);
  const source = r.u8();
  // Key order as ts-mls builds it: { ...data, ...info, signature }.
  if (source === 1) {
    const notBefore = r.u64();
    const notAfter = r.u64();
    const extensions = r.vector(readExtension);
    const signature = r.bytes();
    return { hpkePublicKey, signaturePublicKey, credential, capabilities, leafNodeSource: "key_package", lifetime: { notBefore, notAfter }, extensions, signature };
  }
  if (source === 2) {
    const extensions = r.vector(readExtension);
    const signature = r.bytes();
    return { hpkePublicKey, signaturePublicKey, credential, capabilities, leafNodeSource: "update", extensions, signature };
  }
  if (source === 3) {
    const parentHash = r.bytes();
    const extensions = r.vector(readExtension);
    const signature = r.bytes();
    return { hpkePublicKey, signaturePublicKey, credential, capabilities, leafNodeSource: "commit", parentHash, extensions, signature };
  }
  throw FAIL;
}

function readParentNode(r: Reader): ParentNode {
  const hpkePublicKey = r.bytes();
  const parentHash = r.bytes();
  const unmergedLeaves = r.vector(readU32);
  return { hpkePublicKey, parentHash, unmergedLeaves } as ParentNode;
}

function readNode(r: Reader): TreeNode | undefined {
  // ts-mls's decodeOptional: presence octet 1 means present, any other value means absent
  if (r.u8() !== 1) return undefined;
  const t = r.u8();
  if (t !== 1 && t !== 2) throw FAIL;
  r.nonMinimal = false;
  const start = r.pos;
  const inner = t === 1 ? readLeafNode(r) : readParentNode(r);
  // canonical bytes are exactly what encoding the value gives: remember them (a view, no copy)
  if (!r.nonMinimal) encodings.set(inner, r.buf.subarray(start, r.pos));
  return t === 1 ? { nodeType: "leaf", leaf: inner as LeafNode } : { nodeType: "parent", parent: inner as ParentNode };
}

/**
 * Drop-in for ts-mls's decodeRatchetTree (a Decoder: undefined on malformed input). Like it, the
 * tree is extended to full width and a tree whose last node is blank throws.
 */
export function decodeRatchetTree(b: Uint8Array, offset: number): [RatchetTree, number] | undefined {
  const r = new Reader(b, offset);
  let nodes: (TreeNode | undefined)[];
  try {
    nodes = r.vector(readNode);
  } catch (e) {
    if (e instanceof Fail) return undefined;
    throw e;
  }
  return [extendRatchetTree(nodes), r.pos - offset];
}
