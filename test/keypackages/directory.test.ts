// The KeyPackage directory's serving rules (draft-mcmillion-mimi-delivery-service s3.1,
// draft-barnes-mimi-protocol s7.3 "Claim keys", draft-robert-mimi-delivery-service "Fetch
// connection KeyPackages"), proven on both store adapters: one KeyPackage per client, each
// single-use one handed out once, last resort only when allowed and never consumed, connection
// KeyPackages only through the connection request, expired ones never served and purged.
import { strict as assert } from "node:assert";
import { after, before, describe, it } from "node:test";
import { KeyMaterialClientCode, KeyMaterialUserCode, KeyPackagePool, KeyPackageStatus } from "../../src/protocol/KeyPackageConstants.js";
import { KeyPackageRequest } from "../../src/protocol/KeyPackageRequest.js";
import { KeyPackageTransaction } from "../../src/protocol/KeyPackageTransaction.js";
import { KeyPackageTransactionResponse, type UserKeyMaterial } from "../../src/protocol/KeyPackageTransactionResponse.js";
import { KeyPackageUploadResponse } from "../../src/protocol/KeyPackageUploadResponse.js";
import { decodeMlsMessage } from "../../src/mls/adapter.js";
import { InvalidArgumentError, TooManyClientsError, keyPackageTransaction, type KeyPackageDirectory } from "../../src/keypackages/index.js";
import {
  ADAPTERS,
  Clock,
  DAY,
  OTHER_SUITE,
  SUITE,
  connection,
  fetchConnection,
  fetchGroup,
  group,
  hex,
  newKeyPackage,
  newKeyPackages,
  openDirectory,
  register,
  te,
  upload,
  uploadBytes,
  type TestClient,
} from "./kpFixtures.js";
import { keyPackageMessage } from "../../src/keypackages/clientRequests.js";

const served = (u: UserKeyMaterial) => u.clients.map((c) => (c.status === KeyMaterialClientCode.success ? hex(c.keyPackage) : KeyMaterialClientCode[c.status]));

for (const adapter of ADAPTERS) {
  describe(`draft-barnes s7.3 claim keys (${adapter.name} store)`, () => {
    let env: Awaited<ReturnType<typeof openDirectory>>;
    let dir: KeyPackageDirectory;
    let clock: Clock;
    // 12 distinct KeyPackages, generated once: distinct clients may upload the same bytes.
    let kps: Uint8Array[];
    before(async () => {
      clock = new Clock();
      env = await openDirectory(adapter, { tokenRateLimit: { requests: 1000, windowMs: 60_000 } }, clock);
      dir = env.dir;
      kps = await newKeyPackages(clock, 12);
    });
    after(() => env.close());

    it("serves one KeyPackage per client of a user with three clients, each at most once", async () => {
      const bob = await Promise.all(["phone", "laptop", "tablet"].map((c) => register(dir, "bob@b.example", c)));
      for (const [i, c] of bob.entries()) {
        const r = await upload(dir, c, [group(kps[2 * i]!), group(kps[2 * i + 1]!)]);
        assert.equal(r.status, KeyPackageStatus.ok);
        assert.deepEqual(r.counts, { group: 2, connection: 0, groupLastResort: false, connectionLastResort: false });
      }
      const { token } = await dir.mintToken("bob@b.example");
      const target = [{ userId: te.encode("bob@b.example"), token }];

      const first = await fetchGroup(dir, target);
      assert.equal(first.status, KeyPackageStatus.ok);
      assert.equal(first.users.length, 1);
      const u1 = first.users[0]!;
      assert.equal(u1.status, KeyMaterialUserCode.success);
      assert.deepEqual(u1.userId, te.encode("bob@b.example"));
      assert.equal(u1.clients.length, 3);
      // every client answered with one of its own uploads, as uploaded byte for byte
      const byClient = new Map(bob.map((c, i) => [new TextDecoder().decode(c.clientId), [hex(kps[2 * i]!), hex(kps[2 * i + 1]!)]]));
      for (const c of u1.clients) {
        assert.equal(c.status, KeyMaterialClientCode.success);
        assert.ok(c.status === KeyMaterialClientCode.success && byClient.get(new TextDecoder().decode(c.clientId))!.includes(hex(c.keyPackage)));
        if (c.status === KeyMaterialClientCode.success) assert.equal(decodeMlsMessage(c.keyPackage, 0)?.[0].wireformat, "mls_key_package");
      }
      for (const c of bob) assert.equal((await dir.counts(c.userId, c.clientId))?.group, 1);

      const second = (await fetchGroup(dir, target)).users[0]!;
      assert.equal(second.status, KeyMaterialUserCode.success);
      const all = [...served(u1), ...served(second)];
      assert.equal(new Set(all).size, 6, "six distinct KeyPackages over two claims");

      const third = (await fetchGroup(dir, target)).users[0]!;
      assert.equal(third.status, KeyMaterialUserCode.noCompatibleMaterial);
      assert.deepEqual(served(third), ["keyMaterialExhausted", "keyMaterialExhausted", "keyMaterialExhausted"]);
    });

    it("exhausting a pool gives keyMaterialExhausted, then the last resort only when allowed, never consumed", async () => {
      const plain = await register(dir, "carol@b.example", "a");
      const withLr = await register(dir, "carol@b.example", "b");
      assert.equal((await upload(dir, plain, [group(kps[6]!)])).status, KeyPackageStatus.ok);
      const r = await upload(dir, withLr, [group(kps[7]!), group(kps[8]!, true)]);
      assert.deepEqual(r.counts, { group: 1, connection: 0, groupLastResort: true, connectionLastResort: false });
      const { token } = await dir.mintToken("carol@b.example");
      const target = [{ userId: te.encode("carol@b.example"), token }];
      const lookup = (u: UserKeyMaterial, c: TestClient) => u.clients.find((x) => hex(x.clientId) === hex(c.clientId))!;

      const u1 = (await fetchGroup(dir, target)).users[0]!;
      assert.equal(u1.status, KeyMaterialUserCode.success);
      assert.deepEqual(served({ ...u1, clients: [lookup(u1, withLr)] }), [hex(kps[7]!)], "single-use first, last resort kept back");

      const u2 = (await fetchGroup(dir, target, false)).users[0]!;
      assert.equal(u2.status, KeyMaterialUserCode.noCompatibleMaterial);
      assert.equal(lookup(u2, plain).status, KeyMaterialClientCode.keyMaterialExhausted);
      assert.equal(lookup(u2, withLr).status, KeyMaterialClientCode.onlyLastResort);

      for (let i = 0; i < 3; i++) {
        const u = (await fetchGroup(dir, target, true)).users[0]!;
        assert.equal(u.status, KeyMaterialUserCode.partialSuccess);
        assert.equal(lookup(u, plain).status, KeyMaterialClientCode.keyMaterialExhausted);
        const lr = lookup(u, withLr);
        assert.ok(lr.status === KeyMaterialClientCode.success && hex(lr.keyPackage) === hex(kps[8]!), "the last-resort KeyPackage, again");
      }
      assert.deepEqual(await dir.counts(withLr.userId, withLr.clientId), { group: 0, connection: 0, groupLastResort: true, connectionLastResort: false });

      // A newer last resort replaces the old one.
      assert.equal((await upload(dir, withLr, [group(kps[9]!, true)])).status, KeyPackageStatus.ok);
      const u3 = (await fetchGroup(dir, target, true)).users[0]!;
      const lr3 = lookup(u3, withLr);
      assert.ok(lr3.status === KeyMaterialClientCode.success && hex(lr3.keyPackage) === hex(kps[9]!));
    });

    it("answers nothingCompatible for a cipher suite a client never uploaded, incompatibleProtocol for another MLS version", async () => {
      const c = await register(dir, "dave@b.example", "only");
      await upload(dir, c, [group(kps[10]!)]);
      const { token } = await dir.mintToken("dave@b.example");
      const userId = te.encode("dave@b.example");
      const u = (await fetchGroup(dir, [{ userId, token }], true, OTHER_SUITE)).users[0]!;
      assert.equal(u.status, KeyMaterialUserCode.noCompatibleMaterial);
      assert.deepEqual(served(u), ["nothingCompatible"]);
      const tx = new KeyPackageTransaction([new KeyPackageRequest(userId, token, 2, SUITE)], false).serialize();
      const v = KeyPackageTransactionResponse.deserialize(await dir.handleKeyPackageRequest(tx)).users[0]!;
      assert.equal(v.status, KeyMaterialUserCode.incompatibleProtocol);
      assert.equal(v.clients.length, 0);
      assert.equal((await dir.counts(c.userId, c.clientId))?.group, 1, "nothing consumed");
    });

    it("serves connection KeyPackages only through the connection request, never mixed with the group pool", async () => {
      const c = await register(dir, "erin@b.example", "one");
      const conn = await newKeyPackages(clock, 2);
      const r = await upload(dir, c, [group(kps[11]!), connection(conn[0]!), connection(conn[1]!, true)]);
      assert.deepEqual(r.counts, { group: 1, connection: 1, groupLastResort: false, connectionLastResort: true });
      const { token } = await dir.mintToken("erin@b.example");
      const target = [{ userId: te.encode("erin@b.example"), token }];
      assert.deepEqual(served((await fetchGroup(dir, target, true)).users[0]!), [hex(kps[11]!)]);
      // group pool exhausted: the connection pool (and its last resort) is not touched
      assert.deepEqual(served((await fetchGroup(dir, target, true)).users[0]!), ["keyMaterialExhausted"]);
      assert.deepEqual(served((await fetchConnection(dir, target)).users[0]!), [hex(conn[0]!)]);
      assert.deepEqual(served((await fetchConnection(dir, target)).users[0]!), ["onlyLastResort"]);
      assert.deepEqual(served((await fetchConnection(dir, target, true)).users[0]!), [hex(conn[1]!)]);
    });

    it("never serves an expired KeyPackage and purges it", async () => {
      const c = await register(dir, "frank@b.example", "one");
      const shortLived = keyPackageMessage(await newKeyPackage(clock, 3600));
      const lrShort = keyPackageMessage(await newKeyPackage(clock, 3600));
      const longLived = keyPackageMessage(await newKeyPackage(clock, 10 * DAY));
      await upload(dir, c, [group(shortLived), group(longLived), group(lrShort, true)]);
      assert.deepEqual(await dir.counts(c.userId, c.clientId), { group: 2, connection: 0, groupLastResort: true, connectionLastResort: false });
      const { token } = await dir.mintToken("frank@b.example", { ttlMs: 0 });
      const target = [{ userId: te.encode("frank@b.example"), token }];
      clock.advance(2 * 3600 * 1000);
      assert.deepEqual(await dir.counts(c.userId, c.clientId), { group: 1, connection: 0, groupLastResort: false, connectionLastResort: false });
      assert.deepEqual(served((await fetchGroup(dir, target, true)).users[0]!), [hex(longLived)], "the soonest-expiring usable one, not the expired one");
      assert.deepEqual(served((await fetchGroup(dir, target, true)).users[0]!), ["keyMaterialExhausted"], "expired single-use and last resort are not served");
      const purged = await dir.purgeExpired();
      assert.ok(purged.keyPackages >= 2, `purged ${purged.keyPackages}`);
      assert.equal((await dir.purgeExpired()).keyPackages, 0, "nothing left to purge");
      clock.advance(-2 * 3600 * 1000);
      assert.deepEqual(served((await fetchGroup(dir, target, true)).users[0]!), ["keyMaterialExhausted"], "purged for good, even for an earlier clock");
      clock.advance(2 * 3600 * 1000);
    });

    it("bundles several users in one transaction and answers each in order", async () => {
      const g = await register(dir, "gina@b.example", "one");
      const h = await register(dir, "hank@b.example", "one");
      const mine = await newKeyPackages(clock, 3);
      await upload(dir, g, [group(mine[0]!), group(mine[1]!)]);
      await upload(dir, h, [group(mine[2]!)]);
      const tg = await dir.mintToken("gina@b.example");
      const th = await dir.mintToken("hank@b.example");
      const res = await fetchGroup(dir, [
        { userId: te.encode("gina@b.example"), token: tg.token },
        { userId: te.encode("nobody@b.example"), token: th.token },
        { userId: te.encode("hank@b.example"), token: th.token },
        { userId: te.encode("gina@b.example"), token: tg.token },
      ]);
      assert.deepEqual(
        res.users.map((u) => [new TextDecoder().decode(u.userId), KeyMaterialUserCode[u.status]]),
        [
          ["gina@b.example", "success"],
          ["nobody@b.example", "userUnknown"],
          ["hank@b.example", "success"],
          ["gina@b.example", "success"],
        ],
      );
      // the same user twice in one transaction gets two different KeyPackages
      assert.notEqual(served(res.users[0]!)[0], served(res.users[3]!)[0]);
      assert.deepEqual(new Set([...served(res.users[0]!), ...served(res.users[3]!)]), new Set([hex(mine[0]!), hex(mine[1]!)]));
    });

    it("refuses malformed and oversized transactions with a typed status and consumes nothing", async () => {
      const c = await register(dir, "ivan@b.example", "one");
      await upload(dir, c, (await newKeyPackages(clock, 2)).map((k) => group(k)));
      const { token } = await dir.mintToken("ivan@b.example");
      const valid = keyPackageTransaction([{ userId: te.encode("ivan@b.example"), token }], SUITE);
      const bad: Uint8Array[] = [new Uint8Array(0), valid.subarray(0, valid.length - 1), Uint8Array.from([...valid, 0]), Uint8Array.from([...valid.subarray(0, -1), 2])];
      for (const b of bad) {
        const r = KeyPackageTransactionResponse.deserialize(await dir.handleKeyPackageRequest(b));
        assert.equal(r.status, KeyPackageStatus.malformed);
        assert.equal(r.users.length, 0);
      }
      const many = keyPackageTransaction(Array.from({ length: 33 }, () => ({ userId: te.encode("ivan@b.example"), token })), SUITE);
      assert.equal(KeyPackageTransactionResponse.deserialize(await dir.handleKeyPackageRequest(many)).status, KeyPackageStatus.too_many_requests);
      assert.equal((await dir.counts(c.userId, c.clientId))?.group, 2, "pool unchanged");
    });

    it("an upload is atomic: one bad entry stores nothing and advances nothing", async () => {
      const c = await register(dir, "judy@b.example", "one");
      const good = await newKeyPackages(clock, 2);
      const expired = keyPackageMessage(await newKeyPackage(new Clock(clock.ms - 40 * DAY * 1000), 30 * DAY));
      const r = await upload(dir, c, [group(good[0]!), connection(good[1]!), group(expired)]);
      assert.equal(r.status, KeyPackageStatus.key_package_expired);
      assert.equal(r.entryIndex, 2);
      assert.deepEqual(await dir.counts(c.userId, c.clientId), { group: 0, connection: 0, groupLastResort: false, connectionLastResort: false });
      // the same good entries are accepted afterwards (nothing half-stored to collide with)
      const again = await upload(dir, c, [group(good[0]!), connection(good[1]!)]);
      assert.deepEqual(again.counts, { group: 1, connection: 1, groupLastResort: false, connectionLastResort: false });
    });

    it("accepts Node Buffers (as an HTTP layer hands them over) and keeps no view of them", async () => {
      const c = await register(dir, "lena@b.example", "one");
      const mine = await newKeyPackages(clock, 1);
      const body = Buffer.from(uploadBytes(c, [group(mine[0]!)]));
      assert.equal(KeyPackageUploadResponse.deserialize(await dir.handleUpload(body)).status, KeyPackageStatus.ok);
      body.fill(0); // the transport reuses its buffer
      const { token } = await dir.mintToken("lena@b.example");
      const res = KeyPackageTransactionResponse.deserialize(await dir.handleKeyPackageRequest(Buffer.from(keyPackageTransaction([{ userId: te.encode("lena@b.example"), token }], SUITE))));
      assert.deepEqual(served(res.users[0]!), [hex(mine[0]!)]);
    });

    it("admin calls validate their arguments and cap clients per user", async () => {
      await assert.rejects(dir.registerClient("", "x", new Uint8Array(32)), InvalidArgumentError);
      await assert.rejects(dir.registerClient("u", "x", new Uint8Array(31)), InvalidArgumentError);
      await assert.rejects(dir.mintToken("u", { ttlMs: -1 }), InvalidArgumentError);
      await assert.rejects(dir.mintToken("u", { rateLimit: { requests: 0, windowMs: 10 } }), InvalidArgumentError);
      const small = await openDirectory(adapter, { maxClientsPerUser: 2 });
      try {
        await register(small.dir, "kim", "1");
        await register(small.dir, "kim", "2");
        await assert.rejects(register(small.dir, "kim", "3"), TooManyClientsError);
        // re-registering an existing client (key rotation) is not a new client
        const again = await register(small.dir, "kim", "2");
        const kp = await newKeyPackages(small.clock, 1);
        assert.equal((await upload(small.dir, again, [group(kp[0]!)])).status, KeyPackageStatus.ok, "the new key uploads");
        assert.equal(await small.dir.removeClient("kim", "2"), true);
        assert.equal(await small.dir.counts("kim", "2"), undefined);
        await register(small.dir, "kim", "3");
      } finally {
        await small.close();
      }
    });
  });
}

describe("KeyPackageUploadResponse counts let a client replenish", () => {
  it("an empty upload answers the current counts and advances the sequence", async () => {
    const env = await openDirectory(ADAPTERS[0]!);
    try {
      const c = await register(env.dir, "u", "c");
      const r = await upload(env.dir, c, []);
      assert.deepEqual(r, KeyPackageUploadResponse.ok({ group: 0, connection: 0, groupLastResort: false, connectionLastResort: false }));
      assert.equal((await env.store.getClient(c.userId, c.clientId))?.sequence, 1n);
      assert.equal(KeyPackagePool.connection, 1);
    } finally {
      await env.close();
    }
  });
});
