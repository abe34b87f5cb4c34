// Storage at rest (ARCHITECTURE s1 "storage at rest (a stolen DB) sees ciphertext, coarse
// sizes/timestamps" and s3 "Group state at rest"): after a realistic run of the DS on the
// embedded LevelDB store, no byte of any LevelDB file (write-ahead log, tables, manifest, logs)
// contains an identifier: group id, leaf signature keys, pseudonymous credentials, queue
// configs and their sealed references, user auth keys (or their hashes), group-state keys,
// neither raw nor as hex or base64. A control marker written in plaintext next to the DS data
// IS found, so the scan can fail.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Level } from "level";
import { commitRequest, deriveEarKey, externalJoinRequest, leafIndexOf, selfRemoveRequest, sendMessageRequest } from "../../src/client/dsMember.js";
import { decodeClientQueueConfig, leafQueueConfig } from "../../src/protocol/ClientQueueConfig.js";
import { DSRequestType } from "../../src/protocol/constants.js";
import { LevelGroupStore } from "../../src/store/index.js";
import { addClients, drainAll, joined, keyPackagesFor, text, update, world, type World } from "./kit.js";

type Bytes = Uint8Array;
const hex = (b: Bytes) => Buffer.from(b).toString("hex");

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else out.push(p);
  }
  return out;
}

/** Every needle found in any file of `dir`, as raw bytes, lower/upper hex or base64. */
async function scan(dir: string, needles: Map<string, Bytes>): Promise<{ found: string[]; files: number; bytes: number }> {
  const files = await filesUnder(dir);
  const contents = await Promise.all(files.map((f) => readFile(f)));
  const found: string[] = [];
  for (const [name, n] of needles) {
    const forms: [string, Buffer][] = [
      ["raw", Buffer.from(n)],
      ["hex", Buffer.from(hex(n), "latin1")],
      ["HEX", Buffer.from(hex(n).toUpperCase(), "latin1")],
      ["base64", Buffer.from(Buffer.from(n).toString("base64").replace(/=+$/, ""), "latin1")],
      ["base64url", Buffer.from(Buffer.from(n).toString("base64url"), "latin1")],
    ];
    for (const [form, needle] of forms) {
      for (const [i, c] of contents.entries()) if (c.includes(needle)) found.push(`${name} (${form}) in ${files[i]!.slice(dir.length + 1)}`);
    }
  }
  return { found, files: files.length, bytes: contents.reduce((s, c) => s + c.length, 0) };
}

/** Everything the DS handled in `w` that identifies a group, member, user, queue or key. */
async function secretsOf(w: World, earKeys: Map<string, Bytes>): Promise<Map<string, Bytes>> {
  const s = new Map<string, Bytes>();
  s.set("group id", w.groupId);
  for (const [i, kp] of w.h.keyPackages.entries()) {
    const leaf = kp.publicPackage.leafNode;
    s.set(`signature key #${i}`, leaf.signaturePublicKey);
    s.set(`credential #${i}`, (leaf.credential as { identity: Bytes }).identity);
    const qc = leafQueueConfig(leaf)!;
    s.set(`queue config #${i}`, qc);
    s.set(`sealed queue reference #${i}`, decodeClientQueueConfig(qc).sealedReference);
    s.set(`HPKE init key #${i}`, kp.publicPackage.initKey);
  }
  for (const u of [w.alice, w.bob, w.carol, w.dave]) {
    s.set(`user auth key ${u.name}`, u.auth.publicKey);
    s.set(`user key hash ${u.name}`, createHash("sha256").update(u.auth.publicKey).digest());
  }
  for (const [k, v] of earKeys) s.set(`EAR key ${k}`, v);
  // signature keys also from the members' trees (every leaf, whatever made it)
  for (const c of joined(w)) {
    for (const [i, n] of c.state!.ratchetTree.entries()) if (n?.nodeType === "leaf") s.set(`tree leaf ${i} of ${c.name}`, n.leaf.signaturePublicKey);
  }
  return s;
}

describe("group state at rest on LevelDB (ARCHITECTURE s1, s3 \"Group state at rest\")", () => {
  it("no identifier or key appears in any file of the database; a plaintext control marker does", async () => {
    const dir = await mkdtemp(join(tmpdir(), "mimi-ds-scan-"));
    const open = async () => {
      const root = new Level<Bytes, Bytes>(dir, { keyEncoding: "view", valueEncoding: "view" });
      await root.open();
      return root;
    };
    let root = await open();
    try {
      const store = LevelGroupStore.fromDb(root);
      const earKeys = new Map<string, Bytes>();
      const noteKeys = async (w: World) => {
        for (const c of joined(w)) earKeys.set(`epoch ${c.state!.groupContext.epoch}`, await deriveEarKey(c.state!, w.h.cs));
      };

      // create; add bob (2 clients, guest provider) and carol
      const w = await world({ store, members: ["bob", "carol"] });
      await noteKeys(w);
      // messages
      for (const c of [w.a1, w.b1, w.c1]) {
        const m = await sendMessageRequest(c.state!, w.h.cs, text(`hello from ${c.name}`));
        c.state = m.newState;
        await w.h.ok(m.request);
        await drainAll(w, c);
      }
      // commits: updates, add a client, remove it, self-remove and its cover
      await update(w, w.b2);
      await noteKeys(w);
      await addClients(w, w.a1, [w.a2]);
      await noteKeys(w);
      const rmc = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.remove_clients }, [{ proposalType: "remove", remove: { removed: leafIndexOf(w.a2.state!) } }]);
      await w.h.ok(rmc.request);
      w.a1.state = rmc.newState;
      w.a2.state = undefined;
      await drainAll(w, w.a1);
      await noteKeys(w);
      await w.h.ok((await selfRemoveRequest(w.c1.state!, w.h.cs)).request);
      await drainAll(w, w.c1);
      w.c1.state = undefined;
      await update(w, w.a1);
      await noteKeys(w);
      // an external join by a new user (dave)
      const ek = await deriveEarKey(w.a1.state!, w.h.cs);
      const info = await w.h.externalInfo(w.groupId, ek);
      const ej = await externalJoinRequest({ cs: w.h.cs, groupInfo: info.groupInfo, ratchetTree: info.ratchetTree, keyPackage: await w.d1.newKeyPackage(), earKey: ek, resync: false, user: w.dave.auth, asNewUser: true });
      await w.h.ok(ej.request);
      w.d1.state = ej.newState;
      await drainAll(w, w.d1);
      await noteKeys(w);
      // carol comes back by Welcome but never fetches welcome_info: her joiner record stays
      const { kps } = await keyPackagesFor(w, [w.c1]);
      const add = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.add_users, addedUsers: [{ userAuthKey: w.carol.auth.publicKey, clientCount: 1 }] }, [{ proposalType: "add", add: { keyPackage: kps[0]!.publicPackage } }]);
      await w.h.ok(add.request);
      w.a1.state = add.newState;
      await drainAll(w, w.a1);
      await noteKeys(w);
      const m = await sendMessageRequest(w.d1.state!, w.h.cs, text("last words"));
      await w.h.ok(m.request);
      assert.ok((await store.getHead(w.groupId))!.epoch >= 6n);

      // control markers, written in plaintext next to the DS's data
      const control = randomBytes(32);
      const controlHex = randomBytes(32);
      const side = root.sublevel<Bytes, Bytes>("control", { keyEncoding: "view", valueEncoding: "view" });
      await side.put(randomBytes(8), control);
      await side.put(randomBytes(8), Buffer.from(hex(controlHex), "latin1"));

      const secrets = await secretsOf(w, earKeys);
      assert.ok(secrets.size > 40, `${secrets.size} identifiers to look for`);
      await store.close();
      await root.close();

      const controls = new Map([["control", control], ["control-hex", controlHex]]);
      // 1) as the run left it: everything ever written is still in the write-ahead log
      const first = await scan(dir, secrets);
      assert.deepEqual(first.found, []);
      const c1 = await scan(dir, controls);
      assert.ok(c1.found.some((f) => f.startsWith("control (raw)")), "the raw control marker is found");
      assert.ok(c1.found.some((f) => f.startsWith("control-hex (hex)")), "the hex control marker is found");
      // 2) after a full compaction into (snappy-compressed) tables
      root = await open();
      // `level` is classic-level on Node; its typings do not carry compactRange
      await (root as unknown as { compactRange(start: Bytes, end: Bytes): Promise<void> }).compactRange(Uint8Array.of(0), new Uint8Array(64).fill(0xff));
      await root.close();
      const second = await scan(dir, secrets);
      assert.deepEqual(second.found, []);
      const c2 = await scan(dir, controls);
      assert.ok(c2.found.some((f) => f.startsWith("control (raw)")));
      assert.ok(first.files > 0 && first.bytes > 10_000, `scanned ${first.files} files, ${first.bytes} bytes`);
    } finally {
      await root.close().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    }
  });
});
