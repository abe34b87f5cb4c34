import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import http from "node:http";
import net from "node:net";
import { after, before, beforeEach, describe, test } from "node:test";
import { RelayServer, ohttpRequestMediaType } from "../../relay/RelayServer.js";
import type { RelayOptions } from "../../relay/RelayServer.js";
import { GatewayClient } from "../../relay/GatewayClient.js";
import { InvalidGatewayUrlError } from "../../relay/errors.js";
import { createLogger } from "../../src/util/log.js";
import { createRoleMetrics } from "../../src/util/metrics.js";
import { FakeGateway, closedPort, rawExchange, send } from "./FakeGateway.js";

const REQ = "message/ohttp-req";
const CHUNKED_REQ = "message/ohttp-chunked-req";

// Headers the upstream request may carry: the two the relay sets, plus the two node's client
// adds for any request (Host from the fixed gateway URL, Connection from the keep-alive agent).
const UPSTREAM_ALLOWED = ["connection", "content-length", "content-type", "host"];
// Headers a client may see: the gateway's Content-Type, and what the relay's own HTTP server
// always sends (framing, connection management, its own Date).
const CLIENT_ALLOWED = new Set(["content-type", "content-length", "date", "connection", "keep-alive", "transfer-encoding"]);

// Twenty headers that identify or fingerprint a client; each value is unique so a leak is findable.
const IDENTIFYING: Record<string, string> = {
  cookie: "session=leak-cookie-01",
  "user-agent": "LeakAgent/02",
  "x-forwarded-for": "203.0.113.3",
  forwarded: "for=203.0.113.4;proto=https",
  via: "1.1 leak-via-05",
  "x-real-ip": "203.0.113.6",
  authorization: "Bearer leak-token-07",
  "true-client-ip": "203.0.113.8",
  "cf-connecting-ip": "203.0.113.9",
  "x-client-ip": "203.0.113.10",
  referer: "https://leak-referer-11.example/",
  origin: "https://leak-origin-12.example",
  "x-request-id": "leak-request-id-13",
  traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4714-00f067aa0ba90b14-01",
  "accept-language": "leak-lang-15",
  "x-forwarded-host": "leak-host-16.example",
  "x-forwarded-proto": "leak-proto-17",
  "client-ip": "203.0.113.18",
  "proxy-authorization": "Basic bGVhay0xOQ==",
  "x-amzn-trace-id": "Root=1-leak-20",
};

interface Rig {
  gw: FakeGateway;
  relay: RelayServer;
  url: string;
  port: number;
  lines: string[];
}

async function startRig(opts: Partial<RelayOptions> = {}, gatewayPath = "/"): Promise<Rig> {
  const gw = await FakeGateway.start();
  const lines: string[] = [];
  const relay = new RelayServer({
    gatewayUrl: gw.url(gatewayPath),
    logger: createLogger("relay", { level: "debug", write: (l) => lines.push(l) }),
    metrics: createRoleMetrics("mimi_relay", { defaultMetrics: false }),
    ...opts,
  });
  const a = await relay.listen("127.0.0.1", 0);
  return { gw, relay, url: a.url, port: a.port, lines };
}

async function stopRig(r: Rig): Promise<void> {
  await r.relay.close();
  await r.gw.close();
}

function resetGateway(gw: FakeGateway): void {
  gw.requests.length = 0;
  gw.behaviour = { status: 200, contentType: "message/ohttp-res", extraHeaders: {}, delayMs: 0, mode: "respond" };
}

describe("RFC 9458 §5: the relay resource forwards the encapsulated request unchanged", () => {
  let r: Rig;
  before(async () => (r = await startRig({}, "/gateway/ohttp?tenant=a")));
  after(() => stopRig(r));
  beforeEach(() => resetGateway(r.gw));

  test("message/ohttp-req: body byte-exact both ways, gateway status and type returned", async () => {
    const body = randomBytes(4096);
    const reply = randomBytes(1234);
    r.gw.behaviour.body = reply;
    const res = await send(r.url, { headers: { "content-type": REQ }, body });
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-type"], "message/ohttp-res");
    assert.deepEqual(res.body, reply);
    assert.equal(r.gw.requests.length, 1);
    const up = r.gw.requests[0]!;
    assert.equal(up.method, "POST");
    assert.deepEqual(up.body, body);
    assert.equal(up.headers["content-type"], REQ);
    assert.equal(up.headers["content-length"], "4096");
  });

  test("message/ohttp-chunked-req is forwarded with its own media type", async () => {
    const body = randomBytes(777);
    r.gw.behaviour.contentType = "message/ohttp-chunked-res";
    r.gw.behaviour.mode = "chunked";
    const res = await send(r.url, { headers: { "content-type": CHUNKED_REQ }, body });
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-type"], "message/ohttp-chunked-res");
    assert.deepEqual(res.body, body);
    assert.equal(r.gw.requests[0]!.headers["content-type"], CHUNKED_REQ);
    assert.deepEqual(r.gw.requests[0]!.body, body);
  });

  test("a chunked-transfer client request arrives upstream with a Content-Length", async () => {
    const parts = [randomBytes(100), randomBytes(200), randomBytes(300)];
    const res = await send(r.url, { headers: { "content-type": REQ }, chunks: parts });
    assert.equal(res.status, 200);
    const up = r.gw.requests[0]!;
    assert.deepEqual(up.body, Buffer.concat(parts));
    assert.equal(up.headers["content-length"], "600");
    assert.equal(up.headers["transfer-encoding"], undefined);
  });

  test("media type matched case-insensitively with optional whitespace; canonical form sent upstream", async () => {
    for (const ct of ["Message/OHTTP-Req", " message/ohttp-req\t", "MESSAGE/OHTTP-CHUNKED-REQ"]) {
      const res = await send(r.url, { headers: { "content-type": ct }, body: Buffer.from([1, 2, 3]) });
      assert.equal(res.status, 200, ct);
    }
    assert.deepEqual(
      r.gw.requests.map((q) => q.headers["content-type"]),
      [REQ, REQ, CHUNKED_REQ],
    );
    assert.equal(ohttpRequestMediaType(undefined), undefined);
    assert.equal(ohttpRequestMediaType("message/ohttp-req;x=1"), undefined);
  });

  test("gateway errors pass through with status, type and body verbatim", async () => {
    for (const [status, ct, text] of [
      [400, "text/plain", "bad"],
      [401, "application/problem+json", '{"type":"https://iana.org/assignments/http-problem-types#ohttp-key"}'],
      [422, "application/problem+json", "{}"],
      [500, "text/html", "<b>x</b>"],
    ] as const) {
      r.gw.behaviour = { ...r.gw.behaviour, status, contentType: ct, body: Buffer.from(text) };
      const res = await send(r.url, { headers: { "content-type": REQ }, body: Buffer.from("x") });
      assert.equal(res.status, status);
      assert.equal(res.headers["content-type"], ct);
      assert.equal(res.body.toString(), text);
    }
  });

  test("no Content-Type from the gateway means none to the client", async () => {
    r.gw.behaviour.contentType = null;
    const res = await send(r.url, { headers: { "content-type": REQ }, body: Buffer.from("abc") });
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-type"], undefined);
    assert.equal(res.body.toString(), "abc");
  });

  test("§6.2/§8.2 fixed mapping: path, query, Host and absolute-form targets cannot move the request", async () => {
    const res = await send(r.url, {
      path: "/?target=http://169.254.169.254/",
      headers: { "content-type": REQ, host: "evil.example:81" },
      body: Buffer.from("q"),
    });
    assert.equal(res.status, 200);
    const raw = await rawExchange(
      r.port,
      "POST http://evil.example/steal?x=1 HTTP/1.1\r\nHost: evil.example\r\nContent-Type: message/ohttp-req\r\n" +
        "Content-Length: 1\r\nConnection: close\r\n\r\nz",
    );
    // An absolute-form target has a non-"/" path here, so it is simply not the relay resource.
    assert.match(raw, /^HTTP\/1\.1 404 /);
    const raw2 = await rawExchange(
      r.port,
      "POST http://evil.example/ HTTP/1.1\r\nHost: evil.example\r\nContent-Type: message/ohttp-req\r\n" +
        "Content-Length: 1\r\nConnection: close\r\n\r\nz",
    );
    assert.match(raw2, /^HTTP\/1\.1 200 /);
    assert.equal(r.gw.requests.length, 2);
    for (const q of r.gw.requests) {
      assert.equal(q.url, "/gateway/ohttp?tenant=a");
      assert.equal(q.headers.host, `127.0.0.1:${r.gw.port}`);
    }
  });
});

describe("RFC 9458 §6.2: nothing identifying crosses the relay", () => {
  let r: Rig;
  before(async () => (r = await startRig()));
  after(() => stopRig(r));
  beforeEach(() => resetGateway(r.gw));

  test("20 identifying client headers: upstream sees only Host, Connection, Content-Type, Content-Length", async () => {
    const body = randomBytes(64);
    const res = await send(r.url, { headers: { ...IDENTIFYING, "content-type": REQ }, body });
    assert.equal(res.status, 200);
    const up = r.gw.requests[0]!;
    assert.deepEqual([...up.headerNames].sort(), UPSTREAM_ALLOWED);
    assert.equal(up.headers.host, `127.0.0.1:${r.gw.port}`);
    assert.equal(up.headers.connection, "keep-alive");
    assert.equal(up.headers["content-type"], REQ);
    assert.equal(up.headers["content-length"], "64");
    const wire = up.rawHeaders.join("\n").toLowerCase();
    for (const [name, value] of Object.entries(IDENTIFYING)) {
      assert.ok(!wire.includes(value.toLowerCase()), `value of ${name} leaked upstream`);
    }
    for (const added of ["via", "forwarded", "x-forwarded-for", "user-agent"]) assert.ok(!up.headerNames.includes(added));
  });

  test("gateway headers other than Content-Type never reach the client", async () => {
    r.gw.behaviour.extraHeaders = {
      "set-cookie": "gw=leak-set-cookie",
      server: "LeakServer/1",
      "x-anything": "leak-x-anything",
      via: "1.1 leak-gateway",
      "cache-control": "max-age=99",
      "alt-svc": 'h3=":443"',
      "strict-transport-security": "max-age=1",
    };
    const res = await send(r.url, { headers: { "content-type": REQ }, body: Buffer.from("hi") });
    assert.equal(res.status, 200);
    for (const n of res.headerNames) assert.ok(CLIENT_ALLOWED.has(n), `unexpected header to client: ${n}`);
    assert.equal(res.headers["content-type"], "message/ohttp-res");
    assert.ok(!JSON.stringify(res.headers).includes("leak"));
  });
});

describe("RFC 9458 §5.2: requests the relay refuses get plain, uniform errors", () => {
  let r: Rig;
  before(async () => (r = await startRig({ maxBodyBytes: 1000 })));
  after(() => stopRig(r));
  beforeEach(() => resetGateway(r.gw));

  const expectError = (res: { status: number; body: Buffer; headers: http.IncomingHttpHeaders }, status: number): void => {
    assert.equal(res.status, status);
    assert.equal(res.body.toString(), `${http.STATUS_CODES[status]}\n`);
    assert.equal(res.headers["content-type"], "text/plain; charset=utf-8");
  };

  test("405 with Allow: POST for any other method on /", async () => {
    for (const method of ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
      const res = await send(r.url, { method, headers: { "content-type": REQ }, body: Buffer.from("x") });
      expectError(res, 405);
      assert.equal(res.headers.allow, "POST");
    }
    const head = await send(r.url, { method: "HEAD" });
    assert.equal(head.status, 405);
    assert.equal(head.headers.allow, "POST");
    assert.equal(r.gw.requests.length, 0);
  });

  test("415 for any other or parameterised content type", async () => {
    for (const ct of [undefined, "application/octet-stream", "message/ohttp-res", "message/ohttp-req; charset=utf-8", "message/ohttp-reqx", "message/bhttp"]) {
      const headers: Record<string, string> = ct === undefined ? {} : { "content-type": ct };
      expectError(await send(r.url, { headers, body: Buffer.from("x") }), 415);
    }
    assert.equal(r.gw.requests.length, 0);
  });

  test("413 over the limit, declared or chunked; exactly the limit is accepted", async () => {
    expectError(await send(r.url, { headers: { "content-type": REQ }, body: randomBytes(1001) }), 413);
    const chunked = await send(r.url, { headers: { "content-type": REQ }, chunks: [randomBytes(600), randomBytes(600)] }).catch(
      (e: NodeJS.ErrnoException) => e,
    );
    // The relay answers 413 and closes; node may surface the close as EPIPE/ECONNRESET first.
    if (chunked instanceof Error) assert.ok(["EPIPE", "ECONNRESET"].includes(chunked.code ?? ""), String(chunked));
    else expectError(chunked, 413);
    assert.equal(r.gw.requests.length, 0);
    const ok = await send(r.url, { headers: { "content-type": REQ }, body: randomBytes(1000) });
    assert.equal(ok.status, 200);
    assert.equal(r.gw.requests.length, 1);
  });

  test("400 for an empty body, declared or chunked", async () => {
    expectError(await send(r.url, { headers: { "content-type": REQ }, body: new Uint8Array(0) }), 400);
    expectError(await send(r.url, { headers: { "content-type": REQ }, chunks: [] }), 400);
    assert.equal(r.gw.requests.length, 0);
  });

  test("404 for every other path, byte-identical whatever the path", async () => {
    const bodies = new Set<string>();
    for (const path of ["/foo", "/.well-known/ohttp-gateway", "//", "/relay", "/health/x", "/%2e"]) {
      for (const method of ["GET", "POST"]) {
        const res = await send(r.url, { method, path, headers: { "content-type": REQ }, body: Buffer.from("x") });
        expectError(res, 404);
        bodies.add(res.body.toString("hex"));
      }
    }
    assert.equal(bodies.size, 1);
    assert.equal(r.gw.requests.length, 0);
  });
});

describe("upstream failures: 502/504 and never a retry", () => {
  let r: Rig;
  before(async () => (r = await startRig({ upstreamTimeoutMs: 300, maxBodyBytes: 1000, maxResponseBytes: 2000 })));
  after(() => stopRig(r));
  beforeEach(() => resetGateway(r.gw));

  const post = (): ReturnType<typeof send> => send(r.url, { headers: { "content-type": REQ }, body: Buffer.from("payload") });

  test("502 when the gateway port is closed", async () => {
    const relay = new RelayServer({ gatewayUrl: `http://127.0.0.1:${await closedPort()}/`, metrics: false });
    const a = await relay.listen("127.0.0.1", 0);
    try {
      const res = await send(a.url, { headers: { "content-type": REQ }, body: Buffer.from("x") });
      assert.equal(res.status, 502);
      assert.equal(res.body.toString(), "Bad Gateway\n");
    } finally {
      await relay.close();
    }
  });

  test("502 when the gateway drops the connection, exactly one upstream attempt", async () => {
    r.gw.behaviour.mode = "destroy";
    const res = await post();
    assert.equal(res.status, 502);
    assert.equal(r.gw.requests.length, 1);
  });

  test("502 when the gateway cuts the response body short, exactly one attempt", async () => {
    r.gw.behaviour.mode = "destroy-mid-body";
    r.gw.behaviour.body = randomBytes(500);
    const res = await post();
    assert.equal(res.status, 502);
    assert.equal(r.gw.requests.length, 1);
  });

  test("504 when the gateway answers after the timeout, exactly one attempt", async () => {
    r.gw.behaviour.delayMs = 1000;
    const t0 = Date.now();
    const res = await post();
    const elapsed = Date.now() - t0;
    assert.equal(res.status, 504);
    assert.equal(res.body.toString(), "Gateway Timeout\n");
    assert.ok(elapsed >= 290 && elapsed < 900, `answered after ${elapsed} ms`);
    assert.equal(r.gw.requests.length, 1);
  });

  test("502 when the gateway response exceeds the response limit, declared or chunked", async () => {
    r.gw.behaviour.body = randomBytes(2001);
    assert.equal((await post()).status, 502);
    r.gw.behaviour.mode = "chunked";
    assert.equal((await post()).status, 502);
    assert.equal(r.gw.requests.length, 2);
    r.gw.behaviour.body = randomBytes(2000);
    assert.equal((await post()).status, 200);
  });

  test("a failure leaves the pool usable: the next request succeeds", async () => {
    r.gw.behaviour.mode = "destroy";
    assert.equal((await post()).status, 502);
    r.gw.behaviour.mode = "respond";
    assert.equal((await post()).status, 200);
    assert.equal(r.gw.requests.length, 2);
  });

  test("§6.2.2 requests beyond maxInFlight get 503 without reaching the gateway", async () => {
    const small = await startRig({ maxInFlight: 2 });
    try {
      small.gw.behaviour.delayMs = 200;
      const p = (): ReturnType<typeof send> => send(small.url, { headers: { "content-type": REQ }, body: Buffer.from("x") });
      const first = [p(), p()];
      await new Promise((res) => setTimeout(res, 50));
      const third = await p();
      assert.equal(third.status, 503);
      assert.equal(third.body.toString(), "Service Unavailable\n");
      assert.deepEqual((await Promise.all(first)).map((x) => x.status), [200, 200]);
      assert.equal(small.gw.requests.length, 2);
      // Slots are released: the next request goes through.
      assert.equal((await p()).status, 200);
    } finally {
      await stopRig(small);
    }
  });

  test("gateway connections are pooled: 20 sequential requests share one connection", async () => {
    const before = r.gw.connections;
    for (let i = 0; i < 20; i++) assert.equal((await post()).status, 200);
    assert.equal(r.gw.requests.length, 20);
    assert.equal(new Set(r.gw.requests.map((q) => q.connection)).size, 1);
    assert.ok(r.gw.connections - before <= 1);
  });
});

describe("health, metrics and logs", () => {
  let r: Rig;
  before(async () => (r = await startRig()));
  after(() => stopRig(r));

  test("GET /health is 200 ok; other methods 405", async () => {
    const res = await send(r.url, { method: "GET", path: "/health" });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), "ok\n");
    const post = await send(r.url, { method: "POST", path: "/health", body: Buffer.from("x") });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, "GET, HEAD");
  });

  test("GET /metrics: counts by fixed route and status, size and latency histograms, no addresses", async () => {
    await send(r.url, { headers: { ...IDENTIFYING, "content-type": REQ }, body: Buffer.from("m") });
    await send(r.url, { method: "GET", path: "/nope-secret-path" });
    const res = await send(r.url, { method: "GET", path: "/metrics" });
    assert.equal(res.status, 200);
    assert.match(String(res.headers["content-type"]), /^text\/plain/);
    const text = res.body.toString();
    assert.match(text, /mimi_relay_requests_total\{route="relay",status="200"\} [1-9]/);
    assert.match(text, /mimi_relay_requests_total\{route="other",status="404"\} [1-9]/);
    assert.match(text, /mimi_relay_request_bytes_bucket\{le="64",route="relay"\} [1-9]/);
    assert.match(text, /mimi_relay_response_bytes_count\{route="relay"\} [1-9]/);
    assert.match(text, /mimi_relay_request_duration_seconds_count\{route="relay"\} [1-9]/);
    assert.ok(!text.includes("127.0.0.1"));
    assert.ok(!text.includes("nope-secret-path"));
    for (const v of Object.values(IDENTIFYING)) assert.ok(!text.includes(v));
  });

  test("metrics on a separate listener are off the relay listener", async () => {
    const gw = r.gw;
    const relay = new RelayServer({
      gatewayUrl: gw.url(),
      metrics: createRoleMetrics("mimi_relay", { defaultMetrics: false }),
      serveMetrics: false,
    });
    const a = await relay.listen("127.0.0.1", 0);
    const m = await relay.listenMetrics("127.0.0.1", 0);
    try {
      assert.equal((await send(a.url, { method: "GET", path: "/metrics" })).status, 404);
      await send(a.url, { headers: { "content-type": REQ }, body: Buffer.from("x") });
      const res = await send(m.url, { method: "GET", path: "/metrics" });
      assert.equal(res.status, 200);
      assert.match(res.body.toString(), /mimi_relay_requests_total\{route="relay",status="200"\} 1/);
      assert.equal((await send(m.url, { method: "POST", path: "/", headers: { "content-type": REQ }, body: Buffer.from("x") })).status, 404);
    } finally {
      await relay.close();
    }
  });

  test("log lines carry only status, sizes and durations: no addresses, headers, bodies or target", async () => {
    r.lines.length = 0;
    resetGateway(r.gw);
    const secretBody = Buffer.from("body-secret-canary");
    await send(r.url, { headers: { ...IDENTIFYING, "content-type": REQ }, body: secretBody });
    r.gw.behaviour.mode = "destroy";
    await send(r.url, { headers: { ...IDENTIFYING, "content-type": REQ }, body: secretBody });
    await send(r.url, { method: "GET", path: "/secret-path-canary?q=canary", headers: IDENTIFYING });
    await send(r.url, { headers: { ...IDENTIFYING, "content-type": "text/canary" }, body: secretBody });

    // A relay whose gateway refuses the connection: node's error message names 127.0.0.1:port.
    const lines: string[] = [];
    const relay = new RelayServer({
      gatewayUrl: `http://127.0.0.1:${await closedPort()}/gw-path-canary`,
      logger: createLogger("relay", { level: "debug", write: (l) => lines.push(l) }),
      metrics: false,
    });
    const a = await relay.listen("127.0.0.1", 0);
    await send(a.url, { headers: { ...IDENTIFYING, "content-type": REQ }, body: secretBody });
    await relay.close();

    const all = [...r.lines, ...lines];
    assert.ok(all.length >= 6);
    assert.ok(all.some((l) => l.includes('"level":"warn"') && l.includes("upstream_unavailable")));
    assert.ok(lines.some((l) => l.includes("ECONNREFUSED")));
    const allowedKeys = new Set(["t", "level", "component", "event", "route", "status", "reqBytes", "resBytes", "ms", "kind", "code", "error"]);
    for (const l of all) {
      const o = JSON.parse(l) as Record<string, unknown>;
      for (const k of Object.keys(o)) assert.ok(allowedKeys.has(k), `unexpected log field ${k}`);
      assert.ok(!l.includes("127.0.0.1"), l);
      assert.ok(!l.includes("canary"), l);
      for (const v of Object.values(IDENTIFYING)) assert.ok(!l.includes(v), `${v} in ${l}`);
    }
  });

  test("an unexpected internal error is a plain 500 and logged by class name only", async () => {
    const lines: string[] = [];
    const metrics = createRoleMetrics("mimi_relay", { defaultMetrics: false });
    metrics.render = () => Promise.reject(new TypeError("boom at 127.0.0.1 cookie=leak"));
    const relay = new RelayServer({
      gatewayUrl: r.gw.url(),
      logger: createLogger("relay", { level: "debug", write: (l) => lines.push(l) }),
      metrics,
    });
    const a = await relay.listen("127.0.0.1", 0);
    try {
      const res = await send(a.url, { method: "GET", path: "/metrics" });
      assert.equal(res.status, 500);
      assert.equal(res.body.toString(), "Internal Server Error\n");
      assert.ok(lines.some((l) => l.includes('"event":"internal_error"') && l.includes('"error":"TypeError"')));
      for (const l of lines) assert.ok(!l.includes("boom") && !l.includes("127.0.0.1"), l);
    } finally {
      await relay.close();
    }
  });
});

describe("clients that go away", () => {
  test("mid-upload or while the gateway works: no crash, upstream request dropped, 499 in metrics", async () => {
    const r = await startRig();
    try {
      r.gw.behaviour.delayMs = 300;
      const partial = net.connect(r.port, "127.0.0.1");
      partial.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Type: ${REQ}\r\nContent-Length: 100\r\n\r\n0123456789`);
      const waiting = net.connect(r.port, "127.0.0.1");
      waiting.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Type: ${REQ}\r\nContent-Length: 3\r\n\r\nabc`);
      await new Promise((res) => setTimeout(res, 100));
      partial.destroy();
      waiting.destroy();
      await new Promise((res) => setTimeout(res, 400));
      // The complete request reached the gateway once; the relay then closed that upstream
      // connection, so the gateway's late answer had nowhere to go.
      assert.equal(r.gw.requests.length, 1);
      assert.equal(r.gw.abandoned, 1);
      const text = await r.relay.metrics!.render();
      assert.match(text, /mimi_relay_requests_total\{route="relay",status="499"\} 2/);
      // The relay still serves.
      r.gw.behaviour.delayMs = 0;
      assert.equal((await send(r.url, { headers: { "content-type": REQ }, body: Buffer.from("x") })).status, 200);
      assert.ok(!r.lines.some((l) => l.includes('"level":"warn"')), r.lines.join("\n"));
    } finally {
      await stopRig(r);
    }
  });
});

describe("lifecycle", () => {
  test("close() lets an in-flight request finish, then refuses new connections", async () => {
    const r = await startRig();
    r.gw.behaviour.delayMs = 200;
    const inflight = send(r.url, { headers: { "content-type": REQ }, body: Buffer.from("slow") });
    await new Promise((res) => setTimeout(res, 50));
    const closed = r.relay.close();
    const res = await inflight;
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), "slow");
    assert.equal(res.headers.connection, "close");
    await closed;
    await assert.rejects(send(r.url, { headers: { "content-type": REQ }, body: Buffer.from("x") }), { code: "ECONNREFUSED" });
    await r.gw.close();
  });

  test("gateway URL validation: only http(s), no credentials, no fragment", () => {
    for (const bad of ["ftp://x/", "not a url", "http://user:pw@h/", "https://h/#frag", "file:///etc/passwd"]) {
      assert.throws(() => GatewayClient.parseUrl(bad), InvalidGatewayUrlError, bad);
      assert.throws(() => new RelayServer({ gatewayUrl: bad, metrics: false }), InvalidGatewayUrlError, bad);
    }
    assert.equal(GatewayClient.parseUrl("https://gw.example:8443/ohttp?x=1").href, "https://gw.example:8443/ohttp?x=1");
  });
});
