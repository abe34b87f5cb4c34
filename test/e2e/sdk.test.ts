// The client SDK end to end (ARCHITECTURE.md s2): two providers, a.test and b.test, as separate
// processes on loopback, each with its own relay, gateway, provider (DS, QS, KeyPackage
// directory) and store. Three users with two clients each, every request from the SDK through
// the relay and gateway of the provider it is meant for. Covers every DS operation: group ids,
// the DS key, create, the reduced-metadata connection flow (offer through /connection_request,
// join by external commit), external join of a user's second client, add_users with Welcomes to
// both providers' queues (welcome_info), add_clients, messages, update, set_role, remove_clients,
// self-remove, resync after state loss, remove_users (the removed user can no longer send, read
// the group state or receive), and delete_group.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { MimiClient, MimiClientError, MimiUser, type MimiEvent, type MimiGroup, type ProviderLink } from "../../src/client/MimiClient.js";
import { ObliviousHttpTransport, fetchKeyConfigs } from "../../src/client/ObliviousHttpTransport.js";
import { externalCommitInfoRequest, sendMessageRequest } from "../../src/client/dsMember.js";
import { type RoleProcess, startRole } from "../../src/cli/processes.js";
import { getCiphersuiteFromName, getCiphersuiteImpl } from "ts-mls";
import { PortablePlatform, usePlatform } from "../../src/platform/index.js";
import { DSResponseType } from "../../src/protocol/constants.js";
import { DSErrorCode } from "../../src/protocol/errors.js";
import { freePort, metric, startProvider } from "./fanoutKit.js";

interface Stack {
  domain: string;
  provider: string;
  admin: string;
  relay: string;
  gatewayKeys: string;
}

const messages = (ev: MimiEvent[]) => ev.filter((e): e is Extract<MimiEvent, { type: "message" }> => e.type === "message").map((e) => e.text);
const problems = (ev: MimiEvent[]) => ev.filter((e) => e.type === "ignored");

describe("client SDK: three users with two clients each across two providers, every DS operation through relay and gateway", () => {
  let dir: string;
  const procs: RoleProcess[] = [];
  const stacks = new Map<string, Stack>();
  const links = new Map<string, ProviderLink>();

  const adminPost = async (domain: string, path: string, body: unknown) => {
    const r = await fetch(`${stacks.get(domain)!.admin}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    assert.equal(r.status, 200, `${path}: ${await r.clone().text()}`);
    return (await r.json()) as Record<string, unknown>;
  };
  /** The provider's account system: registers a device's upload key. */
  const register = (c: MimiClient) => adminPost(c.user.domain, "/admin/clients", { userId: c.user.userId, clientId: c.opts.clientId, publicKey: Buffer.from(c.uploadKey.publicKey).toString("hex") });
  /** A bearer token for a user's KeyPackages (discovery hands these out). */
  const token = async (domain: string, userId: string) => Buffer.from((await adminPost(domain, "/admin/tokens", { userId, requests: 100, windowMs: 600_000 })).token as string, "hex");

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mimi-sdk-e2e-"));
    const [pa, pb] = [await freePort(), await freePort()];
    for (const p of [
      { domain: "a.test", port: pa, peer: `b.test=http://127.0.0.1:${pb}` },
      { domain: "b.test", port: pb, peer: `a.test=http://127.0.0.1:${pa}` },
    ]) {
      const provider = await startProvider({ domain: p.domain, port: p.port, dataDir: join(dir, p.domain, "store"), logFile: join(dir, `provider-${p.domain}.log`), federate: [p.peer], extra: ["--admin-listen", "127.0.0.1:0"] });
      procs.push(provider);
      const admin = /provider admin on (\S+)/.exec(provider.banner)?.[1];
      assert.ok(admin, "the provider prints its admin URL");
      const gateway = await startRole("gateway", ["gateway", "--listen", "127.0.0.1:0", "--target", provider.url, "--key-dir", join(dir, p.domain, "keys")]);
      procs.push(gateway);
      const keys = `${gateway.url}/.well-known/ohttp-gateway`;
      const relay = await startRole("relay", ["relay", "--listen", "127.0.0.1:0", "--gateway", keys]);
      procs.push(relay);
      stacks.set(p.domain, { domain: p.domain, provider: provider.url, admin, relay: relay.url, gatewayKeys: keys });
      const [config] = await fetchKeyConfigs(keys);
      links.set(p.domain, { domain: p.domain, origin: provider.url, transport: new ObliviousHttpTransport({ relayUrl: `${relay.url}/`, keyConfig: config! }) });
    }
  });
  after(async () => {
    const codes = [];
    for (const p of procs.reverse()) codes.push(await p.stop());
    await rm(dir, { recursive: true, force: true });
    assert.deepEqual(codes, [0, 0, 0, 0, 0, 0], "every process stops cleanly on SIGTERM");
  });

  it("runs the whole product: connect, groups, Welcomes across providers, every operation, resync, removal, deletion", async () => {
    // What a browser app runs: ts-mls's default (WebCrypto/noble) cipher suite and the portable
    // platform for everything else.
    usePlatform(PortablePlatform);
    const cs = await getCiphersuiteImpl(getCiphersuiteFromName("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519"));
    const providers = (domain: string) => {
      const l = links.get(domain);
      if (!l) throw new Error(`no provider configured for ${domain}`);
      return l;
    };
    const users = { alice: MimiUser.generate("alice", "a.test"), bob: MimiUser.generate("bob", "b.test"), carol: MimiUser.generate("carol", "b.test") };
    const device = async (user: MimiUser, clientId: string, secretFrom?: MimiUser) => {
      const u = secretFrom ? MimiUser.fromSecret(user.userId, user.domain, secretFrom.exportSecret()) : user;
      const c = await MimiClient.create({ user: u, clientId, providers, cs });
      await register(c);
      await c.publishKeyPackages({ group: 2, connection: 1, lastResort: true });
      return c;
    };
    const a1 = await device(users.alice, "laptop");
    const a2 = await device(users.alice, "phone", users.alice); // the same user on a second device
    const b1 = await device(users.bob, "laptop");
    let b2 = await device(users.bob, "phone", users.bob);
    const c1 = await device(users.carol, "laptop");
    const c2 = await device(users.carol, "phone", users.carol);
    const all = [a1, a2, b1, b2, c1, c2];
    const relayed = async () => (await metric(stacks.get("a.test")!.relay, "mimi_relay_requests_total", { route: "relay" })) + (await metric(stacks.get("b.test")!.relay, "mimi_relay_requests_total", { route: "relay" }));
    const relayedAtStart = await relayed();
    const count = (domain: string, route: string) => metric(stacks.get(domain)!.provider, "mimi_provider_requests_total", { route, status: "200" });

    /** Everyone in `clients` reads its queue until `until(events)` holds; no event may be a failure. */
    const drain = async (clients: MimiClient[], until: (c: MimiClient, ev: MimiEvent[]) => boolean = (_c, ev) => ev.length > 0) => {
      const out = new Map<MimiClient, MimiEvent[]>();
      for (const c of clients) {
        const ev = await c.receiveUntil((e) => until(c, e), { waitMs: 1500, attempts: 8 });
        assert.deepEqual(problems(ev), [], `${c.user.userId}/${c.opts.clientId}: ${problems(ev).map((p) => (p as { reason: string }).reason).join("; ")}`);
        out.set(c, ev);
      }
      return out;
    };
    const sameEpoch = (groups: MimiGroup[]) => assert.equal(new Set(groups.map((g) => g.epoch)).size, 1, `epochs ${groups.map((g) => g.epoch).join(",")}`);

    // ---- connection: alice -> bob, reduced-metadata flow ----------------------------------------
    const welcomeInfoAtA = await count("a.test", "welcome_information");
    // bob opted in to discovery under the handle "bob"; alice finds him through b.test's directory
    await adminPost("b.test", "/admin/handles", { userId: "bob", handle: "bob" });
    const found = await a1.discover("bob", "b.test");
    assert.equal(found.uri, "mimi://b.test/u/bob");
    assert.equal(found.userId, "bob");
    await assert.rejects(a1.discover("nobody", "b.test"), "unknown handles are not found");
    await assert.rejects(a1.claimKeyPackages(found, "group"), "a discovery token claims connection KeyPackages only");
    const conn = await a1.connect(found);
    assert.equal(conn.offers, 2, "one sealed offer per client of bob, each to its connection KeyPackage's queue");
    assert.equal(await count("b.test", "connection_request"), 2);
    // bob's laptop joins by external commit with the offered key; his phone's offer is then
    // stale (the group moved on), so the phone joins as bob with the laptop's current key
    const laptop = await drain([b1], (_c, ev) => ev.some((e) => e.type === "joined"));
    const j = laptop.get(b1)!.find((e) => e.type === "joined") as Extract<MimiEvent, { type: "joined" }>;
    assert.equal(j.via, "connection_offer");
    assert.equal(j.group.peerUri, "mimi://a.test/u/alice", "the offer names the initiator");
    const phone = await drain([b2], (_c, ev) => ev.some((e) => e.type === "offer_superseded"));
    const superseded = phone.get(b2)!.find((e) => e.type === "offer_superseded") as Extract<MimiEvent, { type: "offer_superseded" }>;
    assert.deepEqual(new Uint8Array(superseded.groupId), new Uint8Array(conn.group.groupId));
    await b2.joinExternal({ hubDomain: superseded.hubDomain, groupId: superseded.groupId, earKey: await j.group.earKey() });
    await drain([a1, b1], (c, ev) => ev.filter((e) => e.type === "commit").length >= (c === a1 ? 2 : 1));
    const [gA1, gB1, gB2] = [a1, b1, b2].map((c) => c.group(conn.group.groupId)!) as [MimiGroup, MimiGroup, MimiGroup];
    sameEpoch([gA1, gB1, gB2]);
    assert.equal(await count("a.test", "welcome_information"), welcomeInfoAtA, "no Welcome and no KeyPackage of bob's reached the DS: both joined by external commit");
    // alice's second device joins the connection group as alice (user-signed external join)
    const gA2 = await a2.joinExternal({ hubDomain: "a.test", groupId: conn.group.groupId, earKey: await gA1.earKey() });
    await drain([a1, b1, b2], (c, ev) => ev.some((e) => e.type === "commit"));
    sameEpoch([gA1, gA2, gB1, gB2]);
    await gB2.send("hi alice, from bob's phone");
    const readConn = await drain([a1, a2, b1], (_c, ev) => messages(ev).length > 0);
    for (const c of [a1, a2, b1]) assert.deepEqual(messages(readConn.get(c)!), ["hi alice, from bob's phone"]);

    // ---- a group with RBAC: add_users (bob and carol at b.test), add_clients (alice's phone) ------
    const g = await a1.createGroup({ rbac: true });
    const bobKps = await a1.claimKeyPackages({ domain: "b.test", userId: "bob", token: await token("b.test", "bob") }, "group");
    const carolKps = await a1.claimKeyPackages({ domain: "b.test", userId: "carol", token: await token("b.test", "carol") }, "group");
    assert.equal(bobKps.length, 2, "one KeyPackage per client");
    assert.equal(carolKps.length, 2);
    const deliverAtB = await count("b.test", "deliver_message");
    await g.addUsers([bobKps, carolKps]);
    assert.equal((await count("b.test", "deliver_message")) - deliverAtB, 1, "one Welcome fanout to b.test for four joiners there");
    const joined = await drain([b1, b2, c1, c2], (_c, ev) => ev.some((e) => e.type === "joined"));
    for (const c of [b1, b2, c1, c2]) assert.equal((joined.get(c)!.find((e) => e.type === "joined") as { via: string }).via, "welcome");
    await g.addClients([await a2.keyPackageForOwnDevice()]);
    await drain([a2], (_c, ev) => ev.some((e) => e.type === "joined"));
    await drain([b1, b2, c1, c2], (_c, ev) => ev.some((e) => e.type === "commit"));
    const G = (c: MimiClient) => c.group(g.groupId)!;
    sameEpoch(all.map(G));
    assert.equal(G(a1).memberLeaves.length, 6);

    // ---- messages from every client ------------------------------------------------------------
    for (const c of all) await G(c).send(`hello from ${c.user.userId}/${c.opts.clientId}`);
    const read = await drain(all, (_c, ev) => messages(ev).length >= 5);
    for (const c of all) {
      const got = messages(read.get(c)!);
      assert.equal(got.length, 5, `${c.user.userId}/${c.opts.clientId} reads the other five`);
      assert.ok(!got.includes(`hello from ${c.user.userId}/${c.opts.clientId}`));
    }

    // ---- an app restart: bob's phone resumes from its exported state -----------------------------
    const saved = b2.exportState();
    b2 = MimiClient.restore(saved, { providers, cs });
    all[3] = b2;
    assert.deepEqual(b2.exportState(), saved, "the restored client exports the same state");
    assert.equal(G(b2).epoch, G(a1).epoch);
    assert.throws(() => MimiClient.restore(saved.subarray(0, saved.length - 1), { providers, cs }), MimiClientError);
    await G(a1).send("are you back, bob?");
    const back = await drain([b2], (_c, ev) => messages(ev).length > 0);
    assert.deepEqual(messages(back.get(b2)!), ["are you back, bob?"], "the restored queue decryptor reads on");
    await drain(all.filter((c) => c !== a1 && c !== b2), (_c, ev) => messages(ev).length > 0);

    // ---- update_client, set_role ---------------------------------------------------------------
    await G(b2).update();
    await drain(all.filter((c) => c !== b2), (_c, ev) => ev.some((e) => e.type === "commit"));
    sameEpoch(all.map(G));
    const notAdmin = await G(b1).removeUsers([G(c1).leafIndex, G(c2).leafIndex]).catch((e: unknown) => e);
    assert.ok(notAdmin instanceof MimiClientError && notAdmin.code === DSErrorCode.not_allowed, "only admins remove users in an RBAC group");
    await G(a1).setAdmins([G(a1).leafIndex, G(b1).leafIndex]);
    await drain(all.filter((c) => c !== a1), (_c, ev) => ev.some((e) => e.type === "commit"));

    // ---- remove_clients: carol drops her phone; self-remove: bob's phone leaves ------------------
    await G(c1).removeClients([G(c2).leafIndex]);
    const c2Removed = await drain([c2], (_c, ev) => ev.some((e) => e.type === "removed"));
    assert.ok(c2Removed.get(c2)!.some((e) => e.type === "removed"));
    assert.equal(c2.group(g.groupId), undefined);
    await drain([a1, a2, b1, b2], (_c, ev) => ev.some((e) => e.type === "commit"));

    // resync: bob's laptop loses its MLS state and rejoins with the key from his phone
    const identity = G(b1).leafIdentity;
    const leavesBefore = G(a1).memberLeaves.length;
    b1.untrack(g.groupId);
    await b1.joinExternal({ hubDomain: "a.test", groupId: g.groupId, earKey: await G(b2).earKey(), resync: identity });
    await drain([a1, a2, b2, c1], (_c, ev) => ev.some((e) => e.type === "commit"));
    assert.equal(G(a1).memberLeaves.length, leavesBefore, "the resync replaced bob's old leaf");
    sameEpoch([a1, a2, b1, b2, c1].map(G));

    await G(b2).leave();
    await drain([a1, a2, b1, c1], (_c, ev) => ev.some((e) => e.type === "proposal"));
    await G(a1).update(); // covers the pending self-remove
    const left = await drain([b2], (_c, ev) => ev.some((e) => e.type === "removed"));
    assert.ok(left.get(b2)!.some((e) => e.type === "removed"));
    await drain([a2, b1, c1], (_c, ev) => ev.some((e) => e.type === "commit"));
    sameEpoch([a1, a2, b1, c1].map(G));

    // ---- remove_users: carol is removed and can no longer send, read state or receive ------------
    const carolEar = await G(c1).earKey();
    const carolGroup = G(c1);
    const carolState = carolGroup.state;
    await G(b1).removeUsers([G(c1).leafIndex]);
    await drain([c1], (_c, ev) => ev.some((e) => e.type === "removed"));
    await drain([a1, a2], (_c, ev) => ev.some((e) => e.type === "commit"));
    assert.equal(c1.group(g.groupId), undefined);
    await assert.rejects(carolGroup.send("am I still here?"), "the SDK knows carol was removed");
    // a request built from carol's last state before the removal: the DS refuses it
    const late = await sendMessageRequest(carolState, cs, new TextEncoder().encode("am I still here?"));
    const refused = await c1.ds("a.test").send(late.request);
    assert.ok(refused.body.type === DSResponseType.error && refused.body.code === DSErrorCode.stale_or_wrong_key, "carol cannot send");
    const info = await c1.ds("a.test").send(externalCommitInfoRequest(g.groupId, carolEar));
    assert.ok(info.body.type === DSResponseType.error && info.body.code === DSErrorCode.stale_or_wrong_key, "carol cannot read the group state");
    await G(a2).send("after carol");
    const afterRemoval = await drain([a1, b1], (_c, ev) => messages(ev).length > 0);
    assert.deepEqual(messages(afterRemoval.get(b1)!), ["after carol"]);
    assert.deepEqual(await c1.receive({ waitMs: 300 }), [], "nothing more reaches carol's queue");

    // ---- delete_group ----------------------------------------------------------------------------
    const lastEar = await G(a1).earKey();
    await G(a1).delete();
    const gone = await a1.ds("a.test").send(externalCommitInfoRequest(g.groupId, lastEar));
    assert.ok(gone.body.type === DSResponseType.error, "the deleted group is gone");
    await drain([a2, b1], (_c, ev) => ev.some((e) => e.type === "removed"));

    assert.ok((await relayed()) - relayedAtStart > 100, "every request went through the relays");
  });
});
