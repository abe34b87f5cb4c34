// ARCHITECTURE s1: the DS must not be able to link one client across two groups. The same
// client (one queue, one user) joins two groups; nothing the DS stores or sees about its two
// leaves is equal: queue config bytes, signature key, credential, HPKE key, user key hash.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { createGroupRequest, deriveEarKey, externalCommitInfoRequest, generateUserAuthKey, makeKeyPackage } from "../../src/client/dsMember.js";
import { DsHttpClient, type FetchLike } from "../../src/client/DsHttpClient.js";
import { QueueClient } from "../../src/client/QueueClient.js";
import { createProvider } from "../../src/server/Provider.js";
import { getNodeCiphersuiteImpl } from "../../src/mls/cryptoProvider.js";
import { DSRequestType, DSResponseType } from "../../src/protocol/constants.js";
import { anonymous } from "../../src/client/dsMember.js";

/** A direct transport to the provider (the OHTTP chain is tested elsewhere). */
const direct: FetchLike = {
  async fetch(url, init) {
    const r = await fetch(url, { method: init.method, headers: init.headers, body: init.body as Uint8Array<ArrayBuffer> | undefined });
    const body = new Uint8Array(await r.arrayBuffer());
    return { status: r.status, headers: [], body, header: (n) => r.headers.get(n) ?? undefined };
  },
};

describe("one client in two groups is unlinkable for the DS", () => {
  it("gives the DS different queue-config bytes, keys and credentials in each group", async () => {
    const dir = await mkdtemp(join(tmpdir(), "mimi-unlink-"));
    const p = await createProvider({ domain: "a.test", dataDir: dir });
    const { url } = await p.listen("127.0.0.1", 0);
    try {
      const cs = await getNodeCiphersuiteImpl("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519");
      const ds = new DsHttpClient(direct, url);
      const sig = await ds.send(anonymous({ type: DSRequestType.signature_public_key }));
      assert.equal(sig.body.type, DSResponseType.signature_public_key);
      const dsKey = (sig.body as { signaturePublicKey: Uint8Array }).signaturePublicKey;
      const queue = await QueueClient.create(direct, url, "a.test");
      const leaves = [];
      for (let g = 0; g < 2; g++) {
        const groupId = randomBytes(32);
        // a fresh KeyPackage (fresh pseudonym, keys and sealed reference) and a per-group user key
        const kp = await makeKeyPackage(cs, randomBytes(16), await queue.newQueueConfig());
        const c = await createGroupRequest({ cs, groupId, keyPackage: kp, user: generateUserAuthKey(), ds: { signaturePublicKey: dsKey, domain: "a.test" } });
        assert.equal((await ds.send(c.request)).body.type, DSResponseType.ok);
        const info = await ds.send(externalCommitInfoRequest(groupId, await deriveEarKey(c.state, cs)));
        assert.equal(info.body.type, DSResponseType.external_commit_info);
        const tree = (info.body as { ratchetTree: { value: { nodeType: string; leaf: { signaturePublicKey: Uint8Array; hpkePublicKey: Uint8Array; credential: { identity: Uint8Array }; extensions: { extensionData: Uint8Array }[] } }[] } }).ratchetTree.value;
        leaves.push(tree[0]!.leaf);
      }
      const [x, y] = leaves as [(typeof leaves)[0], (typeof leaves)[0]];
      const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
      assert.notEqual(hex(x.extensions[0]!.extensionData), hex(y.extensions[0]!.extensionData), "queue configs differ");
      assert.notEqual(hex(x.signaturePublicKey), hex(y.signaturePublicKey));
      assert.notEqual(hex(x.hpkePublicKey), hex(y.hpkePublicKey));
      assert.notEqual(hex(x.credential.identity), hex(y.credential.identity));
      // (that both sealed references open to the same queue is proven in test/qs/lifecycle.test.ts)
    } finally {
      await p.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
