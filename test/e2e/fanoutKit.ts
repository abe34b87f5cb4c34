// Helpers of the fanout, federation and crash tests: a plain-HTTP transport (the crash tests
// talk to providers directly: OHTTP is proven elsewhere and is not what they test), loopback
// port reservation for providers that must know each other's URL before they start, provider
// processes that can be killed and restarted on the same port and data directory, and
// metric scraping.
import { createServer } from "node:net";
import type { FetchLike } from "../../src/client/DsHttpClient.js";
import type { SimpleResponse } from "../../src/client/ObliviousHttpTransport.js";
import { type RoleProcess, startRole } from "../../src/cli/processes.js";

/** FetchLike over the global fetch: a client that reaches the provider directly. */
export const directTransport: FetchLike = {
  async fetch(url, init) {
    const r = await fetch(url, {
      method: init.method ?? (init.body ? "POST" : "GET"),
      headers: init.headers,
      body: init.body as Uint8Array<ArrayBuffer> | undefined,
      signal: AbortSignal.timeout(15_000),
    });
    const body = new Uint8Array(await r.arrayBuffer());
    const headers: { name: string; value: string }[] = [];
    r.headers.forEach((value, name) => headers.push({ name, value }));
    const res: SimpleResponse = { status: r.status, headers, body, header: (n) => r.headers.get(n) ?? undefined };
    return res;
  },
};

/**
 * A free loopback port, drawn by binding port 0 and releasing it. Two providers that federate
 * must know each other's URL at start, and a restarted provider must come back on the same
 * port; the short window in which another process could take the port is acceptable in tests.
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (a && typeof a === "object" ? resolve(a.port) : reject(new Error("no port"))));
    });
  });
}

export interface ProviderSpec {
  domain: string;
  port: number;
  dataDir: string;
  logFile: string;
  /** DOMAIN=URL entries */
  federate: string[];
  extra?: string[];
}

/** Starts (or restarts: same port, same data directory) a provider process. */
export function startProvider(p: ProviderSpec): Promise<RoleProcess> {
  const args = ["provider", "--listen", `127.0.0.1:${p.port}`, "--domain", p.domain, "--data-dir", p.dataDir, ...p.federate.flatMap((f) => ["--federate", f]), ...(p.extra ?? [])];
  return startRole("provider", args, { logFile: p.logFile });
}

/** Kills with SIGKILL and waits until the process is gone. */
export async function kill9(p: RoleProcess): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill("SIGKILL");
  await p.exited;
}

/** Sum of a Prometheus counter or gauge over the series whose labels include `labels`. */
export async function metric(baseUrl: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z0-9_:]+)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = new Map([...(m[3] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1]!, x[2]!]));
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) sum += Number(m[4]);
  }
  return sum;
}

/** Polls `cond` every `everyMs` until it holds or `timeoutMs` passes; returns whether it held. */
export async function eventually(cond: () => Promise<boolean>, timeoutMs: number, everyMs = 100): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() >= end) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
