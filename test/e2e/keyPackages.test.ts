// The KeyPackage directory through the real relay and gateway (draft-mcmillion KeyPackageRequest
// inside OHTTP): a user's three clients upload, a requester with a bearer token fetches,
// pools run dry into keyMaterialExhausted and then last resort, concurrent claims never share
// a KeyPackage, rate limits and revocation, malformed requests change nothing.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ObliviousHttpTransport, fetchKeyConfigs } from "../../src/client/ObliviousHttpTransport.js";
import { lifetimeFor, makeKeyPackage } from "../../src/client/dsMember.js";
import { type RoleProcess, startRole } from "../../src/cli/processes.js";
import { keyPackageMessage, keyPackageTransaction, signUpload } from "../../src/keypackages/index.js";
import { getNodeCiphersuiteImpl } from "../../src/mls/cryptoProvider.js";
import { KeyMaterialClientCode, KeyMaterialUserCode, KeyPackagePool, KeyPackageStatus } from "../../src/protocol/KeyPackageConstants.js";
import { KeyPackageTransactionResponse } from "../../src/protocol/KeyPackageTransactionResponse.js";
import { KeyPackageUploadResponse } from "../../src/protocol/KeyPackageUploadResponse.js";
import { generateEd25519 } from "../../src/util/keygen.js";

const SUITE = 1;
const te = new TextEncoder();

describe("KeyPackage directory through relay and gateway (real processes)", () => {
  let dir: string;
  const procs: RoleProcess[] = [];
  let admin: string;
  let provider: string;
  let transport: ObliviousHttpTransport;

  const adminPost = async (path: string, body: unknown) => {
    const r = await fetch(`${admin}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    assert.equal(r.status, 200, `${path}: ${await r.clone().text()}`);
    return (await r.json()) as Record<string, unknown>;
  };
  const post = async (path: string, body: Uint8Array) => {
    const r = await transport.fetch(`${provider}${path}`, { method: "POST", headers: { "content-type": "application/octet-stream" }, body });
    assert.equal(r.status, 200);
    return r.body;
  };
  const fetchGroup = async (userId: string, token: Uint8Array, lastResort = false) =>
    KeyPackageTransactionResponse.deserialize(await post("/group_key_packages", keyPackageTransaction([{ userId: te.encode(userId), token }], SUITE, lastResort)));
  const mint = async (userId: string, extra: Record<string, unknown> = {}) => Buffer.from((await adminPost("/admin/tokens", { userId, ...extra })).token as string, "hex");

  interface Client {
    user: string;
    id: string;
    key: { publicKey: Uint8Array; privateKey: Uint8Array };
    seq: bigint;
  }
  const register = async (user: string, id: string): Promise<Client> => {
    const key = generateEd25519();
    await adminPost("/admin/clients", { userId: user, clientId: id, publicKey: Buffer.from(key.publicKey).toString("hex") });
    return { user, id, key, seq: 0n };
  };
  const kps = async (n: number) => {
    const cs = await getNodeCiphersuiteImpl("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519");
    const out: Uint8Array[] = [];
    for (let i = 0; i < n; i++) out.push(keyPackageMessage((await makeKeyPackage(cs, randomBytes(16), { qsDomain: "a.test", sealedReference: randomBytes(48) })).publicPackage));
    return out;
  };
  const upload = async (c: Client, items: { kp: Uint8Array; lastResort?: boolean }[]) => {
    const bytes = signUpload({ userId: te.encode(c.user), clientId: te.encode(c.id), sequence: ++c.seq, items: items.map((i) => ({ pool: KeyPackagePool.group, keyPackage: i.kp, lastResort: i.lastResort })), privateKey: c.key.privateKey, publicKey: c.key.publicKey });
    return KeyPackageUploadResponse.deserialize(await post("/key_packages", bytes));
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mimi-kp-e2e-"));
    const p = await startRole("provider", ["provider", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--domain", "a.test", "--data-dir", join(dir, "p")]);
    procs.push(p);
    admin = /provider admin on (\S+)/.exec(p.banner)![1]!;
    provider = p.url;
    const g = await startRole("gateway", ["gateway", "--listen", "127.0.0.1:0", "--target", p.url, "--key-dir", join(dir, "k")]);
    procs.push(g);
    const r = await startRole("relay", ["relay", "--listen", "127.0.0.1:0", "--gateway", `${g.url}/.well-known/ohttp-gateway`]);
    procs.push(r);
    const [config] = await fetchKeyConfigs(`${g.url}/.well-known/ohttp-gateway`);
    transport = new ObliviousHttpTransport({ relayUrl: `${r.url}/`, keyConfig: config! });
  });
  after(async () => {
    for (const p of procs.reverse()) await p.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("serves one KeyPackage per client, then keyMaterialExhausted, then the last resort", async () => {
    const [c1, c2, c3] = [await register("bob", "c1"), await register("bob", "c2"), await register("bob", "c3")] as [Client, Client, Client];
    const [k1, k2, k3, last] = (await kps(4)) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
    assert.equal((await upload(c1, [{ kp: k1 }, { kp: last, lastResort: true }])).status, KeyPackageStatus.ok);
    assert.equal((await upload(c2, [{ kp: k2 }])).status, KeyPackageStatus.ok);
    assert.equal((await upload(c3, [{ kp: k3 }])).status, KeyPackageStatus.ok);
    const token = await mint("bob");
    const first = await fetchGroup("bob", token);
    assert.equal(first.status, KeyPackageStatus.ok);
    assert.equal(first.users[0]!.status, KeyMaterialUserCode.success);
    const served = first.users[0]!.clients.map((c) => (c.status === KeyMaterialClientCode.success ? Buffer.from(c.keyPackage).toString("hex") : ""));
    assert.deepEqual(new Set(served), new Set([k1, k2, k3].map((k) => Buffer.from(k).toString("hex"))));
    const second = await fetchGroup("bob", token);
    const byClient = Object.fromEntries(second.users[0]!.clients.map((c) => [Buffer.from(c.clientId).toString(), c.status]));
    // c1 still has its last resort, which this request did not allow
    assert.deepEqual(byClient, { c1: KeyMaterialClientCode.onlyLastResort, c2: KeyMaterialClientCode.keyMaterialExhausted, c3: KeyMaterialClientCode.keyMaterialExhausted });
    assert.equal(second.users[0]!.status, KeyMaterialUserCode.noCompatibleMaterial);
    const third = await fetchGroup("bob", token, true);
    const c1Answer = third.users[0]!.clients.find((c) => Buffer.from(c.clientId).toString() === "c1")!;
    assert.equal(c1Answer.status, KeyMaterialClientCode.success);
    assert.equal(Buffer.from((c1Answer as { keyPackage: Uint8Array }).keyPackage).toString("hex"), Buffer.from(last).toString("hex"), "the last resort, kept for later");
  });

  it("hands each single-use KeyPackage out at most once under 50 concurrent requests", async () => {
    const c = await register("carol", "phone");
    const mine = await kps(40);
    assert.equal((await upload(c, mine.map((kp) => ({ kp })))).status, KeyPackageStatus.ok);
    const token = await mint("carol", { requests: 1000, windowMs: 60_000 });
    const answers = await Promise.all(Array.from({ length: 50 }, () => fetchGroup("carol", token)));
    const got = answers.flatMap((a) => a.users[0]!.clients).filter((x) => x.status === KeyMaterialClientCode.success).map((x) => Buffer.from((x as { keyPackage: Uint8Array }).keyPackage).toString("hex"));
    assert.equal(got.length, 40, "every KeyPackage served");
    assert.equal(new Set(got).size, 40, "none twice");
  });

  it("refuses a token over its rate limit, and a revoked token exactly like an unknown one", async () => {
    const c = await register("dave", "laptop");
    await upload(c, (await kps(5)).map((kp) => ({ kp })));
    const limited = await mint("dave", { requests: 2, windowMs: 600_000 });
    assert.equal((await fetchGroup("dave", limited)).users[0]!.status, KeyMaterialUserCode.success);
    assert.equal((await fetchGroup("dave", limited)).users[0]!.status, KeyMaterialUserCode.success);
    assert.equal((await fetchGroup("dave", limited)).users[0]!.status, KeyMaterialUserCode.rateLimited);
    const t = await mint("dave");
    assert.equal((await adminPost("/admin/tokens/revoke", { token: t.toString("hex") })).revoked, true);
    const revoked = await post("/group_key_packages", keyPackageTransaction([{ userId: te.encode("dave"), token: t }], SUITE));
    const unknown = await post("/group_key_packages", keyPackageTransaction([{ userId: te.encode("dave"), token: randomBytes(32) }], SUITE));
    assert.deepEqual(revoked, unknown, "no oracle: revoked and never-minted tokens get the same bytes");
    assert.equal(KeyPackageTransactionResponse.deserialize(revoked).users[0]!.status, KeyMaterialUserCode.userUnknown);
  });

  it("never serves an expired KeyPackage", async () => {
    const c = await register("frank", "watch");
    const cs = await getNodeCiphersuiteImpl("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519");
    const short = keyPackageMessage((await makeKeyPackage(cs, randomBytes(16), { qsDomain: "a.test", sealedReference: randomBytes(48) }, undefined, lifetimeFor(Date.now(), 2))).publicPackage);
    assert.equal((await upload(c, [{ kp: short }])).status, KeyPackageStatus.ok);
    await new Promise((r) => setTimeout(r, 3200));
    const got = await fetchGroup("frank", await mint("frank"));
    assert.notEqual(got.users[0]!.status, KeyMaterialUserCode.success);
    assert.ok(got.users[0]!.clients.every((x) => x.status !== KeyMaterialClientCode.success), "the expired KeyPackage was not served");
  });

  it("answers malformed uploads and requests with a typed status and changes nothing", async () => {
    const c = await register("erin", "tablet");
    const [k] = await kps(1);
    await upload(c, [{ kp: k! }]);
    for (const path of ["/group_key_packages", "/connection_key_packages"]) {
      // right version, garbage after it
      const r = KeyPackageTransactionResponse.deserialize(await post(path, new Uint8Array([0, 1, 0xff, 0xff, 0xff])));
      assert.equal(r.status, KeyPackageStatus.malformed);
    }
    const badUpload = KeyPackageUploadResponse.deserialize(await post("/key_packages", new Uint8Array([0, 1, 0xff, 0xff])));
    assert.equal(badUpload.status, KeyPackageStatus.malformed);
    // a tampered upload signature is refused too, and erin's one KeyPackage is still there
    const bytes = signUpload({ userId: te.encode("erin"), clientId: te.encode("tablet"), sequence: ++c.seq, items: [{ pool: KeyPackagePool.group, keyPackage: (await kps(1))[0]! }], privateKey: c.key.privateKey, publicKey: c.key.publicKey });
    bytes[bytes.length - 1]! ^= 1;
    assert.notEqual(KeyPackageUploadResponse.deserialize(await post("/key_packages", bytes)).status, KeyPackageStatus.ok);
    const got = await fetchGroup("erin", await mint("erin"));
    assert.equal(got.users[0]!.status, KeyMaterialUserCode.success);
    assert.deepEqual(Buffer.from((got.users[0]!.clients[0] as { keyPackage: Uint8Array }).keyPackage), Buffer.from(k!));
  });
});
