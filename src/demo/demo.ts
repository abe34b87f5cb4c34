// The demo conversation `mimi-ds start` runs once through the relay, and `mimi-ds demo` runs
// against processes that are already up. Every step goes client -> relay -> gateway -> provider.
import { ObliviousHttpTransport, fetchKeyConfigs } from "../client/ObliviousHttpTransport.js";

export interface DemoTarget {
  relayUrl: string;
  /** the gateway's key discovery URL (…/.well-known/ohttp-gateway) */
  gatewayKeysUrl: string;
  /** the provider origin as the gateway's allow-list names it */
  providerOrigin: string;
}

export interface DemoResult {
  ok: boolean;
  transcript: string[];
}

export async function runDemo(t: DemoTarget, print: (line: string) => void = () => {}): Promise<DemoResult> {
  const transcript: string[] = [];
  const say = (s: string) => {
    transcript.push(s);
    print(s);
  };
  let ok = true;
  const step = async (label: string, fn: () => Promise<string>) => {
    try {
      say(`${label}: ${await fn()}`);
    } catch (e) {
      ok = false;
      say(`${label}: FAILED (${(e as Error).message})`);
    }
  };
  let transport: ObliviousHttpTransport | undefined;
  await step("discover gateway keys", async () => {
    const configs = await fetchKeyConfigs(t.gatewayKeysUrl);
    transport = new ObliviousHttpTransport({ relayUrl: t.relayUrl, keyConfig: configs[0]! });
    return `key id ${configs[0]!.keyId}, ${configs.length} configuration(s)`;
  });
  if (!transport) return { ok: false, transcript };
  const tr = transport;
  await step("provider health via relay+gateway", async () => {
    const r = await tr.fetch(`${t.providerOrigin}/health`);
    if (r.status !== 200) throw new Error(`status ${r.status}`);
    return new TextDecoder().decode(r.body).trim();
  });
  await step("DS domain discovery via relay+gateway", async () => {
    const r = await tr.fetch(`${t.providerOrigin}/.well-known/mimi/ds-domain`);
    if (r.status !== 200) throw new Error(`status ${r.status}`);
    return new TextDecoder().decode(r.body).trim();
  });
  await step("chunked OHTTP round trip", async () => {
    const chunked = new ObliviousHttpTransport({ relayUrl: t.relayUrl, keyConfig: tr.opts.keyConfig, chunked: true });
    const r = await chunked.fetch(`${t.providerOrigin}/health`);
    if (r.status !== 200) throw new Error(`status ${r.status}`);
    return `status ${r.status}`;
  });
  await step("off-list target refused by the gateway", async () => {
    const r = await tr.fetch("http://forbidden.invalid/health");
    if (r.status !== 403) throw new Error(`expected 403, got ${r.status}`);
    return "403 (encapsulated)";
  });
  return { ok, transcript };
}
