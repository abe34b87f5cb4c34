// End to end with real processes on loopback: client -> relay -> gateway -> target.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { BinaryRequest } from "../../src/bhttp/index.js";
import { ObliviousHttpTransport, TransportError, fetchKeyConfigs } from "../../src/client/ObliviousHttpTransport.js";
import { type RoleProcess, startRole } from "../../src/cli/processes.js";
import { KeyConfig, OhttpClient } from "../../src/ohttp/index.js";
import { cliArgv } from "../helpers/repo.js";
import { IDENTIFYING_HEADERS, RecordingTarget } from "../helpers/targets.js";

const run = promisify(execFile);

describe("OHTTP chain with real relay and gateway processes", () => {
  let dir: string;
  let target: RecordingTarget;
  let gateway: RoleProcess;
  let relay: RoleProcess;
  let keysUrl: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mimi-e2e-"));
    target = await new RecordingTarget().start();
    gateway = await startRole("gateway", ["gateway", "--listen", "127.0.0.1:0", "--target", target.origin, "--key-dir", join(dir, "keys"), "--key-reload-interval", "100"], { logFile: join(dir, "gateway.log") });
    keysUrl = `${gateway.url}/.well-known/ohttp-gateway`;
    relay = await startRole("relay", ["relay", "--listen", "127.0.0.1:0", "--gateway", keysUrl], { logFile: join(dir, "relay.log") });
  });
  after(async () => {
    const codes = [await relay?.stop(), await gateway?.stop()];
    await target.stop();
    await rm(dir, { recursive: true, force: true });
    assert.deepEqual(codes, [0, 0], "both processes exit cleanly on SIGTERM");
  });

  it("carries a request through relay and gateway, and the target sees none of 20 identifying headers injected at the relay", async () => {
    const [config] = await fetchKeyConfigs(keysUrl);
    // A fetch that adds identifying headers to the outer request, as a leaky client stack would.
    const leaky: typeof fetch = (input, init) => fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), ...IDENTIFYING_HEADERS } });
    const t = new ObliviousHttpTransport({ relayUrl: `${relay.url}/`, keyConfig: config!, fetch: leaky });
    const before = target.seen.length;
    const res = await t.fetch(`${target.origin}/group_operation?q=1`, { method: "POST", body: new TextEncoder().encode("hello"), headers: { "content-type": "application/octet-stream" } });
    assert.equal(res.status, 200);
    assert.equal(new TextDecoder().decode(res.body), "POST /group_operation?q=1\nhello");
    assert.equal(target.seen.length, before + 1);
    const seen = target.seen[before]!;
    for (const name of Object.keys(IDENTIFYING_HEADERS)) assert.ok(!seen.headerNames.includes(name), `target saw ${name}`);
    const raw = seen.rawHeaders.join("\n");
    for (const value of Object.values(IDENTIFYING_HEADERS)) assert.ok(!raw.includes(value), `target saw value ${value}`);
  });

  it("works with chunked OHTTP through the relay", async () => {
    const [config] = await fetchKeyConfigs(keysUrl);
    const t = new ObliviousHttpTransport({ relayUrl: `${relay.url}/`, keyConfig: config!, chunked: true });
    const res = await t.fetch(`${target.origin}/c`, { method: "POST", body: new Uint8Array(40000).fill(1) });
    assert.equal(res.status, 200);
    assert.equal(res.body.length, "POST /c\n".length + 40000);
  });

  it("rejects a replayed encapsulated request (sent twice through the relay)", async () => {
    const [config] = await fetchKeyConfigs(keysUrl);
    const ctx = await new OhttpClient(config!).encapsulateRequest(BinaryRequest.fromUrl("POST", `${target.origin}/once`, [], new Uint8Array([1])).serialize());
    const send = () => fetch(`${relay.url}/`, { method: "POST", headers: { "content-type": "message/ohttp-req" }, body: ctx.encapsulatedRequest as Uint8Array<ArrayBuffer> });
    const before = target.seen.length;
    assert.equal((await send()).status, 200);
    assert.equal((await send()).status, 400);
    assert.equal(target.seen.filter((s) => s.url === "/once").length, 1);
    assert.equal(target.seen.length, before + 1);
  });

  it("keeps old-key clients working after `mimi-ds gateway keys rotate` mid-run", async () => {
    const [oldConfig] = await fetchKeyConfigs(keysUrl);
    const oldT = new ObliviousHttpTransport({ relayUrl: `${relay.url}/`, keyConfig: oldConfig! });
    assert.equal((await oldT.fetch(`${target.origin}/before`)).status, 200);
    const out = await run(process.execPath, [...cliArgv(), "gateway", "keys", "rotate", "--key-dir", join(dir, "keys"), "--retention", "3600"]);
    const rotated = JSON.parse(out.stdout.trim()) as { active_key_id: number };
    let newConfig = oldConfig!;
    for (let i = 0; i < 50 && newConfig.keyId === oldConfig!.keyId; i++) {
      await new Promise((r) => setTimeout(r, 100));
      [newConfig] = (await fetchKeyConfigs(keysUrl)) as [typeof newConfig];
    }
    assert.equal(newConfig.keyId, rotated.active_key_id);
    const newT = new ObliviousHttpTransport({ relayUrl: `${relay.url}/`, keyConfig: newConfig });
    assert.equal((await newT.fetch(`${target.origin}/new`)).status, 200);
    assert.equal((await oldT.fetch(`${target.origin}/old`)).status, 200, "old key accepted within the retention window");
  });

  it("surfaces a gateway refusal as a typed transport error", async () => {
    const [config] = await fetchKeyConfigs(keysUrl);
    const bogus = new KeyConfig((config!.keyId + 77) & 0xff, config!.kemId, config!.publicKey, config!.symmetricAlgorithms);
    const t = new ObliviousHttpTransport({ relayUrl: `${relay.url}/`, keyConfig: bogus });
    await assert.rejects(t.fetch(`${target.origin}/x`), (e: unknown) => e instanceof TransportError && e.status === 400);
  });
});
