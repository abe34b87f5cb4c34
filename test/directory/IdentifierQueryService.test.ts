// The identifier query service (draft-barnes s7.10 for handles, "discovery mints tokens"):
// found -> success with the stable URI and a fresh connection-only bearer token that claims the
// user's connection KeyPackages, rate-limited per token and expiring; notFound for anything that
// is not a registered handle, byte for byte the same; unsupportedField for other search types and
// undecodable requests; forbidden once the global token bucket is spent, before any lookup or
// minting; and the handler never throws. Plus the token bucket itself and token pool scopes.
import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import {
  DEFAULT_DISCOVERY_TOKEN_TTL_MS,
  IdentifierQueryService,
  InvalidArgumentError,
  KeyPackageDirectory,
  LevelKeyPackageStore,
  MemoryKeyPackageStore,
  TokenBucket,
  type IdentifierQueryServiceOptions,
  type StoredToken,
} from "../../src/keypackages/index.js";
import {
  FIELD_SOURCE_MIMI_DS,
  IdentifierQueryCode,
  IdentifierQueryForbiddenError,
  IdentifierRequest,
  IdentifierResponse,
  KEY_PACKAGE_TOKEN_FIELD,
  SearchIdentifierType,
  UnsupportedSearchFieldError,
} from "../../src/protocol/IdentifierQuery.js";
import { MimiDecodeError } from "../../src/protocol/MimiDirectory.js";
import { KeyMaterialClientCode, KeyMaterialUserCode, KeyPackagePool } from "../../src/protocol/KeyPackageConstants.js";
import type { Logger } from "../../src/util/log.js";
import { ADAPTERS, Clock, connection, fetchConnection, fetchGroup, group, newKeyPackages, openDirectory, register, tempDir, upload } from "../keypackages/kpFixtures.js";
import { bytes, opaque, te } from "./fixtures.js";

const ALICE = te.encode("alice@a.test");
const NOT_FOUND = Uint8Array.of(IdentifierQueryCode.notFound, 0, 0);
const UNSUPPORTED = Uint8Array.of(IdentifierQueryCode.unsupportedField, 0, 0);
const FORBIDDEN = Uint8Array.of(IdentifierQueryCode.forbidden, 0, 0);

const ask = (svc: IdentifierQueryService, handle: string) => svc.handle(IdentifierRequest.handle(handle).serialize());

function tokenOf(answer: Uint8Array): Uint8Array {
  const r = IdentifierResponse.deserialize(answer);
  assert.equal(r.responseCode, IdentifierQueryCode.success);
  const f = r.foundProfiles[0]!.field(FIELD_SOURCE_MIMI_DS, KEY_PACKAGE_TOKEN_FIELD);
  assert.ok(f !== undefined);
  return f.fieldValue;
}

/** A memory store that counts minted tokens (to prove refusals mint nothing). */
class CountingStore extends MemoryKeyPackageStore {
  minted = 0;
  override async putToken(th: Uint8Array, t: StoredToken): Promise<void> {
    this.minted++;
    return super.putToken(th, t);
  }
}

async function setup(opts: Partial<IdentifierQueryServiceOptions> = {}, connectionKps = 2) {
  const clock = new Clock();
  const store = new CountingStore();
  const dir = new KeyPackageDirectory({ store, now: clock.now });
  const c = await register(dir, "alice@a.test", "phone");
  const kps = await newKeyPackages(clock, connectionKps + 1);
  await upload(dir, c, [group(kps[0]!), ...kps.slice(1).map((k) => connection(k))]);
  await dir.registerHandle("Alice", "alice@a.test");
  const svc = new IdentifierQueryService({ directory: dir, domain: "a.test", now: clock.now, ...opts });
  return { clock, store, dir, svc, client: c, kps };
}

for (const adapter of ADAPTERS) {
  describe(`identifier query, found and notFound (${adapter.name} store)`, () => {
    it("found: success with the stable URI and a token that claims a connection KeyPackage, not group ones", async () => {
      const env = await openDirectory(adapter);
      try {
        const c = await register(env.dir, "alice@a.test", "phone");
        const kps = await newKeyPackages(env.clock, 3);
        await upload(env.dir, c, [group(kps[0]!), connection(kps[1]!), connection(kps[2]!)]);
        await env.dir.registerHandle("Alice", "alice@a.test");
        const svc = new IdentifierQueryService({ directory: env.dir, domain: "a.test", now: env.clock.now });
        const r = IdentifierResponse.deserialize(await ask(svc, "  ALICE "));
        assert.equal(r.responseCode, IdentifierQueryCode.success);
        assert.deepEqual(r.uri, ["mimi://a.test/u/alice%40a.test"]);
        assert.equal(r.foundProfiles.length, 1);
        const p = r.foundProfiles[0]!;
        assert.equal(p.stableUri, "mimi://a.test/u/alice%40a.test");
        assert.equal(p.fields.length, 1, "nothing but the token is disclosed");
        const token = tokenOf(await ask(svc, "alice"));
        assert.equal(token.length, 32);
        const got = await fetchConnection(env.dir, [{ userId: ALICE, token }]);
        assert.equal(got.users[0]!.status, KeyMaterialUserCode.success);
        const cl = got.users[0]!.clients[0]!;
        assert.equal(cl.status, KeyMaterialClientCode.success);
        assert.ok(cl.status === KeyMaterialClientCode.success && kps.slice(1).some((k) => Buffer.from(k).equals(Buffer.from(cl.keyPackage))));
        // connection-only: the group pool answers exactly as for a token never minted
        const viaGroup = await fetchGroup(env.dir, [{ userId: ALICE, token }]);
        const unknown = await fetchGroup(env.dir, [{ userId: ALICE, token: new Uint8Array(randomBytes(32)) }]);
        assert.equal(viaGroup.users[0]!.status, KeyMaterialUserCode.userUnknown);
        assert.deepEqual(viaGroup.serialize(), unknown.serialize());
        assert.equal((await env.dir.counts(c.userId, c.clientId))?.group, 1, "no group KeyPackage was consumed");
      } finally {
        await env.close();
      }
    });

    it("notFound: unknown, impossible and removed handles get the same bytes; a user without clients is still found", async () => {
      const env = await openDirectory(adapter);
      try {
        await env.dir.registerHandle("carol", "carol@a.test");
        await env.dir.registerHandle("gone", "dave@a.test");
        await env.dir.removeHandle("gone");
        const svc = new IdentifierQueryService({ directory: env.dir, domain: "a.test", now: env.clock.now });
        for (const h of ["bob", "gone", "bad handle", "@carol", "x".repeat(65), "\u212Arol", "", "carol@a.test"]) {
          assert.deepEqual(await ask(svc, h), NOT_FOUND, JSON.stringify(h));
        }
        // carol has no client and no KeyPackage: discovery does not tell (the token holder learns it per client)
        const token = tokenOf(await ask(svc, "carol"));
        const got = await fetchConnection(env.dir, [{ userId: te.encode("carol@a.test"), token }]);
        assert.equal(got.users[0]!.status, KeyMaterialUserCode.noCompatibleMaterial);
      } finally {
        await env.close();
      }
    });
  });
}

describe("identifier query: tokens", () => {
  it("a discovery token expires after the default 10 minutes", async () => {
    const { clock, dir, svc } = await setup({}, 3);
    const token = tokenOf(await ask(svc, "alice"));
    clock.advance(DEFAULT_DISCOVERY_TOKEN_TTL_MS - 1);
    assert.equal((await fetchConnection(dir, [{ userId: ALICE, token }])).users[0]!.status, KeyMaterialUserCode.success);
    clock.advance(1);
    assert.equal((await fetchConnection(dir, [{ userId: ALICE, token }])).users[0]!.status, KeyMaterialUserCode.userUnknown);
  });

  it("a discovery token admits 10 requests per 10 minutes by default; each query mints a fresh one", async () => {
    const { clock, dir, svc } = await setup({}, 1);
    const token = tokenOf(await ask(svc, "alice"));
    const statuses: KeyMaterialUserCode[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await fetchConnection(dir, [{ userId: ALICE, token }])).users[0]!.status);
    assert.equal(statuses.filter((s) => s === KeyMaterialUserCode.rateLimited).length, 1);
    assert.equal(statuses[10], KeyMaterialUserCode.rateLimited);
    const second = tokenOf(await ask(svc, "alice"));
    assert.notDeepEqual(second, token);
    assert.notEqual((await fetchConnection(dir, [{ userId: ALICE, token: second }])).users[0]!.status, KeyMaterialUserCode.rateLimited);
    clock.advance(10 * 60_000 - 1);
    assert.equal((await fetchConnection(dir, [{ userId: ALICE, token }])).users[0]!.status, KeyMaterialUserCode.rateLimited, "its rate window is still open");
    clock.advance(1);
    assert.equal((await fetchConnection(dir, [{ userId: ALICE, token }])).users[0]!.status, KeyMaterialUserCode.userUnknown, "and then it has expired");
  });

  it("honours a configured TTL and per-token limit", async () => {
    const { clock, dir, svc } = await setup({ tokenTtlMs: 5000, tokenRateLimit: { requests: 2, windowMs: 1000 } }, 3);
    const token = tokenOf(await ask(svc, "alice"));
    const st = async () => (await fetchConnection(dir, [{ userId: ALICE, token }])).users[0]!.status;
    assert.equal(await st(), KeyMaterialUserCode.success);
    assert.equal(await st(), KeyMaterialUserCode.success);
    assert.equal(await st(), KeyMaterialUserCode.rateLimited);
    clock.advance(1000);
    assert.equal(await st(), KeyMaterialUserCode.success);
    clock.advance(4000);
    assert.equal(await st(), KeyMaterialUserCode.userUnknown);
  });

  it("pool scopes: mintToken validates them, and a level store keeps them across reopen", async () => {
    const env = await openDirectory(ADAPTERS[0]!);
    try {
      for (const pools of [[], [7], "connection"] as unknown[]) {
        await assert.rejects(env.dir.mintToken(ALICE, { pools: pools as KeyPackagePool[] }), InvalidArgumentError);
      }
    } finally {
      await env.close();
    }
    const t = await tempDir();
    try {
      const clock = new Clock();
      let store = await LevelKeyPackageStore.open(t.dir);
      let dir = new KeyPackageDirectory({ store, now: clock.now });
      const c = await register(dir, "alice@a.test", "phone");
      const kps = await newKeyPackages(clock, 2);
      await upload(dir, c, [group(kps[0]!), connection(kps[1]!)]);
      const scoped = (await dir.mintToken(ALICE, { pools: [KeyPackagePool.connection] })).token;
      const all = (await dir.mintToken(ALICE)).token;
      await store.close();
      store = await LevelKeyPackageStore.open(t.dir);
      dir = new KeyPackageDirectory({ store, now: clock.now });
      assert.equal((await fetchGroup(dir, [{ userId: ALICE, token: scoped }])).users[0]!.status, KeyMaterialUserCode.userUnknown);
      assert.equal((await fetchConnection(dir, [{ userId: ALICE, token: scoped }])).users[0]!.status, KeyMaterialUserCode.success);
      assert.equal((await fetchGroup(dir, [{ userId: ALICE, token: all }])).users[0]!.status, KeyMaterialUserCode.success, "an unscoped token still claims every pool");
      assert.equal(await dir.revokeToken(scoped), true);
      assert.deepEqual(await dir.purgeExpired(), { keyPackages: 0, tokens: 0 });
      await store.close();
    } finally {
      await t.cleanup();
    }
  });
});

describe("identifier query: refusals", () => {
  it("unsupportedField for every other search type and for undecodable requests, before the budget", async () => {
    const { svc, store } = await setup({ queryRateLimit: { requests: 1, windowMs: 60_000 } });
    const others = [
      new IdentifierRequest(SearchIdentifierType.nick, "alice"),
      new IdentifierRequest(SearchIdentifierType.email, "alice@a.test"),
      new IdentifierRequest(SearchIdentifierType.phone, "+15550100"),
      new IdentifierRequest(SearchIdentifierType.partialName, "ali"),
      new IdentifierRequest(SearchIdentifierType.wholeProfile, "alice"),
      new IdentifierRequest(SearchIdentifierType.oidcStdClaim, "alice", "preferred_username"),
      new IdentifierRequest(SearchIdentifierType.vcardField, "alice", "NICKNAME"),
    ];
    for (const r of others) assert.deepEqual(await svc.handle(r.serialize()), UNSUPPORTED, SearchIdentifierType[r.searchType]);
    const garbage = [new Uint8Array(0), Uint8Array.of(1), bytes(1, opaque("alice"), 0), bytes(0, opaque("alice")), bytes(9, opaque("alice")), bytes(1, opaque(Uint8Array.of(0xff))), new Uint8Array(randomBytes(64))];
    for (const g of garbage) assert.deepEqual(await svc.handle(g), UNSUPPORTED);
    await assert.rejects(svc.query(Uint8Array.of(1)), (e: unknown) => e instanceof UnsupportedSearchFieldError && e.cause instanceof MimiDecodeError);
    assert.equal(svc.queryBudget, 1, "refused requests spend nothing");
    assert.equal(store.minted, 0);
    assert.equal(tokenOf(await ask(svc, "alice")).length, 32);
  });

  it("forbidden once the global budget is spent: no lookup answer and no token; it refills over the window", async () => {
    const { clock, svc, store } = await setup({ queryRateLimit: { requests: 3, windowMs: 60_000 } });
    tokenOf(await ask(svc, "alice"));
    assert.deepEqual(await ask(svc, "bob"), NOT_FOUND, "notFound is charged too: probing costs the same budget");
    tokenOf(await ask(svc, "alice"));
    assert.equal(store.minted, 2);
    assert.deepEqual(await ask(svc, "alice"), FORBIDDEN);
    assert.deepEqual(await ask(svc, "bob"), FORBIDDEN, "the same answer whether or not the handle exists");
    await assert.rejects(svc.query(IdentifierRequest.handle("alice").serialize()), IdentifierQueryForbiddenError);
    assert.equal(store.minted, 2, "nothing minted while forbidden");
    clock.advance(19_999);
    assert.deepEqual(await ask(svc, "alice"), FORBIDDEN);
    clock.advance(1); // 60 000 ms / 3 requests: one token back after 20 s
    tokenOf(await ask(svc, "alice"));
    assert.deepEqual(await ask(svc, "alice"), FORBIDDEN);
    clock.advance(3_600_000); // a long pause refills to the burst size, not beyond
    for (let i = 0; i < 3; i++) tokenOf(await ask(svc, "alice"));
    assert.deepEqual(await ask(svc, "alice"), FORBIDDEN);
    assert.equal(store.minted, 6);
  });

  it("never throws: a failing store or a corrupt record answers forbidden and is logged by class only", async () => {
    const warnings: [string, Record<string, unknown>][] = [];
    const logger: Logger = { debug() {}, info() {}, error() {}, warn: (msg, fields) => void warnings.push([msg, fields ?? {}]) };
    class FailingStore extends MemoryKeyPackageStore {
      override async getHandle(): Promise<never> {
        throw new TypeError("disk on fire: alice@a.test");
      }
    }
    const dir = new KeyPackageDirectory({ store: new FailingStore() });
    const svc = new IdentifierQueryService({ directory: dir, domain: "a.test", logger });
    assert.deepEqual(await ask(svc, "alice"), FORBIDDEN);
    assert.deepEqual(warnings, [["identifier_query_failed", { error: "TypeError" }]]);
    // a sealed record that does not open
    const store = new MemoryKeyPackageStore();
    const dir2 = new KeyPackageDirectory({ store });
    await dir2.registerHandle("alice", "alice@a.test");
    const { handleStorageKey } = await import("../../src/keypackages/index.js");
    const rec = (await store.getHandle(handleStorageKey("alice")))!;
    await store.putHandle(handleStorageKey("alice"), { userKey: rec.userKey, sealedUserId: rec.sealedUserId.map((b, i) => (i === 20 ? b ^ 1 : b)) });
    const svc2 = new IdentifierQueryService({ directory: dir2, domain: "a.test", logger });
    assert.deepEqual(await ask(svc2, "alice"), FORBIDDEN);
    assert.equal(warnings[1]?.[1].error, "CorruptRecordError");
    // a non-byte body
    assert.deepEqual(await svc2.handle("alice" as unknown as Uint8Array), UNSUPPORTED);
  });

  it("refuses bad options with InvalidArgumentError", async () => {
    const dir = new KeyPackageDirectory({ store: new MemoryKeyPackageStore() });
    const bad: Partial<IdentifierQueryServiceOptions>[] = [
      { domain: "not a domain" },
      { domain: "" },
      { tokenTtlMs: 0 },
      { tokenTtlMs: 1.5 },
      { tokenRateLimit: { requests: 0, windowMs: 1000 } },
      { queryRateLimit: { requests: 10, windowMs: 0 } },
      { queryRateLimit: { requests: 1, windowMs: 2 ** 32 } },
    ];
    for (const b of bad) assert.throws(() => new IdentifierQueryService({ directory: dir, domain: "a.test", ...b }), InvalidArgumentError, JSON.stringify(b));
  });
});

describe("TokenBucket", () => {
  it("admits a burst of `requests`, then one per windowMs/requests, exactly", () => {
    const clock = new Clock(1000);
    const b = new TokenBucket({ requests: 4, windowMs: 1000 }, { now: clock.now });
    for (let i = 0; i < 4; i++) assert.equal(b.take(), true);
    assert.equal(b.take(), false);
    assert.equal(b.retryAfterMs(), 250);
    clock.advance(249);
    assert.equal(b.take(), false);
    assert.equal(b.retryAfterMs(), 1);
    clock.advance(1);
    assert.equal(b.take(), true);
    assert.equal(b.take(), false);
    clock.advance(10_000);
    assert.equal(b.available, 4, "capped at the burst size");
    assert.equal(b.retryAfterMs(), 0);
  });

  it("a clock stepping back refills nothing and never breaks the bucket", () => {
    const clock = new Clock(50_000);
    const b = new TokenBucket({ requests: 2, windowMs: 1000 }, { now: clock.now });
    b.take();
    b.take();
    clock.advance(-30_000);
    assert.equal(b.take(), false);
    clock.advance(500);
    assert.equal(b.take(), true, "refill resumes from the new reading");
  });

  it("refuses invalid limits", () => {
    for (const l of [{ requests: 0, windowMs: 1 }, { requests: 1, windowMs: -1 }, { requests: 1.5, windowMs: 10 }, { requests: 2 ** 32, windowMs: 1 }, { requests: 2 ** 31, windowMs: 2 ** 31 }, null]) {
      assert.throws(() => new TokenBucket(l as { requests: number; windowMs: number }), InvalidArgumentError);
    }
  });
});
