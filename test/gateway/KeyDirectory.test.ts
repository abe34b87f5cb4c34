import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { KeyDirectoryError, MANIFEST_FILE, listKeys, loadKeys, rotateKeys } from "../../gateway/KeyDirectory.js";

describe("gateway key directory", () => {
  const dirs: string[] = [];
  const fresh = async () => {
    const d = await mkdtemp(join(tmpdir(), "mimi-keys-"));
    dirs.push(d);
    return join(d, "keys");
  };
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("creates a first key in an empty directory, private to the owner", async () => {
    const dir = await fresh();
    const k = await loadKeys(dir);
    assert.equal(k.accepted.length, 1);
    assert.equal(k.active.config.publicKey.length, 32);
    assert.equal((await stat(join(dir, MANIFEST_FILE))).mode & 0o777, 0o600);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    const again = await loadKeys(dir);
    assert.deepEqual(again.active.config.serialize(), k.active.config.serialize(), "keys persist across loads");
  });

  it("rotation publishes a new key, keeps the old one accepted, then retires it", async () => {
    const dir = await fresh();
    const t0 = Date.now();
    const first = await loadKeys(dir, t0);
    const r = await rotateKeys(dir, { retentionSeconds: 60, now: t0 });
    assert.notEqual(r.keyId, first.active.keyId);
    assert.deepEqual(r.retiring, [first.active.keyId]);
    const during = await loadKeys(dir, t0 + 30_000);
    assert.equal(during.active.keyId, r.keyId);
    assert.deepEqual(during.accepted.map((k) => k.keyId), [r.keyId, first.active.keyId]);
    const states = await listKeys(dir, t0 + 30_000);
    assert.deepEqual(states.map((s) => s.state), ["retiring", "active"]);
    const later = await loadKeys(dir, t0 + 61_000);
    assert.deepEqual(later.accepted.map((k) => k.keyId), [r.keyId]);
  });

  it("refuses a corrupted manifest with a typed error instead of replacing keys", async () => {
    const dir = await fresh();
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, MANIFEST_FILE), "{not json");
    await assert.rejects(loadKeys(dir), KeyDirectoryError);
    await writeFile(join(dir, MANIFEST_FILE), JSON.stringify({ version: 1, keys: [{ keyId: 300, privateKey: "00", createdAt: "x" }] }));
    await assert.rejects(loadKeys(dir), KeyDirectoryError);
    assert.equal(await readFile(join(dir, MANIFEST_FILE), "utf8").then((s) => s.includes("300")), true, "left untouched");
  });
});
