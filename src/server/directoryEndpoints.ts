// User discovery endpoints of the provider (draft-barnes-mimi-protocol s7.1 and s7.10), client
// side through OHTTP like every other endpoint:
//   GET  /.well-known/mimi-protocol-directory   MimiDirectory: where each primitive is served
//   POST /identifier_query                      IdentifierRequest -> IdentifierResponse
// The draft names the query `GET /identifierQuery/{domain}` with a request body. Bodies on GET
// are not portable (fetch refuses them, caches ignore them), so this profile uses POST, as the
// DS endpoints do; {domain} is dropped because a provider answers only for its own domain. The
// directory document lists the URL, so clients never hard-code this path.
//
// Admin API (JSON, on the provider's private admin listener, same style as keyPackageEndpoints):
//   POST /admin/handles          {userId, handle}   opts a user in to discovery under a handle
//   POST /admin/handles/remove   {handle}           withdraws a handle
import { HandleTakenError, IdentifierQueryService, KeyPackageAdminError, type KeyPackageDirectory, type RateLimit } from "../keypackages/index.js";
import { HttpMethod, MimiDirectory, MimiDirectoryEntry, MimiPrimitive } from "../protocol/MimiDirectory.js";
import type { Logger } from "../util/log.js";
import type { ProviderServer } from "./ProviderServer.js";
import { json, parseJsonObject } from "./adminJson.js";

export const MIMI_DIRECTORY_PATH = "/.well-known/mimi-protocol-directory";
export const IDENTIFIER_QUERY_PATH = "/identifier_query";
/** served by keyPackageEndpoints.ts; listed here as claimKeyMaterial */
export const CONNECTION_KEY_PACKAGES_PATH = "/connection_key_packages";

export interface DirectoryEndpointOptions {
  /** this provider's MIMI domain (stable URIs are mimi://<domain>/u/<userId>) */
  readonly domain: string;
  /**
   * The provider origin as clients name it through the gateway (e.g. http://a.test, or the
   * configured public URL), optionally with a path prefix. A function is read at each directory
   * request, for wiring where the listen address is known only after listen().
   */
  readonly baseUrl: string | (() => string);
  readonly directory: KeyPackageDirectory;
  /** clock for the query rate limit (tests); default Date.now */
  readonly now?: () => number;
  /** lifetime of tokens minted by discovery; default 10 minutes */
  readonly tokenTtlMs?: number;
  /** per-token limit of those tokens; default 10 requests per 10 minutes */
  readonly tokenRateLimit?: RateLimit;
  /** global limit on identifier queries (token bucket); default 60 per minute */
  readonly queryRateLimit?: RateLimit;
  readonly logger?: Logger;
}

export interface DirectoryEndpoints {
  readonly service: IdentifierQueryService;
  /** the MimiDirectory served now */
  document(): MimiDirectory;
}

/** An absolute http(s) origin (plus optional path prefix) without a trailing slash, query or fragment. */
export function normalizeBaseUrl(baseUrl: string): string {
  let u: URL;
  try {
    u = new URL(baseUrl);
  } catch {
    throw new RangeError("baseUrl is not an absolute URL");
  }
  if ((u.protocol !== "http:" && u.protocol !== "https:") || u.host === "" || u.search !== "" || u.hash !== "" || u.username !== "" || u.password !== "") {
    throw new RangeError("baseUrl must be an http(s) origin, optionally with a path, without query, fragment or credentials");
  }
  return `${u.origin}${u.pathname}`.replace(/\/+$/, "");
}

/** The directory this profile publishes for a provider at `baseUrl`. */
export function mimiDirectoryFor(baseUrl: string): MimiDirectory {
  const base = normalizeBaseUrl(baseUrl);
  return new MimiDirectory([
    new MimiDirectoryEntry(MimiPrimitive.identifierQuery, HttpMethod.post, `${base}${IDENTIFIER_QUERY_PATH}`),
    new MimiDirectoryEntry(MimiPrimitive.claimKeyMaterial, HttpMethod.post, `${base}${CONNECTION_KEY_PACKAGES_PATH}`),
  ]);
}

export function mountDirectoryEndpoints(server: ProviderServer, opts: DirectoryEndpointOptions): DirectoryEndpoints {
  const service = new IdentifierQueryService({
    directory: opts.directory,
    domain: opts.domain,
    now: opts.now,
    tokenTtlMs: opts.tokenTtlMs,
    tokenRateLimit: opts.tokenRateLimit,
    queryRateLimit: opts.queryRateLimit,
    logger: opts.logger,
  });
  const baseUrlOf = typeof opts.baseUrl === "function" ? opts.baseUrl : () => opts.baseUrl as string;
  // Built once per distinct base URL; a bad static one fails at mount, not at the first request.
  let cached: { base: string; doc: MimiDirectory; bytes: Uint8Array } | undefined;
  const current = () => {
    const base = baseUrlOf();
    if (cached?.base !== base) {
      const doc = mimiDirectoryFor(base);
      cached = { base, doc, bytes: doc.serialize() };
    }
    return cached;
  };
  if (typeof opts.baseUrl === "string") current();
  server.route("GET", MIMI_DIRECTORY_PATH, "mimi_directory", async () => ({ status: 200, body: current().bytes }));
  server.route("POST", IDENTIFIER_QUERY_PATH, "identifier_query", async (body) => ({ status: 200, body: await service.handle(body) }));
  return { service, document: () => current().doc };
}

// ---- admin ------------------------------------------------------------------------------------

const parse = parseJsonObject;

/** Refusals are 400 (bad argument) or 409 (handle taken); a store failure is 503. Names only, never values. */
function adminError(e: unknown) {
  if (e instanceof HandleTakenError) return json(409, { error: e.name });
  if (e instanceof KeyPackageAdminError) return json(400, { error: e.name });
  return json(503, { error: (e as Error)?.name ?? "Error" });
}

export function mountDirectoryAdmin(admin: ProviderServer, directory: KeyPackageDirectory): void {
  admin.route("POST", "/admin/handles", "admin_handles", async (body) => {
    const j = parse(body);
    if (!j || typeof j.userId !== "string" || typeof j.handle !== "string") return json(400, { error: "need userId and handle" });
    try {
      return json(200, { ok: true, handle: await directory.registerHandle(j.handle, j.userId) });
    } catch (e) {
      return adminError(e);
    }
  });
  admin.route("POST", "/admin/handles/remove", "admin_handles_remove", async (body) => {
    const j = parse(body);
    if (!j || typeof j.handle !== "string") return json(400, { error: "need handle" });
    try {
      return json(200, { removed: await directory.removeHandle(j.handle) });
    } catch (e) {
      return adminError(e);
    }
  });
}
