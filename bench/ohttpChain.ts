// End-to-end OHTTP throughput: requests/s through real relay and gateway processes vs the same
// requests sent directly to the same target, measured in one run with the same client loop.
import http from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ObliviousHttpTransport, fetchKeyConfigs } from "../src/client/ObliviousHttpTransport.js";
import { startRole } from "../src/cli/processes.js";

export interface ChainBenchResult {
  direct: { rps: number; p50: number; p99: number };
  relayed: { rps: number; p50: number; p99: number };
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

async function drive(concurrency: number, seconds: number, one: () => Promise<void>) {
  const lat: number[] = [];
  const end = performance.now() + seconds * 1000;
  let n = 0;
  const worker = async () => {
    while (performance.now() < end) {
      const t = performance.now();
      await one();
      lat.push(performance.now() - t);
      n++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { rps: n / elapsed, p50: pct(lat, 0.5), p99: pct(lat, 0.99) };
}

export async function runChainBench(opts: { concurrency?: number; seconds?: number; bodyBytes?: number } = {}): Promise<ChainBenchResult> {
  const concurrency = opts.concurrency ?? 16;
  const seconds = opts.seconds ?? 3;
  const body = new Uint8Array(opts.bodyBytes ?? 512).fill(0x61);
  // The target runs in its own process, like the provider would.
  const dir = await mkdtemp(join(tmpdir(), "mimi-bench-"));
  const target = await startRole("provider", ["provider", "--listen", "127.0.0.1:0", "--domain", "bench.test", "--data-dir", join(dir, "store")]);
  const gateway = await startRole("gateway", ["gateway", "--listen", "127.0.0.1:0", "--target", target.url, "--key-dir", join(dir, "keys"), "--replay-capacity", "4000000"]);
  const keysUrl = `${gateway.url}/.well-known/ohttp-gateway`;
  const relay = await startRole("relay", ["relay", "--listen", "127.0.0.1:0", "--gateway", keysUrl]);
  try {
    const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    const u = new URL(`${target.url}/health`);
    const directOne = () =>
      new Promise<void>((resolve, reject) => {
        const r = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: "GET", agent, headers: { "content-length": "0", "x-pad": "p".repeat(body.length) } }, (res) => {
          res.resume();
          res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
        });
        r.on("error", reject);
        r.end();
      });
    const [config] = await fetchKeyConfigs(keysUrl);
    const t = new ObliviousHttpTransport({ relayUrl: `${relay.url}/`, keyConfig: config! });
    const relayedOne = async () => {
      const r = await t.fetch(`${target.url}/health`, { method: "GET", headers: { "x-pad": "p".repeat(body.length) } });
      if (r.status !== 200) throw new Error(`status ${r.status}`);
    };
    // Warm up both paths (connections, JIT).
    await drive(concurrency, 0.5, directOne);
    await drive(concurrency, 0.5, relayedOne);
    const direct = await drive(concurrency, seconds, directOne);
    const relayed = await drive(concurrency, seconds, relayedOne);
    agent.destroy();
    return { direct, relayed };
  } finally {
    await relay.stop();
    await gateway.stop();
    await target.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
