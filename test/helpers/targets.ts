// A recording HTTP target for gateway and end-to-end tests.
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface SeenRequest {
  method: string;
  url: string;
  rawHeaders: string[];
  headerNames: string[];
  body: Buffer;
}

export class RecordingTarget {
  readonly seen: SeenRequest[] = [];
  /** optional per-request behaviour: "hang" never answers */
  mode: "echo" | "hang" = "echo";
  private readonly server: http.Server;
  origin = "";

  constructor() {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const rec: SeenRequest = {
          method: req.method ?? "",
          url: req.url ?? "",
          rawHeaders: req.rawHeaders,
          headerNames: req.rawHeaders.filter((_, i) => i % 2 === 0).map((h) => h.toLowerCase()),
          body: Buffer.concat(chunks),
        };
        this.seen.push(rec);
        if (this.mode === "hang") return;
        res.setHeader("content-type", "application/octet-stream");
        res.setHeader("x-target", "seen");
        res.appendHeader("x-multi", "one");
        res.appendHeader("x-multi", "two");
        res.end(Buffer.concat([Buffer.from(`${rec.method} ${rec.url}\n`), rec.body]));
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** Twenty headers that identify a client or its route; none may ever reach a target. */
export const IDENTIFYING_HEADERS: Record<string, string> = {
  cookie: "session=secret-cookie",
  "user-agent": "IdentifyingAgent/1.0",
  "x-forwarded-for": "203.0.113.7",
  forwarded: "for=203.0.113.7",
  via: "1.1 evil-proxy",
  "x-real-ip": "203.0.113.7",
  authorization: "Bearer identifying-token",
  "true-client-ip": "203.0.113.7",
  "cf-connecting-ip": "203.0.113.7",
  "x-client-ip": "203.0.113.7",
  referer: "https://identifying.example/page",
  origin: "https://identifying.example",
  "x-request-id": "identifying-request-id",
  traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
  "accept-language": "tlh",
  "x-forwarded-host": "identifying.example",
  "x-forwarded-proto": "https",
  "client-ip": "203.0.113.7",
  "proxy-authorization": "Basic aWRlbnRpZnk6bWU=",
  "x-amzn-trace-id": "Root=1-identifying",
};
