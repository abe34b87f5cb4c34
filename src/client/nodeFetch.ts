// A minimal fetch for Node on node:http(s) with keep-alive pooling: the SDK's transports take
// any `fetch`, browsers pass theirs, Node processes pass this one (undici's fetch costs about
// twice as much per request on loopback). Supports what the SDK uses: method, headers, a byte
// body, an AbortSignal; the response exposes status, headers.get and arrayBuffer.
import http from "node:http";
import https from "node:https";

export function createNodeFetch(opts: { maxSockets?: number } = {}): typeof fetch {
  const agents = {
    "http:": new http.Agent({ keepAlive: true, maxSockets: opts.maxSockets ?? 64 }),
    "https:": new https.Agent({ keepAlive: true, maxSockets: opts.maxSockets ?? 64 }),
  };
  const nodeFetch = (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url);
    const mod = url.protocol === "https:" ? https : http;
    const agent = agents[url.protocol as "http:" | "https:"];
    if (!agent) return Promise.reject(new TypeError(`unsupported protocol ${url.protocol}`));
    const body = init.body === undefined || init.body === null ? undefined : Buffer.from(init.body as Uint8Array);
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => (headers[k] = v));
    if (body) headers["content-length"] = String(body.length);
    return new Promise<Response>((resolve, reject) => {
      const req = mod.request(url, { method: init.method ?? "GET", headers, agent, signal: init.signal ?? undefined }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") h.set(k, v);
          resolve(new Response(res.statusCode === 204 || res.statusCode === 304 ? null : Buffer.concat(chunks), { status: res.statusCode ?? 0, headers: h }));
        });
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    });
  };
  return nodeFetch as typeof fetch;
}
