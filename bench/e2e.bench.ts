// `npm run bench:e2e`: send_message throughput and latency through relay + gateway (OHTTP) vs
// the same kind of requests sent directly to the provider, measured in one run against the
// same provider process. Every request is a real DSRequest (a PrivateMessage signed by the
// sender's leaf) that the DS authenticates and fans out to the other member's queue.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { ClientState } from "ts-mls";
import {
  anonymous,
  createGroupRequest,
  deriveEarKey,
  externalCommitInfoRequest,
  externalJoinRequest,
  generateUserAuthKey,
  makeKeyPackage,
  sendMessageRequest,
} from "../src/client/dsMember.js";
import { DsHttpClient, type FetchLike } from "../src/client/DsHttpClient.js";
import { createNodeFetch } from "../src/client/nodeFetch.js";
import { fetchKeyConfigs, ObliviousHttpTransport } from "../src/client/ObliviousHttpTransport.js";
import { QueueClient } from "../src/client/QueueClient.js";
import { startRole } from "../src/cli/processes.js";
import { getNodeCiphersuiteImpl } from "../src/mls/cryptoProvider.js";
import { DSRequestType, DSResponseType } from "../src/protocol/constants.js";
import { NodePlatform } from "../src/platform/NodePlatform.js";
import { usePlatform } from "../src/platform/current.js";

// Client-side code in this benchmark uses node:crypto, as a Node client would.
usePlatform(NodePlatform);

const SUITE = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";

interface PathResult {
  rps: number;
  p50: number;
  p99: number;
}

function directTransport(f: typeof fetch): FetchLike {
  return {
    async fetch(url, init) {
      const r = await f(url, { method: init.method, headers: init.headers, body: init.body as Uint8Array<ArrayBuffer> | undefined });
      const body = new Uint8Array(await r.arrayBuffer());
      return { status: r.status, headers: [], body, header: (n) => r.headers.get(n) ?? undefined };
    },
  };
}

async function drive(ds: DsHttpClient, requests: Uint8Array[], concurrency: number): Promise<PathResult> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests.length) {
        const req = requests[next++]!;
        const t = performance.now();
        const r = await ds.send(req);
        if (r.body.type !== DSResponseType.ok) throw new Error(`send_message refused: ${JSON.stringify(r.body)}`);
        lat.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!;
  return { rps: requests.length / seconds, p50: q(0.5), p99: q(0.99) };
}

export async function runE2eBench(opts: { messages?: number; concurrency?: number } = {}) {
  const messages = opts.messages ?? 1500;
  const concurrency = opts.concurrency ?? 16;
  const dir = await mkdtemp(join(tmpdir(), "mimi-bench-e2e-"));
  const provider = await startRole("provider", ["provider", "--listen", "127.0.0.1:0", "--domain", "a.test", "--data-dir", join(dir, "p")]);
  const gateway = await startRole("gateway", ["gateway", "--listen", "127.0.0.1:0", "--target", provider.url, "--key-dir", join(dir, "k"), "--replay-capacity", "1000000"]);
  const keysUrl = `${gateway.url}/.well-known/ohttp-gateway`;
  const relay = await startRole("relay", ["relay", "--listen", "127.0.0.1:0", "--gateway", keysUrl]);
  try {
    const nodeFetch = createNodeFetch({ maxSockets: concurrency });
    const direct = new DsHttpClient(directTransport(nodeFetch), provider.url);
    const [config] = await fetchKeyConfigs(keysUrl);
    const oblivious = new ObliviousHttpTransport({ relayUrl: `${relay.url}/`, keyConfig: config!, fetch: nodeFetch });
    const relayed = new DsHttpClient(oblivious, provider.url);

    // A group of two, set up directly: alice sends, bob's queue receives.
    const cs = await getNodeCiphersuiteImpl(SUITE);
    const direct0 = directTransport(nodeFetch);
    const sig = await direct.send(anonymous({ type: DSRequestType.signature_public_key }));
    if (sig.body.type !== DSResponseType.signature_public_key) throw new Error("no DS key");
    const aliceQ = await QueueClient.create(direct0, provider.url, "a.test");
    const bobQ = await QueueClient.create(direct0, provider.url, "a.test");
    const groupId = randomBytes(32);
    const c = await createGroupRequest({ cs, groupId, keyPackage: await makeKeyPackage(cs, randomBytes(16), await aliceQ.newQueueConfig()), user: generateUserAuthKey(), ds: { signaturePublicKey: sig.body.signaturePublicKey, domain: "a.test" } });
    if ((await direct.send(c.request)).body.type !== DSResponseType.ok) throw new Error("create_group failed");
    const earKey = await deriveEarKey(c.state, cs);
    const info = await direct.send(externalCommitInfoRequest(groupId, earKey));
    if (info.body.type !== DSResponseType.external_commit_info || info.body.groupInfo.value.wireformat !== "mls_group_info" || !info.body.ratchetTree) throw new Error("no external commit info");
    const j = await externalJoinRequest({ cs, groupInfo: info.body.groupInfo.value.groupInfo, ratchetTree: info.body.ratchetTree.value, keyPackage: await makeKeyPackage(cs, randomBytes(16), await bobQ.newQueueConfig()), earKey, resync: false, user: generateUserAuthKey(), asNewUser: true });
    if ((await direct.send(j.request)).body.type !== DSResponseType.ok) throw new Error("external_join failed");
    // alice catches up by processing bob's commit from her queue
    const { processMessage, acceptAll, emptyPskIndex } = await import("ts-mls");
    const { decodeMlsMessage } = await import("../src/mls/adapter.js");
    let alice: ClientState = c.state;
    for (const m of await aliceQ.receive()) {
      const msg = decodeMlsMessage(m.message, 0)![0];
      if (msg.wireformat === "mls_public_message") alice = (await processMessage(msg, alice, emptyPskIndex, acceptAll, cs)).newState;
    }
    // Pre-build every message so the measurement is the DS request path, not MLS encryption.
    const build = async (n: number) => {
      const out: Uint8Array[] = [];
      for (let i = 0; i < n; i++) {
        const r = await sendMessageRequest(alice, cs, randomBytes(200));
        alice = r.newState;
        out.push(r.request);
      }
      return out;
    };
    const warm = await build(200);
    const directReqs = await build(messages);
    const relayedReqs = await build(messages);
    await drive(direct, warm.slice(0, 100), concurrency);
    await drive(relayed, warm.slice(100), concurrency);
    const d = await drive(direct, directReqs, concurrency);
    const o = await drive(relayed, relayedReqs, concurrency);
    return { direct: d, relayed: o, messages, concurrency };
  } finally {
    await relay.stop();
    await gateway.stop();
    await provider.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await runE2eBench();
  console.log(`send_message, ${r.messages} messages per path, ${r.concurrency} in flight, 200-byte payloads, fanout to one queue`);
  console.log(`path            msgs/s     p50 ms    p99 ms`);
  console.log(`direct        ${r.direct.rps.toFixed(0).padStart(8)} ${r.direct.p50.toFixed(2).padStart(10)} ${r.direct.p99.toFixed(2).padStart(9)}`);
  console.log(`relay+gateway ${r.relayed.rps.toFixed(0).padStart(8)} ${r.relayed.p50.toFixed(2).padStart(10)} ${r.relayed.p99.toFixed(2).padStart(9)}`);
  console.log(`ratio send_message_relayed_vs_direct ${(r.relayed.rps / r.direct.rps).toFixed(3)} goal >= 0.6`);
}
