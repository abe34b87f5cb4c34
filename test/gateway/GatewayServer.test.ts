import assert from "node:assert/strict";
import http from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { BinaryRequest, BinaryResponse } from "../../src/bhttp/index.js";
import { KeyConfigList, OhttpClient } from "../../src/ohttp/index.js";
import { GatewayServer } from "../../gateway/GatewayServer.js";
import { rotateKeys } from "../../gateway/KeyDirectory.js";
import { RecordingTarget } from "../helpers/targets.js";

async function post(url: string, type: string, body: Uint8Array, headers: Record<string, string> = {}) {
  // fetch wants an ArrayBuffer-backed view; these never use a SharedArrayBuffer.
  const b = body as Uint8Array<ArrayBuffer>;
  const res = await fetch(url, { method: "POST", headers: { "content-type": type, ...headers }, body: b });
  return { status: res.status, type: res.headers.get("content-type"), body: new Uint8Array(await res.arrayBuffer()), headers: res.headers };
}

describe("gateway resource (RFC 9458 s5, RFC 9540)", () => {
  let dir: string;
  let target: RecordingTarget;
  let gw: GatewayServer;
  let base: string;
  let resource: string;

  async function client(): Promise<OhttpClient> {
    const res = await fetch(resource);
    const list = KeyConfigList.deserialize(new Uint8Array(await res.arrayBuffer()));
    return new OhttpClient(list.configs[0]!);
  }

  async function roundTrip(c: OhttpClient, req: BinaryRequest) {
    const ctx = await c.encapsulateRequest(req.serialize());
    const r = await post(resource, "message/ohttp-req", ctx.encapsulatedRequest);
    assert.equal(r.status, 200);
    assert.equal(r.type, "message/ohttp-res");
    return BinaryResponse.deserialize(await ctx.decapsulateResponse(r.body));
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mimi-gw-"));
    target = await new RecordingTarget().start();
    gw = new GatewayServer({ keyDir: join(dir, "keys"), targets: [target.origin], targetTimeoutMs: 300, maxBodyBytes: 4096, keyReloadIntervalMs: 60_000 });
    base = (await gw.listen("127.0.0.1", 0)).url;
    resource = `${base}/.well-known/ohttp-gateway`;
  });
  after(async () => {
    await gw.close();
    await target.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("publishes one key configuration as application/ohttp-keys with Cache-Control", async () => {
    const res = await fetch(resource);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/ohttp-keys");
    assert.match(res.headers.get("cache-control") ?? "", /max-age=\d+/);
    const list = KeyConfigList.deserialize(new Uint8Array(await res.arrayBuffer()));
    assert.equal(list.configs.length, 1);
    assert.equal(list.configs[0]!.kemId, 0x20);
  });

  it("forwards a decapsulated request with path, query, repeated fields and content", async () => {
    const c = await client();
    const before = target.seen.length;
    const req = new BinaryRequest({
      method: "POST",
      scheme: "http",
      authority: target.origin.slice("http://".length),
      path: "/group_operation?x=1&y=%C3%A9",
      headers: [
        { name: "content-type", value: "application/octet-stream" },
        { name: "x-rep", value: "a" },
        { name: "x-rep", value: "b" },
      ],
      content: new TextEncoder().encode("payload"),
    });
    const res = await roundTrip(c, req);
    assert.equal(res.status, 200);
    assert.equal(new TextDecoder().decode(res.content), "POST /group_operation?x=1&y=%C3%A9\npayload");
    assert.deepEqual(res.headers.filter((h) => h.name === "x-multi").map((h) => h.value), ["one", "two"]);
    const seen = target.seen[before]!;
    const reps = seen.rawHeaders.filter((_, i) => i % 2 === 1 && seen.rawHeaders[i - 1]!.toLowerCase() === "x-rep");
    assert.deepEqual(reps, ["a", "b"]);
  });

  it("strips hop-by-hop and address-bearing fields from inner requests", async () => {
    const c = await client();
    const before = target.seen.length;
    const req = BinaryRequest.fromUrl("GET", `${target.origin}/health`, [
      { name: "x-forwarded-for", value: "203.0.113.9" },
      { name: "forwarded", value: "for=203.0.113.9" },
      { name: "via", value: "1.1 x" },
      { name: "x-real-ip", value: "203.0.113.9" },
      { name: "user-agent", value: "fingerprint/1" },
      { name: "connection", value: "x-secret" },
      { name: "te", value: "trailers" },
      { name: "x-kept", value: "yes" },
    ]);
    const res = await roundTrip(c, req);
    assert.equal(res.status, 200);
    const seen = target.seen[before]!;
    for (const h of ["x-forwarded-for", "forwarded", "via", "x-real-ip", "user-agent", "te"]) assert.ok(!seen.headerNames.includes(h), h);
    assert.ok(seen.headerNames.includes("x-kept"));
    assert.ok(!seen.rawHeaders.join("\n").includes("203.0.113.9"));
  });

  it("answers an encapsulated 403 for a target off the allow-list and forwards nothing", async () => {
    const c = await client();
    const before = target.seen.length;
    const res = await roundTrip(c, BinaryRequest.fromUrl("GET", "http://127.0.0.2:1/x"));
    assert.equal(res.status, 403);
    assert.equal(target.seen.length, before);
  });

  it("answers an encapsulated 400 for a malformed Binary HTTP message", async () => {
    const c = await client();
    const ctx = await c.encapsulateRequest(new Uint8Array([0x07, 0x01, 0x02]));
    const r = await post(resource, "message/ohttp-req", ctx.encapsulatedRequest);
    assert.equal(r.status, 200);
    const res = BinaryResponse.deserialize(await ctx.decapsulateResponse(r.body));
    assert.equal(res.status, 400);
  });

  it("gives one uniform plain 400 for unknown key ids, bad ciphertexts, garbage and replays", async () => {
    const c = await client();
    const ctx = await c.encapsulateRequest(BinaryRequest.fromUrl("GET", `${target.origin}/a`).serialize());
    const good = ctx.encapsulatedRequest;
    const unknownKey = Uint8Array.from(good);
    unknownKey[0] = (unknownKey[0]! + 1) & 0xff;
    const flipped = Uint8Array.from(good);
    flipped[flipped.length - 1]! ^= 1;
    const garbage = new Uint8Array([1, 2, 3]);
    const first = await post(resource, "message/ohttp-req", good);
    assert.equal(first.status, 200);
    const before = target.seen.length;
    const answers = [];
    for (const body of [unknownKey, flipped, garbage, good]) answers.push(await post(resource, "message/ohttp-req", body));
    for (const a of answers) {
      assert.equal(a.status, 400);
      assert.equal(a.type, answers[0]!.type);
      assert.deepEqual(a.body, answers[0]!.body);
    }
    assert.equal(target.seen.length, before, "the replay was not forwarded");
  });

  it("refuses wrong media types, methods, paths, oversize bodies and Expect", async () => {
    assert.equal((await post(resource, "application/json", new Uint8Array(10))).status, 415);
    assert.equal((await fetch(resource, { method: "PUT", body: "x" })).status, 405);
    assert.equal((await fetch(`${base}/elsewhere`)).status, 404);
    assert.equal((await post(resource, "message/ohttp-req", new Uint8Array(5000))).status, 413);
    const status = await new Promise<number>((resolve, reject) => {
      const u = new URL(resource);
      const r = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: "POST", headers: { "content-type": "message/ohttp-req", expect: "100-continue", "content-length": "10" } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      r.on("error", reject);
      r.end(Buffer.alloc(10));
    });
    assert.equal(status, 417);
  });

  it("answers encapsulated 504 on target timeout and 502 when the target is down", async () => {
    const c = await client();
    target.mode = "hang";
    try {
      assert.equal((await roundTrip(c, BinaryRequest.fromUrl("GET", `${target.origin}/slow`))).status, 504);
    } finally {
      target.mode = "echo";
    }
    const down = new GatewayServer({ keyDir: join(dir, "keys2"), targets: ["http://127.0.0.1:9"], targetTimeoutMs: 2000 });
    const u = (await down.listen("127.0.0.1", 0)).url;
    try {
      const list = KeyConfigList.deserialize(new Uint8Array(await (await fetch(`${u}/.well-known/ohttp-gateway`)).arrayBuffer()));
      const ctx = await new OhttpClient(list.configs[0]!).encapsulateRequest(BinaryRequest.fromUrl("GET", "http://127.0.0.1:9/x").serialize());
      const r = await post(`${u}/.well-known/ohttp-gateway`, "message/ohttp-req", ctx.encapsulatedRequest);
      assert.equal(BinaryResponse.deserialize(await ctx.decapsulateResponse(r.body)).status, 502);
    } finally {
      await down.close();
    }
  });

  it("round-trips chunked OHTTP (draft-ietf-ohai-chunked-ohttp)", async () => {
    const c = await client();
    const content = new Uint8Array(3000).fill(7);
    const ctx = await c.encapsulateChunkedRequest(BinaryRequest.fromUrl("POST", `${target.origin}/chunked`, [], content).serialize(), 1024);
    const r = await post(resource, "message/ohttp-chunked-req", ctx.encapsulatedRequest);
    assert.equal(r.status, 200);
    assert.equal(r.type, "message/ohttp-chunked-res");
    const res = BinaryResponse.deserialize(await ctx.decapsulateResponse(r.body));
    assert.equal(res.status, 200);
    assert.equal(res.content.length, "POST /chunked\n".length + 3000);
  });

  it("keeps old-key clients working through a rotation until the retention window ends", async () => {
    const oldClient = await client();
    const oldId = (await fetch(resource).then(async (r) => KeyConfigList.deserialize(new Uint8Array(await r.arrayBuffer())))).configs[0]!.keyId;
    await rotateKeys(join(dir, "keys"), { retentionSeconds: 1 });
    await gw.reload();
    const newClient = await client();
    const newId = (await fetch(resource).then(async (r) => KeyConfigList.deserialize(new Uint8Array(await r.arrayBuffer())))).configs[0]!.keyId;
    assert.notEqual(newId, oldId);
    assert.equal((await roundTrip(oldClient, BinaryRequest.fromUrl("GET", `${target.origin}/old`))).status, 200);
    assert.equal((await roundTrip(newClient, BinaryRequest.fromUrl("GET", `${target.origin}/new`))).status, 200);
    await new Promise((r) => setTimeout(r, 1100));
    await gw.reload();
    const ctx = await oldClient.encapsulateRequest(BinaryRequest.fromUrl("GET", `${target.origin}/late`).serialize());
    assert.equal((await post(resource, "message/ohttp-req", ctx.encapsulatedRequest)).status, 400);
    assert.equal((await roundTrip(newClient, BinaryRequest.fromUrl("GET", `${target.origin}/new2`))).status, 200);
  });

  it("serves /health and /metrics without identifiers", async () => {
    assert.equal(await (await fetch(`${base}/health`)).text(), "ok\n");
    const m = await (await fetch(`${base}/metrics`)).text();
    assert.match(m, /mimi_gateway_requests_total/);
    assert.match(m, /mimi_gateway_rejections_total\{reason="replay"\}/);
    assert.ok(!m.includes("127.0.0.1"));
  });
});
