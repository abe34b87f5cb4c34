// ARCHITECTURE.md s3 "Concurrency": nothing acknowledged is lost. The DS answers a send_message
// only once its fanout is durable; when the provider's QS cannot take it, the sender is told to
// retry (temporarily_unavailable) instead of getting an ok for a message nobody will receive.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { DsHttpClient } from "../../src/client/DsHttpClient.js";
import { anonymous, commitRequest, createGroupRequest, sendMessageRequest } from "../../src/client/dsMember.js";
import { DEMO_SUITE, DemoMember, okBody } from "../../src/demo/DemoMember.js";
import { getNodeCiphersuiteImpl } from "../../src/mls/cryptoProvider.js";
import { DSRequestType, DSResponseType } from "../../src/protocol/constants.js";
import { DSErrorCode } from "../../src/protocol/errors.js";
import { createProvider } from "../../src/server/Provider.js";
import { directTransport } from "./fanoutKit.js";

describe("send_message and the durability of its fanout", () => {
  it("answers temporarily_unavailable, not ok, when the local QS cannot enqueue the message", async () => {
    const dir = await mkdtemp(join(tmpdir(), "mimi-sink-"));
    const provider = await createProvider({ domain: "a.test", dataDir: dir });
    try {
      const { url } = await provider.listen("127.0.0.1", 0);
      const cs = await getNodeCiphersuiteImpl(DEMO_SUITE);
      const ds = new DsHttpClient(directTransport, url);
      const link = { transport: directTransport, origin: url };
      const alice = await DemoMember.create("alice", cs, link, "a.test");
      const bob = await DemoMember.create("bob", cs, link, "a.test");
      const key = okBody(await ds.send(anonymous({ type: DSRequestType.signature_public_key })), "signature_public_key");
      const gid = okBody(await ds.send(anonymous({ type: DSRequestType.request_group_id })), "request_group_id");
      if (key.type !== DSResponseType.signature_public_key || gid.type !== DSResponseType.group_id) throw new Error("unexpected answer");
      const created = await createGroupRequest({ cs, groupId: gid.groupId, keyPackage: await alice.keyPackage(), user: alice.user, ds: { signaturePublicKey: key.signaturePublicKey, domain: "a.test" } });
      okBody(await ds.send(created.request), "create_group");
      const add = await commitRequest(created.state, cs, { type: DSRequestType.add_users, addedUsers: [{ userAuthKey: bob.user.publicKey, clientCount: 1 }] }, [
        { proposalType: "add", add: { keyPackage: (await bob.keyPackage()).publicPackage } },
      ]);
      okBody(await ds.send(add.request), "add_users");
      alice.state = add.newState;

      const ok = await sendMessageRequest(alice.state, cs, new TextEncoder().encode("stored"));
      okBody(await ds.send(ok.request), "send_message");
      alice.state = ok.newState;

      // the queue store fails (here: it is gone); the DS state is fine
      await provider.qs.store.close();
      const lost = await sendMessageRequest(alice.state, cs, new TextEncoder().encode("not stored"));
      const res = await ds.send(lost.request);
      assert.equal(res.body.type, DSResponseType.error);
      assert.ok(res.body.type === DSResponseType.error && res.body.code === DSErrorCode.temporarily_unavailable, "the sender is told to retry");
    } finally {
      await provider.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
