// The federated demo `mimi-ds start --federation` runs: two providers, a.test and b.test, each
// with its own relay, gateway, DS, QS and store. alice's home is A; bob's and carol's is B. The
// group lives at A's DS (its hub). B's clients keep their queues at B's QS (reached through B's
// relay and gateway) and talk to A's DS through A's relay and gateway; A's DS fans out to B's QS
// with signed DSFanoutRequests that B verifies with A's key from A's /verification_key.
import { commitRequest, createGroupRequest, anonymous, sendMessageRequest } from "../client/dsMember.js";
import { DsHttpClient } from "../client/DsHttpClient.js";
import { ObliviousHttpTransport, fetchKeyConfigs } from "../client/ObliviousHttpTransport.js";
import { decodeClientQueueConfig } from "../protocol/ClientQueueConfig.js";
import { DSRequestType, DSResponseType, EXTENSION_TYPE_QUEUE_CONFIG } from "../protocol/constants.js";
import { DSErrorCode } from "../protocol/errors.js";
import { makeKeyPackageRef } from "../mls/adapter.js";
import { getNodeCiphersuiteImpl } from "../mls/cryptoProvider.js";
import { DEMO_SUITE, DemoError, DemoMember, okBody, type ProviderLink } from "./DemoMember.js";
import type { DemoResult, DemoTarget } from "./demo.js";

export interface FederatedDemoTargets {
  /** the group's hub: its DS holds the group */
  a: DemoTarget & { domain: string };
  /** the guest provider: its QS holds bob's and carol's queues */
  b: DemoTarget & { domain: string };
}

const te = new TextEncoder();

export async function runFederatedDemo(t: FederatedDemoTargets, print: (line: string) => void = () => {}): Promise<DemoResult> {
  const transcript: string[] = [];
  let ok = true;
  const say = (s: string) => {
    transcript.push(s);
    print(s);
  };
  const step = async (label: string, fn: () => Promise<string>): Promise<boolean> => {
    if (!ok) return false;
    try {
      say(`${label}: ${await fn()}`);
      return true;
    } catch (e) {
      ok = false;
      say(`${label}: FAILED (${(e as Error).message})`);
      return false;
    }
  };

  // Each provider as its own clients reach it: through its relay and gateway.
  const links = new Map<string, ProviderLink>();
  /** DS domain -> the DS client for it, filled by discovery through that provider's chain */
  const hubs = new Map<string, DsHttpClient>();
  await step("discover both gateways' keys", async () => {
    for (const p of [t.a, t.b]) {
      const configs = await fetchKeyConfigs(p.gatewayKeysUrl);
      links.set(p.domain, { transport: new ObliviousHttpTransport({ relayUrl: p.relayUrl, keyConfig: configs[0]! }), origin: p.providerOrigin });
    }
    return `${t.a.domain} and ${t.b.domain}: one key configuration each`;
  });
  await step("DS discovery (/.well-known/mimi/ds-domain) through each provider's relay+gateway", async () => {
    for (const p of [t.a, t.b]) {
      const l = links.get(p.domain)!;
      const r = await l.transport.fetch(`${l.origin}/.well-known/mimi/ds-domain`, { method: "GET" });
      const dsDomain = new TextDecoder().decode(r.body).trim();
      if (r.status !== 200 || dsDomain !== p.domain) throw new DemoError(`${p.domain} names DS ${dsDomain} (${r.status})`);
      hubs.set(dsDomain, new DsHttpClient(l.transport, l.origin));
    }
    return [...hubs.keys()].join(", ");
  });
  if (!ok) return { ok, transcript };
  const cs = await getNodeCiphersuiteImpl(DEMO_SUITE);
  const hubA = hubs.get(t.a.domain)!;
  const hubOf = (domain: string) => {
    const h = hubs.get(domain);
    if (!h) throw new DemoError(`no discovered DS for ${domain}`);
    return h;
  };
  let alice!: DemoMember;
  let bob!: DemoMember;
  let carol!: DemoMember;
  let groupId!: Uint8Array;

  await step(`queues: alice at ${t.a.domain}'s QS, bob and carol at ${t.b.domain}'s QS (each through its own provider's relay)`, async () => {
    alice = await DemoMember.create("alice", cs, links.get(t.a.domain)!, t.a.domain);
    bob = await DemoMember.create("bob", cs, links.get(t.b.domain)!, t.b.domain);
    carol = await DemoMember.create("carol", cs, links.get(t.b.domain)!, t.b.domain);
    return "3 queues";
  });
  await step(`alice creates a group at ${t.a.domain}'s DS`, async () => {
    const key = okBody(await hubA.send(anonymous({ type: DSRequestType.signature_public_key })), "signature_public_key");
    const gid = okBody(await hubA.send(anonymous({ type: DSRequestType.request_group_id })), "request_group_id");
    if (key.type !== DSResponseType.signature_public_key || gid.type !== DSResponseType.group_id) throw new DemoError("unexpected answer");
    groupId = gid.groupId;
    const c = await createGroupRequest({ cs, groupId, keyPackage: await alice.keyPackage(), user: alice.user, ds: { signaturePublicKey: key.signaturePublicKey, domain: t.a.domain } });
    okBody(await hubA.send(c.request), "create_group");
    alice.state = c.state;
    return `epoch ${alice.epoch}`;
  });
  await step(`alice adds bob and carol, whose KeyPackages name ${t.b.domain}'s QS; one Welcome goes to ${t.b.domain}`, async () => {
    const kps = [await bob.keyPackage(), await carol.keyPackage()];
    const domains = new Map<string, string>();
    for (const kp of kps) {
      const ext = kp.publicPackage.leafNode.extensions.find((e) => e.extensionType === EXTENSION_TYPE_QUEUE_CONFIG);
      if (!ext) throw new DemoError("KeyPackage without a queue config");
      const qsDomain = decodeClientQueueConfig(ext.extensionData).qsDomain;
      if (qsDomain !== t.b.domain) throw new DemoError(`KeyPackage names QS ${qsDomain}`);
      domains.set(Buffer.from(await makeKeyPackageRef(kp.publicPackage, cs.hash)).toString("hex"), qsDomain);
    }
    const add = await commitRequest(
      alice.state!,
      cs,
      {
        type: DSRequestType.add_users,
        addedUsers: [bob, carol].map((m) => ({ userAuthKey: m.user.publicKey, clientCount: 1 })),
        domainOfRef: (r) => domains.get(Buffer.from(r).toString("hex")) ?? t.a.domain,
      },
      kps.map((kp) => ({ proposalType: "add" as const, add: { keyPackage: kp.publicPackage } })),
    );
    okBody(await hubA.send(add.request), "add_users");
    alice.state = add.newState;
    return `epoch ${alice.epoch}`;
  });
  await step(`bob and carol read their Welcome at ${t.b.domain}'s QS and fetch the tree from the hub DS through ${t.a.domain}'s relay`, async () => {
    for (const m of [bob, carol]) {
      const c = await m.catchUpUntil((x) => x.welcomes.length > 0, { waitMs: 2000, attempts: 3 });
      const w = c.welcomes[0];
      if (!w) throw new DemoError(`${m.name} got no Welcome`);
      await m.joinFromWelcome(w, hubOf(w.senderDomain), groupId);
      if (m.epoch !== alice.epoch) throw new DemoError(`${m.name} joined at another epoch`);
    }
    return `both joined at epoch ${alice.epoch}; the Welcome came from DS ${t.a.domain}`;
  });
  await step("bob sends; alice reads at her QS, carol at hers", async () => {
    const s = await sendMessageRequest(bob.state!, cs, te.encode(`hello from ${t.b.domain}`));
    okBody(await hubA.send(s.request), "send_message");
    bob.state = s.newState;
    const a = await alice.catchUpUntil((x) => x.texts.length > 0, { waitMs: 2000, attempts: 3 });
    const c = await carol.catchUpUntil((x) => x.texts.length > 0, { waitMs: 2000, attempts: 3 });
    if (a.texts[0] !== `hello from ${t.b.domain}` || c.texts[0] !== a.texts[0]) throw new DemoError(`alice read ${JSON.stringify(a.texts)}, carol ${JSON.stringify(c.texts)}`);
    return `alice and carol read ${JSON.stringify(a.texts[0])}`;
  });
  await step("carol: update_client; the commit reaches alice (A) and bob (B)", async () => {
    const u = await commitRequest(carol.state!, cs, { type: DSRequestType.update_client });
    okBody(await hubA.send(u.request), "update_client");
    carol.state = u.newState;
    for (const m of [alice, bob]) await m.catchUpUntil((x) => x.handshakes > 0, { waitMs: 2000, attempts: 3 });
    if (alice.epoch !== carol.epoch || bob.epoch !== carol.epoch) throw new DemoError("members diverged");
    return `all three at epoch ${carol.epoch}`;
  });
  await step("alice removes carol; carol's stale key is refused; bob and alice carry on", async () => {
    const r = await commitRequest(alice.state!, cs, { type: DSRequestType.remove_users }, [{ proposalType: "remove", remove: { removed: carol.leafIndex } }]);
    okBody(await hubA.send(r.request), "remove_users");
    alice.state = r.newState;
    await bob.catchUpUntil((x) => x.handshakes > 0, { waitMs: 2000, attempts: 3 });
    const late = await sendMessageRequest(carol.state!, cs, te.encode("still here?"));
    const res = await hubA.send(late.request);
    if (res.body.type !== DSResponseType.error || res.body.code !== DSErrorCode.stale_or_wrong_key) throw new DemoError("carol was not refused");
    const s = await sendMessageRequest(bob.state!, cs, te.encode("bye carol"));
    okBody(await hubA.send(s.request), "send_message");
    bob.state = s.newState;
    const a = await alice.catchUpUntil((x) => x.texts.length > 0, { waitMs: 2000, attempts: 3 });
    return `carol refused (stale_or_wrong_key); alice reads ${JSON.stringify(a.texts)}`;
  });
  return { ok, transcript };
}
