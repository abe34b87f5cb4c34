// ARCHITECTURE.md s3 "Opaque queue configurations": a QS that rejects a queue reference causes
// the DS to issue a Remove proposal as external sender and to refuse application messages and
// commits until a commit covers it. Driven through a real provider (DS + QS + the fanout sink
// of qsWiring) on loopback with ts-mls clients whose queues live at that provider's QS.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DsHttpClient } from "../../src/client/DsHttpClient.js";
import { anonymous, commitRequest, createGroupRequest, sendMessageRequest } from "../../src/client/dsMember.js";
import { DEMO_SUITE, DemoMember, okBody } from "../../src/demo/DemoMember.js";
import { getNodeCiphersuiteImpl } from "../../src/mls/cryptoProvider.js";
import { DSRequestType, DSResponseType } from "../../src/protocol/constants.js";
import { DSErrorCode } from "../../src/protocol/errors.js";
import { createProvider, type RunningProvider } from "../../src/server/Provider.js";
import { directTransport } from "./fanoutKit.js";

const te = new TextEncoder();

describe("invalid queue reference -> DS Remove proposal (draft s\"Handling of MLS Proposals by reference\")", () => {
  let dir: string;
  let provider: RunningProvider;
  let url: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mimi-invalidref-"));
    provider = await createProvider({ domain: "a.test", dataDir: dir });
    url = (await provider.listen("127.0.0.1", 0)).url;
  });
  after(async () => {
    await provider.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("a member whose queue was deleted at the QS is proposed for removal by the DS; messages are refused (pending_removal) until a commit covers it", async () => {
    const cs = await getNodeCiphersuiteImpl(DEMO_SUITE);
    const link = { transport: directTransport, origin: url };
    const ds = new DsHttpClient(directTransport, url);
    const alice = await DemoMember.create("alice", cs, link, "a.test");
    const bob = await DemoMember.create("bob", cs, link, "a.test");
    const carol = await DemoMember.create("carol", cs, link, "a.test");

    // alice creates the group and adds bob and carol by Welcome
    const key = okBody(await ds.send(anonymous({ type: DSRequestType.signature_public_key })), "signature_public_key");
    assert.equal(key.type, DSResponseType.signature_public_key);
    const gid = okBody(await ds.send(anonymous({ type: DSRequestType.request_group_id })), "request_group_id");
    assert.equal(gid.type, DSResponseType.group_id);
    if (key.type !== DSResponseType.signature_public_key || gid.type !== DSResponseType.group_id) return;
    const groupId = gid.groupId;
    const created = await createGroupRequest({ cs, groupId, keyPackage: await alice.keyPackage(), user: alice.user, ds: { signaturePublicKey: key.signaturePublicKey, domain: "a.test" } });
    okBody(await ds.send(created.request), "create_group");
    alice.state = created.state;
    const kps = [await bob.keyPackage(), await carol.keyPackage()];
    const add = await commitRequest(
      alice.state,
      cs,
      { type: DSRequestType.add_users, addedUsers: [bob, carol].map((m) => ({ userAuthKey: m.user.publicKey, clientCount: 1 })) },
      kps.map((kp) => ({ proposalType: "add" as const, add: { keyPackage: kp.publicPackage } })),
    );
    okBody(await ds.send(add.request), "add_users");
    alice.state = add.newState;
    for (const m of [bob, carol]) {
      const c = await m.catchUp();
      assert.equal(c.welcomes.length, 1, `${m.name} got its Welcome through its queue`);
      await m.joinFromWelcome(c.welcomes[0]!, ds, groupId);
      assert.equal(m.epoch, alice.epoch);
    }
    const carolLeaf = carol.leafIndex;

    // carol's queue disappears at the QS (her client deleted it, or the QS expired it)
    assert.equal(await provider.qs.store.deleteQueue(carol.queue.queueId), true);

    // alice's next message: the QS refuses carol's reference, the DS proposes her removal
    const m1 = await sendMessageRequest(alice.state, cs, te.encode("who is still here?"));
    okBody(await ds.send(m1.request), "send_message");
    alice.state = m1.newState;

    // bob has not read his queue yet: his message and his commit leave the proposal out
    const early = await sendMessageRequest(bob.state!, cs, te.encode("too early"));
    const refusedMsg = await ds.send(early.request);
    assert.ok(refusedMsg.body.type === DSResponseType.error && refusedMsg.body.code === DSErrorCode.pending_removal, "send_message refused with pending_removal");
    const blind = await commitRequest(bob.state!, cs, { type: DSRequestType.update_client });
    const refusedCommit = await ds.send(blind.request);
    assert.ok(refusedCommit.body.type === DSResponseType.error && refusedCommit.body.code === DSErrorCode.pending_removal, "a commit without the proposal is refused");

    // members receive the DS's proposal through their queues
    const b = await bob.catchUp();
    assert.deepEqual(b.texts, ["who is still here?"]);
    assert.equal(b.dsProposals, 1, "bob received the DS's Remove proposal (external sender)");
    const a = await alice.catchUp();
    assert.equal(a.dsProposals, 1, "alice received it too");
    const pending = alice.state!.unappliedProposals;
    const removes = Object.values(pending).filter((p) => p.proposal.proposalType === "remove");
    assert.equal(removes.length, 1);
    assert.equal((removes[0]!.proposal as { remove: { removed: number } }).remove.removed, carolLeaf, "the proposal removes carol's leaf");

    // alice's commit covers the proposal: accepted, carol's leaf is blank afterwards
    const cover = await commitRequest(alice.state!, cs, { type: DSRequestType.update_client });
    okBody(await ds.send(cover.request), "update_client");
    alice.state = cover.newState;
    assert.equal(alice.state.ratchetTree[carolLeaf * 2], undefined, "carol is removed");
    const b2 = await bob.catchUp();
    assert.equal(b2.handshakes, 1);
    assert.equal(bob.epoch, alice.epoch);

    // messages flow again
    const m2 = await sendMessageRequest(bob.state!, cs, te.encode("back to normal"));
    okBody(await ds.send(m2.request), "send_message");
    bob.state = m2.newState;
    assert.deepEqual((await alice.catchUp()).texts, ["back to normal"]);
  });
});
