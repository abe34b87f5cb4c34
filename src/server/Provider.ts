// Process wiring of the provider: one embedded LevelDB directory per role store, the DS signing
// identity, the Delivery Service behind the MoH endpoints, and periodic expiry.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { DeliveryService } from "../ds/DeliveryService.js";
import { LevelGroupStore } from "../store/index.js";
import { type Logger, silentLogger } from "../util/log.js";
import { mountDsEndpoints } from "./dsEndpoints.js";
import { createQsWiring, type OutboxPolicy } from "./qsWiring.js";
import type { FanoutOutbox } from "./FanoutOutbox.js";
import type { QueueingService } from "../qs/index.js";
import { loadOrCreateDsIdentity } from "./identity.js";
import { ProviderServer } from "./ProviderServer.js";
import { mountKeyPackageEndpoints } from "./keyPackageEndpoints.js";
import { mountDirectoryAdmin, mountDirectoryEndpoints } from "./directoryEndpoints.js";
import type { KeyPackageDirectory } from "../keypackages/index.js";

export interface ProviderConfig {
  domain: string;
  dataDir: string;
  maxBodyBytes?: number;
  /** days an unused group is kept */
  groupTtlDays?: number;
  /** propose removing members whose keys are older than this (0: never) */
  inactiveClientDays?: number;
  logger?: Logger;
  /** federated providers: domain -> base URL of their federation endpoints */
  federation?: ReadonlyMap<string, string>;
  /** retry policy of the durable outbox for fanout to federated QSs */
  fanoutOutbox?: OutboxPolicy;
  /** the provider origin as clients name it through the gateway (the URLs of the MIMI directory); default: the listen URL */
  publicUrl?: string;
}

export interface RunningProvider {
  server: ProviderServer;
  ds: DeliveryService;
  qs: QueueingService;
  outbox: FanoutOutbox;
  keyPackages: KeyPackageDirectory;
  listen(host: string, port: number): Promise<{ host: string; port: number; url: string }>;
  /** the admin API; bind it to loopback or a private interface only */
  listenAdmin(host: string, port: number): Promise<{ host: string; port: number; url: string }>;
  /** /deliver_message and /verification_key only: what federated providers reach directly */
  listenFederation(host: string, port: number): Promise<{ host: string; port: number; url: string }>;
  close(): Promise<void>;
}

export async function createProvider(cfg: ProviderConfig): Promise<RunningProvider> {
  const log = cfg.logger ?? silentLogger;
  await mkdir(cfg.dataDir, { recursive: true, mode: 0o700 });
  const identity = await loadOrCreateDsIdentity(cfg.dataDir, cfg.domain);
  const store = await LevelGroupStore.open(join(cfg.dataDir, "ds"));
  const ds = new DeliveryService({ store, identity, inactiveClientDays: cfg.inactiveClientDays });
  const server = new ProviderServer({ domain: cfg.domain, maxBodyBytes: cfg.maxBodyBytes, logger: log });
  const qsw = await createQsWiring({
    domain: cfg.domain,
    dataDir: cfg.dataDir,
    federation: cfg.federation,
    outbox: cfg.fanoutOutbox,
    registry: server.metrics.registry,
    logger: log,
  });
  mountDsEndpoints(server, ds, qsw.sink, log);
  const kp = await mountKeyPackageEndpoints(server, cfg.dataDir, log);
  // The operator's admin API (client registration, token minting) on its own listener.
  const admin = new ProviderServer({ domain: cfg.domain, logger: log });
  kp.mountAdmin(admin);
  // User discovery (draft-barnes s7.1 directory, s7.10 identifierQuery by opted-in handle),
  // which mints short-lived tokens for connection KeyPackages.
  let listenedUrl: string | undefined;
  mountDirectoryEndpoints(server, { domain: cfg.domain, baseUrl: () => cfg.publicUrl ?? listenedUrl ?? `http://${cfg.domain}`, directory: kp.directory, logger: log });
  mountDirectoryAdmin(admin, kp.directory);
  // QS client endpoint (queue owners, through OHTTP) and the federation endpoints other
  // providers reach directly (draft-kohbrok-mimi-moh /deliver_message, /verification_key).
  server.route("POST", "/queue_operation", "queue_operation", async (body) => ({ status: 200, body: await qsw.qs.handleClientRequest(body) }));
  const deliverMessage = async (body: Uint8Array) => ({ status: 200, body: await qsw.qs.handleFanout(body) });
  server.route("POST", "/deliver_message", "deliver_message", deliverMessage);
  // Connection offers for this QS's queues, sent by initiators through OHTTP (reduced-metadata
  // connection flow; the draft has another provider deliver them, we let the client do it so its
  // own provider never learns whom it connects to).
  server.route("POST", "/connection_request", "connection_request", async (body) => ({ status: 200, body: await qsw.qs.handleConnectionRequest(body) }));
  const verificationKey = async () => ({ status: 200, body: qsw.signer.verificationKeyResponse().serialize() });
  server.route("GET", "/verification_key", "verification_key", verificationKey);
  server.route("POST", "/verification_key", "verification_key", verificationKey);
  // The federation listener: only what other providers reach directly (draft-kohbrok-mimi-moh
  // /deliver_message, /verification_key), so the main listener can stay on loopback behind the
  // gateway while this one faces the peers (behind their mutual TLS terminator).
  const federation = new ProviderServer({ domain: cfg.domain, maxBodyBytes: cfg.maxBodyBytes, logger: log, serveMetrics: false });
  federation.route("POST", "/deliver_message", "deliver_message", deliverMessage);
  federation.route("GET", "/verification_key", "verification_key", verificationKey);
  federation.route("POST", "/verification_key", "verification_key", verificationKey);
  const ttl = cfg.groupTtlDays ?? 90;
  const sweep = setInterval(() => {
    ds.sweepExpired(ttl).then(
      (n) => n && log.info("groups_expired", { count: n }),
      (e: unknown) => log.warn("sweep_failed", { error: (e as Error).name }),
    );
  }, 3600_000);
  sweep.unref();
  return {
    server,
    ds,
    qs: qsw.qs,
    outbox: qsw.outbox,
    keyPackages: kp.directory,
    listen: async (host, port) => {
      const a = await server.listen(host, port);
      listenedUrl = a.url;
      return a;
    },
    listenAdmin: (host, port) => admin.listen(host, port),
    listenFederation: (host, port) => federation.listen(host, port),
    async close() {
      clearInterval(sweep);
      await server.close();
      await admin.close();
      await federation.close();
      await kp.close();
      await qsw.close();
      await store.close();
    },
  };
}
