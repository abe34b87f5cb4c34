// The demo conversation `mimi-ds start` runs once through the relay, and `mimi-ds demo` runs
// against processes that are already up. Every step goes client -> relay -> gateway -> provider.
import { DsHttpClient, type FetchLike } from "../client/DsHttpClient.js";
import { anonymous, sendMessageRequest } from "../client/dsMember.js";
import { MimiClient, MimiUser, type MimiEvent, type MimiGroup } from "../client/MimiClient.js";
import { ObliviousHttpTransport, fetchKeyConfigs } from "../client/ObliviousHttpTransport.js";
import { getNodeCiphersuiteImpl } from "../mls/cryptoProvider.js";
import { DSRequestType, DSResponseType } from "../protocol/constants.js";
import { DSErrorCode } from "../protocol/errors.js";

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

/**
 * Three users on the client SDK, every request via relay and gateway. bob hands alice a
 * connection KeyPackage (a contact card); alice creates a connection group and sends bob a
 * connection offer sealed to it through /connection_request; bob joins by external commit (the
 * reduced-metadata connection flow: no KeyPackage of bob's reaches the DS). alice adds carol by
 * Welcome; messages flow through each member's queue; bob updates; alice removes bob, whose stale
 * key is then refused.
 */
async function dsConversation(ds: DsHttpClient, transport: FetchLike, origin: string, domain: string, step: (label: string, fn: () => Promise<string>) => Promise<void>): Promise<void> {
  const cs = await getNodeCiphersuiteImpl("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519");
  const providers = (d: string) => {
    if (d !== domain) throw new Error(`no provider configured for ${d}`);
    return { domain, transport, origin };
  };
  let alice: MimiClient | undefined;
  let bob: MimiClient | undefined;
  let carol: MimiClient | undefined;
  let conn: MimiGroup | undefined;
  let group: MimiGroup | undefined;
  const texts = (ev: MimiEvent[]) => ev.flatMap((e) => (e.type === "message" ? [e.text] : []));
  const failures = (ev: MimiEvent[]) => ev.flatMap((e) => (e.type === "ignored" ? [e.reason] : []));
  const read = async (c: MimiClient, until: (ev: MimiEvent[]) => boolean) => {
    const ev = await c.receiveUntil(until, { waitMs: 1000, attempts: 10 });
    if (failures(ev).length) throw new Error(`${c.user.userId}: ${failures(ev).join("; ")}`);
    if (!until(ev)) throw new Error(`${c.user.userId}: expected traffic did not arrive`);
    return ev;
  };

  await step("alice, bob, carol: create their queues at the QS (owner-signed, via relay)", async () => {
    [alice, bob, carol] = await Promise.all(["alice", "bob", "carol"].map((u) => MimiClient.create({ user: MimiUser.generate(u, domain), clientId: "phone", providers, cs })));
    return "3 queues";
  });
  await step("DS signature key (signature_public_key)", async () => {
    const b = await ds.send(anonymous({ type: DSRequestType.signature_public_key }));
    if (b.body.type !== DSResponseType.signature_public_key) throw new Error("unexpected response");
    return `${b.body.signaturePublicKey.length}-byte Ed25519 key`;
  });
  await step("alice connects to bob: connection group (request_group_id + create_group), offer sealed to bob's connection KeyPackage via /connection_request", async () => {
    const r = await alice!.connect({ keyPackages: [await bob!.handOutKeyPackage("connection")] });
    conn = r.group;
    return `${r.offers} offer accepted by the QS; the DS stores the group only encrypted under the epoch's key`;
  });
  await step("bob opens the offer and joins by external commit (external_commit_info + external_join as a new user)", async () => {
    const ev = await read(bob!, (e) => e.some((x) => x.type === "joined"));
    const j = ev.find((x) => x.type === "joined") as Extract<MimiEvent, { type: "joined" }>;
    await read(alice!, (e) => e.some((x) => x.type === "commit"));
    if (conn!.epoch !== j.group.epoch) throw new Error("alice did not get bob's commit");
    return `offer from ${j.group.peerUri}; alice processed bob's commit from her queue: both at epoch ${conn!.epoch}`;
  });
  await step("alice creates a group and adds bob and carol (add_users, Welcome + sealed group-state key to their queues)", async () => {
    group = await alice!.createGroup();
    await group.addUsers([[await bob!.handOutKeyPackage("group")], [await carol!.handOutKeyPackage("group")]]);
    const joined = [];
    for (const c of [bob!, carol!]) {
      const ev = await read(c, (e) => e.some((x) => x.type === "joined"));
      joined.push((ev.find((x) => x.type === "joined") as Extract<MimiEvent, { type: "joined" }>).group.epoch);
    }
    return `carol joined at epoch ${joined[1]} (tree from welcome_info), bob too`;
  });
  await step("carol and bob send messages; everyone reads their queue", async () => {
    await carol!.group(group!.groupId)!.send("hello from carol");
    await bob!.group(group!.groupId)!.send("hi carol, bob here");
    const a = texts(await read(alice!, (e) => texts(e).length >= 2));
    const b = texts(await read(bob!, (e) => texts(e).length >= 1));
    const c = texts(await read(carol!, (e) => texts(e).length >= 1));
    if (a.length !== 2 || b.length !== 1 || c.length !== 1) throw new Error(`unexpected deliveries ${a.length}/${b.length}/${c.length}`);
    return `alice read ${JSON.stringify(a)}`;
  });
  await step("bob: update_client (new path, next epoch's key)", async () => {
    const g = bob!.group(group!.groupId)!;
    await g.update();
    await read(alice!, (e) => e.some((x) => x.type === "commit"));
    await read(carol!, (e) => e.some((x) => x.type === "commit"));
    const e = g.epoch;
    if (group!.epoch !== e || carol!.group(group!.groupId)!.epoch !== e) throw new Error("members diverged");
    return `all three at epoch ${e}`;
  });
  await step("alice removes bob (remove_users); bob's stale key is refused", async () => {
    const bobGroup = bob!.group(group!.groupId)!;
    const bobState = bobGroup.state;
    await group!.removeUsers([bobGroup.leafIndex]);
    await read(carol!, (e) => e.some((x) => x.type === "commit"));
    await read(bob!, (e) => e.some((x) => x.type === "removed"));
    const late = await sendMessageRequest(bobState, cs, new TextEncoder().encode("am I still here?"));
    const res = await ds.send(late.request);
    if (res.body.type !== DSResponseType.error || res.body.code !== DSErrorCode.stale_or_wrong_key) throw new Error("bob was not refused");
    await carol!.group(group!.groupId)!.send("bye bob");
    const a = texts(await read(alice!, (e) => texts(e).length >= 1));
    return `bob refused (stale_or_wrong_key); alice still reads carol: ${JSON.stringify(a)}`;
  });
}

// The two-provider variant (`mimi-ds start --federation`) lives beside this one.
export { runFederatedDemo, type FederatedDemoTargets } from "./federation.js";
