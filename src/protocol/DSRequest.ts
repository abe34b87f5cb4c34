// DSRequest and its bodies (draft-robert-mimi-delivery-service s"Framing", s"Operations"),
// with the reduced-metadata ("PP") fields of this profile. Each embedded MLS struct keeps its
// exact bytes next to its decoded form, so re-serialization is byte-exact and signatures are
// checked over what was sent.
import { decodeExtension, decodeLeafNode, decodeMlsMessage, type Extension, type LeafNode, type MLSMessage } from "../mls/adapter.js";
import { DSAuthType, DSRequestType, MAX_GROUP_ID_BYTES, MAX_SIGNATURE_BYTES } from "./constants.js";
import { MalformedError } from "./errors.js";
import { decodeExact, TlsReader, TlsWriter } from "./tls.js";

export interface Mls<T> {
  readonly value: T;
  readonly bytes: Uint8Array;
}

/** PartialGroupInfo { Extension group_info_extensions<V>; opaque signature<V>; } */
export interface PartialGroupInfo {
  readonly extensions: readonly Mls<Extension>[];
  readonly signature: Uint8Array;
}

/** MLSGroupUpdate { MLSMessage commit; PartialGroupInfo partial_group_info; } */
export interface MLSGroupUpdate {
  readonly commit: Mls<MLSMessage>;
  readonly partialGroupInfo: PartialGroupInfo;
}

/** PPKeys { opaque ear_key<V>; } — the current epoch's group-state key. */
export interface PPKeys {
  readonly earKey: Uint8Array;
}
/** PPCommitKeys { opaque ear_key<V>; opaque next_ear_key<V>; } */
export interface PPCommitKeys extends PPKeys {
  readonly nextEarKey: Uint8Array;
}
/** PPAddedUser { opaque user_auth_key<V>; uint32 client_count; } */
export interface PPAddedUser {
  readonly userAuthKey: Uint8Array;
  readonly clientCount: number;
}

export type DSRequestBody =
  | { readonly type: DSRequestType.request_group_id }
  | {
      readonly type: DSRequestType.create_group;
      readonly groupId: Uint8Array;
      readonly leafNode: Mls<LeafNode>;
      readonly groupInfo: Mls<MLSMessage>;
      readonly pp?: { readonly earKey: Uint8Array; readonly userAuthKey: Uint8Array };
    }
  | { readonly type: DSRequestType.delete_group; readonly groupUpdate: MLSGroupUpdate; readonly pp?: PPKeys }
  | {
      readonly type: DSRequestType.add_users;
      readonly groupUpdate: MLSGroupUpdate;
      readonly welcomes: readonly Mls<MLSMessage>[];
      readonly pp?: { readonly keys: PPCommitKeys; readonly addedUsers: readonly PPAddedUser[] };
    }
  | { readonly type: DSRequestType.remove_users; readonly groupUpdate: MLSGroupUpdate; readonly pp?: PPCommitKeys }
  | { readonly type: DSRequestType.add_clients; readonly groupUpdate: MLSGroupUpdate; readonly welcomes: readonly Mls<MLSMessage>[]; readonly pp?: PPCommitKeys }
  | { readonly type: DSRequestType.remove_clients; readonly groupUpdate: MLSGroupUpdate; readonly pp?: PPCommitKeys }
  | { readonly type: DSRequestType.self_remove_client; readonly proposal: Mls<MLSMessage>; readonly pp?: PPKeys }
  | { readonly type: DSRequestType.update_client; readonly groupUpdate: MLSGroupUpdate; readonly pp?: PPCommitKeys }
  | {
      readonly type: DSRequestType.external_join;
      readonly groupUpdate: MLSGroupUpdate;
      readonly pp?: { readonly keys: PPCommitKeys; readonly newUserAuthKey?: Uint8Array };
    }
  | { readonly type: DSRequestType.send_message; readonly message: Mls<MLSMessage>; readonly pp?: PPKeys }
  | { readonly type: DSRequestType.signature_public_key }
  | { readonly type: DSRequestType.welcome_info; readonly groupId: Uint8Array; readonly epoch: bigint; readonly pp?: PPKeys }
  | { readonly type: DSRequestType.external_commit_info; readonly groupId: Uint8Array; readonly pp?: PPKeys }
  | { readonly type: DSRequestType.set_role; readonly groupUpdate: MLSGroupUpdate; readonly pp?: PPCommitKeys };

export type DSAuthData =
  | { readonly type: DSAuthType.anonymous }
  | { readonly type: DSAuthType.client_signature; readonly senderIndex: number; readonly signature: Uint8Array }
  | { readonly type: DSAuthType.user_signature; readonly userKeyHash: Uint8Array; readonly signature: Uint8Array }
  | { readonly type: DSAuthType.key_package_signature; readonly keyPackageRef: Uint8Array; readonly signature: Uint8Array };

// ---- encoding ------------------------------------------------------------------------------

function writeGroupUpdate(w: TlsWriter, u: MLSGroupUpdate): void {
  w.raw(u.commit.bytes);
  w.vector(u.partialGroupInfo.extensions, (iw, e) => iw.raw(e.bytes));
  w.opaque(u.partialGroupInfo.signature);
}
const writeKeys = (w: TlsWriter, k: PPKeys) => w.opaque(k.earKey);
const writeCommitKeys = (w: TlsWriter, k: PPCommitKeys) => w.opaque(k.earKey).opaque(k.nextEarKey);

export function writeRequestBody(w: TlsWriter, b: DSRequestBody): void {
  w.u8(b.type);
  switch (b.type) {
    case DSRequestType.request_group_id:
    case DSRequestType.signature_public_key:
      return;
    case DSRequestType.create_group:
      w.opaque(b.groupId).raw(b.leafNode.bytes).raw(b.groupInfo.bytes);
      w.optional(b.pp, (pw, pp) => pw.opaque(pp.earKey).opaque(pp.userAuthKey));
      return;
    case DSRequestType.delete_group:
      writeGroupUpdate(w, b.groupUpdate);
      w.optional(b.pp, writeKeys);
      return;
    case DSRequestType.add_users:
      writeGroupUpdate(w, b.groupUpdate);
      w.vector(b.welcomes, (iw, m) => iw.raw(m.bytes));
      w.optional(b.pp, (pw, pp) => {
        writeCommitKeys(pw, pp.keys);
        pw.vector(pp.addedUsers, (iw, u) => iw.opaque(u.userAuthKey).u32(u.clientCount));
      });
      return;
    case DSRequestType.add_clients:
      writeGroupUpdate(w, b.groupUpdate);
      w.vector(b.welcomes, (iw, m) => iw.raw(m.bytes));
      w.optional(b.pp, writeCommitKeys);
      return;
    case DSRequestType.remove_users:
    case DSRequestType.remove_clients:
    case DSRequestType.update_client:
    case DSRequestType.set_role:
      writeGroupUpdate(w, b.groupUpdate);
      w.optional(b.pp, writeCommitKeys);
      return;
    case DSRequestType.self_remove_client:
      w.raw(b.proposal.bytes);
      w.optional(b.pp, writeKeys);
      return;
    case DSRequestType.external_join:
      writeGroupUpdate(w, b.groupUpdate);
      w.optional(b.pp, (pw, pp) => {
        writeCommitKeys(pw, pp.keys);
        pw.optional(pp.newUserAuthKey, (ow, k) => ow.opaque(k));
      });
      return;
    case DSRequestType.send_message:
      w.raw(b.message.bytes);
      w.optional(b.pp, writeKeys);
      return;
    case DSRequestType.welcome_info:
      w.opaque(b.groupId).u64(b.epoch);
      w.optional(b.pp, writeKeys);
      return;
    case DSRequestType.external_commit_info:
      w.opaque(b.groupId);
      w.optional(b.pp, writeKeys);
      return;
  }
}

export function encodeRequestBody(b: DSRequestBody): Uint8Array {
  const w = new TlsWriter();
  writeRequestBody(w, b);
  return w.finish();
}

// ---- decoding ------------------------------------------------------------------------------

const MAX_KEY = 64;
const MAX_WELCOMES = 1024;

function readGroupUpdate(r: TlsReader): MLSGroupUpdate {
  const commit = r.mls("commit", decodeMlsMessage);
  const extensions = r.vector("group_info_extensions", (ir) => ir.mls("extension", decodeExtension), 256);
  const signature = r.opaque("signature", MAX_SIGNATURE_BYTES);
  return { commit, partialGroupInfo: { extensions, signature } };
}
const readKeys = (r: TlsReader): PPKeys => ({ earKey: r.opaque("ear_key", MAX_KEY) });
const readCommitKeys = (r: TlsReader): PPCommitKeys => ({ earKey: r.opaque("ear_key", MAX_KEY), nextEarKey: r.opaque("next_ear_key", MAX_KEY) });

export function readRequestBody(r: TlsReader): DSRequestBody {
  const type = r.u8("request_type");
  switch (type) {
    case DSRequestType.request_group_id:
    case DSRequestType.signature_public_key:
      return { type };
    case DSRequestType.create_group: {
      const groupId = r.opaque("group_id", MAX_GROUP_ID_BYTES);
      const leafNode = r.mls("leaf_node", decodeLeafNode);
      const groupInfo = r.mls("group_info", decodeMlsMessage);
      const pp = r.optional("pp_data", (pr) => ({ earKey: pr.opaque("ear_key", MAX_KEY), userAuthKey: pr.opaque("user_auth_key", MAX_KEY) }));
      return { type, groupId, leafNode, groupInfo, pp };
    }
    case DSRequestType.delete_group:
      return { type, groupUpdate: readGroupUpdate(r), pp: r.optional("pp_data", readKeys) };
    case DSRequestType.add_users: {
      const groupUpdate = readGroupUpdate(r);
      const welcomes = r.vector("welcomes", (ir) => ir.mls("welcome", decodeMlsMessage), MAX_WELCOMES);
      const pp = r.optional("pp_data", (pr) => ({
        keys: readCommitKeys(pr),
        addedUsers: pr.vector("added_users", (ur) => ({ userAuthKey: ur.opaque("user_auth_key", MAX_KEY), clientCount: ur.u32("client_count") }), 4096),
      }));
      return { type, groupUpdate, welcomes, pp };
    }
    case DSRequestType.add_clients: {
      const groupUpdate = readGroupUpdate(r);
      const welcomes = r.vector("welcomes", (ir) => ir.mls("welcome", decodeMlsMessage), MAX_WELCOMES);
      return { type, groupUpdate, welcomes, pp: r.optional("pp_data", readCommitKeys) };
    }
    case DSRequestType.remove_users:
    case DSRequestType.remove_clients:
    case DSRequestType.update_client:
    case DSRequestType.set_role:
      return { type, groupUpdate: readGroupUpdate(r), pp: r.optional("pp_data", readCommitKeys) };
    case DSRequestType.self_remove_client:
      return { type, proposal: r.mls("proposal", decodeMlsMessage), pp: r.optional("pp_data", readKeys) };
    case DSRequestType.external_join: {
      const groupUpdate = readGroupUpdate(r);
      const pp = r.optional("pp_data", (pr) => ({ keys: readCommitKeys(pr), newUserAuthKey: pr.optional("new_user_auth_key", (or) => or.opaque("user_auth_key", MAX_KEY)) }));
      return { type, groupUpdate, pp };
    }
    case DSRequestType.send_message:
      return { type, message: r.mls("application_message", decodeMlsMessage), pp: r.optional("pp_data", readKeys) };
    case DSRequestType.welcome_info:
      return { type, groupId: r.opaque("group_id", MAX_GROUP_ID_BYTES), epoch: r.u64("epoch"), pp: r.optional("pp_data", readKeys) };
    case DSRequestType.external_commit_info:
      return { type, groupId: r.opaque("group_id", MAX_GROUP_ID_BYTES), pp: r.optional("pp_data", readKeys) };
    default:
      throw new MalformedError(`unknown request_type ${type}`);
  }
}

function writeAuth(w: TlsWriter, a: DSAuthData): void {
  w.u8(a.type);
  if (a.type === DSAuthType.client_signature) w.u32(a.senderIndex).opaque(a.signature);
  else if (a.type === DSAuthType.user_signature) w.opaque(a.userKeyHash).opaque(a.signature);
  else if (a.type === DSAuthType.key_package_signature) w.opaque(a.keyPackageRef).opaque(a.signature);
}

function readAuth(r: TlsReader): DSAuthData {
  const type = r.u8("auth_type");
  switch (type) {
    case DSAuthType.anonymous:
      return { type };
    case DSAuthType.client_signature:
      return { type, senderIndex: r.u32("sender_index"), signature: r.opaque("signature", MAX_SIGNATURE_BYTES) };
    case DSAuthType.user_signature:
      return { type, userKeyHash: r.opaque("user_key_hash", 64), signature: r.opaque("signature", MAX_SIGNATURE_BYTES) };
    case DSAuthType.key_package_signature:
      return { type, keyPackageRef: r.opaque("key_package_ref", 64), signature: r.opaque("signature", MAX_SIGNATURE_BYTES) };
    default:
      throw new MalformedError(`unknown auth_type ${type}`);
  }
}

/** DSRequest { DSProtocolVersion version; DSRequestBody request_body; DSAuthData authentication_data; } */
export class DSRequest {
  constructor(
    readonly version: number,
    readonly body: DSRequestBody,
    readonly auth: DSAuthData,
    /** the exact encoded request_body, as signed */
    readonly bodyBytes: Uint8Array = encodeRequestBody(body),
  ) {}

  serialize(): Uint8Array {
    const w = new TlsWriter(this.bodyBytes.length + 128);
    w.u16(this.version).raw(this.bodyBytes);
    writeAuth(w, this.auth);
    return w.finish();
  }

  /**
   * Decodes a request. The version is read first and returned even when the rest is not
   * understood, so the DS can answer unsupported_version naming the versions it speaks.
   */
  static deserialize(bytes: Uint8Array): DSRequest {
    return decodeExact(bytes, "DSRequest", (r) => {
      const version = r.u16("version");
      const start = r.offset;
      const body = readRequestBody(r);
      const bodyBytes = r.bytes.subarray(start, r.offset);
      const auth = readAuth(r);
      return new DSRequest(version, body, auth, bodyBytes);
    });
  }

  /** Reads only the version (first two bytes), for version negotiation before full decoding. */
  static peekVersion(bytes: Uint8Array): number | undefined {
    return bytes.length >= 2 ? (bytes[0]! << 8) | bytes[1]! : undefined;
  }
}

/** ClientSignatureTBS { version; request_body; uint32 sender_index } */
export function clientSignatureTbs(version: number, bodyBytes: Uint8Array, senderIndex: number): Uint8Array {
  return new TlsWriter(bodyBytes.length + 8).u16(version).raw(bodyBytes).u32(senderIndex).finish();
}

/** UserSignatureTBS { version; request_body; opaque user_key_hash<V> } */
export function userSignatureTbs(version: number, bodyBytes: Uint8Array, userKeyHash: Uint8Array): Uint8Array {
  return new TlsWriter(bodyBytes.length + 48).u16(version).raw(bodyBytes).opaque(userKeyHash).finish();
}

/** KeyPackageSignatureTBS { version; request_body; opaque key_package_ref<V> } */
export function keyPackageSignatureTbs(version: number, bodyBytes: Uint8Array, keyPackageRef: Uint8Array): Uint8Array {
  return new TlsWriter(bodyBytes.length + 48).u16(version).raw(bodyBytes).opaque(keyPackageRef).finish();
}

/** Helper for building bodies from raw MLS bytes (client side and tests). */
export function mlsFromBytes<T>(bytes: Uint8Array, decoder: (b: Uint8Array, o: number) => [T, number] | undefined, what: string): Mls<T> {
  return decodeExact(bytes, what, (r) => r.mls(what, decoder));
}
