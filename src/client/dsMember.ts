// Client side of the DS protocol over ts-mls: what a member does to talk to the Delivery
// Service in the reduced-metadata profile. Every function returns new values and never
// mutates a ClientState (ts-mls style). The SDK (transport, queues, KeyPackage fetching) is
// built on these; the DS tests drive the DS with them as a real client would.
import {
  createCommit,
  createGroup,
  createGroupInfoWithExternalPub,
  createProposal,
  createApplicationMessage,
  defaultCapabilities,
  emptyPskIndex,
  encodeExternalSender,
  generateKeyPackage,
  generateKeyPackageWithKey,
  joinGroupExternal,
  type CiphersuiteImpl,
  type ClientState,
  type Extension,
  type GroupInfo,
  type KeyPackage,
  type Lifetime,
  type PrivateKeyPackage,
  type Proposal,
  type RatchetTree,
  type Welcome,
} from "ts-mls";
import { decodeExtension, decodeLeafNode, decodeMlsMessage, encodeExtension, encodeLeafNode, encodeMlsMessage, encodeWelcome, makeKeyPackageRef, mlsExporter } from "../mls/adapter.js";
import { encodeClientQueueConfig, type ClientQueueConfig } from "../protocol/ClientQueueConfig.js";
import {
  CLIENT_SIGNATURE_LABEL,
  DS_PROTOCOL_VERSION,
  DSAuthType,
  DSRequestType,
  EAR_KEY_EXPORTER_LABEL,
  EAR_KEY_LENGTH,
  EXTENSION_TYPE_EAR_KEY_HASH,
  EXTENSION_TYPE_QUEUE_CONFIG,
  EXTENSION_TYPE_RBAC,
  EXTENSION_TYPE_USER_AUTH_KEY,
  KEY_PACKAGE_SIGNATURE_LABEL,
  USER_SIGNATURE_LABEL,
} from "../protocol/constants.js";
import { clientSignatureTbs, DSRequest, encodeRequestBody, keyPackageSignatureTbs, userSignatureTbs, type DSAuthData, type DSRequestBody, type MLSGroupUpdate, type Mls, type PPAddedUser } from "../protocol/DSRequest.js";
import { earKeyHashExtension } from "./groupKey.js";
import { rbacExtension } from "../protocol/rbac.js";
import { platform, signWithLabel as signWithLabelEd25519 } from "../platform/index.js";
import { TlsWriter } from "../protocol/tls.js";

export const PROFILE_EXTENSIONS = [EXTENSION_TYPE_QUEUE_CONFIG, EXTENSION_TYPE_RBAC, EXTENSION_TYPE_EAR_KEY_HASH, EXTENSION_TYPE_USER_AUTH_KEY];

/** A user's pseudonymous auth key pair (Ed25519): the DS sees only its public key's hash. */
export interface UserAuthKey {
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}

export function generateUserAuthKey(): UserAuthKey {
  return platform().ed25519Generate();
}

export function userKeyHashOf(publicKey: Uint8Array): Uint8Array {
  return platform().sha256(publicKey);
}

/** A lifetime from now (ms clock) for `seconds`, starting a minute back to absorb clock skew. */
export function lifetimeFor(nowMs: number, seconds: number): Lifetime {
  const now = BigInt(Math.floor(nowMs / 1000));
  return { notBefore: now - 60n, notAfter: now + BigInt(seconds) };
}

/** KeyPackages live 30 days unless asked otherwise (directories refuse unbounded lifetimes). */
export const DEFAULT_KEY_PACKAGE_LIFETIME_SECONDS = 30 * 86_400;

/** A fresh KeyPackage whose leaf carries the client's queue config (sealed anew per KeyPackage). */
export async function makeKeyPackage(
  cs: CiphersuiteImpl,
  pseudonym: Uint8Array,
  queueConfig: ClientQueueConfig,
  /** reuse a leaf's signature key (a resync replaces a leaf by the same client: same key) */
  signatureKeyPair?: { signKey: Uint8Array; publicKey: Uint8Array },
  lifetime: Lifetime = lifetimeFor(Date.now(), DEFAULT_KEY_PACKAGE_LIFETIME_SECONDS),
  /** more leaf extensions (the SDK adds the user_auth_key binding) */
  extraLeafExtensions: readonly Extension[] = [],
): Promise<{ publicPackage: KeyPackage; privatePackage: PrivateKeyPackage }> {
  const caps = defaultCapabilities();
  caps.extensions = [...new Set([...caps.extensions, ...PROFILE_EXTENSIONS])];
  const credential = { credentialType: "basic" as const, identity: pseudonym };
  const leafExt = [{ extensionType: EXTENSION_TYPE_QUEUE_CONFIG, extensionData: encodeClientQueueConfig(queueConfig) }, ...extraLeafExtensions];
  return signatureKeyPair
    ? generateKeyPackageWithKey(credential, caps, lifetime, [], signatureKeyPair, cs, leafExt)
    : generateKeyPackage(credential, caps, lifetime, [], cs, leafExt);
}

/** The group-state key of the member's current epoch: MLS-Exporter("MIMI DS EAR key", group_id, 32). */
export function deriveEarKey(state: ClientState, cs: CiphersuiteImpl): Promise<Uint8Array> {
  return mlsExporter(state.keySchedule.exporterSecret, EAR_KEY_EXPORTER_LABEL, state.groupContext.groupId, EAR_KEY_LENGTH, cs);
}

export function leafIndexOf(state: ClientState): number {
  return state.privatePath.leafIndex;
}

function ownSignatureKeys(state: ClientState): { priv: Uint8Array; pub: Uint8Array } {
  const node = state.ratchetTree[leafIndexOf(state) * 2];
  if (node?.nodeType !== "leaf") throw new Error("own leaf missing");
  return { priv: state.signaturePrivateKey, pub: node.leaf.signaturePublicKey };
}

/** Signs a request body as a leaf (ClientSignature) and returns the encoded DSRequest. */
export function signAsClient(body: DSRequestBody, senderIndex: number, sigPriv: Uint8Array, sigPub: Uint8Array): Uint8Array {
  const bodyBytes = encodeRequestBody(body);
  const signature = signWithLabelEd25519(sigPriv, sigPub, CLIENT_SIGNATURE_LABEL, clientSignatureTbs(DS_PROTOCOL_VERSION, bodyBytes, senderIndex));
  const auth: DSAuthData = { type: DSAuthType.client_signature, senderIndex, signature };
  return new DSRequest(DS_PROTOCOL_VERSION, body, auth, bodyBytes).serialize();
}

export function signAsMember(body: DSRequestBody, state: ClientState): Uint8Array {
  const k = ownSignatureKeys(state);
  return signAsClient(body, leafIndexOf(state), k.priv, k.pub);
}

export function signAsUser(body: DSRequestBody, user: UserAuthKey): Uint8Array {
  const bodyBytes = encodeRequestBody(body);
  const userKeyHash = userKeyHashOf(user.publicKey);
  const signature = signWithLabelEd25519(user.privateKey, user.publicKey, USER_SIGNATURE_LABEL, userSignatureTbs(DS_PROTOCOL_VERSION, bodyBytes, userKeyHash));
  return new DSRequest(DS_PROTOCOL_VERSION, body, { type: DSAuthType.user_signature, userKeyHash, signature }, bodyBytes).serialize();
}

export function anonymous(body: DSRequestBody): Uint8Array {
  return new DSRequest(DS_PROTOCOL_VERSION, body, { type: DSAuthType.anonymous }).serialize();
}

function mls<T>(bytes: Uint8Array, dec: (b: Uint8Array, o: number) => [T, number] | undefined): Mls<T> {
  const r = dec(bytes, 0);
  if (!r) throw new Error("cannot decode own MLS struct");
  return { value: r[0], bytes };
}

const mlsMsg = (m: Parameters<typeof encodeMlsMessage>[0]) => mls(encodeMlsMessage(m), decodeMlsMessage);

/** The external_senders extension naming the DS (ts-mls 1.6 form; see README wire profile). */
export function dsExternalSenderExtension(dsSignaturePublicKey: Uint8Array, dsDomain: string): Extension {
  return {
    extensionType: "external_senders",
    extensionData: encodeExternalSender({ signaturePublicKey: dsSignaturePublicKey, credential: { credentialType: "basic", identity: new TextEncoder().encode(dsDomain) } }),
  };
}

/** Creates a group locally and the create_group request for the DS. */
export async function createGroupRequest(opts: {
  cs: CiphersuiteImpl;
  groupId: Uint8Array;
  keyPackage: { publicPackage: KeyPackage; privatePackage: PrivateKeyPackage };
  user: UserAuthKey;
  ds: { signaturePublicKey: Uint8Array; domain: string };
  rbac?: boolean;
}): Promise<{ state: ClientState; request: Uint8Array; earKey: Uint8Array }> {
  const exts: Extension[] = [dsExternalSenderExtension(opts.ds.signaturePublicKey, opts.ds.domain)];
  if (opts.rbac) exts.push(rbacExtension([0]));
  const state = await createGroup(opts.groupId, opts.keyPackage.publicPackage, opts.keyPackage.privatePackage, exts, opts.cs);
  const earKey = await deriveEarKey(state, opts.cs);
  const gi = await createGroupInfoWithExternalPub(state, [earKeyHashExtension(earKey)], opts.cs);
  const leaf = (state.ratchetTree[0] as { leaf: Parameters<typeof encodeLeafNode>[0] }).leaf;
  const body: DSRequestBody = {
    type: DSRequestType.create_group,
    groupId: opts.groupId,
    leafNode: mls(encodeLeafNode(leaf), decodeLeafNode),
    groupInfo: mlsMsg({ version: "mls10", wireformat: "mls_group_info", groupInfo: gi }),
    pp: { earKey, userAuthKey: opts.user.publicKey },
  };
  return { state, request: signAsMember(body, state), earKey };
}

async function partialGroupInfo(state: ClientState, cs: CiphersuiteImpl, nextKey: Uint8Array): Promise<MLSGroupUpdate["partialGroupInfo"]> {
  const gi: GroupInfo = await createGroupInfoWithExternalPub(state, [earKeyHashExtension(nextKey)], cs);
  return { extensions: gi.extensions.map((e) => mls(encodeExtension(e), decodeExtension)), signature: gi.signature };
}

/** Splits one Welcome into one per destination QS domain (each joiner needs only its own secret). */
export function splitWelcome(welcome: Welcome, domainOfRef: (ref: Uint8Array) => string): Mls<ReturnType<typeof decodeMlsMessage> extends infer R ? (R extends [infer M, number] ? M : never) : never>[] {
  const groups = new Map<string, Welcome["secrets"]>();
  for (const s of welcome.secrets) {
    const d = domainOfRef(s.newMember);
    groups.set(d, [...(groups.get(d) ?? []), s]);
  }
  return [...groups.values()].map((secrets) => mlsMsg({ version: "mls10", wireformat: "mls_welcome", welcome: { ...welcome, secrets } }));
}

export type CommitOperation =
  | { type: DSRequestType.add_users; addedUsers: PPAddedUser[]; domainOfRef?: (ref: Uint8Array) => string }
  | { type: DSRequestType.add_clients; domainOfRef?: (ref: Uint8Array) => string }
  | { type: DSRequestType.remove_users }
  | { type: DSRequestType.remove_clients }
  | { type: DSRequestType.update_client }
  | { type: DSRequestType.set_role }
  | { type: DSRequestType.delete_group };

export interface CommitOutcome {
  request: Uint8Array;
  /** the member's state once the DS accepted the commit */
  newState: ClientState;
  nextEarKey: Uint8Array;
  welcome?: Welcome;
  commit: Uint8Array;
}

/** Builds a commit (as PublicMessage) for a DS operation and the signed request carrying it. */
export async function commitRequest(
  state: ClientState,
  cs: CiphersuiteImpl,
  op: CommitOperation,
  proposals: Proposal[] = [],
  opts: { forcePath?: boolean } = {},
): Promise<CommitOutcome> {
  const earKey = await deriveEarKey(state, cs);
  const res = await createCommit({ state, cipherSuite: cs }, { wireAsPublicMessage: true, extraProposals: proposals, ...(opts.forcePath ? {} : {}) });
  const nextEarKey = await deriveEarKey(res.newState, cs);
  const groupUpdate: MLSGroupUpdate = { commit: mlsMsg(res.commit), partialGroupInfo: await partialGroupInfo(res.newState, cs, nextEarKey) };
  const keys = { earKey, nextEarKey };
  let body: DSRequestBody;
  switch (op.type) {
    case DSRequestType.add_users:
    case DSRequestType.add_clients: {
      const welcomes = res.welcome ? (op.domainOfRef ? splitWelcome(res.welcome, op.domainOfRef) : [mlsMsg({ version: "mls10", wireformat: "mls_welcome", welcome: res.welcome })]) : [];
      body =
        op.type === DSRequestType.add_users
          ? { type: op.type, groupUpdate, welcomes, pp: { keys, addedUsers: op.addedUsers } }
          : { type: op.type, groupUpdate, welcomes, pp: keys };
      break;
    }
    case DSRequestType.delete_group:
      body = { type: op.type, groupUpdate, pp: { earKey } };
      break;
    default:
      body = { type: op.type, groupUpdate, pp: keys };
  }
  return { request: signAsMember(body, state), newState: res.newState, nextEarKey, welcome: res.welcome, commit: encodeMlsMessage(res.commit) };
}

/** A self-remove proposal request; returns the proposal bytes as fanned out. */
export async function selfRemoveRequest(state: ClientState, cs: CiphersuiteImpl): Promise<{ request: Uint8Array; proposal: Uint8Array; newState: ClientState }> {
  const earKey = await deriveEarKey(state, cs);
  const p = await createProposal(state, true, { proposalType: "remove", remove: { removed: leafIndexOf(state) } }, cs);
  const proposal = mlsMsg(p.message);
  return { request: signAsMember({ type: DSRequestType.self_remove_client, proposal, pp: { earKey } }, state), proposal: proposal.bytes, newState: p.newState };
}

export async function sendMessageRequest(state: ClientState, cs: CiphersuiteImpl, plaintext: Uint8Array): Promise<{ request: Uint8Array; newState: ClientState; message: Uint8Array }> {
  const earKey = await deriveEarKey(state, cs);
  const r = await createApplicationMessage(state, plaintext, cs);
  const message = mlsMsg({ version: "mls10", wireformat: "mls_private_message", privateMessage: r.privateMessage });
  return { request: signAsMember({ type: DSRequestType.send_message, message, pp: { earKey } }, state), newState: r.newState, message: message.bytes };
}

/** External join (new client of a user, resync, or a new user with newUserAuthKey). */
export async function externalJoinRequest(opts: {
  cs: CiphersuiteImpl;
  groupInfo: GroupInfo;
  ratchetTree: RatchetTree;
  keyPackage: { publicPackage: KeyPackage; privatePackage: PrivateKeyPackage };
  earKey: Uint8Array;
  resync: boolean;
  user: UserAuthKey;
  asNewUser: boolean;
}): Promise<{ request: Uint8Array; newState: ClientState; nextEarKey: Uint8Array; commit: Uint8Array }> {
  const j = await joinGroupExternal(opts.groupInfo, opts.keyPackage.publicPackage, opts.keyPackage.privatePackage, opts.resync, opts.cs, opts.ratchetTree);
  const nextEarKey = await deriveEarKey(j.newState, opts.cs);
  const commit = mlsMsg({ version: "mls10", wireformat: "mls_public_message", publicMessage: j.publicMessage });
  const body: DSRequestBody = {
    type: DSRequestType.external_join,
    groupUpdate: { commit, partialGroupInfo: await partialGroupInfo(j.newState, opts.cs, nextEarKey) },
    pp: { keys: { earKey: opts.earKey, nextEarKey }, newUserAuthKey: opts.asNewUser ? opts.user.publicKey : undefined },
  };
  const request = opts.asNewUser ? anonymous(body) : signAsUser(body, opts.user);
  return { request, newState: j.newState, nextEarKey, commit: commit.bytes };
}

/** welcome_info, signed by the joiner's KeyPackage leaf key and naming it by KeyPackageRef. */
export async function welcomeInfoRequest(
  cs: CiphersuiteImpl,
  groupId: Uint8Array,
  epoch: bigint,
  earKey: Uint8Array,
  kp: { publicPackage: KeyPackage; privatePackage: PrivateKeyPackage },
): Promise<Uint8Array> {
  const body: DSRequestBody = { type: DSRequestType.welcome_info, groupId, epoch, pp: { earKey } };
  const bodyBytes = encodeRequestBody(body);
  const keyPackageRef = await makeKeyPackageRef(kp.publicPackage, cs.hash);
  const signature = signWithLabelEd25519(
    kp.privatePackage.signaturePrivateKey,
    kp.publicPackage.leafNode.signaturePublicKey,
    KEY_PACKAGE_SIGNATURE_LABEL,
    keyPackageSignatureTbs(DS_PROTOCOL_VERSION, bodyBytes, keyPackageRef),
  );
  return new DSRequest(DS_PROTOCOL_VERSION, body, { type: DSAuthType.key_package_signature, keyPackageRef, signature }, bodyBytes).serialize();
}

export function externalCommitInfoRequest(groupId: Uint8Array, earKey: Uint8Array): Uint8Array {
  return anonymous({ type: DSRequestType.external_commit_info, groupId, pp: { earKey } });
}

export { encodeWelcome, emptyPskIndex, TlsWriter };
