// The Oblivious Gateway Resource (RFC 9458) with RFC 9540 key discovery.
//
// Two error regimes, on purpose:
// - before decapsulation (unknown key id, malformed message, failed decryption, replay) the
//   gateway answers one plain, uniform 400 with a fixed body, so a relay or attacker probing
//   it learns nothing about why (RFC 9458 s5.3, s6.4);
// - after decapsulation, errors (malformed Binary HTTP, target not allowed, target timeout)
//   are encapsulated, so only the client sees them.
import http from "node:http";
import { listenHttp } from "../src/util/listen.js";
import Koa from "koa";
import { Counter, Gauge } from "prom-client";
import { BinaryRequest, BinaryResponse } from "../src/bhttp/index.js";
import { KeyConfigList, OhttpGateway } from "../src/ohttp/index.js";
import { OHTTP_CHUNKED_REQ, OHTTP_CHUNKED_RES, OHTTP_KEYS, OHTTP_REQ, OHTTP_RES } from "../src/ohttp/mediaTypes.js";
import { BodyTooLargeError, readBody } from "../src/util/body.js";
import { type Logger, silentLogger } from "../src/util/log.js";
import { createRoleMetrics, type RoleMetrics } from "../src/util/metrics.js";
import { loadKeys, manifestVersion, type LoadedKeys } from "./KeyDirectory.js";
import { ReplayFilter } from "./ReplayFilter.js";
import { TargetForwarder, normalizeOrigin } from "./forward.js";

export const GATEWAY_PATH = "/.well-known/ohttp-gateway";

export interface GatewayOptions {
  keyDir: string;
  /** allow-listed target origins, e.g. "http://127.0.0.1:8443" */
  targets: readonly string[];
  maxBodyBytes?: number;
  maxResponseBytes?: number;
  targetTimeoutMs?: number;
  /** requests remembered per key and generation for replay defence */
  replayCapacity?: number;
  /** how often the key directory is checked for rotations */
  keyReloadIntervalMs?: number;
  logger?: Logger;
}

type Rejection = "method" | "media_type" | "too_large" | "expect" | "undecryptable" | "replay" | "bad_bhttp" | "forbidden_target" | "target_timeout" | "target_unreachable" | "target_too_large";

const PLAIN_ERROR_BODY = Buffer.from("bad request\n");

export class GatewayServer {
  readonly app: Koa;
  readonly metrics: RoleMetrics;
  private readonly ohttp = new OhttpGateway([]);
  private readonly replay: ReplayFilter;
  private readonly forwarder: TargetForwarder;
  private readonly allowed: Set<string>;
  private readonly rejections: Counter<"reason">;
  private keys!: LoadedKeys;
  private keysVersion = 0;
  private keyConfigBytes: Uint8Array = new Uint8Array(0);
  private reloadTimer?: NodeJS.Timeout;
  private server?: http.Server;
  private readonly log: Logger;
  private readonly maxBody: number;

  constructor(readonly opts: GatewayOptions) {
    this.log = opts.logger ?? silentLogger;
    this.maxBody = opts.maxBodyBytes ?? 1 << 20;
    this.allowed = new Set(opts.targets.map(normalizeOrigin));
    if (this.allowed.size === 0) throw new TypeError("at least one target origin is required");
    this.replay = new ReplayFilter(opts.replayCapacity);
    this.forwarder = new TargetForwarder(opts.targetTimeoutMs ?? 10_000, opts.maxResponseBytes ?? 8 << 20);
    this.metrics = createRoleMetrics("mimi_gateway");
    this.rejections = new Counter({
      name: "mimi_gateway_rejections_total",
      help: "Requests refused, by fixed reason",
      labelNames: ["reason"] as const,
      registers: [this.metrics.registry],
    });
    const replay = this.replay;
    new Gauge({
      name: "mimi_gateway_replay_filter_bytes",
      help: "Memory held by the replay filter",
      registers: [this.metrics.registry],
      collect(this: Gauge) {
        this.set(replay.memoryBytes);
      },
    });
    new Gauge({
      name: "mimi_gateway_replay_generations_evicted",
      help: "Replay-filter generations forgotten; nonzero means capacity is below a key's traffic",
      registers: [this.metrics.registry],
      collect(this: Gauge) {
        this.set(replay.evictions);
      },
    });
    this.app = new Koa();
    this.app.proxy = false;
    this.app.silent = true;
    this.app.use((ctx) => this.route(ctx));
  }

  /** Loads keys (creating a first one in an empty directory) and starts watching for rotations. */
  async start(): Promise<void> {
    await this.reloadKeys(true);
    const every = this.opts.keyReloadIntervalMs ?? 2000;
    this.reloadTimer = setInterval(() => {
      this.reloadKeys(false).catch((e: unknown) => this.log.error("key_reload_failed", { error: (e as Error).name }));
    }, every);
    this.reloadTimer.unref();
  }

  /** Re-reads the key directory now (SIGHUP), instead of waiting for the reload timer. */
  reload(): Promise<void> {
    return this.reloadKeys(true);
  }

  private async reloadKeys(force: boolean): Promise<void> {
    const v = await manifestVersion(this.opts.keyDir);
    const retirementDue = this.keys?.nextRetirement !== undefined && this.keys.nextRetirement <= Date.now();
    if (!force && v === this.keysVersion && !retirementDue) return;
    const keys = await loadKeys(this.opts.keyDir);
    this.keys = keys;
    this.keysVersion = await manifestVersion(this.opts.keyDir);
    this.ohttp.setKeys(keys.accepted);
    this.replay.retainOnly(keys.accepted.map((k) => k.keyId));
    this.keyConfigBytes = new KeyConfigList([keys.active.config]).serialize();
    this.log.info("keys_loaded", { accepted: keys.accepted.length, active_key_id: keys.active.keyId });
  }

  async listen(host: string, port: number): Promise<{ host: string; port: number; url: string }> {
    await this.start();
    const server = http.createServer(this.app.callback());
    // RFC 9458 gives no use for 100-continue; refusing it avoids a half-read body state.
    server.on("checkContinue", (_req, res) => {
      this.rejections.inc({ reason: "expect" });
      res.writeHead(417, { "content-type": "text/plain" }).end("expectation failed\n");
    });
    server.on("checkExpectation", (_req, res) => {
      this.rejections.inc({ reason: "expect" });
      res.writeHead(417, { "content-type": "text/plain" }).end("expectation failed\n");
    });
    server.keepAliveTimeout = 65_000;
    this.server = server;
    return listenHttp(server, host, port);
  }

  async close(): Promise<void> {
    if (this.reloadTimer) clearInterval(this.reloadTimer);
    const s = this.server;
    if (s) {
      await new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeIdleConnections();
      });
    }
    this.forwarder.close();
  }

  private reject(ctx: Koa.Context, reason: Rejection, status: number, body: Buffer | string): void {
    this.rejections.inc({ reason });
    ctx.status = status;
    ctx.type = "text/plain";
    ctx.body = body;
  }

  private async route(ctx: Koa.Context): Promise<void> {
    const started = process.hrtime.bigint();
    let route = "other";
    let reqBytes = 0;
    try {
      if (ctx.path === GATEWAY_PATH) {
        if (ctx.method === "GET" || ctx.method === "HEAD") {
          route = "keys";
          this.serveKeys(ctx);
        } else if (ctx.method === "POST") {
          route = "gateway";
          reqBytes = await this.serveGateway(ctx);
        } else {
          ctx.set("Allow", "GET, HEAD, POST");
          this.reject(ctx, "method", 405, "method not allowed\n");
        }
      } else if (ctx.path === "/health" && ctx.method === "GET") {
        route = "health";
        ctx.type = "text/plain";
        ctx.body = "ok\n";
      } else if (ctx.path === "/metrics" && ctx.method === "GET") {
        route = "metrics";
        ctx.type = this.metrics.registry.contentType;
        ctx.body = await this.metrics.render();
      } else {
        ctx.status = 404;
        ctx.type = "text/plain";
        ctx.body = "not found\n";
      }
    } catch (e) {
      // Nothing below should throw; if it does, answer like any other unprocessable request
      // rather than leaking a stack or a 500 that distinguishes this input.
      this.log.error("gateway_internal_error", { error: (e as Error).name });
      this.reject(ctx, "undecryptable", 400, PLAIN_ERROR_BODY);
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const resBytes = Buffer.isBuffer(ctx.body) || ctx.body instanceof Uint8Array ? (ctx.body as Uint8Array).length : typeof ctx.body === "string" ? Buffer.byteLength(ctx.body) : 0;
      this.metrics.observe(route, ctx.status, reqBytes, resBytes, seconds);
      this.log.debug("request", { route, status: ctx.status, req_bytes: reqBytes, res_bytes: resBytes, ms: Math.round(seconds * 1e4) / 10 });
    }
  }

  private serveKeys(ctx: Koa.Context): void {
    ctx.type = OHTTP_KEYS;
    // Clients may cache the configuration, but never past the retention window of a rotated
    // key; jitter keeps a client population from refetching in lockstep (which would let the
    // gateway correlate fetches with requests).
    const maxAge = 3600 + Math.floor(Math.random() * 3600);
    ctx.set("Cache-Control", `public, max-age=${maxAge}`);
    ctx.body = Buffer.from(this.keyConfigBytes);
  }

  private async serveGateway(ctx: Koa.Context): Promise<number> {
    if (ctx.get("expect")) {
      this.reject(ctx, "expect", 417, "expectation failed\n");
      return 0;
    }
    const type = (ctx.get("content-type") || "").split(";")[0]!.trim().toLowerCase();
    const chunked = type === OHTTP_CHUNKED_REQ;
    if (type !== OHTTP_REQ && !chunked) {
      this.reject(ctx, "media_type", 415, "unsupported media type\n");
      return 0;
    }
    let body: Uint8Array;
    try {
      body = await readBody(ctx.req, this.maxBody);
    } catch (e) {
      if (e instanceof BodyTooLargeError) this.reject(ctx, "too_large", 413, "payload too large\n");
      else this.reject(ctx, "undecryptable", 400, PLAIN_ERROR_BODY);
      return 0;
    }
    // Cheap replay check on the clear header (key_id || kem || kdf || aead || enc) before any
    // public-key work; the authoritative check runs after decapsulation.
    if (body.length >= 7 + 32 && this.replay.seen(body[0]!, body.subarray(7, 39))) {
      this.reject(ctx, "replay", 400, PLAIN_ERROR_BODY);
      return body.length;
    }
    let decap;
    try {
      decap = chunked ? await this.ohttp.decapsulateChunkedRequest(body) : await this.ohttp.decapsulateRequest(body);
    } catch {
      this.reject(ctx, "undecryptable", 400, PLAIN_ERROR_BODY);
      return body.length;
    }
    if (this.replay.checkAndRecord(decap.keyId, decap.enc)) {
      this.reject(ctx, "replay", 400, PLAIN_ERROR_BODY);
      return body.length;
    }
    const inner = await this.handleInner(decap.request);
    ctx.status = 200;
    ctx.type = chunked ? OHTTP_CHUNKED_RES : OHTTP_RES;
    ctx.body = Buffer.from(await decap.encapsulateResponse(inner.serialize()));
    return body.length;
  }

  private errorResponse(reason: Rejection, status: number): BinaryResponse {
    this.rejections.inc({ reason });
    return new BinaryResponse({ status, headers: [{ name: "content-type", value: "text/plain" }], content: Buffer.from(`${http.STATUS_CODES[status] ?? "error"}\n`) });
  }

  private async handleInner(bytes: Uint8Array): Promise<BinaryResponse> {
    let req: BinaryRequest;
    try {
      req = BinaryRequest.deserialize(bytes, { maxContentBytes: this.maxBody });
    } catch {
      return this.errorResponse("bad_bhttp", 400);
    }
    const authority = req.authority || req.headers.find((f) => f.name === "host")?.value || "";
    let origin: string;
    try {
      origin = normalizeOrigin(`${req.scheme}://${authority}`);
    } catch {
      return this.errorResponse("forbidden_target", 403);
    }
    if (!this.allowed.has(origin) || !req.path.startsWith("/")) return this.errorResponse("forbidden_target", 403);
    const out = await this.forwarder.forward({ origin, method: req.method, path: req.path, headers: req.headers, content: req.content });
    switch (out.kind) {
      case "timeout":
        return this.errorResponse("target_timeout", 504);
      case "unreachable":
        return this.errorResponse("target_unreachable", 502);
      case "too_large":
        return this.errorResponse("target_too_large", 502);
      case "response":
        // Binary HTTP carries only final statuses 200-599 here; anything else is a broken target.
        if (out.status < 200 || out.status > 599) return this.errorResponse("target_unreachable", 502);
        try {
          return new BinaryResponse({ status: out.status, headers: out.headers, content: out.content });
        } catch {
          // A field Binary HTTP cannot carry (invalid name or value) means a broken target.
          return this.errorResponse("target_unreachable", 502);
        }
    }
  }
}
