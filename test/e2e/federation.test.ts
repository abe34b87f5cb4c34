// Federation (ARCHITECTURE.md s2: "provider A DS --signed DSFanoutRequest--> provider B QS"):
// two providers, a.test and b.test, as separate processes on loopback, each with its own relay,
// gateway, DS, QS, store and data directory, wired by --federate and discovered through
// /.well-known/mimi/ds-domain. A group owned by A has members at A and at B; B's clients keep
// their queues at B's QS (through B's relay and gateway) and talk to A's DS through A's relay and
// gateway; A signs the fanout, B verifies it with A's key from A's /verification_key.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type RoleProcess, startRole } from "../../src/cli/processes.js";
import { runFederatedDemo } from "../../src/demo/demo.js";
import { DSFanoutResponse } from "../../src/protocol/DSFanoutResponse.js";
import { encodeClientQueueConfig } from "../../src/protocol/ClientQueueConfig.js";
import { DSFanoutResponseType } from "../../src/protocol/QsConstants.js";
import { QSErrorCode } from "../../src/protocol/QsErrors.js";
import { DsFanoutSigner } from "../../src/qs/index.js";
import { freePort, metric, startProvider } from "./fanoutKit.js";

interface StackUrls {
  domain: string;
  provider: string;
  relay: string;
  gatewayKeys: string;
}

describe("federation: a.test hosts the group, b.test hosts some members' queues (separate processes)", () => {
  let dir: string;
  const procs: RoleProcess[] = [];
  const stacks: StackUrls[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mimi-federation-"));
    const [pa, pb] = [await freePort(), await freePort()];
    const peers = [
      { domain: "a.test", port: pa, peer: `b.test=http://127.0.0.1:${pb}` },
      { domain: "b.test", port: pb, peer: `a.test=http://127.0.0.1:${pa}` },
    ];
    for (const p of peers) {
      const provider = await startProvider({ domain: p.domain, port: p.port, dataDir: join(dir, p.domain, "store"), logFile: join(dir, `provider-${p.domain}.log`), federate: [p.peer] });
      procs.push(provider);
      const gateway = await startRole("gateway", ["gateway", "--listen", "127.0.0.1:0", "--target", provider.url, "--key-dir", join(dir, p.domain, "keys")]);
      procs.push(gateway);
      const keys = `${gateway.url}/.well-known/ohttp-gateway`;
      const relay = await startRole("relay", ["relay", "--listen", "127.0.0.1:0", "--gateway", keys]);
      procs.push(relay);
      stacks.push({ domain: p.domain, provider: provider.url, relay: relay.url, gatewayKeys: keys });
    }
  });
  after(async () => {
    const codes = [];
    for (const p of procs.reverse()) codes.push(await p.stop());
    await rm(dir, { recursive: true, force: true });
    assert.deepEqual(codes, [0, 0, 0, 0, 0, 0], "every process stops cleanly on SIGTERM");
  });

  it("runs a conversation across both providers: queues at B, group at A's DS, fanout signed by A and verified by B", async () => {
    const [a, b] = stacks as [StackUrls, StackUrls];
    const target = (s: StackUrls) => ({ relayUrl: `${s.relay}/`, gatewayKeysUrl: s.gatewayKeys, providerOrigin: s.provider, domain: s.domain });
    const relayedBefore = [await metric(a.relay, "mimi_relay_requests_total", { route: "relay" }), await metric(b.relay, "mimi_relay_requests_total", { route: "relay" })];
    const r = await runFederatedDemo({ a: target(a), b: target(b) });
    assert.ok(r.ok, r.transcript.join("\n"));
    assert.ok(r.transcript.some((l) => l.includes("DS discovery") && l.includes("a.test, b.test")), "each provider names its DS domain");
    assert.ok(r.transcript.some((l) => l.includes("the Welcome came from DS a.test")));
    assert.ok(r.transcript.some((l) => l.includes('read "hello from b.test"')));

    const count = (url: string, route: string, status = "200") => metric(url, "mimi_provider_requests_total", { route, status });
    // B's clients used their own QS through B's chain, and A's DS through A's chain
    assert.ok((await count(b.provider, "queue_operation")) > 0, "B's QS served B's clients");
    assert.equal(await count(b.provider, "group_operation"), 0, "nobody used B's DS: the group lives at A");
    assert.equal(await count(b.provider, "welcome_information"), 0);
    assert.equal(await count(a.provider, "welcome_information"), 2, "bob and carol fetched the tree from A's DS");
    assert.ok((await metric(a.relay, "mimi_relay_requests_total", { route: "relay" })) > relayedBefore[0]!);
    assert.ok((await metric(b.relay, "mimi_relay_requests_total", { route: "relay" })) > relayedBefore[1]!);
    // A's DS fanned out to B's QS; B fetched A's fanout verification key
    assert.ok((await count(b.provider, "deliver_message")) >= 4, "the Welcome, a message and two commits reached B's QS");
    assert.ok((await count(a.provider, "verification_key")) >= 1, "B fetched A's verification key from A's /verification_key");
    assert.equal(await count(a.provider, "deliver_message"), 0, "A's own members are served in-process");
    // ... durably, through A's outbox, and every request was answered at once
    const persisted = await metric(a.provider, "mimi_provider_fanout_outbox_events_total", { event: "persisted" });
    assert.ok(persisted >= 4);
    assert.equal(await metric(a.provider, "mimi_provider_fanout_outbox_events_total", { event: "delivered" }), persisted);
    assert.equal(await metric(a.provider, "mimi_provider_fanout_outbox_pending"), 0);
  });

  it("B's QS refuses a fanout not signed by A's published key and one from a domain it does not federate with", async () => {
    const b = stacks[1]!;
    const post = async (req: Uint8Array) => {
      const res = await fetch(`${b.provider}/deliver_message`, { method: "POST", headers: { "content-type": "application/octet-stream" }, body: req as Uint8Array<ArrayBuffer> });
      assert.equal(res.status, 200);
      return DSFanoutResponse.deserialize(new Uint8Array(await res.arrayBuffer()));
    };
    const qc = encodeClientQueueConfig({ qsDomain: "b.test", sealedReference: new Uint8Array(80).fill(7) });
    const item = { queueConfig: qc, message: new TextEncoder().encode("forged") };
    const forged = DsFanoutSigner.generate("a.test").buildRequests([item]).requests[0]!.request;
    const r1 = await post(forged.serialize());
    assert.ok(r1.body.type === DSFanoutResponseType.error && r1.body.code === QSErrorCode.bad_signature, "a key A does not publish is refused");
    const stranger = DsFanoutSigner.generate("c.test").buildRequests([item]).requests[0]!.request;
    const r2 = await post(stranger.serialize());
    assert.ok(r2.body.type === DSFanoutResponseType.error && r2.body.code === QSErrorCode.sender_not_allowed, "an unfederated sender is refused");
  });
});
