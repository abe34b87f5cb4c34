// The DS behind real relay, gateway and provider processes: the demo conversation end to end.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type RoleProcess, startRole } from "../../src/cli/processes.js";
import { runDemo } from "../../src/demo/demo.js";

describe("Delivery Service through relay and gateway (real processes)", () => {
  let dir: string;
  const procs: RoleProcess[] = [];
  let urls: { relay: string; keys: string; provider: string };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mimi-dschain-"));
    const provider = await startRole("provider", ["provider", "--listen", "127.0.0.1:0", "--domain", "a.test", "--data-dir", join(dir, "p")], { logFile: join(dir, "provider.log") });
    procs.push(provider);
    const gateway = await startRole("gateway", ["gateway", "--listen", "127.0.0.1:0", "--target", provider.url, "--key-dir", join(dir, "k")]);
    procs.push(gateway);
    const relay = await startRole("relay", ["relay", "--listen", "127.0.0.1:0", "--gateway", `${gateway.url}/.well-known/ohttp-gateway`]);
    procs.push(relay);
    urls = { relay: `${relay.url}/`, keys: `${gateway.url}/.well-known/ohttp-gateway`, provider: provider.url };
  });
  after(async () => {
    const codes = [];
    for (const p of procs.reverse()) codes.push(await p.stop());
    await rm(dir, { recursive: true, force: true });
    assert.deepEqual(codes, [0, 0, 0], "every process stops cleanly on SIGTERM");
  });

  it("runs the demo conversation: queues, group creation, connection offer joined by external commit, add by Welcome, messages through queues, update, removal", async () => {
    const lines: string[] = [];
    const r = await runDemo({ relayUrl: urls.relay, gatewayKeysUrl: urls.keys, providerOrigin: urls.provider }, (l) => lines.push(l));
    assert.ok(r.ok, r.transcript.join("\n"));
    assert.ok(lines.some((l) => l.includes("create_group")));
    assert.ok(lines.some((l) => l.includes("stale_or_wrong_key")));
    assert.ok(lines.some((l) => l.includes("hello from carol")), "messages travelled through the queues");
    assert.ok(lines.some((l) => l.includes("carol joined")), "a Welcome joiner got its tree");
    assert.ok(lines.some((l) => l.includes("/connection_request") && l.includes("1 offer accepted")), "the offer went through the QS");
    assert.ok(lines.some((l) => l.includes("offer from mimi://a.test/u/alice")), "bob opened the sealed offer");
  });
});
