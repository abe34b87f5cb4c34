// The Oblivious HTTP relay resource (RFC 9458 §5, §6.2). It sees client addresses but never
// content, so its job is mostly to *drop* things: every client header, every upstream header but
// Content-Type, and any detail from logs and error bodies. It maps to exactly one gateway URL
// fixed at start-up (RFC 9458 §6.2 and §8.2: a relay is not an open proxy), so nothing in a client
// request (path, query, Host, absolute-form target, headers) can influence where it goes.
import http from "node:http";
import { listenHttp, type ListenAddress } from "../src/util/listen.js";
import Koa from "koa";
import type { Context } from "koa";
import { BodyTooLargeError, readBody } from "../src/util/body.js";
import { silentLogger } from "../src/util/log.js";
import type { Logger } from "../src/util/log.js";
import { createRoleMetrics } from "../src/util/metrics.js";
import type { RoleMetrics } from "../src/util/metrics.js";
import { ClientAbortedError, RelayError } from "./errors.js";
import { GatewayClient } from "./GatewayClient.js";
import type { OhttpRequestMediaType } from "./GatewayClient.js";

export interface RelayOptions {
  /** the one gateway resource every request goes to */
  gatewayUrl: string | URL;
  /** request body limit, counted on the wire whether or not Content-Length is sent (default 1 MiB) */
  maxBodyBytes?: number;
  /** gateway response body limit (default 2 x maxBodyBytes) */
  maxResponseBytes?: number;
  /** whole upstream exchange, connect to last response byte (default 10000) */
  upstreamTimeoutMs?: number;
  /** concurrent upstream connections (default 256) */
  maxUpstreamSockets?: number;
  /**
   * relay requests buffered or awaiting the gateway at once; more get 503 (default 512). With
   * the body limit this bounds the memory a flood can pin (RFC 9458 §6.2.2).
   */
  maxInFlight?: number;
  /** how long close() waits for in-flight requests before cutting connections (default upstreamTimeoutMs + 1000) */
  drainTimeoutMs?: number;
  logger?: Logger;
  /** a registry to record into, or false for none (default: a fresh `mimi_relay` registry) */
  metrics?: RoleMetrics | false;
  /** serve GET /metrics on the relay's own listener (default true; see listenMetrics()) */
  serveMetrics?: boolean;
}

export type { ListenAddress } from "../src/util/listen.js";

const MIB = 1024 * 1024;
const ALLOW_RELAY = "POST";
const ALLOW_READ = "GET, HEAD";

// RFC 9458 media types take no parameters: the exact type, any case, optional surrounding OWS.
const MEDIA_TYPE = /^[ \t]*(message\/ohttp-req|message\/ohttp-chunked-req)[ \t]*$/i;

export function ohttpRequestMediaType(contentType: string | undefined): OhttpRequestMediaType | undefined {
  const m = contentType === undefined ? null : MEDIA_TYPE.exec(contentType);
  return m ? (m[1]!.toLowerCase() as OhttpRequestMediaType) : undefined;
}

/** Metric and log route names: a closed set, never a path the client chose. */
type Route = "relay" | "health" | "metrics" | "other";

export class RelayServer {
  readonly app: Koa;
  readonly gateway: GatewayClient;
  readonly metrics: RoleMetrics | undefined;
  readonly #log: Logger;
  readonly #maxBodyBytes: number;
  readonly #drainTimeoutMs: number;
  readonly #maxInFlight: number;
  #inFlight = 0;
  readonly #servers: http.Server[] = [];
  #closing: Promise<void> | undefined;

  constructor(opts: RelayOptions) {
    this.#maxBodyBytes = opts.maxBodyBytes ?? MIB;
    const upstreamTimeoutMs = opts.upstreamTimeoutMs ?? 10_000;
    this.#drainTimeoutMs = opts.drainTimeoutMs ?? upstreamTimeoutMs + 1000;
    this.#maxInFlight = opts.maxInFlight ?? 512;
    this.#log = opts.logger ?? silentLogger;
    this.metrics = opts.metrics === false ? undefined : (opts.metrics ?? createRoleMetrics("mimi_relay"));
    this.gateway = new GatewayClient(opts.gatewayUrl, {
      timeoutMs: upstreamTimeoutMs,
      maxResponseBytes: opts.maxResponseBytes ?? 2 * this.#maxBodyBytes,
      maxSockets: opts.maxUpstreamSockets,
    });

    const app = new Koa();
    // Never derive anything from X-Forwarded-* (ctx.ip is not used at all, but be explicit).
    app.proxy = false;
    // Koa's default handler prints stacks; ours logs only the error's class name.
    app.silent = true;
    app.on("error", (err: unknown) => this.#onKoaError(err));
    app.use((ctx) => this.#handle(ctx, opts.serveMetrics ?? true));
    this.app = app;
  }

  async #handle(ctx: Context, serveMetrics: boolean): Promise<void> {
    const started = process.hrtime.bigint();
    let route: Route = "other";
    let reqBytes = 0;
    // Once closing, ask keep-alive clients to go so the drain finishes.
    if (this.#closing) ctx.set("Connection", "close");
    try {
      if (ctx.path === "/") {
        route = "relay";
        reqBytes = await this.#relay(ctx);
      } else if (ctx.path === "/health") {
        route = "health";
        if (allowRead(ctx)) plain(ctx, 200, "ok\n");
      } else if (ctx.path === "/metrics" && serveMetrics && this.metrics) {
        route = "metrics";
        if (allowRead(ctx)) await this.#renderMetrics(ctx);
      } else {
        fail(ctx, 404);
      }
    } catch (e) {
      // Anything unexpected: a uniform 500, logged by class name only.
      this.#log.warn("internal_error", { error: e instanceof Error ? e.name : "unknown" });
      fail(ctx, 500);
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const resBytes = Number(ctx.response.length ?? 0);
    this.metrics?.observe(route, ctx.status, reqBytes, resBytes, seconds);
    this.#log.debug("request", { route, status: ctx.status, reqBytes, resBytes, ms: round(seconds * 1000) });
  }

  /** POST / : validate, read the body under the limit, forward, copy back status/type/body. */
  async #relay(ctx: Context): Promise<number> {
    if (ctx.method !== "POST") {
      ctx.set("Allow", ALLOW_RELAY);
      fail(ctx, 405);
      return 0;
    }
    const mediaType = ohttpRequestMediaType(ctx.get("Content-Type") || undefined);
    if (!mediaType) {
      fail(ctx, 415);
      return 0;
    }
    if (this.#inFlight >= this.#maxInFlight) {
      ctx.set("Connection", "close");
      fail(ctx, 503);
      return 0;
    }
    this.#inFlight++;
    try {
      return await this.#forward(ctx, mediaType);
    } finally {
      this.#inFlight--;
    }
  }

  async #forward(ctx: Context, mediaType: OhttpRequestMediaType): Promise<number> {
    let body: Uint8Array;
    try {
      body = await readBody(ctx.req, this.#maxBodyBytes);
    } catch (e) {
      if (e instanceof BodyTooLargeError) {
        // Close instead of draining an upload we will never use.
        ctx.set("Connection", "close");
        fail(ctx, 413);
      } else if (ctx.req.destroyed) {
        ctx.status = 499; // the client went away mid-upload; nobody reads this
      } else {
        fail(ctx, 400);
      }
      return 0;
    }
    if (body.byteLength === 0) {
      fail(ctx, 400);
      return 0;
    }

    const clientGone = new AbortController();
    const onClose = (): void => {
      if (!ctx.res.writableFinished) clientGone.abort();
    };
    ctx.res.once("close", onClose);
    const t0 = process.hrtime.bigint();
    try {
      const up = await this.gateway.forward(mediaType, body, clientGone.signal);
      // Only status, Content-Type and body come back; no other gateway header is copied.
      ctx.status = up.status;
      if (up.contentType !== undefined) ctx.set("Content-Type", up.contentType);
      ctx.body = up.body;
      // Koa would label a Buffer application/octet-stream; keep "no type" as the gateway sent it.
      if (up.contentType === undefined) ctx.remove("Content-Type");
    } catch (e) {
      if (!(e instanceof RelayError)) throw e;
      const ms = round(Number(process.hrtime.bigint() - t0) / 1e6);
      if (e instanceof ClientAbortedError) {
        this.#log.debug("client_aborted", { status: e.status, reqBytes: body.byteLength, ms });
        ctx.status = e.status;
      } else {
        this.#log.warn("upstream_error", { kind: e.kind, code: e.code, status: e.status, reqBytes: body.byteLength, ms });
        fail(ctx, e.status);
      }
    } finally {
      ctx.res.off("close", onClose);
    }
    return body.byteLength;
  }

  // Koa reports here what happens outside the middleware, mostly a client closing its socket
  // before the answer was written. Only the class name and errno code are logged, never the
  // message (node's messages can carry addresses).
  #onKoaError(err: unknown): void {
    const code = errnoCode(err);
    // Client-side failures (gone mid-request, or a malformed request caught by node's parser).
    if (code !== undefined && (CLIENT_GONE.has(code) || code.startsWith("HPE_"))) this.#log.debug("client_aborted", { code });
    else this.#log.warn("internal_error", { error: err instanceof Error ? err.name : "unknown", code });
  }

  async #renderMetrics(ctx: Context): Promise<void> {
    const text = await this.metrics!.render();
    ctx.status = 200;
    ctx.type = this.metrics!.registry.contentType;
    ctx.body = text;
  }

  /** Starts the relay listener. Port 0 picks an ephemeral port; the actual one is returned. */
  listen(host: string, port: number): Promise<ListenAddress> {
    return this.#listen(this.app, host, port);
  }

  /**
   * Serves GET /metrics and /health on a separate address, so an operator can keep traffic
   * volumes off the public listener (construct with `serveMetrics: false`).
   */
  listenMetrics(host: string, port: number): Promise<ListenAddress> {
    const m = new Koa();
    m.proxy = false;
    m.silent = true;
    m.on("error", (err: unknown) => this.#onKoaError(err));
    m.use(async (ctx) => {
      if (ctx.path === "/metrics" && this.metrics) {
        if (allowRead(ctx)) await this.#renderMetrics(ctx);
      } else if (ctx.path === "/health") {
        if (allowRead(ctx)) plain(ctx, 200, "ok\n");
      } else {
        fail(ctx, 404);
      }
    });
    return this.#listen(m, host, port);
  }

  #listen(app: Koa, host: string, port: number): Promise<ListenAddress> {
    if (this.#closing) return Promise.reject(new Error("relay is closed"));
    const server = http.createServer(app.callback());
    // Bound slow clients: headers within 10 s, the whole request within 30 s.
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    this.#servers.push(server);
    return listenHttp(server, host, port);
  }

  /**
   * Graceful stop: no new connections, idle keep-alive connections closed, in-flight requests
   * answered (with Connection: close), then pooled upstream sockets dropped. Connections still
   * busy after drainTimeoutMs are cut. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const timer = setTimeout(() => {
        for (const s of this.#servers) s.closeAllConnections();
      }, this.#drainTimeoutMs);
      await Promise.all(
        this.#servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              if (!s.listening) return resolve();
              s.close(() => resolve());
              s.closeIdleConnections();
            }),
        ),
      );
      clearTimeout(timer);
      this.gateway.close();
    })();
    return this.#closing;
  }
}

/** /health and /metrics are read-only. */
function allowRead(ctx: Context): boolean {
  if (ctx.method === "GET" || ctx.method === "HEAD") return true;
  ctx.set("Allow", ALLOW_READ);
  fail(ctx, 405);
  return false;
}

function plain(ctx: Context, status: number, text: string): void {
  ctx.status = status;
  ctx.type = "text/plain; charset=utf-8";
  ctx.body = text;
}

/** Uniform error answer: the standard reason phrase and nothing else. */
function fail(ctx: Context, status: number): void {
  plain(ctx, status, `${http.STATUS_CODES[status] ?? "Error"}\n`);
}

const CLIENT_GONE = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED", "ERR_STREAM_PREMATURE_CLOSE"]);

function errnoCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[A-Z0-9_]{1,40}$/.test(code) ? code : undefined;
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
