// Bearer tokens (draft-mcmillion s3.1.1 "Privacy"; ARCHITECTURE "KeyPackages and bearer tokens"):
// minted per user, stored only hashed, revocable, rate-limited per token with an injected clock,
// and any token that does not authorize a request gets exactly the unknown-user answer.
import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { KeyPackageDirectory, LevelKeyPackageStore, FixedWindowRateLimiter, keyPackageTransaction, tokenHash } from "../../src/keypackages/index.js";
import { KeyMaterialUserCode } from "../../src/protocol/KeyPackageConstants.js";
import { KeyPackageTransactionResponse } from "../../src/protocol/KeyPackageTransactionResponse.js";
import { ADAPTERS, Clock, SUITE, fetchGroup, group, newKeyPackages, openDirectory, register, te, tempDir, upload } from "./kpFixtures.js";

const BOB = te.encode("bob@b.example");

for (const adapter of ADAPTERS) {
  describe(`bearer tokens (${adapter.name} store)`, () => {
    it("a token over its rate limit is refused until its window passes, and nothing is consumed meanwhile", async () => {
      const env = await openDirectory(adapter, { tokenRateLimit: { requests: 3, windowMs: 60_000 } });
      try {
        const c = await register(env.dir, "bob@b.example", "one");
        await upload(env.dir, c, (await newKeyPackages(env.clock, 6)).map((k) => group(k)));
        const { token } = await env.dir.mintToken(BOB);
        const other = await env.dir.mintToken(BOB);
        const ask = async (t = token) => (await fetchGroup(env.dir, [{ userId: BOB, token: t }])).users[0]!.status;
        for (let i = 0; i < 3; i++) assert.equal(await ask(), KeyMaterialUserCode.success);
        assert.equal(await ask(), KeyMaterialUserCode.rateLimited);
        assert.equal((await env.dir.counts(c.userId, c.clientId))?.group, 3, "a refused request consumes nothing");
        // per token, not per user: another token for the same user still works
        assert.equal(await ask(other.token), KeyMaterialUserCode.success);
        env.clock.advance(59_999);
        assert.equal(await ask(), KeyMaterialUserCode.rateLimited, "still inside the window");
        env.clock.advance(1);
        assert.equal(await ask(), KeyMaterialUserCode.success, "the window has passed");
        assert.equal((await env.dir.counts(c.userId, c.clientId))?.group, 1);
      } finally {
        await env.close();
      }
    });

    it("a per-token limit set at minting overrides the default; an optional per-user limit spans all tokens", async () => {
      const env = await openDirectory(adapter, { tokenRateLimit: { requests: 100, windowMs: 1000 }, userRateLimit: { requests: 4, windowMs: 10_000 } });
      try {
        await register(env.dir, "bob@b.example", "one");
        const strict = await env.dir.mintToken(BOB, { rateLimit: { requests: 1, windowMs: 5000 } });
        const loose = await env.dir.mintToken(BOB);
        const ask = async (t: Uint8Array) => (await fetchGroup(env.dir, [{ userId: BOB, token: t }])).users[0]!.status;
        assert.equal(await ask(strict.token), KeyMaterialUserCode.noCompatibleMaterial);
        assert.equal(await ask(strict.token), KeyMaterialUserCode.rateLimited);
        for (let i = 0; i < 3; i++) assert.equal(await ask(loose.token), KeyMaterialUserCode.noCompatibleMaterial);
        assert.equal(await ask(loose.token), KeyMaterialUserCode.rateLimited, "the user's aggregate limit (4) is spent");
        env.clock.advance(10_000);
        assert.equal(await ask(loose.token), KeyMaterialUserCode.noCompatibleMaterial);
      } finally {
        await env.close();
      }
    });

    it("a revoked token gets byte for byte the answer of an unknown token, a foreign token, an expired token and an unknown user", async () => {
      const env = await openDirectory(adapter);
      try {
        const c = await register(env.dir, "bob@b.example", "one");
        await upload(env.dir, c, (await newKeyPackages(env.clock, 2)).map((k) => group(k)));
        const revoked = await env.dir.mintToken(BOB);
        const carols = await env.dir.mintToken("carol@b.example");
        const shortLived = await env.dir.mintToken(BOB, { ttlMs: 1000 });
        assert.equal((await fetchGroup(env.dir, [{ userId: BOB, token: revoked.token }])).users[0]!.status, KeyMaterialUserCode.success, "valid before revocation");
        assert.equal(await env.dir.revokeToken(revoked.token), true);
        assert.equal(await env.dir.revokeToken(revoked.token), false, "revoking twice finds nothing");
        env.clock.advance(1000);

        const answer = (userId: Uint8Array, token: Uint8Array, lastResort = false) => env.dir.handleKeyPackageRequest(keyPackageTransaction([{ userId, token }], SUITE, lastResort));
        const reference = await answer(BOB, revoked.token);
        const decoded = KeyPackageTransactionResponse.deserialize(reference);
        assert.equal(decoded.users[0]!.status, KeyMaterialUserCode.userUnknown);
        assert.equal(decoded.users[0]!.clients.length, 0);
        for (const [what, bytes] of [
          ["never-minted token", await answer(BOB, new Uint8Array(randomBytes(32)))],
          ["token of another user", await answer(BOB, carols.token)],
          ["expired token", await answer(BOB, shortLived.token)],
          ["empty token", await answer(BOB, new Uint8Array(0))],
        ] as const) {
          assert.deepEqual(bytes, reference, what);
        }
        // an unknown user with a made-up token: the same answer, only the echoed id differs
        const nobody = te.encode("zzz@b.example"); // same length as BOB
        assert.equal(nobody.length, BOB.length);
        const unknownUser = await answer(nobody, new Uint8Array(randomBytes(32)));
        const withBobsValid = await answer(nobody, (await env.dir.mintToken(BOB)).token);
        assert.deepEqual(unknownUser, withBobsValid);
        assert.equal(unknownUser.length, reference.length);
        // status(2) || users<V> length(1) || user_status(1) || user_id<V> length(1) || user_id ...
        const expected = reference.slice();
        expected.set(nobody, 5);
        assert.deepEqual(unknownUser, expected);
        assert.equal((await env.dir.counts(c.userId, c.clientId))?.group, 1, "no refused token consumed anything");
      } finally {
        await env.close();
      }
    });

    it("revokeUserTokens revokes every token of one user; purgeExpired drops expired tokens", async () => {
      const env = await openDirectory(adapter);
      try {
        await register(env.dir, "bob@b.example", "one");
        const a = await env.dir.mintToken(BOB);
        const b = await env.dir.mintToken(BOB, { ttlMs: 0 });
        const carol = await env.dir.mintToken("carol@b.example", { ttlMs: 500 });
        assert.equal(a.expiresAtMs, env.clock.ms + 30 * 86_400_000);
        assert.equal(b.expiresAtMs, undefined);
        assert.equal(await env.dir.revokeUserTokens(BOB), 2);
        for (const t of [a, b]) assert.equal((await fetchGroup(env.dir, [{ userId: BOB, token: t.token }])).users[0]!.status, KeyMaterialUserCode.userUnknown);
        assert.deepEqual(await env.dir.purgeExpired(), { keyPackages: 0, tokens: 0 });
        env.clock.advance(500);
        assert.deepEqual(await env.dir.purgeExpired(), { keyPackages: 0, tokens: 1 });
        assert.equal(await env.store.getToken(tokenHash(carol.token)), undefined);
      } finally {
        await env.close();
      }
    });
  });
}

describe("tokens at rest", () => {
  it("the level store holds only token hashes: no token bytes and no user id appear in the database files", async () => {
    const t = await tempDir();
    const clock = new Clock();
    const store = await LevelKeyPackageStore.open(t.dir);
    const dir = new KeyPackageDirectory({ store, now: clock.now });
    const userId = te.encode("very-distinctive-user-id@b.example");
    const tokens = [];
    for (let i = 0; i < 20; i++) tokens.push((await dir.mintToken(userId)).token);
    await store.close();
    let all = Buffer.alloc(0);
    for (const f of await readdir(t.dir)) all = Buffer.concat([all, await readFile(join(t.dir, f)).catch(() => Buffer.alloc(0))]);
    try {
      assert.ok(all.length > 0);
      for (const tok of tokens) {
        assert.equal(all.indexOf(Buffer.from(tok)), -1, "a raw token is stored");
        assert.notEqual(all.indexOf(Buffer.from(tokenHash(tok))), -1, "its hash is what is stored");
      }
      assert.equal(all.indexOf(Buffer.from(userId)), -1, "the user id is stored in clear");
    } finally {
      await t.cleanup();
    }
  });

  it("FixedWindowRateLimiter stays bounded: closed windows are evicted first", () => {
    const clock = new Clock(0);
    const rl = new FixedWindowRateLimiter({ now: clock.now, maxEntries: 10 });
    const limit = { requests: 1, windowMs: 100 };
    for (let i = 0; i < 10; i++) assert.equal(rl.take(`k${i}`, limit), true);
    assert.equal(rl.take("k0", limit), false);
    assert.equal(rl.retryAfterMs("k0"), 100);
    clock.advance(100);
    for (let i = 10; i < 25; i++) assert.equal(rl.take(`k${i}`, limit), true);
    assert.ok(rl.size <= 10, `size ${rl.size}`);
  });
});
