// What the DS keeps per group, as encrypted records of the group store (src/store). Layout:
//
//   "state"     the public group (engine state: GroupContext, ratchet tree, confirmation tag,
//               pending proposals), the PartialGroupInfo of the current epoch, the
//               pseudonymous user map and the list of joiner records. Read by commits and
//               proposals: O(N) to decode.
//   "meta"      a few flags the hot path needs (pending DS removals). O(1).
//   "leafpage"  32 leaves per record: signature key and user key hash. send_message reads ONE
//               page to authenticate its sender, never the tree (ARCHITECTURE "State layout").
//   "fanout"    (leaf index, queue config) for every member: read to fan a message out.
//   "joiner"    id = epoch: the ratchet tree of an epoch that added members, under that
//               epoch's key, kept until every joiner fetched it or it expires.
//
// Every record is encrypted under the EAR key of the epoch it belongs to (src/store binds
// group id, kind, id and key epoch in the AAD).
import { TlsReader, TlsWriter, decodeExact } from "../protocol/tls.js";

export const LEAVES_PER_PAGE = 32;

export interface DsUser {
  /** SHA-256 of the user's pseudonymous auth key: the DS's only handle on "a user" */
  userKeyHash: Uint8Array;
  userAuthKey: Uint8Array;
  leaves: number[];
}

export interface JoinerRecordInfo {
  epoch: bigint;
  /** leaves added in that epoch that have not fetched welcome_info yet */
  pending: number[];
  /** expiry, in days since the Unix epoch (coarse on purpose) */
  expiresDay: number;
}

export interface DsGroupState {
  /** MLS cipher suite id, needed before the engine state can be decoded */
  cipherSuite: number;
  publicGroup: Uint8Array;
  groupInfoExtensions: Uint8Array[];
  groupInfoSignature: Uint8Array;
  groupInfoSigner: number;
  users: DsUser[];
  joiners: JoinerRecordInfo[];
  /** per leaf, the day its key material was last refreshed (join, commit with a path, Update) */
  leafDays: { leaf: number; day: number }[];
}

const STATE_FORMAT = 3;

export function encodeState(s: DsGroupState): Uint8Array {
  const w = new TlsWriter(s.publicGroup.length + 512);
  w.u8(STATE_FORMAT).u16(s.cipherSuite).opaque(s.publicGroup);
  w.vector(s.groupInfoExtensions, (iw, e) => iw.raw(e));
  w.opaque(s.groupInfoSignature).u32(s.groupInfoSigner);
  w.vector(s.users, (iw, u) => iw.opaque(u.userKeyHash).opaque(u.userAuthKey).vector(u.leaves, (lw, l) => lw.u32(l)));
  w.vector(s.joiners, (iw, j) => iw.u64(j.epoch).vector(j.pending, (lw, l) => lw.u32(l)).u32(j.expiresDay));
  w.vector(s.leafDays, (iw, d) => iw.u32(d.leaf).u32(d.day));
  return w.finish();
}

/** Extensions are stored as their exact encodings; decoding them is the caller's business. */
export function decodeState(bytes: Uint8Array, readExtension: (r: TlsReader) => Uint8Array): DsGroupState {
  return decodeExact(bytes, "DS group state", (r) => {
    const v = r.u8("format");
    if (v !== STATE_FORMAT) throw new Error(`unknown state format ${v}`);
    return {
      cipherSuite: r.u16("cipher_suite"),
      publicGroup: r.opaque("public_group", 1 << 30),
      groupInfoExtensions: r.vector("extensions", readExtension),
      groupInfoSignature: r.opaque("signature"),
      groupInfoSigner: r.u32("signer"),
      users: r.vector("users", (ur) => ({
        userKeyHash: ur.opaque("user_key_hash"),
        userAuthKey: ur.opaque("user_auth_key"),
        leaves: ur.vector("leaves", (lr) => lr.u32("leaf")),
      })),
      joiners: r.vector("joiners", (jr) => ({ epoch: jr.u64("epoch"), pending: jr.vector("pending", (lr) => lr.u32("leaf")), expiresDay: jr.u32("expires") })),
      leafDays: r.vector("leaf_days", (dr) => ({ leaf: dr.u32("leaf"), day: dr.u32("day") }), 1 << 20),
    };
  });
}

export interface DsMeta {
  /** the DS has proposed removals that no commit has covered yet: refuse messages and other commits */
  pendingDsRemovals: boolean;
}

export function encodeMeta(m: DsMeta): Uint8Array {
  return new TlsWriter(4).u8(1).u8(m.pendingDsRemovals ? 1 : 0).finish();
}

export function decodeMeta(bytes: Uint8Array): DsMeta {
  return decodeExact(bytes, "DS meta", (r) => {
    if (r.u8("format") !== 1) throw new Error("unknown meta format");
    return { pendingDsRemovals: r.u8("flags") === 1 };
  });
}

export interface LeafEntry {
  signatureKey: Uint8Array;
  userKeyHash: Uint8Array;
}

export function encodeLeafPage(entries: readonly (LeafEntry | undefined)[]): Uint8Array {
  const w = new TlsWriter();
  w.vector(entries, (iw, e) => iw.optional(e, (ow, x) => ow.opaque(x.signatureKey).opaque(x.userKeyHash)));
  return w.finish();
}

export function decodeLeafPage(bytes: Uint8Array): (LeafEntry | undefined)[] {
  return decodeExact(bytes, "leaf page", (r) =>
    r.vector("entries", (er) => er.optional("entry", (or) => ({ signatureKey: or.opaque("signature_key"), userKeyHash: or.opaque("user_key_hash") })), LEAVES_PER_PAGE),
  );
}

export interface FanoutEntry {
  leafIndex: number;
  queueConfig: Uint8Array;
}

export function encodeFanout(entries: readonly FanoutEntry[]): Uint8Array {
  let size = 8;
  for (const e of entries) size += 8 + e.queueConfig.length;
  const w = new TlsWriter(size);
  w.vector(entries, (iw, e) => iw.u32(e.leafIndex).opaque(e.queueConfig));
  return w.finish();
}

export function decodeFanout(bytes: Uint8Array): FanoutEntry[] {
  return decodeExact(bytes, "fanout", (r) => r.vector("entries", (er) => ({ leafIndex: er.u32("leaf"), queueConfig: er.opaque("queue_config") }), 1 << 20));
}
