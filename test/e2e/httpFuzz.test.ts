// Seeded, bounded fuzzing of the two HTTP endpoints (relay resource and gateway resource):
// mutated encapsulated requests, random bodies, media types, methods and paths. Neither may
// answer 5xx (the target stays up), crash, or leave an unhandled rejection; the relay only
// forwards the gateway's answers.
import { mulberry32 } from "../helpers/prng.js";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { GatewayServer } from "../../gateway/GatewayServer.js";
import { RelayServer } from "../../relay/RelayServer.js";
import { BinaryRequest } from "../../src/bhttp/index.js";
import { KeyConfigList, OhttpClient } from "../../src/ohttp/index.js";
import { RecordingTarget } from "../helpers/targets.js";


const TYPES = ["message/ohttp-req", "message/ohttp-chunked-req", "MESSAGE/OHTTP-REQ", "message/ohttp-req; x=1", "application/json", "", "message/ohttp-res", "text/plain"];
const METHODS = ["POST", "POST", "POST", "GET", "PUT", "DELETE", "PATCH", "OPTIONS"];

describe("HTTP endpoint fuzzing (relay and gateway)", () => {
  let dir: string;
  let target: RecordingTarget;
  let gw: GatewayServer;
  let relay: RelayServer;
  let gwUrl: string;
  let relayUrl: string;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);

  before(async () => {
    process.on("unhandledRejection", onUnhandled);
    dir = await mkdtemp(join(tmpdir(), "mimi-fuzz-"));
    target = await new RecordingTarget().start();
    gw = new GatewayServer({ keyDir: join(dir, "keys"), targets: [target.origin], maxBodyBytes: 64 * 1024 });
    gwUrl = `${(await gw.listen("127.0.0.1", 0)).url}/.well-known/ohttp-gateway`;
    relay = new RelayServer({ gatewayUrl: gwUrl, maxBodyBytes: 64 * 1024 });
    relayUrl = `${(await relay.listen("127.0.0.1", 0)).url}/`;
  });
  after(async () => {
    process.off("unhandledRejection", onUnhandled);
    agent.destroy();
    await relay.close();
    await gw.close();
    await target.stop();
    await rm(dir, { recursive: true, force: true });
  });

  function send(url: string, method: string, type: string, body: Uint8Array): Promise<number> {
    const u = new URL(url);
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = { "content-length": body.length };
      if (type) headers["content-type"] = type;
      const r = http.request({ host: u.hostname, port: u.port, path: u.pathname, method, agent, headers }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      });
      r.on("error", reject);
      r.end(body);
    });
  }

  it("answers every mutated input below 500, with no unhandled rejection (seeded, 2 x 1500 requests)", async () => {
    const rand = mulberry32(0x0f7e55);
    const list = KeyConfigList.deserialize(new Uint8Array(await (await fetch(gwUrl)).arrayBuffer()));
    const client = new OhttpClient(list.configs[0]!);
    const seeds: Uint8Array[] = [];
    for (let i = 0; i < 8; i++) {
      const inner = BinaryRequest.fromUrl("POST", `${target.origin}/fuzz/${i}?q=${i}`, [{ name: "x-i", value: String(i) }], new Uint8Array(i * 40).fill(i)).serialize();
      seeds.push((await client.encapsulateRequest(inner)).encapsulatedRequest);
      seeds.push((await client.encapsulateChunkedRequest(inner, 64)).encapsulatedRequest);
    }
    const mutate = (b: Uint8Array): Uint8Array => {
      const out = Array.from(b);
      const n = 1 + Math.floor(rand() * 4);
      for (let k = 0; k < n; k++) {
        const op = Math.floor(rand() * 5);
        const pos = Math.floor(rand() * (out.length + 1));
        if (op === 0 && out.length) out[pos % out.length]! ^= 1 << Math.floor(rand() * 8);
        else if (op === 1) out.splice(pos, 0, Math.floor(rand() * 256));
        else if (op === 2) out.splice(pos, 1 + Math.floor(rand() * 8));
        else if (op === 3) out.length = Math.min(out.length, pos);
        else out.splice(pos, 0, ...Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256)));
      }
      return Uint8Array.from(out);
    };
    const counts = new Map<number, number>();
    for (const [name, url] of [["gateway", gwUrl], ["relay", relayUrl]] as const) {
      for (let i = 0; i < 1500; i++) {
        const r = rand();
        const body = r < 0.7 ? mutate(seeds[Math.floor(rand() * seeds.length)]!) : Uint8Array.from({ length: Math.floor(rand() * 300) }, () => Math.floor(rand() * 256));
        const method = r < 0.85 ? "POST" : METHODS[Math.floor(rand() * METHODS.length)]!;
        const type = rand() < 0.8 ? (rand() < 0.5 ? "message/ohttp-req" : "message/ohttp-chunked-req") : TYPES[Math.floor(rand() * TYPES.length)]!;
        const status = await send(url, method, type, body);
        counts.set(status, (counts.get(status) ?? 0) + 1);
        assert.ok(status >= 200 && status < 500, `${name} answered ${status} to input ${i}`);
      }
    }
    assert.deepEqual(unhandled, []);
    // The fuzz reached both regimes: plain refusals and (for surviving mutations) encapsulated answers.
    assert.ok((counts.get(400) ?? 0) > 100, "many plain refusals");
    assert.ok(counts.has(415) && counts.has(405), "media type and method refusals seen");
    // both still serve real requests afterwards
    const ok = await client.encapsulateRequest(BinaryRequest.fromUrl("GET", `${target.origin}/after`).serialize());
    assert.equal(await send(relayUrl, "POST", "message/ohttp-req", ok.encapsulatedRequest), 200);
  });
});
