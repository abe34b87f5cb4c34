// The federated demo `mimi-ds start --federation` runs: two providers, a.test and b.test, each
// with its own relay, gateway, DS, QS and store. alice's home is A; bob's and carol's is B. The
// group lives at A's DS (its hub). B's clients keep their queues at B's QS (reached through B's
// relay and gateway) and talk to A's DS through A's relay and gateway; A's DS fans out to B's QS
// with signed DSFanoutRequests that B verifies with A's key from A's /verification_key.
import { sendMessageRequest } from "../client/dsMember.js";
import { DsHttpClient } from "../client/DsHttpClient.js";
import { MimiClient, MimiUser, type MimiEvent, type MimiGroup, type ProviderLink as SdkProviderLink } from "../client/MimiClient.js";
import { ObliviousHttpTransport, fetchKeyConfigs } from "../client/ObliviousHttpTransport.js";
import { decodeClientQueueConfig } from "../protocol/ClientQueueConfig.js";
import { DSResponseType, EXTENSION_TYPE_QUEUE_CONFIG } from "../protocol/constants.js";
import { DSErrorCode } from "../protocol/errors.js";
import { getNodeCiphersuiteImpl } from "../mls/cryptoProvider.js";
import { DEMO_SUITE, DemoError, type ProviderLink } from "./DemoMember.js";
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
  // The SDK reaches each provider through that provider's relay and gateway.
  const providers = (domain: string): SdkProviderLink => {
    const l = links.get(domain);
    if (!l) throw new DemoError(`no provider configured for ${domain}`);
    return { domain, transport: l.transport, origin: l.origin };
  };
  let alice!: MimiClient;
  let bob!: MimiClient;
  let carol!: MimiClient;
  let group!: MimiGroup;
  const G = (c: MimiClient) => {
    const g = c.group(group.groupId);
    if (!g) throw new DemoError(`${c.user.userId} is not in the group`);
    return g;
  };
  const read = async (c: MimiClient, until: (ev: MimiEvent[]) => boolean) => {
    const ev = await c.receiveUntil(until, { waitMs: 2000, attempts: 3 });
    const bad = ev.flatMap((e) => (e.type === "ignored" ? [e.reason] : []));
    if (bad.length) throw new DemoError(`${c.user.userId}: ${bad.join("; ")}`);
    if (!until(ev)) throw new DemoError(`${c.user.userId}: expected traffic did not arrive`);
    return ev;
  };
  const texts = (ev: MimiEvent[]) => ev.flatMap((e) => (e.type === "message" ? [e.text] : []));

  await step(`queues: alice at ${t.a.domain}'s QS, bob and carol at ${t.b.domain}'s QS (each through its own provider's relay)`, async () => {
    alice = await MimiClient.create({ user: MimiUser.generate("alice", t.a.domain), clientId: "phone", providers, cs });
    bob = await MimiClient.create({ user: MimiUser.generate("bob", t.b.domain), clientId: "phone", providers, cs });
    carol = await MimiClient.create({ user: MimiUser.generate("carol", t.b.domain), clientId: "phone", providers, cs });
    return "3 queues";
  });
  await step(`alice creates a group at ${t.a.domain}'s DS`, async () => {
    group = await alice.createGroup({ hubDomain: t.a.domain });
    return `epoch ${group.epoch}`;
  });
  await step(`alice adds bob and carol, whose KeyPackages name ${t.b.domain}'s QS; one Welcome goes to ${t.b.domain}`, async () => {
    const kps = [await bob.handOutKeyPackage("group"), await carol.handOutKeyPackage("group")];
    for (const kp of kps) {
      const ext = kp.leafNode.extensions.find((e) => e.extensionType === EXTENSION_TYPE_QUEUE_CONFIG);
      const qsDomain = ext && decodeClientQueueConfig(ext.extensionData).qsDomain;
      if (qsDomain !== t.b.domain) throw new DemoError(`KeyPackage names QS ${String(qsDomain)}`);
    }
    await group.addUsers(kps.map((kp) => [kp]));
    return `epoch ${group.epoch}`;
  });
  await step(`bob and carol read their Welcome at ${t.b.domain}'s QS and fetch the tree from the hub DS through ${t.a.domain}'s relay`, async () => {
    for (const m of [bob, carol]) {
      await read(m, (ev) => ev.some((e) => e.type === "joined"));
      if (G(m).epoch !== group.epoch) throw new DemoError(`${m.user.userId} joined at another epoch`);
    }
    return `both joined at epoch ${group.epoch}; the Welcome came from DS ${G(bob).hubDomain}`;
  });
  await step("bob sends; alice reads at her QS, carol at hers", async () => {
    await G(bob).send(`hello from ${t.b.domain}`);
    const a = texts(await read(alice, (ev) => texts(ev).length > 0));
    const c = texts(await read(carol, (ev) => texts(ev).length > 0));
    if (a[0] !== `hello from ${t.b.domain}` || c[0] !== a[0]) throw new DemoError(`alice read ${JSON.stringify(a)}, carol ${JSON.stringify(c)}`);
    return `alice and carol read ${JSON.stringify(a[0])}`;
  });
  await step("carol: update_client; the commit reaches alice (A) and bob (B)", async () => {
    await G(carol).update();
    for (const m of [alice, bob]) await read(m, (ev) => ev.some((e) => e.type === "commit"));
    if (G(alice).epoch !== G(carol).epoch || G(bob).epoch !== G(carol).epoch) throw new DemoError("members diverged");
    return `all three at epoch ${G(carol).epoch}`;
  });
  await step("alice removes carol; carol's stale key is refused; bob and alice carry on", async () => {
    const carolState = G(carol).state;
    await group.removeUsers([G(carol).leafIndex]);
    await read(bob, (ev) => ev.some((e) => e.type === "commit"));
    const late = await sendMessageRequest(carolState, cs, te.encode("still here?"));
    const res = await hubA.send(late.request);
    if (res.body.type !== DSResponseType.error || res.body.code !== DSErrorCode.stale_or_wrong_key) throw new DemoError("carol was not refused");
    await G(bob).send("bye carol");
    const a = texts(await read(alice, (ev) => texts(ev).length > 0));
    return `carol refused (stale_or_wrong_key); alice reads ${JSON.stringify(a)}`;
  });
  return { ok, transcript };
}
