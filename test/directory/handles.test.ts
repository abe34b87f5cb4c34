// Discovery handles (draft-barnes s7.10 SearchIdentifierType handle): one normal form, a safe
// ASCII charset checked before lower-casing, and a registry in the KeyPackage store that behaves
// the same on both adapters: unique per handle, idempotent per user, removable one by one or per
// user, persistent, race-free, and without user ids or handles in the clear on disk.
import { strict as assert } from "node:assert";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  HandleTakenError,
  InvalidArgumentError,
  InvalidHandleError,
  KeyPackageDirectory,
  LevelKeyPackageStore,
  MAX_HANDLE_LENGTH,
  MemoryKeyPackageStore,
  handleStorageKey,
  isValidHandle,
  normalizeHandle,
  userStorageKey,
} from "../../src/keypackages/index.js";
import { CorruptRecordError } from "../../src/store/errors.js";
import { ADAPTERS, openDirectory, tempDir } from "../keypackages/kpFixtures.js";
import { te } from "./fixtures.js";

const td = new TextDecoder();
const idText = (b: Uint8Array | undefined) => (b === undefined ? undefined : td.decode(b));

describe("handle normal form", () => {
  it("trims and lower-cases", () => {
    assert.equal(normalizeHandle("  Alice.Smith_99-x \n"), "alice.smith_99-x");
    assert.equal(normalizeHandle("A"), "a");
    assert.equal(normalizeHandle("0"), "0");
    assert.equal(normalizeHandle("x".repeat(MAX_HANDLE_LENGTH)), "x".repeat(MAX_HANDLE_LENGTH));
    assert.equal(normalizeHandle("\u00a0bob\ufeff"), "bob", "Unicode spaces around it are trimmed too");
  });

  it("refuses empty, overlong, unsafe and look-alike handles with InvalidHandleError", () => {
    const bad: unknown[] = [
      "",
      "   ",
      "x".repeat(MAX_HANDLE_LENGTH + 1),
      "@alice",
      "alice@a.test",
      "al ice",
      "al/ice",
      "alice%",
      ".alice",
      "alice.",
      "-alice",
      "alice_",
      "al\u0000ice",
      "z\u00f6e",
      "\u212Alice", // KELVIN SIGN lower-cases to ASCII "k": refused before lower-casing
      "\u0430lice", // Cyrillic a
      "ａｌｉｃｅ", // fullwidth
      42,
      undefined,
      null,
    ];
    for (const b of bad) {
      assert.throws(() => normalizeHandle(b), InvalidHandleError, JSON.stringify(b));
      assert.equal(isValidHandle(b), false);
    }
    assert.equal("\u212Alice".toLowerCase(), "klice", "the trap the charset-first rule avoids");
    const e = (() => {
      try {
        normalizeHandle("@x");
      } catch (err) {
        return err as InvalidHandleError;
      }
    })();
    assert.equal(e?.code, "invalid_handle");
  });
});

for (const adapter of ADAPTERS) {
  describe(`handle registry (${adapter.name} store)`, () => {
    it("registers under the normal form, finds every spelling, is idempotent per user and unique per handle", async () => {
      const env = await openDirectory(adapter);
      try {
        assert.equal(await env.dir.registerHandle(" Alice ", "alice@a.test"), "alice");
        for (const spelling of ["alice", "ALICE", "  aLiCe\t"]) assert.equal(idText(await env.dir.lookupHandle(spelling)), "alice@a.test");
        assert.equal(await env.dir.lookupHandle("bob"), undefined);
        // the same user again: fine, nothing changes
        assert.equal(await env.dir.registerHandle("alice", te.encode("alice@a.test")), "alice");
        // another user: refused, the binding stays
        await assert.rejects(env.dir.registerHandle("ALICE", "mallory@a.test"), HandleTakenError);
        assert.equal(idText(await env.dir.lookupHandle("alice")), "alice@a.test");
        // a user may hold several handles
        await env.dir.registerHandle("alice2", "alice@a.test");
        assert.equal(idText(await env.dir.lookupHandle("alice2")), "alice@a.test");
      } finally {
        await env.close();
      }
    });

    it("removes one handle, then every handle of a user, and frees them for others", async () => {
      const env = await openDirectory(adapter);
      try {
        await env.dir.registerHandle("alice", "alice@a.test");
        await env.dir.registerHandle("ally", "alice@a.test");
        await env.dir.registerHandle("al", "alice@a.test");
        await env.dir.registerHandle("bob", "bob@a.test");
        assert.equal(await env.dir.removeHandle(" ALLY "), true);
        assert.equal(await env.dir.removeHandle("ally"), false);
        assert.equal(await env.dir.lookupHandle("ally"), undefined);
        assert.equal(await env.dir.registerHandle("ally", "bob@a.test"), "ally", "a removed handle is free again");
        assert.equal(await env.dir.removeUserHandles("alice@a.test"), 2);
        assert.equal(await env.dir.lookupHandle("alice"), undefined);
        assert.equal(await env.dir.lookupHandle("al"), undefined);
        assert.equal(idText(await env.dir.lookupHandle("bob")), "bob@a.test", "other users keep theirs");
        assert.equal(idText(await env.dir.lookupHandle("ally")), "bob@a.test");
        assert.equal(await env.dir.removeUserHandles("alice@a.test"), 0);
      } finally {
        await env.close();
      }
    });

    it("refuses bad arguments with typed errors and stores nothing", async () => {
      const env = await openDirectory(adapter);
      try {
        await assert.rejects(env.dir.registerHandle("bad handle", "alice@a.test"), InvalidHandleError);
        await assert.rejects(env.dir.registerHandle("alice", ""), InvalidArgumentError);
        await assert.rejects(env.dir.registerHandle("alice", "x".repeat(256)), InvalidArgumentError);
        await assert.rejects(env.dir.registerHandle("alice", Uint8Array.of(0x61, 0xff)), InvalidArgumentError, "a user id that is not UTF-8 cannot go into a URI");
        await assert.rejects(env.dir.lookupHandle("@alice"), InvalidHandleError);
        await assert.rejects(env.dir.removeHandle(""), InvalidHandleError);
        assert.equal(await env.store.getHandle(handleStorageKey("alice")), undefined);
      } finally {
        await env.close();
      }
    });

    it("concurrent registrations of one handle: exactly one user wins", async () => {
      const env = await openDirectory(adapter);
      try {
        const users = Array.from({ length: 12 }, (_, i) => `user${i}@a.test`);
        const results = await Promise.allSettled(users.map((u) => env.dir.registerHandle("contested", u)));
        const won = results.flatMap((r, i) => (r.status === "fulfilled" ? [users[i]] : []));
        assert.equal(won.length, 1);
        for (const r of results) if (r.status === "rejected") assert.ok(r.reason instanceof HandleTakenError);
        assert.equal(idText(await env.dir.lookupHandle("contested")), won[0]);
        // removal racing re-registration by the same user and a per-user removal stays consistent
        await Promise.allSettled([env.dir.removeUserHandles(won[0]!), env.dir.registerHandle("other", won[0]!), env.dir.removeHandle("contested")]);
        const left = await env.dir.lookupHandle("other");
        assert.ok(left === undefined || idText(left) === won[0]);
      } finally {
        await env.close();
      }
    });

    it("a record that does not open (tampered or moved) is CorruptRecordError, not another user", async () => {
      const env = await openDirectory(adapter);
      try {
        await env.dir.registerHandle("alice", "alice@a.test");
        await env.dir.registerHandle("bob", "bob@a.test");
        const alice = (await env.store.getHandle(handleStorageKey("alice")))!;
        const bob = (await env.store.getHandle(handleStorageKey("bob")))!;
        assert.ok(alice.sealedUserId.length > 12 + 16);
        // bob's record copied under carol's handle key: sealed to "bob", does not open as "carol"
        await env.store.putHandle(handleStorageKey("carol"), bob);
        await assert.rejects(env.dir.lookupHandle("carol"), CorruptRecordError);
        // one flipped bit in alice's sealed id
        await env.store.deleteHandle(handleStorageKey("alice"));
        const flipped = alice.sealedUserId.slice();
        flipped[flipped.length - 1]! ^= 1;
        await env.store.putHandle(handleStorageKey("alice"), { userKey: alice.userKey, sealedUserId: flipped });
        await assert.rejects(env.dir.lookupHandle("alice"), CorruptRecordError);
        assert.deepEqual(alice.userKey, userStorageKey(te.encode("alice@a.test")));
      } finally {
        await env.close();
      }
    });
  });
}

describe("handle registry on disk (level store)", () => {
  it("persists across reopen and stores neither the handle nor the user id in the clear", async () => {
    const t = await tempDir();
    try {
      let store = await LevelKeyPackageStore.open(t.dir);
      let dir = new KeyPackageDirectory({ store });
      await dir.registerHandle("SecretHandle", "secret-user-id@a.test");
      await store.close();
      let all = Buffer.alloc(0);
      for (const f of await readdir(t.dir)) all = Buffer.concat([all, await readFile(join(t.dir, f)).catch(() => Buffer.alloc(0))]);
      assert.ok(all.length > 0);
      assert.equal(all.indexOf(Buffer.from("secret-user-id")), -1, "a user id is stored in the clear");
      assert.equal(all.indexOf(Buffer.from("secrethandle")), -1, "a handle is stored in the clear");
      assert.notEqual(all.indexOf(Buffer.from(handleStorageKey("secrethandle"))), -1, "its hash is the key");
      store = await LevelKeyPackageStore.open(t.dir);
      dir = new KeyPackageDirectory({ store });
      assert.equal(idText(await dir.lookupHandle("secrethandle")), "secret-user-id@a.test");
      assert.equal(await dir.removeUserHandles("secret-user-id@a.test"), 1);
      await store.close();
    } finally {
      await t.cleanup();
    }
  });

  it("a closed store refuses handle operations with a typed error", async () => {
    const store = new MemoryKeyPackageStore();
    const dir = new KeyPackageDirectory({ store });
    await store.close();
    await assert.rejects(dir.registerHandle("alice", "a"), (e: unknown) => (e as Error).name === "StoreClosedError");
    await assert.rejects(dir.lookupHandle("alice"), (e: unknown) => (e as Error).name === "StoreClosedError");
  });
});
