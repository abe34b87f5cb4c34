// draft-barnes s7.3: "Keying material provided from one response MUST NOT be provided in any other
// response unless the lastResortAllowed field was set", under concurrency: many claims at once,
// transactions over the same users in opposite orders (no deadlock), claims racing uploads, and
// durability of a claim across a reopen of the level store.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { KeyPackageDirectory, LevelKeyPackageStore, keyPackageTransaction } from "../../src/keypackages/index.js";
import { KeyMaterialClientCode, KeyMaterialUserCode, KeyPackageStatus } from "../../src/protocol/KeyPackageConstants.js";
import { KeyPackageTransactionResponse } from "../../src/protocol/KeyPackageTransactionResponse.js";
import { ADAPTERS, Clock, SUITE, group, hex, newKeyPackages, openDirectory, register, te, tempDir, upload, uploadBytes } from "./kpFixtures.js";

function servedKeyPackages(r: KeyPackageTransactionResponse): string[] {
  const out: string[] = [];
  for (const u of r.users) for (const c of u.clients) if (c.status === KeyMaterialClientCode.success) out.push(hex(c.keyPackage));
  return out;
}

for (const adapter of ADAPTERS) {
  describe(`concurrent claims (${adapter.name} store)`, () => {
    it("50 concurrent requests never receive the same single-use KeyPackage twice", async () => {
      const env = await openDirectory(adapter);
      try {
        const clients = await Promise.all(["a", "b", "c"].map((id) => register(env.dir, "bob@b.example", id)));
        const kps = await newKeyPackages(env.clock, 30);
        // 30 KeyPackages for 3 clients: 10 each, so 40 of the 50 requests' client slots run dry.
        for (const [i, c] of clients.entries()) await upload(env.dir, c, kps.slice(10 * i, 10 * i + 10).map((k) => group(k)));
        const userId = te.encode("bob@b.example");
        // one token per requester (no rate-limit interference) and one shared token bundle
        const tokens = await Promise.all(Array.from({ length: 50 }, () => env.dir.mintToken(userId)));
        const responses = await Promise.all(tokens.map((t) => env.dir.handleKeyPackageRequest(keyPackageTransaction([{ userId, token: t.token }], SUITE))));
        const served: string[] = [];
        let exhausted = 0;
        for (const bytes of responses) {
          const r = KeyPackageTransactionResponse.deserialize(bytes);
          assert.equal(r.status, KeyPackageStatus.ok);
          served.push(...servedKeyPackages(r));
          for (const c of r.users[0]!.clients) if (c.status === KeyMaterialClientCode.keyMaterialExhausted) exhausted++;
        }
        assert.equal(served.length, 30, "every stored KeyPackage is served");
        assert.equal(new Set(served).size, 30, "and none twice");
        assert.deepEqual(new Set(served), new Set(kps.map(hex)));
        assert.equal(exhausted, 50 * 3 - 30);
        for (const c of clients) assert.equal((await env.dir.counts(c.userId, c.clientId))?.group, 0);
      } finally {
        await env.close();
      }
    });

    it("transactions naming the same users in opposite orders all complete (locks in sorted order)", async () => {
      const env = await openDirectory(adapter, { tokenRateLimit: { requests: 1000, windowMs: 1000 } });
      try {
        const users = ["u1", "u2", "u3"];
        const kps = await newKeyPackages(env.clock, 24);
        const targets = [];
        for (const [i, u] of users.entries()) {
          const c = await register(env.dir, u, "c");
          await upload(env.dir, c, kps.slice(8 * i, 8 * i + 8).map((k) => group(k)));
          targets.push({ userId: te.encode(u), token: (await env.dir.mintToken(u)).token });
        }
        const orders = [targets, [...targets].reverse(), [targets[1]!, targets[0]!, targets[2]!]];
        const all = await Promise.all(Array.from({ length: 12 }, (_, i) => env.dir.handleKeyPackageRequest(keyPackageTransaction(orders[i % 3]!, SUITE))));
        const served = all.flatMap((b) => servedKeyPackages(KeyPackageTransactionResponse.deserialize(b)));
        assert.equal(served.length, 24);
        assert.equal(new Set(served).size, 24);
      } finally {
        await env.close();
      }
    });

    it("claims racing uploads of the same client hand out every KeyPackage at most once", async () => {
      const env = await openDirectory(adapter, { tokenRateLimit: { requests: 1000, windowMs: 1000 } });
      try {
        const c = await register(env.dir, "racer", "c");
        const kps = await newKeyPackages(env.clock, 20);
        const userId = te.encode("racer");
        const { token } = await env.dir.mintToken(userId);
        const uploads = Array.from({ length: 4 }, (_, i) => uploadBytes(c, kps.slice(5 * i, 5 * i + 5).map((k) => group(k))));
        const claims: Promise<Uint8Array>[] = [];
        const ups: Promise<Uint8Array>[] = [];
        for (let i = 0; i < 24; i++) {
          if (i % 6 === 0) ups.push(env.dir.handleUpload(uploads[i / 6]!));
          claims.push(env.dir.handleKeyPackageRequest(keyPackageTransaction([{ userId, token }], SUITE)));
        }
        const [claimed] = await Promise.all([Promise.all(claims), Promise.all(ups)]);
        const served = claimed.flatMap((b) => servedKeyPackages(KeyPackageTransactionResponse.deserialize(b)));
        const counts = await env.dir.counts(c.userId, c.clientId);
        assert.equal(new Set(served).size, served.length, "no KeyPackage twice");
        // uploads with sequences 1..4 may be reordered by the race: only the ones that won stored
        const stored = served.length + counts!.group;
        assert.ok(stored % 5 === 0 && stored >= 5, `stored ${stored}`);
      } finally {
        await env.close();
      }
    });
  });
}

describe("claims are durable (level store)", () => {
  it("a KeyPackage handed out stays gone after the store is closed and reopened", async () => {
    const t = await tempDir();
    const clock = new Clock();
    try {
      let store = await LevelKeyPackageStore.open(t.dir);
      let dir = new KeyPackageDirectory({ store, now: clock.now });
      const c = await register(dir, "bob", "c");
      const kps = await newKeyPackages(clock, 2);
      await upload(dir, c, kps.map((k) => group(k)));
      const { token } = await dir.mintToken("bob");
      const tx = keyPackageTransaction([{ userId: te.encode("bob"), token }], SUITE);
      const first = servedKeyPackages(KeyPackageTransactionResponse.deserialize(await dir.handleKeyPackageRequest(tx)));
      await store.close();
      store = await LevelKeyPackageStore.open(t.dir);
      dir = new KeyPackageDirectory({ store, now: clock.now });
      const second = KeyPackageTransactionResponse.deserialize(await dir.handleKeyPackageRequest(tx));
      assert.equal(second.users[0]!.status, KeyMaterialUserCode.success, "the token survived the reopen");
      const s = servedKeyPackages(second);
      assert.equal(s.length, 1);
      assert.notEqual(s[0], first[0]);
      assert.deepEqual(new Set([...first, ...s]), new Set(kps.map(hex)));
      // the upload sequence survived too: replaying the first upload is refused
      const replay = await dir.handleUpload(uploadBytes(c, kps.map((k) => group(k)), 1n));
      assert.equal((replay[0]! << 8) | replay[1]!, KeyPackageStatus.stale_sequence);
      await store.close();
    } finally {
      await t.cleanup();
    }
  });
});
