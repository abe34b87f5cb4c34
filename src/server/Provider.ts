// Process wiring of the provider: one embedded LevelDB directory per role store, the DS signing
// identity, the Delivery Service behind the MoH endpoints, and periodic expiry.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { DeliveryService } from "../ds/DeliveryService.js";
import { LevelGroupStore } from "../store/index.js";
import { type Logger, silentLogger } from "../util/log.js";
import { mountDsEndpoints, type FanoutSink } from "./dsEndpoints.js";
import { loadOrCreateDsIdentity } from "./identity.js";
import { ProviderServer } from "./ProviderServer.js";

export interface ProviderConfig {
  domain: string;
  dataDir: string;
  maxBodyBytes?: number;
  /** days an unused group is kept */
  groupTtlDays?: number;
  logger?: Logger;
  /** where accepted messages go; without a Queueing Service they are counted and dropped */
  sink?: FanoutSink;
}

export interface RunningProvider {
  server: ProviderServer;
  ds: DeliveryService;
  listen(host: string, port: number): Promise<{ host: string; port: number; url: string }>;
  close(): Promise<void>;
}

export async function createProvider(cfg: ProviderConfig): Promise<RunningProvider> {
  const log = cfg.logger ?? silentLogger;
  await mkdir(cfg.dataDir, { recursive: true, mode: 0o700 });
  const identity = await loadOrCreateDsIdentity(cfg.dataDir, cfg.domain);
  const store = await LevelGroupStore.open(join(cfg.dataDir, "ds"));
  const ds = new DeliveryService({ store, identity });
  const server = new ProviderServer({ domain: cfg.domain, maxBodyBytes: cfg.maxBodyBytes, logger: log });
  const sink: FanoutSink = cfg.sink ?? {
    async deliver(items, ctx) {
      log.warn("fanout_dropped_no_queueing_service", { operation: ctx.operation, recipients: items.length });
    },
  };
  mountDsEndpoints(server, ds, sink, log);
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
    listen: (host, port) => server.listen(host, port),
    async close() {
      clearInterval(sweep);
      await server.close();
      await store.close();
    },
  };
}
