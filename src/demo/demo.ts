// The demo conversation `mimi-ds start` runs once through the relay, and `mimi-ds demo` runs
// against processes that are already up. Every step goes client -> relay -> gateway -> provider.
import { randomBytes } from "node:crypto";
import { acceptAll, emptyPskIndex, joinGroup, processMessage, type ClientState, type GroupInfo, type RatchetTree } from "ts-mls";
import { DsHttpClient, type FetchLike } from "../client/DsHttpClient.js";
import { QueueClient } from "../client/QueueClient.js";
import { openJoinerKey } from "../ds/earKey.js";
import { decodeMlsMessage } from "../mls/adapter.js";
import {
  anonymous,
  createGroupRequest,
  deriveEarKey,
  externalCommitInfoRequest,
  externalJoinRequest,
  generateUserAuthKey,
  makeKeyPackage,
  sendMessageRequest,
  commitRequest,
  welcomeInfoRequest,
} from "../client/dsMember.js";
import { ObliviousHttpTransport, fetchKeyConfigs } from "../client/ObliviousHttpTransport.js";
import { getNodeCiphersuiteImpl } from "../mls/cryptoProvider.js";
import { DSRequestType, DSResponseType } from "../protocol/constants.js";
import { DSErrorCode } from "../protocol/errors.js";
import type { DSResponse } from "../protocol/DSResponse.js";

export interface DemoTarget {
  relayUrl: string;
  /** the gateway's key discovery URL (…/.well-known/ohttp-gateway) */
  gatewayKeysUrl: string;
  /** the provider origin as the gateway's allow-list names it */
  providerOrigin: string;
  /** the provider's MIMI domain (default a.test) */
  domain?: string;
}

export interface DemoResult {
  ok: boolean;
  transcript: string[];
}

export async function runDemo(t: DemoTarget, print: (line: string) => void = () => {}): Promise<DemoResult> {
  const transcript: string[] = [];
  const say = (s: string) => {
    transcript.push(s);
    print(s);
  };
  let ok = true;
  const step = async (label: string, fn: () => Promise<string>) => {
    try {
      say(`${label}: ${await fn()}`);
    } catch (e) {
      ok = false;
      say(`${label}: FAILED (${(e as Error).message})`);
    }
  };
  let transport: ObliviousHttpTransport | undefined;
  await step("discover gateway keys", async () => {
    const configs = await fetchKeyConfigs(t.gatewayKeysUrl);
    transport = new ObliviousHttpTransport({ relayUrl: t.relayUrl, keyConfig: configs[0]! });
    return `key id ${configs[0]!.keyId}, ${configs.length} configuration(s)`;
  });
  if (!transport) return { ok: false, transcript };
  const tr = transport;
  await step("provider health via relay+gateway", async () => {
    const r = await tr.fetch(`${t.providerOrigin}/health`);
    if (r.status !== 200) throw new Error(`status ${r.status}`);
    return new TextDecoder().decode(r.body).trim();
  });
  await step("DS domain discovery via relay+gateway", async () => {
    const r = await tr.fetch(`${t.providerOrigin}/.well-known/mimi/ds-domain`);
    if (r.status !== 200) throw new Error(`status ${r.status}`);
    return new TextDecoder().decode(r.body).trim();
  });
  await step("chunked OHTTP round trip", async () => {
    const chunked = new ObliviousHttpTransport({ relayUrl: t.relayUrl, keyConfig: tr.opts.keyConfig, chunked: true });
    const r = await chunked.fetch(`${t.providerOrigin}/health`);
    if (r.status !== 200) throw new Error(`status ${r.status}`);
    return `status ${r.status}`;
  });
  await step("off-list target refused by the gateway", async () => {
    const r = await tr.fetch("http://forbidden.invalid/health");
    if (r.status !== 403) throw new Error(`expected 403, got ${r.status}`);
    return "403 (encapsulated)";
  });
  if (ok) await dsConversation(new DsHttpClient(tr, t.providerOrigin), tr, t.providerOrigin, t.domain ?? "a.test", step);
  return { ok, transcript };
}

const okBody = (r: DSResponse, what: string) => {
  if (r.body.type === DSResponseType.error) throw new Error(`${what}: DS error ${DSErrorCode[r.body.code]}`);
  return r.body;
};

interface DemoMember {
  name: string;
  queue: QueueClient;
  user: ReturnType<typeof generateUserAuthKey>;
  state?: ClientState;
}

/**
 * Three users through the Delivery Service and the Queueing Service, every request via relay
 * and gateway. alice creates a group; bob connects by external commit with the group id and
 * group-state key alice gave him (the reduced-metadata connection flow: no KeyPackage ties bob
 * to the group); alice adds carol by Welcome; messages flow through each member's queue;
 * bob updates; alice removes bob, whose stale key is then refused.
 */
async function dsConversation(ds: DsHttpClient, transport: FetchLike, origin: string, domain: string, step: (label: string, fn: () => Promise<string>) => Promise<void>): Promise<void> {
  const cs = await getNodeCiphersuiteImpl("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519");
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  let dsKey: Uint8Array | undefined;
  let groupId: Uint8Array | undefined;
  const members: DemoMember[] = [];
  const kpFor = async (m: DemoMember) => makeKeyPackage(cs, randomBytes(16), await m.queue.newQueueConfig());
  /** Reads a member's queue and processes commits, proposals and application messages. */
  const catchUp = async (m: DemoMember): Promise<string[]> => {
    const got: string[] = [];
    for (const item of await m.queue.receive()) {
      const msg = decodeMlsMessage(item.message, 0)?.[0];
      if (!msg || !m.state || (msg.wireformat !== "mls_public_message" && msg.wireformat !== "mls_private_message")) continue;
      const r = await processMessage(msg, m.state, emptyPskIndex, acceptAll, cs);
      m.state = r.newState;
      if (r.kind === "applicationMessage") got.push(text(r.message));
    }
    return got;
  };
  const [alice, bob, carol] = ["alice", "bob", "carol"].map((name) => ({ name, user: generateUserAuthKey() }) as DemoMember) as [DemoMember, DemoMember, DemoMember];

  await step("alice, bob, carol: create their queues at the QS (owner-signed, via relay)", async () => {
    for (const m of [alice, bob, carol]) {
      m.queue = await QueueClient.create(transport, origin, domain);
      members.push(m);
    }
    return "3 queues";
  });
  await step("DS signature key (signature_public_key)", async () => {
    const b = okBody(await ds.send(anonymous({ type: DSRequestType.signature_public_key })), "signature_public_key");
    if (b.type !== DSResponseType.signature_public_key) throw new Error("unexpected response");
    dsKey = b.signaturePublicKey;
    return `${dsKey.length}-byte Ed25519 key`;
  });
  await step("alice: request_group_id + create_group", async () => {
    const b = okBody(await ds.send(anonymous({ type: DSRequestType.request_group_id })), "request_group_id");
    if (b.type !== DSResponseType.group_id) throw new Error("unexpected response");
    groupId = b.groupId;
    const c = await createGroupRequest({ cs, groupId, keyPackage: await kpFor(alice), user: alice.user, ds: { signaturePublicKey: dsKey!, domain } });
    okBody(await ds.send(c.request), "create_group");
    alice.state = c.state;
    return "epoch 0; the DS stores the group only encrypted under the epoch's key";
  });
  await step("bob connects: external_commit_info + external_join as a new user", async () => {
    const earKey = await deriveEarKey(alice.state!, cs);
    const info = okBody(await ds.send(externalCommitInfoRequest(groupId!, earKey)), "external_commit_info");
    if (info.type !== DSResponseType.external_commit_info || info.groupInfo.value.wireformat !== "mls_group_info" || !info.ratchetTree) throw new Error("unexpected response");
    const j = await externalJoinRequest({ cs, groupInfo: info.groupInfo.value.groupInfo as GroupInfo, ratchetTree: info.ratchetTree.value as RatchetTree, keyPackage: await kpFor(bob), earKey, resync: false, user: bob.user, asNewUser: true });
    okBody(await ds.send(j.request), "external_join");
    bob.state = j.newState;
    await catchUp(alice);
    if (alice.state!.groupContext.epoch !== bob.state.groupContext.epoch) throw new Error("alice did not get bob's commit");
    return `alice processed bob's commit from her queue: both at epoch ${bob.state.groupContext.epoch}`;
  });
  await step("alice adds carol (add_users, Welcome + sealed group-state key to carol's queue)", async () => {
    const kp = await kpFor(carol);
    const add = await commitRequest(alice.state!, cs, { type: DSRequestType.add_users, addedUsers: [{ userAuthKey: carol.user.publicKey, clientCount: 1 }] }, [{ proposalType: "add", add: { keyPackage: kp.publicPackage } }]);
    okBody(await ds.send(add.request), "add_users");
    alice.state = add.newState;
    const [item] = await carol.queue.receive();
    if (!item?.sealedJoinerKey) throw new Error("carol got no Welcome");
    const { epoch, earKey } = await openJoinerKey("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519", kp.privatePackage.initPrivateKey, item.sealedJoinerKey, groupId!);
    const wi = okBody(await ds.send(await welcomeInfoRequest(cs, groupId!, epoch, earKey, kp)), "welcome_info");
    if (wi.type !== DSResponseType.welcome_info) throw new Error("unexpected response");
    const w = decodeMlsMessage(item.message, 0)![0];
    if (w.wireformat !== "mls_welcome") throw new Error("not a Welcome");
    carol.state = await joinGroup(w.welcome, kp.publicPackage, kp.privatePackage, emptyPskIndex, cs, wi.ratchetTree.value as RatchetTree);
    await catchUp(bob);
    return `carol joined at epoch ${carol.state.groupContext.epoch} (tree from welcome_info)`;
  });
  await step("carol and bob send messages; everyone reads their queue", async () => {
    for (const [m, t] of [[carol, "hello from carol"], [bob, "hi carol, bob here"]] as const) {
      const s = await sendMessageRequest(m.state!, cs, new TextEncoder().encode(t));
      okBody(await ds.send(s.request), "send_message");
      m.state = s.newState;
    }
    const a = await catchUp(alice);
    const b = await catchUp(bob);
    const c = await catchUp(carol);
    if (a.length !== 2 || b.length !== 1 || c.length !== 1) throw new Error(`unexpected deliveries ${a.length}/${b.length}/${c.length}`);
    return `alice read ${JSON.stringify(a)}`;
  });
  await step("bob: update_client (new path, next epoch's key)", async () => {
    const u = await commitRequest(bob.state!, cs, { type: DSRequestType.update_client });
    okBody(await ds.send(u.request), "update_client");
    bob.state = u.newState;
    await catchUp(alice);
    await catchUp(carol);
    const e = bob.state.groupContext.epoch;
    if (alice.state!.groupContext.epoch !== e || carol.state!.groupContext.epoch !== e) throw new Error("members diverged");
    return `all three at epoch ${e}`;
  });
  await step("alice removes bob (remove_users); bob's stale key is refused", async () => {
    const bobLeaf = bob.state!.privatePath.leafIndex;
    const r = await commitRequest(alice.state!, cs, { type: DSRequestType.remove_users }, [{ proposalType: "remove", remove: { removed: bobLeaf } }]);
    okBody(await ds.send(r.request), "remove_users");
    alice.state = r.newState;
    await catchUp(carol);
    const late = await sendMessageRequest(bob.state!, cs, new TextEncoder().encode("am I still here?"));
    const res = await ds.send(late.request);
    if (res.body.type !== DSResponseType.error || res.body.code !== DSErrorCode.stale_or_wrong_key) throw new Error("bob was not refused");
    const s = await sendMessageRequest(carol.state!, cs, new TextEncoder().encode("bye bob"));
    okBody(await ds.send(s.request), "send_message");
    carol.state = s.newState;
    const a = await catchUp(alice);
    return `bob refused (stale_or_wrong_key); alice still reads carol: ${JSON.stringify(a)}`;
  });
}

// The two-provider variant (`mimi-ds start --federation`) lives beside this one.
export { runFederatedDemo, type FederatedDemoTargets } from "./federation.js";
