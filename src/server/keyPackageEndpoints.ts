// The KeyPackage directory behind the provider: the client endpoints (through OHTTP) and an
// operator's admin API on a separate listener that is never behind the gateway.
//
// Client endpoints (application/octet-stream; the status is inside the TLS-encoded body):
//   POST /key_packages              KeyPackageUpload -> KeyPackageUploadResponse
//   POST /group_key_packages        KeyPackageTransaction -> KeyPackageTransactionResponse
//   POST /connection_key_packages   KeyPackageTransaction -> KeyPackageTransactionResponse
// Admin API (JSON, loopback or a private interface; the provider's account system calls it):
//   POST /admin/clients        {userId, clientId, publicKey(hex)}      registers a client's upload key
//   POST /admin/tokens         {userId, ttlMs?, requests?, windowMs?}  mints a bearer token (discovery)
//   POST /admin/tokens/revoke  {token(hex)}
//   POST /admin/purge          deletes expired KeyPackages and tokens
import { join } from "node:path";
import { KeyPackageDirectory, LevelKeyPackageStore } from "../keypackages/index.js";
import type { Logger } from "../util/log.js";
import type { ProviderServer } from "./ProviderServer.js";
import { json, parseJsonObject } from "./adminJson.js";

const parse = parseJsonObject;

const isHex = (s: unknown, bytes?: number): s is string => typeof s === "string" && /^([0-9a-f]{2})+$/.test(s) && (bytes === undefined || s.length === bytes * 2);
const posInt = (v: unknown): number | undefined => (typeof v === "number" && Number.isSafeInteger(v) && v > 0 ? v : undefined);

export interface KeyPackageWiring {
  directory: KeyPackageDirectory;
  /** mounts the admin API on another (private) server */
  mountAdmin(admin: ProviderServer): void;
  close(): Promise<void>;
}

export async function mountKeyPackageEndpoints(server: ProviderServer, dataDir: string, log: Logger): Promise<KeyPackageWiring> {
  const store = await LevelKeyPackageStore.open(join(dataDir, "keypackages"));
  const directory = new KeyPackageDirectory({ store });
  server.route("POST", "/key_packages", "key_packages", async (body) => ({ status: 200, body: await directory.handleUpload(body) }));
  server.route("POST", "/group_key_packages", "group_key_packages", async (body) => ({ status: 200, body: await directory.handleKeyPackageRequest(body) }));
  server.route("POST", "/connection_key_packages", "connection_key_packages", async (body) => ({ status: 200, body: await directory.handleConnectionKeyPackageRequest(body) }));
  const purge = setInterval(() => {
    directory.purgeExpired().then(
      (n) => (n.keyPackages || n.tokens) && log.info("keypackages_purged", { key_packages: n.keyPackages, tokens: n.tokens }),
      (e: unknown) => log.warn("keypackage_purge_failed", { error: (e as Error).name }),
    );
  }, 3600_000);
  purge.unref();
  return {
    directory,
    mountAdmin(admin) {
      admin.route("POST", "/admin/clients", "admin_clients", async (body) => {
        const j = parse(body);
        if (!j || typeof j.userId !== "string" || typeof j.clientId !== "string" || !isHex(j.publicKey, 32)) return json(400, { error: "need userId, clientId and a 32-byte hex publicKey" });
        try {
          await directory.registerClient(j.userId, j.clientId, Buffer.from(j.publicKey, "hex"));
        } catch (e) {
          return json(400, { error: (e as Error).name });
        }
        return json(200, { ok: true });
      });
      admin.route("POST", "/admin/tokens", "admin_tokens", async (body) => {
        const j = parse(body);
        if (!j || typeof j.userId !== "string") return json(400, { error: "need userId" });
        const requests = posInt(j.requests);
        const windowMs = posInt(j.windowMs);
        try {
          const t = await directory.mintToken(j.userId, { ttlMs: posInt(j.ttlMs), rateLimit: requests && windowMs ? { requests, windowMs } : undefined });
          return json(200, { token: Buffer.from(t.token).toString("hex"), expiresAtMs: t.expiresAtMs ?? null });
        } catch (e) {
          return json(400, { error: (e as Error).name });
        }
      });
      admin.route("POST", "/admin/tokens/revoke", "admin_revoke", async (body) => {
        const j = parse(body);
        if (!j || !isHex(j.token)) return json(400, { error: "need a hex token" });
        return json(200, { revoked: await directory.revokeToken(Buffer.from(j.token, "hex")) });
      });
      admin.route("POST", "/admin/purge", "admin_purge", async () => json(200, await directory.purgeExpired()));
    },
    async close() {
      clearInterval(purge);
      await store.close();
    },
  };
}
