// Discovery over HTTP, end to end on loopback: a ProviderServer on 127.0.0.1:0 with the
// KeyPackage endpoints (as Provider.ts mounts them) and the directory endpoints, an admin server
// with both admin APIs, and the client SDK's discovery functions over plain fetch:
// GET /.well-known/mimi-protocol-directory (draft-barnes s7.1), POST /identifier_query (s7.10,
// POST instead of the draft's GET with a body), then the connection KeyPackage claim with the
// discovered token at the directory's claimKeyMaterial URL. Also every client-side failure type.
import { strict as assert } from "node:assert";
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { existsSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import type { FetchLike } from "../../src/client/DsHttpClient.js";
import {
  DiscoveryHttpError,
  DiscoveryNetworkError,
  DiscoveryProtocolError,
  MissingPrimitiveError,
  claimConnectionKeyPackages,
  fetchMimiDirectory,
  queryIdentifier,
} from "../../src/client/discovery.js";
import {
  FIELD_SOURCE_MIMI_DS,
  FieldSource,
  IdentifierNotFoundError,
  IdentifierQueryCode,
  IdentifierQueryForbiddenError,
  IdentifierResponse,
  KEY_PACKAGE_TOKEN_FIELD,
  ProfileField,
  UserProfile,
} from "../../src/protocol/IdentifierQuery.js";
import { KeyMaterialClientCode, KeyMaterialUserCode } from "../../src/protocol/KeyPackageConstants.js";
import { TooManyRequestsError } from "../../src/protocol/KeyPackageErrors.js";
import { HttpMethod, MimiDecodeError, MimiDirectory, MimiDirectoryEntry, MimiPrimitive } from "../../src/protocol/MimiDirectory.js";
import { mountDirectoryAdmin, mountDirectoryEndpoints, mimiDirectoryFor, normalizeBaseUrl } from "../../src/server/directoryEndpoints.js";
import { mountKeyPackageEndpoints, type KeyPackageWiring } from "../../src/server/keyPackageEndpoints.js";
import { ProviderServer } from "../../src/server/ProviderServer.js";
import { silentLogger } from "../../src/util/log.js";
import { generateEd25519 } from "../../src/util/keygen.js";
import { Clock, SUITE, connection, newKeyPackages, tempDir, uploadBytes, type TestClient } from "../keypackages/kpFixtures.js";
import { directTransport, te } from "./fixtures.js";

const QUERY_BUDGET = 4;

interface Env {
  server: ProviderServer;
  admin: ProviderServer;
  kp: KeyPackageWiring;
  url: string;
  adminUrl: string;
  uploaded: Uint8Array[];
  cleanup: () => Promise<void>;
}

async function postJson(url: string, v: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: typeof v === "string" ? v : JSON.stringify(v) });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

/** A FetchLike that answers every request with one canned body (client-side failure paths). */
const canned = (status: number, body: Uint8Array): FetchLike => ({
  fetch: async () => ({ status, headers: [], body, header: () => undefined }),
});

/** A loopback port nobody listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe("discovery over HTTP (draft-barnes s7.1 directory, s7.10 identifier query)", () => {
  let env: Env;

  before(async () => {
    const t = await tempDir();
    const server = new ProviderServer({ domain: "a.test" });
    const kp = await mountKeyPackageEndpoints(server, t.dir, silentLogger);
    let base = "";
    // the base URL is known only after listen(): the function form, as Provider.ts would wire it
    mountDirectoryEndpoints(server, { domain: "a.test", baseUrl: () => base, directory: kp.directory });
    const admin = new ProviderServer({ domain: "a.test" });
    kp.mountAdmin(admin);
    mountDirectoryAdmin(admin, kp.directory);
    const addr = await server.listen("127.0.0.1", 0);
    base = addr.url;
    const adminAddr = await admin.listen("127.0.0.1", 0);
    env = {
      server,
      admin,
      kp,
      url: addr.url,
      adminUrl: adminAddr.url,
      uploaded: [],
      cleanup: async () => {
        await server.close();
        await admin.close();
        await kp.close();
        await t.cleanup();
      },
    };
    // the operator registers alice's client, alice uploads connection KeyPackages over HTTP
    const key = generateEd25519();
    const c: TestClient = { userId: te.encode("alice@a.test"), clientId: te.encode("phone"), key, sequence: 0n };
    const reg = await postJson(`${env.adminUrl}/admin/clients`, { userId: "alice@a.test", clientId: "phone", publicKey: Buffer.from(key.publicKey).toString("hex") });
    assert.equal(reg.status, 200);
    env.uploaded = await newKeyPackages(new Clock(Date.now()), 2);
    const up = await fetch(`${env.url}/key_packages`, { method: "POST", body: uploadBytes(c, env.uploaded.map((k) => connection(k))) as Uint8Array<ArrayBuffer> });
    assert.equal(up.status, 200);
  });

  after(async () => {
    await env?.cleanup();
  });

  it("admin: opts a user in under a normalized handle; refuses taken (409), invalid (400) and malformed (400)", async () => {
    assert.deepEqual(await postJson(`${env.adminUrl}/admin/handles`, { userId: "alice@a.test", handle: " Alice " }), { status: 200, json: { ok: true, handle: "alice" } });
    assert.deepEqual(await postJson(`${env.adminUrl}/admin/handles`, { userId: "alice@a.test", handle: "alice" }), { status: 200, json: { ok: true, handle: "alice" } });
    assert.deepEqual(await postJson(`${env.adminUrl}/admin/handles`, { userId: "mallory@a.test", handle: "ALICE" }), { status: 409, json: { error: "HandleTakenError" } });
    assert.deepEqual(await postJson(`${env.adminUrl}/admin/handles`, { userId: "bob@a.test", handle: "bob smith" }), { status: 400, json: { error: "InvalidHandleError" } });
    assert.deepEqual(await postJson(`${env.adminUrl}/admin/handles`, { userId: "", handle: "bob" }), { status: 400, json: { error: "InvalidArgumentError" } });
    assert.equal((await postJson(`${env.adminUrl}/admin/handles`, { handle: "bob" })).status, 400);
    assert.equal((await postJson(`${env.adminUrl}/admin/handles`, "{not json")).status, 400);
    assert.equal((await postJson(`${env.adminUrl}/admin/handles/remove`, { handle: 7 })).status, 400);
    assert.deepEqual(await postJson(`${env.adminUrl}/admin/handles/remove`, { handle: "@x" }), { status: 400, json: { error: "InvalidHandleError" } });
    // the admin API is not on the client-facing server
    assert.equal((await fetch(`${env.url}/admin/handles`, { method: "POST", body: "{}" })).status, 404);
  });

  it("GET /.well-known/mimi-protocol-directory lists identifierQuery and claimKeyMaterial at the provider's URL", async () => {
    const d = await fetchMimiDirectory(directTransport, env.url);
    assert.deepEqual(
      d.entries.map((e) => [e.primitive, e.method, e.uri]),
      [
        [MimiPrimitive.identifierQuery, HttpMethod.post, `${env.url}/identifier_query`],
        [MimiPrimitive.claimKeyMaterial, HttpMethod.post, `${env.url}/connection_key_packages`],
      ],
    );
    // the raw document is exactly what mimiDirectoryFor builds, as application/octet-stream
    const r = await fetch(`${env.url}/.well-known/mimi-protocol-directory`);
    assert.equal(r.headers.get("content-type"), "application/octet-stream");
    assert.deepEqual(new Uint8Array(await r.arrayBuffer()), mimiDirectoryFor(`${env.url}/`).serialize());
    assert.equal((await fetch(`${env.url}/.well-known/mimi-protocol-directory`, { method: "POST", body: "x" })).status, 405);
    assert.equal((await fetch(`${env.url}/identifier_query`)).status, 405);
  });

  it("discovers a user by handle and claims a connection KeyPackage with the token; unknown handles are not found", async () => {
    assert.equal((await postJson(`${env.adminUrl}/admin/handles`, { userId: "alice@a.test", handle: "alice" })).status, 200);
    const d = await fetchMimiDirectory(directTransport, env.url);
    const alice = await queryIdentifier(directTransport, d, "ALICE");
    assert.equal(alice.uri, "mimi://a.test/u/alice%40a.test");
    assert.equal(alice.domain, "a.test");
    assert.deepEqual(alice.userId, te.encode("alice@a.test"));
    assert.equal(alice.token.length, 32);
    const r = await claimConnectionKeyPackages(directTransport, d, [{ userId: alice.userId, token: alice.token }], SUITE);
    assert.equal(r.users[0]!.status, KeyMaterialUserCode.success);
    const cl = r.users[0]!.clients[0]!;
    assert.ok(cl.status === KeyMaterialClientCode.success && env.uploaded.some((k) => Buffer.from(k).equals(Buffer.from(cl.keyPackage))));
    // a made-up token for the same user: the unknown-user answer
    const forged = await claimConnectionKeyPackages(directTransport, d, [{ userId: alice.userId, token: new Uint8Array(32) }], SUITE);
    assert.equal(forged.users[0]!.status, KeyMaterialUserCode.userUnknown);
    await assert.rejects(queryIdentifier(directTransport, d, "nobody"), IdentifierNotFoundError);
    await assert.rejects(queryIdentifier(directTransport, d, "no body"), IdentifierNotFoundError);
    // withdrawn by the operator: not found any more
    assert.deepEqual(await postJson(`${env.adminUrl}/admin/handles/remove`, { handle: "Alice" }), { status: 200, json: { removed: true } });
    assert.deepEqual(await postJson(`${env.adminUrl}/admin/handles/remove`, { handle: "Alice" }), { status: 200, json: { removed: false } });
    await assert.rejects(queryIdentifier(directTransport, d, "alice"), IdentifierNotFoundError);
    // the token handed out before the removal still works until it expires
    const again = await claimConnectionKeyPackages(directTransport, d, [{ userId: alice.userId, token: alice.token }], SUITE);
    assert.equal(again.users[0]!.status, KeyMaterialUserCode.success);
  });

  it("a transaction refused as a whole rejects with its KeyPackageError", async () => {
    const d = await fetchMimiDirectory(directTransport, env.url);
    const many = Array.from({ length: 33 }, () => ({ userId: te.encode("x"), token: new Uint8Array(32) }));
    await assert.rejects(claimConnectionKeyPackages(directTransport, d, many, SUITE), TooManyRequestsError);
  });

  it("the global query budget runs out: forbidden over HTTP", async () => {
    // its own server over the same directory, so the budget is this test's alone
    const server = new ProviderServer({ domain: "a.test" });
    let base = "";
    mountDirectoryEndpoints(server, { domain: "a.test", baseUrl: () => base, directory: env.kp.directory, queryRateLimit: { requests: QUERY_BUDGET, windowMs: 3_600_000 } });
    base = (await server.listen("127.0.0.1", 0)).url;
    try {
      const d = await fetchMimiDirectory(directTransport, base);
      await postJson(`${env.adminUrl}/admin/handles`, { userId: "alice@a.test", handle: "alice" });
      const outcomes: string[] = [];
      for (let i = 0; i < QUERY_BUDGET + 2; i++) {
        outcomes.push(
          await queryIdentifier(directTransport, d, i % 2 ? "alice" : "nobody").then(
            () => "found",
            (e: unknown) => (e as Error).name,
          ),
        );
      }
      assert.deepEqual(outcomes, [
        ...Array.from({ length: QUERY_BUDGET }, (_, i) => (i % 2 ? "found" : "IdentifierNotFoundError")),
        "IdentifierQueryForbiddenError",
        "IdentifierQueryForbiddenError",
      ]);
      await assert.rejects(queryIdentifier(directTransport, d, "alice"), IdentifierQueryForbiddenError);
    } finally {
      await server.close();
    }
  });

  it("client failures are typed: HTTP status, network, missing primitive, undecodable and off-profile answers", async () => {
    const at = (uri: string) => new MimiDirectory([new MimiDirectoryEntry(MimiPrimitive.identifierQuery, HttpMethod.post, uri), new MimiDirectoryEntry(MimiPrimitive.claimKeyMaterial, HttpMethod.post, uri)]);
    await assert.rejects(queryIdentifier(directTransport, at(`${env.url}/nope`), "alice"), (e: unknown) => e instanceof DiscoveryHttpError && e.status === 404);
    await assert.rejects(fetchMimiDirectory(directTransport, env.adminUrl), (e: unknown) => e instanceof DiscoveryHttpError && e.status === 404);
    const port = await closedPort();
    await assert.rejects(queryIdentifier(directTransport, at(`http://127.0.0.1:${port}/identifier_query`), "alice"), DiscoveryNetworkError);
    await assert.rejects(claimConnectionKeyPackages(directTransport, at(`http://127.0.0.1:${port}/x`), [], SUITE), DiscoveryNetworkError);
    await assert.rejects(fetchMimiDirectory(directTransport, "not a url"), (e: unknown) => (e as Error).name === "DiscoveryError");
    await assert.rejects(queryIdentifier(directTransport, new MimiDirectory([]), "alice"), (e: unknown) => e instanceof MissingPrimitiveError && e.primitive === MimiPrimitive.identifierQuery);
    await assert.rejects(claimConnectionKeyPackages(directTransport, new MimiDirectory([]), [], SUITE), MissingPrimitiveError);
    const d = at("http://a.test/identifier_query");
    await assert.rejects(fetchMimiDirectory(canned(200, Uint8Array.of(1, 2, 3)), "http://a.test"), MimiDecodeError);
    await assert.rejects(queryIdentifier(canned(200, Uint8Array.of(0, 0)), d, "alice"), MimiDecodeError);
    const token = new ProfileField(FIELD_SOURCE_MIMI_DS, KEY_PACKAGE_TOKEN_FIELD, new Uint8Array(32));
    const offProfile: [string, IdentifierResponse][] = [
      ["no profile", new IdentifierResponse(IdentifierQueryCode.success, [], [])],
      ["two profiles", new IdentifierResponse(IdentifierQueryCode.success, [], [new UserProfile("mimi://a.test/u/a", [token]), new UserProfile("mimi://a.test/u/b", [token])])],
      ["no token field", IdentifierResponse.success(new UserProfile("mimi://a.test/u/a", [new ProfileField(FieldSource.vcardField, KEY_PACKAGE_TOKEN_FIELD, new Uint8Array(32))]))],
      ["empty token", IdentifierResponse.success(new UserProfile("mimi://a.test/u/a", [new ProfileField(FIELD_SOURCE_MIMI_DS, KEY_PACKAGE_TOKEN_FIELD, new Uint8Array(0))]))],
      ["oversized token", IdentifierResponse.success(new UserProfile("mimi://a.test/u/a", [new ProfileField(FIELD_SOURCE_MIMI_DS, KEY_PACKAGE_TOKEN_FIELD, new Uint8Array(256))]))],
      ["not a mimi user URI", IdentifierResponse.success(new UserProfile("im:alice@a.test", [token]))],
    ];
    for (const [label, resp] of offProfile) await assert.rejects(queryIdentifier(canned(200, resp.serialize()), d, "alice"), DiscoveryProtocolError, label);
  });
});

describe("directory document wiring", () => {
  it("normalizes the base URL and refuses what cannot be one", () => {
    assert.equal(normalizeBaseUrl("http://a.test/"), "http://a.test");
    assert.equal(normalizeBaseUrl("HTTPS://A.test:8443/prefix//"), "https://a.test:8443/prefix");
    assert.equal(mimiDirectoryFor("http://127.0.0.1:8443").find(MimiPrimitive.identifierQuery)?.uri, "http://127.0.0.1:8443/identifier_query");
    for (const bad of ["a.test", "ftp://a.test", "http://a.test/?x=1", "http://a.test/#f", "http://u:p@a.test", ""]) assert.throws(() => normalizeBaseUrl(bad), RangeError, bad);
    assert.throws(() => mountDirectoryEndpoints(new ProviderServer({ domain: "a.test" }), { domain: "a.test", baseUrl: "not a url", directory: undefined as never }), RangeError);
  });

  it("src/client/discovery.ts and everything it imports stay free of node: modules (browsers)", async () => {
    let root = dirname(fileURLToPath(import.meta.url));
    while (!existsSync(join(root, "package.json"))) root = dirname(root);
    const seen = new Set<string>();
    const queue = [join(root, "src/client/discovery.ts")];
    while (queue.length > 0 && seen.size < 200) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      const src = await readFile(file, "utf8");
      for (const m of src.matchAll(/^(?:import|export)\s+(type\s+)?[^;]*?from\s+"([^"]+)";/gms)) {
        const [, typeOnly, spec] = m;
        if (typeOnly) continue;
        assert.ok(!spec!.startsWith("node:") && !["crypto", "fs", "http", "https", "net", "path", "buffer"].includes(spec!), `${file} imports ${spec}`);
        if (spec!.startsWith(".")) queue.push(join(dirname(file), spec!.replace(/\.js$/, ".ts")));
      }
      assert.ok(!/\bBuffer\./.test(src) && !/\bprocess\./.test(src), `${file} uses a Node global`);
    }
    assert.ok(seen.size >= 5, "the import walk reached the protocol modules");
  });
});
