// A small harness around real ts-mls clients for the engine tests (not a test file itself).
import assert from "node:assert/strict";
import {
  acceptAll,
  createCommit,
  createGroup,
  createGroupInfoWithExternalPub,
  createProposal,
  defaultCapabilities,
  defaultLifetime,
  generateKeyPackage,
  generateKeyPackageWithKey,
  joinGroup,
  joinGroupExternal,
  makePskIndex,
  processMessage,
  processPublicMessage,
  type ClientState,
  type CreateCommitResult,
  type Credential,
  type Extension,
  type KeyPackage,
  type MLSMessage,
  type PrivateKeyPackage,
  type Proposal,
  type PublicMessage,
} from "ts-mls";
import {
  encodeLeafNodeTBS,
  framedContentTBS,
  signFramedContentTBS,
  signWithLabel,
  type CiphersuiteImpl,
  type LeafNodeUpdate,
} from "../../src/mls/adapter.js";
import { getNodeCiphersuiteImpl } from "../../src/mls/cryptoProvider.js";
import { compareWithMember } from "../../src/ds/engine/conformance.js";
import type { PublicGroup } from "../../src/ds/engine/PublicGroup.js";

export const SUITE = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519" as const;
export const memberCs = (): Promise<CiphersuiteImpl> => getNodeCiphersuiteImpl(SUITE, "member");
export const engineCs = (): Promise<CiphersuiteImpl> => getNodeCiphersuiteImpl(SUITE, "engine");

const utf8 = (s: string) => new TextEncoder().encode(s);

export interface Client {
  name: string;
  credential: Credential;
  keyPackage: KeyPackage;
  privateKeys: PrivateKeyPackage;
  state?: ClientState;
}

export async function newClient(name: string, cs: CiphersuiteImpl): Promise<Client> {
  const credential: Credential = { credentialType: "basic", identity: utf8(name) };
  const { publicPackage, privatePackage } = await generateKeyPackage(credential, defaultCapabilities(), defaultLifetime, [], cs);
  return { name, credential, keyPackage: publicPackage, privateKeys: privatePackage };
}

/** A fresh KeyPackage for the same client (same signature key and credential), e.g. to resync. */
export async function renewKeyPackage(c: Client, cs: CiphersuiteImpl): Promise<Client> {
  const { publicPackage, privatePackage } = await generateKeyPackageWithKey(
    c.credential,
    defaultCapabilities(),
    defaultLifetime,
    [],
    { signKey: c.privateKeys.signaturePrivateKey, publicKey: c.keyPackage.leafNode.signaturePublicKey },
    cs,
  );
  return { ...c, keyPackage: publicPackage, privateKeys: privatePackage, state: undefined };
}

export function st(c: Client): ClientState {
  assert.ok(c.state, `${c.name} has no group state`);
  return c.state;
}

export async function create(c: Client, groupId: string, extensions: Extension[], cs: CiphersuiteImpl): Promise<void> {
  c.state = await createGroup(utf8(groupId), c.keyPackage, c.privateKeys, extensions, cs);
}

export async function commit(
  c: Client,
  cs: CiphersuiteImpl,
  opts: { proposals?: Proposal[]; publicMessage?: boolean } = {},
): Promise<Pick<CreateCommitResult, "commit" | "welcome">> {
  const r = await createCommit(
    { state: st(c), cipherSuite: cs },
    { wireAsPublicMessage: opts.publicMessage ?? true, extraProposals: opts.proposals ?? [], ratchetTreeExtension: true },
  );
  c.state = r.newState;
  return { commit: r.commit, welcome: r.welcome };
}

export async function propose(c: Client, p: Proposal, cs: CiphersuiteImpl, publicMessage = true): Promise<MLSMessage> {
  const r = await createProposal(st(c), publicMessage, p, cs);
  c.state = r.newState;
  return r.message;
}

/** Every listed member processes `msg`. */
export async function deliver(msg: MLSMessage | PublicMessage, to: Client[], cs: CiphersuiteImpl): Promise<void> {
  for (const c of to) {
    const s = st(c);
    if ("wireformat" in msg) {
      assert.ok(msg.wireformat === "mls_public_message" || msg.wireformat === "mls_private_message");
      c.state = (await processMessage(msg, s, makePskIndex(s, {}), acceptAll, cs)).newState;
    } else {
      c.state = (await processPublicMessage(s, msg, makePskIndex(s, {}), cs)).newState;
    }
  }
}

export async function join(c: Client, welcome: Parameters<typeof joinGroup>[0], cs: CiphersuiteImpl): Promise<void> {
  c.state = await joinGroup(welcome, c.keyPackage, c.privateKeys, makePskIndex(undefined, {}), cs);
}

export async function externalJoin(c: Client, via: Client, resync: boolean, cs: CiphersuiteImpl): Promise<PublicMessage> {
  const gi = await createGroupInfoWithExternalPub(st(via), [], cs);
  const r = await joinGroupExternal(gi, c.keyPackage, c.privateKeys, resync, cs, st(via).ratchetTree);
  c.state = r.newState;
  return r.publicMessage;
}

/** The engine state equals every listed member's public state, byte for byte. */
export function assertSameAsMembers(g: PublicGroup, members: Client[]): void {
  for (const m of members) assert.deepEqual(compareWithMember(g, st(m)), [], `engine differs from ${m.name}`);
}

/** An Update proposal's LeafNode for `c` with a fresh encryption key (ts-mls has no helper). */
export async function updateLeafNode(c: Client, cs: CiphersuiteImpl): Promise<LeafNodeUpdate> {
  const s = st(c);
  const node = s.ratchetTree[2 * s.privatePath.leafIndex];
  assert.ok(node?.nodeType === "leaf");
  const old = node.leaf;
  const kp = await cs.hpke.generateKeyPair();
  const hpkePublicKey = await cs.hpke.exportPublicKey(kp.publicKey);
  const data = {
    hpkePublicKey,
    signaturePublicKey: old.signaturePublicKey,
    credential: old.credential,
    capabilities: old.capabilities,
  };
  const tbs = encodeLeafNodeTBS({
    ...data,
    leafNodeSource: "update",
    extensions: old.extensions,
    groupId: s.groupContext.groupId,
    leafIndex: s.privatePath.leafIndex,
  });
  const signature = await signWithLabel(s.signaturePrivateKey, "LeafNodeTBS", tbs, cs.signature);
  return { ...data, leafNodeSource: "update", extensions: old.extensions, signature };
}

/** Re-sign a (tampered) PublicMessage as `signKey` would, against the given GroupContext. */
export async function resign(pm: PublicMessage, signKey: Uint8Array, groupContext: ClientState["groupContext"], cs: CiphersuiteImpl): Promise<PublicMessage> {
  const signature = await signFramedContentTBS(signKey, framedContentTBS(pm.content, "mls_public_message", groupContext), cs.signature);
  return { ...pm, auth: { ...pm.auth, signature } } as PublicMessage;
}

export function publicOf(m: MLSMessage): PublicMessage {
  assert.equal(m.wireformat, "mls_public_message");
  if (m.wireformat !== "mls_public_message") throw new Error("unreachable");
  return m.publicMessage;
}
