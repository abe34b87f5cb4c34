// The Delivery Service (draft-robert-mimi-delivery-service) in its reduced-metadata profile:
// a transport-independent class that takes DSRequest bytes and returns DSResponse bytes plus a
// fanout plan. It orders and validates handshake messages with the key-less engine
// (src/ds/engine), stores group state only encrypted under the keys clients supply in each
// request (src/store), knows members only by leaf signature keys and users only by the hash of
// a pseudonymous auth key, and fans out to opaque queue configurations.
//
// Request processing is load -> authenticate -> validate -> compute -> one CAS write; every
// rejection is a typed DsError raised before the write, so bad input changes nothing.
import { rbacExtension } from "../protocol/rbac.js";
import { findUserAuthKeyBinding, type UserAuthKeyBinding } from "../protocol/UserAuthKeyExtension.js";
import { createHash, randomBytes } from "node:crypto";
import {
  decodeExtension,
  encodeExtension,
  encodeMlsMessage,
  proposeExternal,
  verifyGroupInfoSignature,
  type CiphersuiteImpl,
  type Extension,
  type GroupContext,
  type GroupInfo,
  type LeafNode,
  type MLSMessage,
  type PublicMessage,
  type RatchetTree,
} from "../mls/adapter.js";
import { getNodeCiphersuiteImpl } from "../mls/cryptoProvider.js";
import { decodeClientQueueConfig, leafQueueConfig } from "../protocol/ClientQueueConfig.js";
import {
  CLIENT_SIGNATURE_LABEL,
  DS_PROTOCOL_VERSION,
  DSAuthType,
  DSRequestType,
  DSResponseType,
  EXTENSION_TYPE_RBAC,
  KEY_PACKAGE_SIGNATURE_LABEL,
  SUPPORTED_VERSIONS,
  USER_SIGNATURE_LABEL,
} from "../protocol/constants.js";
import { clientSignatureTbs, DSRequest, keyPackageSignatureTbs, userSignatureTbs, type DSRequestBody, type MLSGroupUpdate, type Mls, type PPCommitKeys } from "../protocol/DSRequest.js";
import { DSResponse, type DSResponseBody } from "../protocol/DSResponse.js";
import {
  BadSignatureError,
  DsError,
  errorCodeOf,
  InvalidCommitError,
  InvalidGroupIdError,
  InvalidGroupInfoError,
  InvalidLeafNodeError,
  InvalidMessageError,
  InvalidProposalError,
  InvalidWelcomeError,
  MalformedError,
  NotAllowedError,
  NotAMemberError,
  NotFoundError,
  PendingRemovalError,
  PpDataRequiredError,
  StaleOrWrongKeyError,
  TemporarilyUnavailableError,
  UnknownGroupError,
  UnsupportedOperationError,
  UnsupportedVersionError,
  WrongEpochError,
} from "../protocol/errors.js";
import { decodeExact, TlsWriter } from "../protocol/tls.js";
import { GroupExistsError, GroupNotFoundError, VersionConflictError, WrongKeyError, type GroupHead, type GroupStore, type RecordPut } from "../store/index.js";
import { DsEngineError } from "./engine/errors.js";
import { readExternalSenders } from "./engine/ExternalSenders.js";
import { PublicGroup } from "./engine/PublicGroup.js";
// Ratchet-tree codec: byte- and value-identical to ts-mls's encode/decodeRatchetTree, several
// times faster on large trees (see engine/treeCodec.ts and its test).
import { decodeRatchetTree, encodeRatchetTree } from "./engine/treeCodec.js";
import type { PublicGroupOptions } from "./engine/PublicGroupOptions.js";
import type { CommitSummary } from "./engine/CommitSummary.js";
import { checkCommitKeyBinding, checkEarKeyShape, sealJoinerKey } from "./earKey.js";
import {
  decodeFanout,
  decodeLeafPage,
  decodeMeta,
  decodeState,
  encodeFanout,
  encodeLeafPage,
  encodeMeta,
  encodeState,
  LEAVES_PER_PAGE,
  type DsGroupState,
  type DsUser,
  type FanoutEntry,
  type LeafEntry,
} from "./records.js";
import { verifyWithLabelEd25519 } from "./signatures.js";

/** The DS's own signing identity: listed in every group's external_senders extension. */
export interface DsIdentity {
  domain: string;
  signaturePublicKey: Uint8Array;
  signaturePrivateKey: Uint8Array;
}

/** One message for one member's queue. The DS never opens `queueConfig`'s sealed part. */
export interface FanoutItem {
  /** the recipient's leaf (in the tree the message was accepted against; a joiner's new leaf) */
  leafIndex: number;
  queueConfig: Uint8Array;
  /** an encoded MLSMessage */
  message: Uint8Array;
  /** for Welcome recipients: the new epoch's group-state key, sealed to their init key */
  sealedJoinerKey?: Uint8Array;
}

export interface DsResult {
  response: Uint8Array;
  /** resolves the recipients; kept lazy so the response never waits on an O(N) read */
  fanout(): Promise<FanoutItem[]>;
  /** the operation, for metrics (a fixed enum, never an identifier) */
  operation: string;
  /**
   * Called by fanout with the items whose queue the QS refused (invalid_client_queue_information):
   * the DS proposes the removal of each leaf that still holds that queue config, as external
   * sender (a leaf index alone could meanwhile name a new member). Returns the proposals'
   * fanout, which the caller delivers like any other. It holds the group-state key of this
   * request only until the fanout is done.
   */
  reportRejectedQueues(items: readonly FanoutItem[]): Promise<FanoutItem[]>;
}

export interface DeliveryServiceOptions {
  store: GroupStore;
  identity: DsIdentity;
  /** days a joiner record (the tree for a Welcome joiner) is kept unfetched */
  joinerTtlDays?: number;
  reservationTtlMs?: number;
  /**
   * A member whose key material is older than this many days (no commit with a path, no
   * Update, since it joined) is proposed for removal by the DS after the next commit; 0 or
   * absent disables it.
   */
  inactiveClientDays?: number;
  engineOptions?: PublicGroupOptions;
  now?: () => number;
}

/** Cipher suites whose signature scheme is Ed25519 (the DS signs and verifies on node:crypto). */
const SUPPORTED_SUITES = new Set(["MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519", "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519"]);
const SUITE_IDS: Record<string, number> = {
  MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519: 1,
  MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519: 3,
};

const SUITE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(SUITE_IDS).map(([k, v]) => [v, k]));

const NO_FANOUT = async (): Promise<FanoutItem[]> => [];

const ENGINE_CODES: Record<string, (m: string) => DsError> = {
  malformed_message: (m) => new InvalidMessageError(m),
  private_handshake: (m) => new InvalidMessageError(m),
  unexpected_content: (m) => new InvalidMessageError(m),
  unknown_group: (m) => new UnknownGroupError(m),
  wrong_epoch: (m) => new WrongEpochError(m),
  unsupported_version: (m) => new InvalidMessageError(m),
  bad_signature: (m) => new BadSignatureError(m),
  non_member_sender: (m) => new NotAMemberError(m),
  invalid_sender: (m) => new InvalidMessageError(m),
  unknown_proposal: (m) => new InvalidCommitError(m),
  duplicate_proposal: (m) => new InvalidProposalError(m),
  invalid_proposal: (m) => new InvalidProposalError(m),
  invalid_update_path: (m) => new InvalidCommitError(m),
  invalid_leaf_node: (m) => new InvalidLeafNodeError(m),
  invalid_tree: (m) => new InvalidGroupInfoError(m),
  invalid_group_info: (m) => new InvalidGroupInfoError(m),
  invalid_extension: (m) => new InvalidProposalError(m),
};

function engineError(e: unknown): never {
  if (e instanceof DsEngineError) throw (ENGINE_CODES[e.code] ?? ((m: string) => new InvalidCommitError(m)))(e.message);
  throw e;
}

function userKeyHash(authKey: Uint8Array): Uint8Array {
  return createHash("sha256").update(authKey).digest();
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const eq = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(a, b) === 0;
const day = (ms: number) => Math.floor(ms / 86_400_000);

/** RBAC GroupContext extension: struct { uint32 admins<V>; } */
export function readAdmins(extensions: readonly Extension[]): number[] | undefined {
  const e = extensions.find((x) => x.extensionType === EXTENSION_TYPE_RBAC);
  if (!e) return undefined;
  return decodeExact(e.extensionData, "RBAC extension", (r) => r.vector("admins", (ir) => ir.u32("admin"), 1 << 16));
}

export { rbacExtension };

interface Loaded {
  groupId: Uint8Array;
  head: GroupHead;
  key: Uint8Array;
  cs: CiphersuiteImpl;
  state: DsGroupState;
  group: PublicGroup;
  pendingDsRemovals: boolean;
}

export class DeliveryService {
  private readonly store: GroupStore;
  private readonly now: () => number;

  constructor(readonly opts: DeliveryServiceOptions) {
    this.store = opts.store;
    this.now = opts.now ?? Date.now;
  }

  /** The external_senders entry every group must carry for this DS. */
  get signaturePublicKey(): Uint8Array {
    return this.opts.identity.signaturePublicKey;
  }

  // ---- entry point ---------------------------------------------------------------------------

  /** Never throws for bad input: every rejection becomes a DSResponse error. */
  async handle(bytes: Uint8Array): Promise<DsResult> {
    let operation = "malformed";
    try {
      const version = DSRequest.peekVersion(bytes);
      if (version !== undefined && !SUPPORTED_VERSIONS.includes(version)) throw new UnsupportedVersionError(version, SUPPORTED_VERSIONS);
      // KeyPackage operations share the DSRequest framing but are served by the KeyPackage
      // directory; say so instead of failing to parse a body this class does not know.
      if (bytes.length >= 3 && (bytes[2] === DSRequestType.key_packages || bytes[2] === DSRequestType.connection_key_packages)) {
        operation = DSRequestType[bytes[2]]!;
        throw new UnsupportedOperationError("KeyPackage requests are served by the KeyPackage directory");
      }
      const req = DSRequest.deserialize(bytes);
      operation = DSRequestType[req.body.type] ?? "unknown";
      const { body, fanout, keyAfter } = await this.dispatch(req);
      const groupId = keyAfter?.groupId;
      return {
        response: new DSResponse(DS_PROTOCOL_VERSION, body).serialize(),
        fanout: fanout ?? NO_FANOUT,
        operation,
        reportRejectedQueues: async (items) => {
          const out: FanoutItem[] = [];
          if (!keyAfter || !groupId) return out;
          for (const it of items) {
            try {
              const r = await this.proposeRemoval(groupId, keyAfter.key, it.leafIndex, it.queueConfig);
              // the refused queue itself would only refuse again
              out.push(...(await r.fanout()).filter((x) => x.leafIndex !== it.leafIndex));
            } catch (e) {
              // gone, replaced or the group moved on: nothing to remove any more
              if (!(e instanceof DsError)) throw e;
            }
          }
          return out;
        },
      };
    } catch (e) {
      const code = errorCodeOf(e);
      const supported = e instanceof UnsupportedVersionError ? e.supported : [];
      return {
        response: new DSResponse(DS_PROTOCOL_VERSION, { type: DSResponseType.error, code, supportedVersions: supported }).serialize(),
        fanout: NO_FANOUT,
        operation,
        reportRejectedQueues: async () => [],
      };
    }
  }

  private async dispatch(req: DSRequest): Promise<{ body: DSResponseBody; fanout?: () => Promise<FanoutItem[]>; keyAfter?: { groupId: Uint8Array; key: Uint8Array } }> {
    const b = req.body;
    switch (b.type) {
      case DSRequestType.request_group_id:
        return this.requestGroupId();
      case DSRequestType.signature_public_key:
        return { body: { type: DSResponseType.signature_public_key, signaturePublicKey: this.opts.identity.signaturePublicKey } };
      case DSRequestType.create_group:
        return this.createGroup(req, b);
      case DSRequestType.send_message:
        return this.sendMessage(req, b);
      case DSRequestType.self_remove_client:
        return this.selfRemove(req, b);
      case DSRequestType.welcome_info:
        return this.welcomeInfo(req, b);
      case DSRequestType.external_commit_info:
        return this.externalCommitInfo(b);
      case DSRequestType.delete_group:
      case DSRequestType.add_users:
      case DSRequestType.remove_users:
      case DSRequestType.add_clients:
      case DSRequestType.remove_clients:
      case DSRequestType.update_client:
      case DSRequestType.external_join:
      case DSRequestType.set_role:
        return this.commitOperation(req, b);
      default:
        throw new UnsupportedOperationError(`operation ${DSRequestType[(b as DSRequestBody).type]} is served elsewhere (KeyPackage directory)`);
    }
  }

  /**
   * Deletes groups unused for `ttlDays` (by their coarse last-used day) with all their records,
   * and expired group-id reservations. The provider runs it periodically.
   */
  sweepExpired(ttlDays: number): Promise<number> {
    return this.store.sweepExpired(day(this.now()), ttlDays);
  }

  // ---- group ids -----------------------------------------------------------------------------

  private async requestGroupId() {
    for (let i = 0; i < 4; i++) {
      const groupId = randomBytes(32);
      if (await this.store.reserveGroupId(groupId, this.opts.reservationTtlMs ?? 24 * 3600_000)) {
        return { body: { type: DSResponseType.group_id, groupId } as DSResponseBody };
      }
    }
    throw new TemporarilyUnavailableError("could not reserve a group id");
  }

  // ---- loading and authentication -----------------------------------------------------------

  private async head(groupId: Uint8Array): Promise<GroupHead> {
    const head = await this.store.getHead(groupId);
    if (!head) throw new UnknownGroupError("no such group");
    return head;
  }

  private async loadFull(groupId: Uint8Array, key: Uint8Array): Promise<Loaded> {
    checkEarKeyShape(key, "ear_key");
    const head = await this.head(groupId);
    let recs: (Uint8Array | undefined)[];
    try {
      recs = await this.store.getRecords(groupId, [{ kind: "state" }, { kind: "meta" }], key, { keyEpoch: head.epoch });
    } catch (e) {
      if (e instanceof WrongKeyError) throw new StaleOrWrongKeyError("the group-state key does not open the current state");
      if (e instanceof VersionConflictError) throw new WrongEpochError("the group changed while it was read");
      throw e;
    }
    if (!recs[0] || !recs[1]) throw new TemporarilyUnavailableError("group state incomplete");
    const state = decodeState(recs[0], (r) => r.mls("extension", decodeExtension).bytes);
    const name = SUITE_NAMES[state.cipherSuite];
    if (!name) throw new TemporarilyUnavailableError("stored group has an unknown cipher suite");
    const cs = await this.suite(name);
    const group = PublicGroup.deserialize(state.publicGroup, cs, this.opts.engineOptions);
    return { groupId, head, key, cs, state, group, pendingDsRemovals: decodeMeta(recs[1]).pendingDsRemovals };
  }

  private async suite(name: string): Promise<CiphersuiteImpl> {
    if (!SUPPORTED_SUITES.has(name)) throw new InvalidGroupInfoError(`cipher suite ${name} is not supported by this DS (Ed25519 suites only)`);
    return getNodeCiphersuiteImpl(SUITE_IDS[name]!, "engine");
  }

  private verifyClient(req: DSRequest, signatureKey: Uint8Array | undefined): void {
    const a = req.auth;
    if (a.type !== DSAuthType.client_signature) throw new BadSignatureError("this operation needs a client signature");
    if (!signatureKey) throw new NotAMemberError("sender_index is not a member");
    if (!verifyWithLabelEd25519(signatureKey, CLIENT_SIGNATURE_LABEL, clientSignatureTbs(req.version, req.bodyBytes, a.senderIndex), a.signature)) {
      throw new BadSignatureError("DSRequest signature does not verify");
    }
  }

  private verifyUser(req: DSRequest, users: readonly DsUser[]): DsUser {
    const a = req.auth;
    if (a.type !== DSAuthType.user_signature) throw new BadSignatureError("this operation needs a user signature");
    const user = users.find((u) => eq(u.userKeyHash, a.userKeyHash));
    if (!user) throw new NotAMemberError("unknown user");
    if (!verifyWithLabelEd25519(user.userAuthKey, USER_SIGNATURE_LABEL, userSignatureTbs(req.version, req.bodyBytes, a.userKeyHash), a.signature)) {
      throw new BadSignatureError("user signature does not verify");
    }
    return user;
  }

  // ---- create ---------------------------------------------------------------------------------

  private async createGroup(req: DSRequest, b: Extract<DSRequestBody, { type: DSRequestType.create_group }>) {
    if (!b.pp) throw new PpDataRequiredError("create_group needs pp_data");
    checkEarKeyShape(b.pp.earKey, "ear_key");
    if (b.pp.userAuthKey.length !== 32) throw new MalformedError("user_auth_key must be an Ed25519 public key");
    if (b.groupId.length < 16) throw new InvalidGroupIdError("group ids must be at least 16 bytes");
    const gi = b.groupInfo.value;
    if (gi.wireformat !== "mls_group_info") throw new InvalidGroupInfoError("group_info must be an MLSMessage of wire format mls_group_info");
    const groupInfo = gi.groupInfo;
    const gc = groupInfo.groupContext;
    if (!eq(gc.groupId, b.groupId)) throw new InvalidGroupInfoError("GroupInfo names another group id");
    if (gc.epoch !== 0n) throw new InvalidGroupInfoError("a new group starts at epoch 0");
    const cs = await this.suite(gc.cipherSuite);
    const tree: RatchetTree = [{ nodeType: "leaf", leaf: b.leafNode.value }];
    let group: PublicGroup;
    try {
      group = await PublicGroup.fromGroupInfo(groupInfo, tree, cs, this.opts.engineOptions);
    } catch (e) {
      // CreateGroupResponse has no signature error: a GroupInfo that does not verify is invalid.
      if (e instanceof DsEngineError && e.code === "bad_signature") throw new InvalidGroupInfoError(e.message);
      engineError(e);
    }
    this.checkDsIsExternalSender(gc);
    this.checkRbacInitial(gc);
    try {
      checkCommitKeyBinding(groupInfo.extensions, b.pp.earKey);
    } catch (e) {
      throw new InvalidGroupInfoError((e as Error).message);
    }
    this.verifyClient(req, group.leaf(0)?.signaturePublicKey);
    if (req.auth.type !== DSAuthType.client_signature || req.auth.senderIndex !== 0) throw new BadSignatureError("the creator signs as leaf 0");
    this.requireQueueConfig(b.leafNode.value);
    const user: DsUser = { userKeyHash: userKeyHash(b.pp.userAuthKey), userAuthKey: b.pp.userAuthKey, leaves: [0] };
    const state: DsGroupState = {
      cipherSuite: SUITE_IDS[gc.cipherSuite]!,
      publicGroup: group.serialize(),
      groupInfoExtensions: groupInfo.extensions.map((e) => encodeExtension(e)),
      groupInfoSignature: groupInfo.signature,
      groupInfoSigner: groupInfo.signer,
      users: [user],
      joiners: [],
      leafDays: [{ leaf: 0, day: day(this.now()) }],
    };
    try {
      await this.store.write(b.groupId, {
        expectedVersion: null,
        head: { epoch: 0n, lastUsedDay: day(this.now()) },
        puts: this.headRecords(state, group, false, b.pp.earKey, 0n),
      });
    } catch (e) {
      if (e instanceof GroupExistsError) throw new InvalidGroupIdError("group id already in use");
      throw e;
    }
    return { body: { type: DSResponseType.ok } as DSResponseBody };
  }

  // ---- the hot path: application messages ------------------------------------------------

  private async sendMessage(req: DSRequest, b: Extract<DSRequestBody, { type: DSRequestType.send_message }>) {
    if (!b.pp) throw new PpDataRequiredError("send_message needs pp_data");
    const m = b.message.value;
    if (m.wireformat !== "mls_private_message") throw new InvalidMessageError("application messages must be PrivateMessages");
    if (m.privateMessage.contentType !== "application") throw new InvalidMessageError("handshake messages must be PublicMessages");
    const groupId = m.privateMessage.groupId;
    checkEarKeyShape(b.pp.earKey, "ear_key");
    const head = await this.head(groupId);
    if (req.auth.type !== DSAuthType.client_signature) throw new BadSignatureError("send_message needs a client signature");
    const sender = req.auth.senderIndex;
    const page = Math.floor(sender / LEAVES_PER_PAGE);
    let recs: (Uint8Array | undefined)[];
    try {
      recs = await this.store.getRecords(groupId, [{ kind: "meta" }, { kind: "leafpage", id: page }], b.pp.earKey, { keyEpoch: head.epoch });
    } catch (e) {
      if (e instanceof WrongKeyError) throw new StaleOrWrongKeyError("the group-state key does not open the current state");
      throw e;
    }
    if (!recs[0]) throw new StaleOrWrongKeyError("no state for this key");
    // Checked after the key opened the state, so only key holders learn the current epoch.
    if (m.privateMessage.epoch !== head.epoch) throw new WrongEpochError(`message for epoch ${m.privateMessage.epoch}, group is at ${head.epoch}`);
    const entry = recs[1] ? decodeLeafPage(recs[1])[sender % LEAVES_PER_PAGE] : undefined;
    this.verifyClient(req, entry?.signatureKey);
    if (decodeMeta(recs[0]).pendingDsRemovals) throw new PendingRemovalError("the DS proposed a removal: commit it before sending");
    void this.store.touch(groupId, day(this.now())).catch(() => {});
    const key = b.pp.earKey;
    const message = b.message.bytes;
    return {
      body: { type: DSResponseType.ok } as DSResponseBody,
      keyAfter: { groupId, key },
      fanout: async () => {
        const [f] = await this.store.getRecords(groupId, [{ kind: "fanout" }], key, { keyEpoch: head.epoch });
        return f ? decodeFanout(f).filter((e) => e.leafIndex !== sender).map((e) => ({ leafIndex: e.leafIndex, queueConfig: e.queueConfig, message })) : [];
      },
    };
  }

  // ---- proposals ------------------------------------------------------------------------------

  private async selfRemove(req: DSRequest, b: Extract<DSRequestBody, { type: DSRequestType.self_remove_client }>) {
    if (!b.pp) throw new PpDataRequiredError("self_remove_client needs pp_data");
    const pm = publicMessageOf(b.proposal.value, "proposal");
    const content = pm.content;
    if (content.contentType !== "proposal" || content.proposal.proposalType !== "remove") throw new InvalidProposalError("self_remove_client carries a single Remove proposal");
    if (content.sender.senderType !== "member" || content.proposal.remove.removed !== content.sender.leafIndex) {
      throw new InvalidProposalError("the Remove proposal must target its sender");
    }
    const L = await this.loadFull(content.groupId, b.pp.earKey);
    if (req.auth.type !== DSAuthType.client_signature || req.auth.senderIndex !== content.sender.leafIndex) throw new BadSignatureError("sign as the leaf that leaves");
    this.verifyClient(req, L.group.leaf(content.sender.leafIndex)?.signaturePublicKey);
    let next: PublicGroup;
    try {
      next = (await L.group.processProposal(b.proposal.value)).group;
    } catch (e) {
      engineError(e);
    }
    await this.writeSameEpoch(L, { ...L.state, publicGroup: next.serialize() }, L.pendingDsRemovals);
    const senderLeaf = content.sender.leafIndex;
    return { body: { type: DSResponseType.ok } as DSResponseBody, fanout: this.fanoutTo(L.group, b.proposal.bytes, [senderLeaf]), keyAfter: { groupId: L.groupId, key: L.key } };
  }

  /**
   * Issues a Remove proposal as the group's external sender (e.g. after the QS rejected the
   * member's queue reference) and fans it out. Until a commit covers it, the DS refuses
   * application messages and commits that leave it out. Needs the group-state key, so it runs
   * while a request of that group is being served (the fanout of that request).
   */
  async proposeRemoval(groupId: Uint8Array, earKey: Uint8Array, leafIndex: number, expectedQueueConfig?: Uint8Array): Promise<DsResult> {
    const L = await this.loadFull(groupId, earKey);
    const leaf = L.group.leaf(leafIndex);
    if (!leaf) throw new NotAMemberError("no member at that leaf");
    if (expectedQueueConfig) {
      const qc = leafQueueConfig(leaf);
      if (!qc || !eq(qc, expectedQueueConfig)) throw new NotAMemberError("that leaf no longer holds the refused queue config");
    }
    // One DS Remove per leaf and epoch: a second fanout refusal for the same leaf adds nothing.
    const already = L.group.pendingProposals.some((p) => p.sender.senderType === "external" && p.proposal.proposalType === "remove" && p.proposal.remove.removed === leafIndex);
    if (already) return { response: new DSResponse(DS_PROTOCOL_VERSION, { type: DSResponseType.ok }).serialize(), fanout: NO_FANOUT, operation: "ds_remove_proposal", reportRejectedQueues: async () => [] };
    const gi = this.groupInfoOf(L);
    const msg = await proposeExternal(gi, { proposalType: "remove", remove: { removed: leafIndex } }, this.opts.identity.signaturePublicKey, this.opts.identity.signaturePrivateKey, L.cs);
    let next: PublicGroup;
    try {
      next = (await L.group.processProposal(msg)).group;
    } catch (e) {
      engineError(e);
    }
    await this.writeSameEpoch(L, { ...L.state, publicGroup: next.serialize() }, true);
    const bytes = encodeMlsMessage(msg);
    return { response: new DSResponse(DS_PROTOCOL_VERSION, { type: DSResponseType.ok }).serialize(), fanout: this.fanoutTo(L.group, bytes, []), operation: "ds_remove_proposal", reportRejectedQueues: async () => [] };
  }

  // ---- joiners --------------------------------------------------------------------------------

  private async welcomeInfo(req: DSRequest, b: Extract<DSRequestBody, { type: DSRequestType.welcome_info }>) {
    if (!b.pp) throw new PpDataRequiredError("welcome_info needs pp_data");
    checkEarKeyShape(b.pp.earKey, "ear_key");
    const head = await this.head(b.groupId);
    if (b.epoch > head.epoch || b.epoch > BigInt(Number.MAX_SAFE_INTEGER)) throw new NotFoundError("no joiner record for that epoch");
    const id = Number(b.epoch);
    let rec: Uint8Array | undefined;
    try {
      [rec] = await this.store.getRecords(b.groupId, [{ kind: "joiner", id }], b.pp.earKey, { keyEpoch: b.epoch });
    } catch (e) {
      if (e instanceof WrongKeyError) throw new StaleOrWrongKeyError("the key does not open that epoch's joiner record");
      throw e;
    }
    if (!rec) throw new NotFoundError("no joiner record for that epoch");
    const j = decodeJoinerRecord(rec);
    // The joiner does not know its leaf index before it has the tree: it names itself by the
    // KeyPackageRef its Welcome was encrypted to and signs with that KeyPackage's leaf key.
    const a = req.auth;
    if (a.type !== DSAuthType.key_package_signature) throw new BadSignatureError("welcome_info needs a key package signature");
    const entry = j.pending.find((p) => eq(p.ref, a.keyPackageRef));
    if (!entry) throw new NotFoundError("no pending joiner with that KeyPackageRef in that epoch");
    const node = j.tree.value[entry.leaf * 2];
    const key = node?.nodeType === "leaf" ? node.leaf.signaturePublicKey : undefined;
    if (!key || !verifyWithLabelEd25519(key, KEY_PACKAGE_SIGNATURE_LABEL, keyPackageSignatureTbs(req.version, req.bodyBytes, a.keyPackageRef), a.signature)) {
      throw new BadSignatureError("joiner signature does not verify");
    }
    const pending = j.pending.filter((p) => p !== entry);
    const puts: RecordPut[] = pending.length ? [{ ref: { kind: "joiner", id }, plaintext: encodeJoinerRecord(pending, j.tree.bytes), key: b.pp.earKey, keyEpoch: b.epoch, bindVersion: false }] : [];
    try {
      await this.store.write(b.groupId, { expectedVersion: head.version, head: { epoch: head.epoch, lastUsedDay: day(this.now()) }, puts, deletes: pending.length ? [] : [{ kind: "joiner", id }] });
    } catch (e) {
      if (e instanceof VersionConflictError) throw new TemporarilyUnavailableError("the group changed; retry");
      throw e;
    }
    return { body: { type: DSResponseType.welcome_info, ratchetTree: j.tree } as DSResponseBody };
  }

  private async externalCommitInfo(b: Extract<DSRequestBody, { type: DSRequestType.external_commit_info }>) {
    if (!b.pp) throw new PpDataRequiredError("external_commit_info needs pp_data");
    // The current group-state key is the capability: only members, or those a member gave it
    // to (a connection offer), can read the group's public state.
    const L = await this.loadFull(b.groupId, b.pp.earKey);
    const gi = this.groupInfoOf(L);
    const giMsg: MLSMessage = { version: "mls10", wireformat: "mls_group_info", groupInfo: gi };
    const tree = L.group.ratchetTree as RatchetTree;
    return {
      body: {
        type: DSResponseType.external_commit_info,
        groupInfo: { value: giMsg, bytes: encodeMlsMessage(giMsg) },
        ratchetTree: { value: tree, bytes: encodeRatchetTree(tree) },
      } as DSResponseBody,
    };
  }

  private groupInfoOf(L: Loaded): GroupInfo {
    return {
      groupContext: L.group.groupContext as GroupContext,
      extensions: L.state.groupInfoExtensions.map((e) => decodeExtension(e, 0)![0]),
      confirmationTag: L.group.confirmationTag,
      signer: L.state.groupInfoSigner,
      signature: L.state.groupInfoSignature,
    };
  }

  // ---- commits --------------------------------------------------------------------------------

  private async commitOperation(req: DSRequest, b: Extract<DSRequestBody, { groupUpdate: MLSGroupUpdate }>) {
    if (!b.pp) throw new PpDataRequiredError(`${DSRequestType[b.type]} needs pp_data`);
    const keys: { earKey: Uint8Array; nextEarKey?: Uint8Array } =
      b.type === DSRequestType.add_users || b.type === DSRequestType.external_join ? b.pp.keys : (b.pp as PPCommitKeys);
    const deleting = b.type === DSRequestType.delete_group;
    if (!deleting) checkEarKeyShape(keys.nextEarKey ?? new Uint8Array(0), "next_ear_key");
    const pm = publicMessageOf(b.groupUpdate.commit.value, "commit");
    const content = pm.content;
    const L = await this.loadFull(content.groupId, keys.earKey);
    if (content.epoch !== L.head.epoch) throw new WrongEpochError(`commit for epoch ${content.epoch}, group is at ${L.head.epoch}`);

    // Who is asking: a member (client signature by the committing leaf) or a joiner.
    const external = b.type === DSRequestType.external_join;
    if (external !== (content.sender.senderType === "new_member_commit")) {
      throw new InvalidCommitError(external ? "external_join needs a NewMemberCommit" : "member operations need a member commit");
    }
    let committer = -1;
    let joinerUser: DsUser | undefined;
    if (content.sender.senderType === "member") {
      committer = content.sender.leafIndex;
      if (req.auth.type !== DSAuthType.client_signature || req.auth.senderIndex !== committer) throw new BadSignatureError("sign as the committing leaf");
      this.verifyClient(req, L.group.leaf(committer)?.signaturePublicKey);
    } else if (b.type === DSRequestType.external_join) {
      if (b.pp!.newUserAuthKey) {
        if (req.auth.type !== DSAuthType.anonymous) throw new BadSignatureError("a new user joins anonymously");
        if (b.pp!.newUserAuthKey.length !== 32) throw new MalformedError("user_auth_key must be an Ed25519 public key");
      } else {
        joinerUser = this.verifyUser(req, L.state.users);
      }
    }

    let result;
    try {
      result = await L.group.processCommit(b.groupUpdate.commit.value);
    } catch (e) {
      engineError(e);
    }
    const { group: next, summary } = result;
    if (summary.committer.kind === "new_member") committer = summary.committer.leafIndex;

    this.checkPendingCovered(L, summary);
    const users = this.validateOperation(b, L, next, summary, committer, joinerUser);
    if (!deleting) checkCommitKeyBinding(b.groupUpdate.partialGroupInfo.extensions.map((e) => e.value), keys.nextEarKey!);
    this.checkDsIsExternalSender(next.groupContext as GroupContext);
    this.checkRbacAfter(L, next, summary, b.type);

    // Deleting: everyone else is removed; the DS forgets the group and tells the removed.
    if (deleting) {
      try {
        await this.store.deleteGroup(L.groupId, L.head.version);
      } catch (e) {
        if (e instanceof VersionConflictError || e instanceof GroupNotFoundError) throw new WrongEpochError("another commit won this epoch");
        throw e;
      }
      return { body: { type: DSResponseType.ok } as DSResponseBody, fanout: this.fanoutTo(L.group, b.groupUpdate.commit.bytes, [committer]) };
    }

    // The PartialGroupInfo must complete a GroupInfo of the NEW state, signed by the committer.
    const pgi = b.groupUpdate.partialGroupInfo;
    const gi: GroupInfo = {
      groupContext: next.groupContext as GroupContext,
      extensions: pgi.extensions.map((e) => e.value),
      confirmationTag: next.confirmationTag,
      signer: committer,
      signature: pgi.signature,
    };
    const signerKey = next.leaf(committer)?.signaturePublicKey;
    if (!signerKey || !(await verifyGroupInfoSignature(gi, signerKey, L.cs.signature))) {
      throw new InvalidGroupInfoError("the PartialGroupInfo signature does not verify over the new GroupContext");
    }
    for (const a of summary.added) this.requireQueueConfig(a.keyPackage.leafNode as LeafNode);
    if (summary.committer.kind === "new_member") this.requireQueueConfig(next.leaf(committer)!);

    const welcomes = "welcomes" in b ? b.welcomes : [];
    const welcomeFanout = await this.planWelcomes(welcomes, summary, next, L, keys.nextEarKey!);

    const today = day(this.now());
    const joinerTtl = this.opts.joinerTtlDays ?? 30;
    const expired = L.state.joiners.filter((j) => j.expiresDay < today);
    const joiners = L.state.joiners.filter((j) => j.expiresDay >= today);
    const puts: RecordPut[] = [];
    if (summary.added.length > 0) {
      joiners.push({ epoch: summary.epoch, pending: summary.added.map((a) => a.leafIndex), expiresDay: today + joinerTtl });
      puts.push({
        ref: { kind: "joiner", id: Number(summary.epoch) },
        plaintext: encodeJoinerRecord(summary.added.map((a) => ({ leaf: a.leafIndex, ref: a.keyPackageRef })), encodeRatchetTree(next.ratchetTree as RatchetTree)),
        key: keys.nextEarKey!,
        keyEpoch: summary.epoch,
        bindVersion: false,
      });
    }
    // Key freshness per leaf: joiners, a committer with a path and Update senders are fresh.
    const fresh = new Set<number>([...summary.added.map((a) => a.leafIndex), ...summary.updated.map((u) => u.leafIndex)]);
    if (summary.pathPresent || summary.committer.kind === "new_member") fresh.add(committer);
    const removedSet = new Set(summary.removed.map((r) => r.leafIndex));
    const leafDays = L.state.leafDays.filter((d) => !removedSet.has(d.leaf) && !fresh.has(d.leaf) && next.leaf(d.leaf));
    for (const l of fresh) leafDays.push({ leaf: l, day: today });
    const state: DsGroupState = {
      cipherSuite: L.state.cipherSuite,
      publicGroup: next.serialize(),
      groupInfoExtensions: pgi.extensions.map((e) => e.bytes),
      groupInfoSignature: pgi.signature,
      groupInfoSigner: committer,
      users,
      joiners,
      leafDays,
    };
    puts.push(...this.headRecords(state, next, false, keys.nextEarKey!, summary.epoch));
    try {
      await this.store.write(L.groupId, {
        expectedVersion: L.head.version,
        head: { epoch: summary.epoch, lastUsedDay: today },
        puts,
        deletes: expired.map((j) => ({ kind: "joiner", id: Number(j.epoch) })),
        deleteKinds: ["leafpage"],
      });
    } catch (e) {
      if (e instanceof VersionConflictError) throw new WrongEpochError("another commit won this epoch");
      throw e;
    }
    // Everyone in the old epoch but the committer gets the commit (removed members learn it);
    // new members get their Welcome.
    const commitFanout = this.fanoutTo(L.group, b.groupUpdate.commit.bytes, committer >= 0 && summary.committer.kind === "member" ? [committer] : []);
    // Inactive members: proposed for removal right after the commit that found them, with the
    // new epoch's key (which the DS holds only now), and fanned out after the commit.
    const limit = this.opts.inactiveClientDays ?? 0;
    const inactive = limit > 0 ? leafDays.filter((d) => d.day < today - limit).map((d) => d.leaf) : [];
    const groupId = L.groupId;
    const nextKey = keys.nextEarKey!;
    return {
      body: { type: DSResponseType.ok } as DSResponseBody,
      fanout: async () => {
        const items = [...(await commitFanout()), ...welcomeFanout];
        for (const leaf of inactive) {
          try {
            items.push(...(await (await this.proposeRemoval(groupId, nextKey, leaf)).fanout()));
          } catch (e) {
            if (!(e instanceof DsError)) throw e;
          }
        }
        return items;
      },
      keyAfter: { groupId, key: nextKey },
    };
  }

  /** Pending DS removals must be committed (by reference) before anything else goes. */
  private checkPendingCovered(L: Loaded, summary: CommitSummary): void {
    if (!L.pendingDsRemovals) return;
    const committed = new Set(summary.proposals.filter((p) => p.ref).map((p) => hex(p.ref!)));
    for (const p of L.group.pendingProposals) {
      if (p.sender.senderType === "external" && !committed.has(hex(p.ref))) {
        throw new PendingRemovalError("the commit must include the DS's pending Remove proposals by reference");
      }
    }
  }

  /** Per-operation rules of the draft; returns the new user map. */
  private validateOperation(
    b: Extract<DSRequestBody, { groupUpdate: MLSGroupUpdate }>,
    L: Loaded,
    next: PublicGroup,
    s: CommitSummary,
    committer: number,
    joinerUser: DsUser | undefined,
  ): DsUser[] {
    // Proposals the operation is about vs. by-reference extras every commit may carry: pending
    // Removes issued by the DS or by a member removing itself (draft s"proposals by reference").
    const extra = (p: CommitSummary["proposals"][number]) =>
      p.ref !== undefined &&
      p.proposal.proposalType === "remove" &&
      (p.sender?.senderType === "external" || (p.sender?.senderType === "member" && p.sender.leafIndex === p.proposal.remove.removed));
    const core = s.proposals.filter((p) => !extra(p));
    const kinds = new Set(core.map((p) => String(p.proposal.proposalType)));
    const only = (...allowed: string[]) => {
      for (const k of kinds) if (!allowed.includes(k)) throw new InvalidProposalError(`${DSRequestType[b.type]} may not carry ${k} proposals`);
    };
    // Users as they were; leaves joining a user are collected and applied after the removals,
    // because Adds and joiners can reuse a leaf index a Remove in the same commit freed.
    const users = L.state.users.map((u) => ({ ...u, leaves: [...u.leaves] }));
    const userOfLeaf = (leaf: number) => users.find((u) => u.leaves.includes(leaf));
    const joining: { user: DsUser; leaves: number[] }[] = [];
    const committerUser = committer >= 0 && s.committer.kind === "member" ? userOfLeaf(committer) : undefined;
    const removedLeaves = s.removed.map((r) => r.leafIndex);
    const isAdmin = (leaf: number) => {
      const admins = readAdmins((L.group.groupContext as GroupContext).extensions);
      return admins === undefined || admins.includes(leaf);
    };

    switch (b.type) {
      case DSRequestType.delete_group: {
        only("remove");
        if (!isAdmin(committer)) throw new NotAllowedError("only admins may delete the group");
        const left = next.members().map((m) => m.leafIndex);
        if (left.length !== 1 || left[0] !== committer) throw new InvalidCommitError("delete_group must remove every member but the committer");
        return users;
      }
      case DSRequestType.add_users: {
        only("add");
        if (s.added.length === 0) throw new InvalidCommitError("add_users adds at least one client");
        if (!isAdmin(committer)) throw new NotAllowedError("only admins may add users");
        const added = b.pp!.addedUsers;
        const total = added.reduce((n, u) => n + u.clientCount, 0);
        if (total !== s.added.length || added.some((u) => u.clientCount === 0)) throw new InvalidProposalError("added_users client counts must cover the Add proposals exactly");
        let i = 0;
        const seen = new Set<string>();
        for (const u of added) {
          if (u.userAuthKey.length !== 32) throw new MalformedError("user_auth_key must be an Ed25519 public key");
          const h = userKeyHash(u.userAuthKey);
          if (seen.has(hex(h))) throw new InvalidProposalError("a user appears twice in added_users");
          seen.add(hex(h));
          if (users.some((x) => eq(x.userKeyHash, h))) throw new InvalidProposalError("add_users must not add clients of existing members (use add_clients)");
          const leaves = s.added.slice(i, i + u.clientCount).map((a) => a.leafIndex);
          checkDeclaredUserKey(u.userAuthKey, leaves.map((l) => next.leaf(l)?.extensions ?? []));
          joining.push({ user: { userKeyHash: h, userAuthKey: u.userAuthKey, leaves: [] }, leaves });
          i += u.clientCount;
        }
        break;
      }
      case DSRequestType.add_clients: {
        only("add");
        if (s.added.length === 0) throw new InvalidCommitError("add_clients adds at least one client");
        if (!committerUser) throw new NotAMemberError("committer has no user record");
        joining.push({ user: committerUser, leaves: s.added.map((a) => a.leafIndex) });
        break;
      }
      case DSRequestType.remove_users: {
        only("remove", "group_context_extensions");
        this.onlyRbacChanged(L, next);
        if (s.removed.length === 0) throw new InvalidCommitError("remove_users removes at least one client");
        if (!isAdmin(committer)) throw new NotAllowedError("only admins may remove users");
        for (const leaf of removedLeaves) {
          const u = userOfLeaf(leaf);
          if (u && u === committerUser) throw new InvalidProposalError("remove_users cannot remove the committer's own user (use self_remove_client)");
          if (u && !u.leaves.every((l) => removedLeaves.includes(l))) throw new InvalidProposalError("remove_users must remove every client of each user it touches");
        }
        break;
      }
      case DSRequestType.remove_clients: {
        only("remove", "group_context_extensions");
        this.onlyRbacChanged(L, next);
        if (s.removed.length === 0) throw new InvalidCommitError("remove_clients removes at least one client");
        for (const r of core.filter((p) => p.proposal.proposalType === "remove")) {
          const leaf = (r.proposal as { remove: { removed: number } }).remove.removed;
          if (leaf === committer) throw new InvalidProposalError("use self_remove_client to remove yourself");
          if (!committerUser || !committerUser.leaves.includes(leaf)) throw new InvalidProposalError("remove_clients may only remove clients of the committer's own user");
        }
        break;
      }
      case DSRequestType.update_client:
        only();
        if (!s.pathPresent) throw new InvalidCommitError("update_client needs an UpdatePath");
        break;
      case DSRequestType.set_role: {
        only("group_context_extensions");
        if (core.length !== 1) throw new InvalidProposalError("set_role commits exactly one GroupContextExtensions proposal");
        const before = readAdmins((L.group.groupContext as GroupContext).extensions);
        if (before === undefined) throw new NotAllowedError("the group has no RBAC extension");
        if (!before.includes(committer)) throw new NotAllowedError("only admins may change roles");
        this.onlyRbacChanged(L, next);
        const after = readAdmins((next.groupContext as GroupContext).extensions);
        if (!after || after.length === 0) throw new InvalidProposalError("a group keeps at least one admin");
        for (const a of after) if (!next.leaf(a)) throw new InvalidProposalError("admins must be members");
        break;
      }
      case DSRequestType.external_join: {
        only("external_init", "remove", "psk");
        const joiner = s.committer.kind === "new_member" ? s.committer : undefined;
        if (!joiner) throw new InvalidCommitError("external_join needs a NewMemberCommit");
        if (joiner.resyncOf !== undefined) {
          const old = userOfLeaf(joiner.resyncOf);
          if (!joinerUser || old !== users.find((u) => eq(u.userKeyHash, joinerUser.userKeyHash))) {
            throw new NotAllowedError("a resync must be signed by the user of the replaced client");
          }
        }
        if (b.pp!.newUserAuthKey) {
          // Under RBAC only admins add users; a new user's external join would bypass that.
          if (readAdmins((L.group.groupContext as GroupContext).extensions) !== undefined) {
            throw new NotAllowedError("groups with an RBAC extension admit new users only through add_users");
          }
          const h = userKeyHash(b.pp!.newUserAuthKey);
          if (users.some((u) => eq(u.userKeyHash, h))) throw new InvalidProposalError("that user is already in the group (sign as the user instead)");
          checkDeclaredUserKey(b.pp!.newUserAuthKey, [next.leaf(joiner.leafIndex)?.extensions ?? []]);
          joining.push({ user: { userKeyHash: h, userAuthKey: b.pp!.newUserAuthKey, leaves: [] }, leaves: [joiner.leafIndex] });
        } else {
          joining.push({ user: users.find((u) => eq(u.userKeyHash, joinerUser!.userKeyHash))!, leaves: [joiner.leafIndex] });
        }
        break;
      }
    }
    // Removed leaves leave their users, then the joining leaves join theirs; users without
    // leaves leave the group.
    for (const u of users) u.leaves = u.leaves.filter((l) => !removedLeaves.includes(l));
    for (const j of joining) {
      j.user.leaves.push(...j.leaves);
      if (!users.includes(j.user)) users.push(j.user);
    }
    return users.filter((u) => u.leaves.length > 0);
  }

  /** GroupContext extensions other than RBAC must be unchanged (set_role and remove ops). */
  private onlyRbacChanged(L: Loaded, next: PublicGroup): void {
    const strip = (xs: readonly Extension[]) => xs.filter((e) => e.extensionType !== EXTENSION_TYPE_RBAC).map((e) => hex(encodeExtension(e))).join();
    if (strip((L.group.groupContext as GroupContext).extensions) !== strip((next.groupContext as GroupContext).extensions)) {
      throw new InvalidProposalError("this operation may change only the RBAC extension of the GroupContext");
    }
  }

  private checkDsIsExternalSender(gc: GroupContext): void {
    let senders;
    try {
      senders = readExternalSenders(gc.extensions).senders;
    } catch {
      throw new InvalidGroupInfoError("undecodable external_senders extension");
    }
    if (!senders.some((s) => eq(s.signaturePublicKey, this.opts.identity.signaturePublicKey))) {
      throw new InvalidGroupInfoError("the group must list this DS in its external_senders extension");
    }
  }

  private checkRbacInitial(gc: GroupContext): void {
    const admins = readAdmins(gc.extensions);
    if (admins !== undefined && (admins.length !== 1 || admins[0] !== 0)) throw new InvalidGroupInfoError("a new group's RBAC extension lists the creator (leaf 0) only");
  }

  /** Admin indexes must always name members, so no joiner can inherit a removed admin's role. */
  private checkRbacAfter(L: Loaded, next: PublicGroup, s: CommitSummary, type: DSRequestType): void {
    const before = readAdmins((L.group.groupContext as GroupContext).extensions);
    const after = readAdmins((next.groupContext as GroupContext).extensions);
    if (type === DSRequestType.delete_group) return;
    if (type !== DSRequestType.set_role) {
      const changed = JSON.stringify(before ?? null) !== JSON.stringify(after ?? null);
      if (changed) {
        // Only dropping removed admins is allowed outside set_role.
        const removed = new Set(s.removed.map((r) => r.leafIndex));
        const ok = before !== undefined && after !== undefined && after.every((a) => before.includes(a)) && before.filter((a) => !after.includes(a)).every((a) => removed.has(a));
        if (!ok) throw new NotAllowedError("only set_role changes roles");
      }
    }
    if (after) for (const a of after) if (!next.leaf(a)) throw new NotAllowedError("the commit leaves a removed member in the admin list; drop it with a GroupContextExtensions proposal");
  }

  private requireQueueConfig(leaf: LeafNode): void {
    const qc = leafQueueConfig(leaf);
    if (!qc) throw new InvalidLeafNodeError("every leaf needs a queue-config extension in this profile");
    try {
      decodeClientQueueConfig(qc);
    } catch {
      throw new InvalidLeafNodeError("undecodable queue-config extension");
    }
  }

  /**
   * Welcome routing: every new member is covered by exactly one Welcome, one Welcome per
   * destination QS domain (one distinct Welcome per guest provider), and each recipient gets
   * the new epoch's group-state key sealed to its KeyPackage init key.
   */
  private async planWelcomes(welcomes: readonly Mls<MLSMessage>[], s: CommitSummary, next: PublicGroup, L: Loaded, nextKey: Uint8Array): Promise<FanoutItem[]> {
    if (s.added.length === 0) {
      if (welcomes.length > 0) throw new InvalidWelcomeError("Welcomes without added members");
      return [];
    }
    const byRef = new Map(s.added.map((a) => [hex(a.keyPackageRef), a]));
    const covered = new Set<string>();
    const domains = new Set<string>();
    const out: FanoutItem[] = [];
    for (const w of welcomes) {
      if (w.value.wireformat !== "mls_welcome") throw new InvalidWelcomeError("welcomes must be MLSMessages of wire format mls_welcome");
      const welcome = w.value.welcome;
      if (welcome.cipherSuite !== (L.group.groupContext as GroupContext).cipherSuite) throw new InvalidWelcomeError("Welcome cipher suite differs from the group's");
      let domain: string | undefined;
      if (welcome.secrets.length === 0) throw new InvalidWelcomeError("a Welcome without recipients");
      for (const sec of welcome.secrets) {
        const ref = hex(sec.newMember);
        const a = byRef.get(ref);
        if (!a) throw new InvalidWelcomeError("a Welcome names a KeyPackage the commit does not add");
        if (covered.has(ref)) throw new InvalidWelcomeError("a new member is named by two Welcomes");
        covered.add(ref);
        const qc = leafQueueConfig(next.leaf(a.leafIndex)!)!;
        const d = decodeClientQueueConfig(qc).qsDomain;
        if (domain !== undefined && d !== domain) throw new InvalidWelcomeError("one Welcome per guest provider: this Welcome spans two QS domains");
        domain = d;
        out.push({
          leafIndex: a.leafIndex,
          queueConfig: qc,
          message: w.bytes,
          sealedJoinerKey: await sealJoinerKey((L.group.groupContext as GroupContext).cipherSuite, a.keyPackage.initKey, nextKey, L.groupId, s.epoch),
        });
      }
      if (domains.has(domain!)) throw new InvalidWelcomeError("two Welcomes for the same guest provider");
      domains.add(domain!);
    }
    if (covered.size !== byRef.size) throw new InvalidWelcomeError("a new member has no Welcome");
    return out;
  }

  // ---- writing --------------------------------------------------------------------------------

  /** state, meta, leaf pages and fanout list of an epoch, under that epoch's key. */
  private headRecords(state: DsGroupState, group: PublicGroup, pendingDsRemovals: boolean, key: Uint8Array, epoch: bigint): RecordPut[] {
    const put = (kind: string, plaintext: Uint8Array, id = 0): RecordPut => ({ ref: { kind, id }, plaintext, key, keyEpoch: epoch, bindVersion: false });
    const leafOwner = new Map<number, Uint8Array>();
    for (const u of state.users) for (const l of u.leaves) leafOwner.set(l, u.userKeyHash);
    const pages: (LeafEntry | undefined)[][] = [];
    const fanout: FanoutEntry[] = [];
    for (const m of group.members()) {
      const p = Math.floor(m.leafIndex / LEAVES_PER_PAGE);
      while (pages.length <= p) pages.push([]);
      const page = pages[p]!;
      while (page.length < m.leafIndex % LEAVES_PER_PAGE) page.push(undefined);
      page[m.leafIndex % LEAVES_PER_PAGE] = { signatureKey: m.leafNode.signaturePublicKey, userKeyHash: leafOwner.get(m.leafIndex) ?? new Uint8Array(0) };
      const qc = leafQueueConfig(m.leafNode);
      if (qc) fanout.push({ leafIndex: m.leafIndex, queueConfig: qc });
    }
    const puts = [put("state", encodeState(state)), put("meta", encodeMeta({ pendingDsRemovals })), put("fanout", encodeFanout(fanout))];
    pages.forEach((entries, i) => {
      const full = Array.from({ length: Math.min(LEAVES_PER_PAGE, entries.length) }, (_, k) => entries[k]);
      puts.push(put("leafpage", encodeLeafPage(full), i));
    });
    return puts;
  }

  /** A write that keeps the epoch (stored proposals): state and meta only. */
  private async writeSameEpoch(L: Loaded, state: DsGroupState, pendingDsRemovals: boolean): Promise<void> {
    const put = (kind: string, plaintext: Uint8Array): RecordPut => ({ ref: { kind }, plaintext, key: L.key, keyEpoch: L.head.epoch, bindVersion: false });
    try {
      await this.store.write(L.groupId, {
        expectedVersion: L.head.version,
        head: { epoch: L.head.epoch, lastUsedDay: day(this.now()) },
        puts: [put("state", encodeState(state)), put("meta", encodeMeta({ pendingDsRemovals }))],
      });
    } catch (e) {
      if (e instanceof VersionConflictError) throw new WrongEpochError("the group changed while this request was processed");
      throw e;
    }
  }

  /** Members of `group` except `exclude`, each with `message`. */
  private fanoutTo(group: PublicGroup, message: Uint8Array, exclude: number[]): () => Promise<FanoutItem[]> {
    const items: FanoutItem[] = [];
    for (const m of group.members()) {
      if (exclude.includes(m.leafIndex)) continue;
      const qc = leafQueueConfig(m.leafNode);
      if (qc) items.push({ leafIndex: m.leafIndex, queueConfig: qc, message });
    }
    return async () => items;
  }
}

function publicMessageOf(m: MLSMessage, expected: "commit" | "proposal"): PublicMessage {
  if (m.wireformat === "mls_private_message") throw new InvalidMessageError(`a ${expected} must be sent as PublicMessage`);
  if (m.wireformat !== "mls_public_message") throw new InvalidMessageError(`expected a ${expected} in a PublicMessage`);
  if (m.publicMessage.content.contentType !== expected) throw new InvalidMessageError(`expected a ${expected}`);
  return m.publicMessage;
}

interface PendingJoiner {
  leaf: number;
  ref: Uint8Array;
}

/** Joiner record: struct { PendingJoiner pending<V>; RatchetTree tree; }, PendingJoiner { uint32 leaf; opaque key_package_ref<V>; } */
function encodeJoinerRecord(pending: readonly PendingJoiner[], treeBytes: Uint8Array): Uint8Array {
  return new TlsWriter(treeBytes.length + 64).vector(pending, (w, p) => w.u32(p.leaf).opaque(p.ref)).raw(treeBytes).finish();
}

function decodeJoinerRecord(bytes: Uint8Array): { pending: PendingJoiner[]; tree: Mls<RatchetTree> } {
  return decodeExact(bytes, "joiner record", (r) => {
    const pending = r.vector("pending", (ir) => ({ leaf: ir.u32("leaf"), ref: ir.opaque("key_package_ref", 64) }));
    const tree = r.mls("ratchet_tree", decodeRatchetTree);
    return { pending, tree };
  });
}

export { DsError };

/**
 * A new user's key must be one its own leaves declare (user_auth_key extension, which the leaf
 * signature covers), so an adder cannot enrol a user under a key the user does not hold. Leaves
 * without the extension declare nothing (clients that do not use per-group user keys).
 */
function checkDeclaredUserKey(userAuthKey: Uint8Array, leafExtensions: readonly (readonly { extensionType: unknown; extensionData: Uint8Array }[])[]): void {
  const declared = leafExtensions.map((e) => findUserAuthKeyBinding(e));
  if (declared.includes("malformed")) throw new InvalidProposalError("a leaf carries a malformed user_auth_key extension");
  const keys = declared.filter((d): d is UserAuthKeyBinding => d !== undefined);
  if (keys.length > 0 && !keys.some((k) => eq(k.publicKey, userAuthKey))) throw new InvalidProposalError("the user key is not one the added user's leaves declare");
}
