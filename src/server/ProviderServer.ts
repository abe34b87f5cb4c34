// The provider process: the origin behind the gateway that hosts the Delivery Service, the
// Queueing Service and the KeyPackage directory (draft-kohbrok-mimi-moh endpoints). It binds
// to loopback or a private interface: clients reach it only through relay and gateway.
//
// Endpoints are registered by the role modules through `route()`, so this file stays a tiny
// core (koa style) that owns discovery, health, metrics, body limits and graceful shutdown.
import http from "node:http";
import { listenHttp } from "../util/listen.js";
import Koa from "koa";
import { BodyTooLargeError, readBody } from "../util/body.js";
import { type Logger, silentLogger } from "../util/log.js";
import { createRoleMetrics, type RoleMetrics } from "../util/metrics.js";

export interface ProviderOptions {
  /** the provider's MIMI domain, e.g. "a.test" */
  domain: string;
  /** the domain at which its DS answers (RFC 8615 discovery via /.well-known/mimi/ds-domain) */
  dsDomain?: string;
  maxBodyBytes?: number;
  logger?: Logger;
  /** serve GET /metrics (default true; a listener that faces other providers does not) */
  serveMetrics?: boolean;
}

export type OctetHandler = (body: Uint8Array) => Promise<{ status: number; body: Uint8Array; contentType?: string }>;

interface Route {
  method: "GET" | "POST";
  name: string;
  handler: OctetHandler;
}

export class ProviderServer {
  readonly app = new Koa();
  readonly metrics: RoleMetrics;
  private readonly routes = new Map<string, Route>();
  private server?: http.Server;
  private readonly log: Logger;
  private inFlight = 0;

  constructor(readonly opts: ProviderOptions) {
    this.log = opts.logger ?? silentLogger;
    this.metrics = createRoleMetrics("mimi_provider");
    this.app.proxy = false;
    this.app.silent = true;
    this.app.use((ctx) => this.handle(ctx));
  }

  /** Registers an application/octet-stream endpoint. `name` labels metrics (a fixed string). */
  route(method: "GET" | "POST", path: string, name: string, handler: OctetHandler): void {
    this.routes.set(`${method} ${path}`, { method, name, handler });
  }

  private async handle(ctx: Koa.Context): Promise<void> {
    const started = process.hrtime.bigint();
    let name = "other";
    let reqBytes = 0;
    this.inFlight++;
    try {
      if (ctx.method === "GET" && ctx.path === "/health") {
        name = "health";
        ctx.type = "text/plain";
        ctx.body = "ok\n";
        return;
      }
      if (ctx.method === "GET" && ctx.path === "/metrics" && this.opts.serveMetrics !== false) {
        name = "metrics";
        ctx.type = this.metrics.registry.contentType;
        ctx.body = await this.metrics.render();
        return;
      }
      if (ctx.method === "GET" && ctx.path === "/.well-known/mimi/ds-domain") {
        name = "ds_domain";
        ctx.type = "text/plain";
        ctx.body = `${this.opts.dsDomain ?? this.opts.domain}\n`;
        return;
      }
      const r = this.routes.get(`${ctx.method} ${ctx.path}`);
      if (!r) {
        ctx.status = this.hasPath(ctx.path) ? 405 : 404;
        ctx.type = "text/plain";
        ctx.body = ctx.status === 405 ? "method not allowed\n" : "not found\n";
        return;
      }
      name = r.name;
      let body: Uint8Array;
      try {
        body = await readBody(ctx.req, this.opts.maxBodyBytes ?? 1 << 20);
      } catch (e) {
        ctx.status = e instanceof BodyTooLargeError ? 413 : 400;
        ctx.type = "text/plain";
        ctx.body = ctx.status === 413 ? "payload too large\n" : "bad request\n";
        return;
      }
      reqBytes = body.length;
      const out = await r.handler(body);
      ctx.status = out.status;
      ctx.type = out.contentType ?? "application/octet-stream";
      ctx.body = Buffer.from(out.body.buffer, out.body.byteOffset, out.body.byteLength);
    } catch (e) {
      // Handlers map every expected failure to a protocol error; reaching here is a bug.
      // Log its class only (never the request) and answer without detail.
      this.log.error("internal_error", { route: name, error: (e as Error).name });
      ctx.status = 500;
      ctx.type = "text/plain";
      ctx.body = "internal error\n";
    } finally {
      this.inFlight--;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const b = ctx.body;
      const resBytes = b instanceof Uint8Array ? b.length : typeof b === "string" ? Buffer.byteLength(b) : 0;
      this.metrics.observe(name, ctx.status, reqBytes, resBytes, seconds);
    }
  }

  private hasPath(path: string): boolean {
    for (const k of this.routes.keys()) if (k.endsWith(` ${path}`)) return true;
    return false;
  }

  async listen(host: string, port: number): Promise<{ host: string; port: number; url: string }> {
    const server = http.createServer(this.app.callback());
    this.server = server;
    return listenHttp(server, host, port);
  }

  /** Stops accepting connections and waits for in-flight requests to finish. */
  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeIdleConnections();
    });
  }
}
