// Forwarding a decapsulated request to an allow-listed target origin. The gateway rebuilds
// the request from the Binary HTTP message: hop-by-hop fields and every field that could carry
// a client address are dropped, and nothing is added that names the client or the relay.
import http from "node:http";
import https from "node:https";

/** Fields never forwarded: hop-by-hop (RFC 9110 s7.6.1), framing we recompute, and address-bearing ones. */
export const STRIPPED_REQUEST_FIELDS: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "upgrade",
  "trailer",
  "proxy-authorization",
  "proxy-authenticate",
  "host",
  "content-length",
  "expect",
  // Address or route disclosure: meaningless from an OHTTP client, and exactly what the
  // provider must never learn.
  "forwarded",
  "via",
  "x-forwarded-for",
  "x-forwarded-host",
  "x-forwarded-proto",
  "x-forwarded-port",
  "x-real-ip",
  "true-client-ip",
  "cf-connecting-ip",
  "x-client-ip",
  "client-ip",
  "x-cluster-client-ip",
  "fastly-client-ip",
  "x-original-forwarded-for",
  // A client's software fingerprint narrows the anonymity set OHTTP provides.
  "user-agent",
]);

export const STRIPPED_RESPONSE_FIELDS: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "upgrade",
  "trailer",
  "content-length",
]);

export function normalizeOrigin(s: string): string {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new TypeError(`not a URL: ${JSON.stringify(s)}`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new TypeError(`target must be http or https: ${s}`);
  if (u.username || u.password) throw new TypeError("target must not carry credentials");
  return u.origin;
}

export type ForwardOutcome =
  | { kind: "response"; status: number; headers: Array<{ name: string; value: string }>; content: Uint8Array }
  | { kind: "timeout" }
  | { kind: "unreachable" }
  | { kind: "too_large" };

export interface ForwardRequest {
  origin: string;
  method: string;
  path: string;
  headers: ReadonlyArray<{ name: string; value: string }>;
  content: Uint8Array;
}

/** Forwards to a target over pooled keep-alive connections; never retries. */
export class TargetForwarder {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  private readonly httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 256 });

  constructor(
    private readonly timeoutMs: number,
    private readonly maxResponseBytes: number,
  ) {}

  forward(req: ForwardRequest): Promise<ForwardOutcome> {
    const url = new URL(req.origin);
    const mod = url.protocol === "https:" ? https : http;
    const headers: Record<string, string | string[]> = {};
    // Repeated fields stay repeated; node joins them on the wire as separate lines.
    for (const f of req.headers) {
      const n = f.name.toLowerCase();
      if (STRIPPED_REQUEST_FIELDS.has(n)) continue;
      const prev = headers[n];
      if (prev === undefined) headers[n] = f.value;
      else headers[n] = Array.isArray(prev) ? [...prev, f.value] : [prev, f.value];
    }
    headers["content-length"] = String(req.content.length);
    return new Promise((resolve) => {
      let settled = false;
      const done = (o: ForwardOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(o);
      };
      const r = mod.request(
        {
          protocol: url.protocol,
          hostname: url.hostname,
          port: url.port || undefined,
          method: req.method,
          path: req.path,
          headers,
          agent: url.protocol === "https:" ? this.httpsAgent : this.httpAgent,
          // Let the Host header follow the target origin, never the client's.
          setHost: true,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (c: Buffer) => {
            size += c.length;
            if (size > this.maxResponseBytes) {
              res.destroy();
              done({ kind: "too_large" });
              return;
            }
            chunks.push(c);
          });
          res.on("end", () => {
            const out: Array<{ name: string; value: string }> = [];
            const raw = res.rawHeaders;
            for (let i = 0; i + 1 < raw.length; i += 2) {
              const name = raw[i]!.toLowerCase();
              if (!STRIPPED_RESPONSE_FIELDS.has(name)) out.push({ name, value: raw[i + 1]! });
            }
            const body = Buffer.concat(chunks, size);
            done({
              kind: "response",
              status: res.statusCode ?? 502,
              headers: out,
              content: new Uint8Array(body.buffer, body.byteOffset, body.byteLength),
            });
          });
          res.on("error", () => done({ kind: "unreachable" }));
        },
      );
      const timer = setTimeout(() => {
        done({ kind: "timeout" });
        r.destroy();
      }, this.timeoutMs);
      r.on("error", () => done({ kind: "unreachable" }));
      r.end(req.content);
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}
