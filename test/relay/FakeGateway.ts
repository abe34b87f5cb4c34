// Test doubles for the relay tests: a fake gateway that records exactly what reaches it, and a
// small HTTP client that sends exactly the headers it is given (no pooling, no defaults).
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  url: string;
  /** header names lowercased, in wire order, one entry per field line */
  headerNames: string[];
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  /** which upstream connection carried it (index in connection order) */
  connection: number;
}

export interface GatewayBehaviour {
  status: number;
  /** null: send no Content-Type at all */
  contentType: string | null;
  /** response body; default echoes the request body */
  body?: Buffer;
  extraHeaders: Record<string, string>;
  delayMs: number;
  /** respond normally, cut the socket before answering, or cut it half way through the body */
  mode: "respond" | "destroy" | "destroy-mid-body" | "chunked";
}

export class FakeGateway {
  readonly requests: RecordedRequest[] = [];
  connections = 0;
  /** requests whose connection the relay closed before the gateway answered */
  abandoned = 0;
  behaviour: GatewayBehaviour = {
    status: 200,
    contentType: "message/ohttp-res",
    extraHeaders: {},
    delayMs: 0,
    mode: "respond",
  };
  readonly #server: http.Server;
  port = 0;

  private constructor() {
    this.#server = http.createServer((req, res) => this.#onRequest(req, res));
    this.#server.on("connection", (sock: net.Socket & { _n?: number }) => {
      sock._n = this.connections++;
    });
  }

  static async start(b: Partial<GatewayBehaviour> = {}): Promise<FakeGateway> {
    const g = new FakeGateway();
    Object.assign(g.behaviour, b);
    await new Promise<void>((r) => g.#server.listen(0, "127.0.0.1", r));
    g.port = (g.#server.address() as AddressInfo).port;
    return g;
  }

  url(pathAndQuery = "/"): string {
    return `http://127.0.0.1:${this.port}${pathAndQuery}`;
  }

  #onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const headerNames: string[] = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) headerNames.push(req.rawHeaders[i]!.toLowerCase());
      this.requests.push({
        method: req.method ?? "",
        url: req.url ?? "",
        headerNames,
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body,
        connection: (req.socket as net.Socket & { _n?: number })._n ?? -1,
      });
      const b = this.behaviour;
      const answer = (): void => {
        if (req.socket.destroyed) {
          this.abandoned++;
          return;
        }
        if (b.mode === "destroy") {
          req.socket.destroy();
          return;
        }
        const out = b.body ?? body;
        const headers: Record<string, string> = { ...b.extraHeaders };
        if (b.contentType !== null) headers["content-type"] = b.contentType;
        if (b.mode === "destroy-mid-body") {
          headers["content-length"] = String(out.length + 100);
          res.writeHead(b.status, headers);
          res.write(out.subarray(0, out.length >> 1), () => req.socket.destroy());
          return;
        }
        if (b.mode === "chunked") {
          res.writeHead(b.status, headers);
          res.write(out);
          res.end();
          return;
        }
        headers["content-length"] = String(out.length);
        res.writeHead(b.status, headers);
        res.end(out);
      };
      if (b.delayMs > 0) setTimeout(answer, b.delayMs);
      else answer();
    });
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}

export interface ClientResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  headerNames: string[];
  body: Buffer;
}

/** One request on a fresh connection with exactly the given headers (node adds Host and Connection). */
export function send(
  base: string,
  opts: { method?: string; path?: string; headers?: Record<string, string>; body?: Uint8Array; chunks?: Uint8Array[] } = {},
): Promise<ClientResponse> {
  return new Promise((resolve, reject) => {
    const u = new URL(base);
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.body !== undefined && headers["content-length"] === undefined) headers["content-length"] = String(opts.body.byteLength);
    // The path goes on the wire as given (no URL normalisation), so odd targets like "//" work.
    const target = { hostname: u.hostname, port: u.port, path: opts.path ?? "/" };
    const req = http.request({ ...target, method: opts.method ?? "POST", headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const headerNames: string[] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) headerNames.push(res.rawHeaders[i]!.toLowerCase());
        resolve({ status: res.statusCode ?? 0, headers: res.headers, headerNames, body: Buffer.concat(chunks) });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    if (opts.chunks) {
      for (const c of opts.chunks) req.write(c);
      req.end();
    } else {
      req.end(opts.body);
    }
  });
}

/** Sends raw bytes on a new TCP connection and returns everything read until the peer closes. */
export function rawExchange(port: number, request: string | Buffer, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const t = setTimeout(() => {
      sock.destroy();
      resolve(Buffer.concat(chunks).toString("latin1"));
    }, timeoutMs);
    sock.on("data", (c) => chunks.push(c));
    sock.on("end", () => {
      clearTimeout(t);
      resolve(Buffer.concat(chunks).toString("latin1"));
    });
    sock.on("error", (e) => {
      clearTimeout(t);
      reject(e);
    });
    sock.write(request);
  });
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
