// The demo conversation `mimi-ds start` runs once through the relay, and `mimi-ds demo` runs
// against processes that are already up. Every step goes client -> relay -> gateway -> provider.
import { randomBytes } from "node:crypto";
import type { ClientState, GroupInfo, RatchetTree } from "ts-mls";
import { DsHttpClient } from "../client/DsHttpClient.js";
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
  if (ok) await dsConversation(new DsHttpClient(tr, t.providerOrigin), step);
  return { ok, transcript };
}

const okBody = (r: DSResponse, what: string) => {
  if (r.body.type === DSResponseType.error) throw new Error(`${what}: DS error ${DSErrorCode[r.body.code]}`);
  return r.body;
};

/**
 * A group through the Delivery Service, every request via relay and gateway: alice creates a
 * group, bob joins by external commit with the group-state key alice shared (the
 * reduced-metadata flow: no KeyPackage ties bob to the group), bob sends and updates, and
 * alice, who has not processed those commits, is refused with her stale key. (Delivery to
 * members' queues comes with the Queueing Service.)
 */
async function dsConversation(ds: DsHttpClient, step: (label: string, fn: () => Promise<string>) => Promise<void>): Promise<void> {
  const cs = await getNodeCiphersuiteImpl("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519");
  const queue = (d: string) => ({ qsDomain: d, sealedReference: randomBytes(48) });
  let dsKey: Uint8Array | undefined;
  let groupId: Uint8Array | undefined;
  let alice: ClientState | undefined;
  let bob: ClientState | undefined;
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
    const c = await createGroupRequest({ cs, groupId, keyPackage: await makeKeyPackage(cs, randomBytes(16), queue("a.test")), user: generateUserAuthKey(), ds: { signaturePublicKey: dsKey!, domain: "a.test" } });
    okBody(await ds.send(c.request), "create_group");
    alice = c.state;
    return "group created at epoch 0 (state stored encrypted under the epoch key)";
  });
  await step("bob: external_commit_info + external_join as a new user", async () => {
    const earKey = await deriveEarKey(alice!, cs);
    const info = okBody(await ds.send(externalCommitInfoRequest(groupId!, earKey)), "external_commit_info");
    if (info.type !== DSResponseType.external_commit_info || info.groupInfo.value.wireformat !== "mls_group_info" || !info.ratchetTree) throw new Error("unexpected response");
    const j = await externalJoinRequest({
      cs,
      groupInfo: info.groupInfo.value.groupInfo as GroupInfo,
      ratchetTree: info.ratchetTree.value as RatchetTree,
      keyPackage: await makeKeyPackage(cs, randomBytes(16), queue("a.test")),
      earKey,
      resync: false,
      user: generateUserAuthKey(),
      asNewUser: true,
    });
    okBody(await ds.send(j.request), "external_join");
    bob = j.newState;
    return `bob joined, group at epoch ${bob.groupContext.epoch}`;
  });
  await step("bob: send_message (a PrivateMessage; the DS authenticates his leaf from one leaf page)", async () => {
    const m1 = await sendMessageRequest(bob!, cs, new TextEncoder().encode("hi alice"));
    okBody(await ds.send(m1.request), "send_message (bob)");
    bob = m1.newState;
    return "send_message accepted";
  });
  await step("bob: update_client (commit with a new path and the next epoch's key)", async () => {
    const u = await commitRequest(bob!, cs, { type: DSRequestType.update_client });
    okBody(await ds.send(u.request), "update_client");
    bob = u.newState;
    return `group at epoch ${bob.groupContext.epoch}`;
  });
  await step("a stale key is refused", async () => {
    const stale = await sendMessageRequest(alice!, cs, new TextEncoder().encode("am I behind?"));
    const r = await ds.send(stale.request);
    if (r.body.type !== DSResponseType.error || r.body.code !== DSErrorCode.stale_or_wrong_key) throw new Error("expected stale_or_wrong_key");
    return "stale_or_wrong_key (alice has not processed the last commits)";
  });
}
