// Every DS operation with real ts-mls clients: the draft's flows end to end against the DS
// class (transport-independent), checking what each member ends up with.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import {
  commitRequest,
  createGroupRequest,
  deriveEarKey,
  externalJoinRequest,
  leafIndexOf,
  selfRemoveRequest,
  sendMessageRequest,
  anonymous,
} from "../../src/client/dsMember.js";
import { makeKeyPackageRef } from "../../src/mls/adapter.js";
import { DSRequestType, DSResponseType } from "../../src/protocol/constants.js";
import { DSErrorCode } from "../../src/protocol/errors.js";
import { Harness } from "./harness.js";

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

describe("Delivery Service operations (draft-robert-mimi-delivery-service s4) with ts-mls clients", () => {
  it("runs a group through create, add users, messages, update, add/remove clients, self-remove, external join, resync and delete", async () => {
    const h = await new Harness().init();
    const alice = h.user("alice", 2);
    const bob = h.user("bob", 1, "b.test");
    const carol = h.user("carol", 1);
    const [a1, a2] = alice.clients as [typeof alice.clients[0], typeof alice.clients[0]];
    const b1 = bob.clients[0]!;
    const c1 = carol.clients[0]!;

    // request_group_id, then create_group
    const gid = await h.ok(anonymous({ type: DSRequestType.request_group_id }));
    assert.equal(gid.response.body.type, DSResponseType.group_id);
    const groupId = (gid.response.body as { groupId: Uint8Array }).groupId;
    const a1kp = await a1.newKeyPackage();
    const created = await createGroupRequest({ cs: h.cs, groupId, keyPackage: a1kp, user: alice.auth, ds: h.identity, rbac: true });
    await h.ok(created.request);
    a1.state = created.state;
    // creating the same id again is refused
    await h.fails((await createGroupRequest({ cs: h.cs, groupId, keyPackage: await a1.newKeyPackage(), user: alice.auth, ds: h.identity })).request, DSErrorCode.invalid_group_id);

    // add_users: bob (guest provider b.test) and carol, one Welcome per provider
    const bkp = await b1.newKeyPackage();
    const ckp = await c1.newKeyPackage();
    const refDomain = new Map<string, string>();
    refDomain.set(Buffer.from(await makeKeyPackageRef(bkp.publicPackage, h.cs.hash)).toString("hex"), "b.test");
    refDomain.set(Buffer.from(await makeKeyPackageRef(ckp.publicPackage, h.cs.hash)).toString("hex"), "a.test");
    const add = await commitRequest(a1.state!, h.cs, { type: DSRequestType.add_users, addedUsers: [{ userAuthKey: bob.auth.publicKey, clientCount: 1 }, { userAuthKey: carol.auth.publicKey, clientCount: 1 }], domainOfRef: (r) => refDomain.get(Buffer.from(r).toString("hex"))! }, [
      { proposalType: "add", add: { keyPackage: bkp.publicPackage } },
      { proposalType: "add", add: { keyPackage: ckp.publicPackage } },
    ]);
    const addRes = await h.ok(add.request);
    assert.equal(addRes.fanout.filter((f) => f.sealedJoinerKey).length, 2, "two Welcome deliveries with sealed keys");
    a1.state = add.newState;
    await h.joinFromWelcome(b1, bkp, groupId);
    await h.joinFromWelcome(c1, ckp, groupId);
    assert.equal(b1.state!.groupContext.epoch, 1n);

    // application messages: everyone but the sender gets it
    const msg = await sendMessageRequest(b1.state!, h.cs, text("hello from bob"));
    b1.state = msg.newState;
    const sent = await h.ok(msg.request);
    assert.equal(sent.fanout.length, 2);
    assert.deepEqual((await h.drain(a1)).map(str), ["hello from bob"]);
    assert.deepEqual((await h.drain(c1)).map(str), ["hello from bob"]);

    // update_client by carol
    const upd = await commitRequest(c1.state!, h.cs, { type: DSRequestType.update_client });
    await h.ok(upd.request);
    c1.state = upd.newState;
    await h.drain(a1);
    await h.drain(b1);
    assert.equal(a1.state!.groupContext.epoch, 2n);
    assert.deepEqual(await deriveEarKey(a1.state!, h.cs), await deriveEarKey(b1.state!, h.cs));

    // add_clients: alice adds her second client
    const a2kp = await a2.newKeyPackage();
    const addc = await commitRequest(a1.state!, h.cs, { type: DSRequestType.add_clients }, [{ proposalType: "add", add: { keyPackage: a2kp.publicPackage } }]);
    await h.ok(addc.request);
    a1.state = addc.newState;
    await h.joinFromWelcome(a2, a2kp, groupId);
    await h.drain(b1);
    await h.drain(c1);

    // remove_clients: alice removes a2 again
    const rmc = await commitRequest(a1.state!, h.cs, { type: DSRequestType.remove_clients }, [{ proposalType: "remove", remove: { removed: leafIndexOf(a2.state!) } }]);
    await h.ok(rmc.request);
    a1.state = rmc.newState;
    await h.drain(b1);
    await h.drain(c1);
    a2.inbox.length = 0;

    // external join: alice's second client comes back by external commit, signed as alice
    const earKey = await deriveEarKey(a1.state!, h.cs);
    const info = await h.externalInfo(groupId, earKey);
    const ej = await externalJoinRequest({ cs: h.cs, groupInfo: info.groupInfo, ratchetTree: info.ratchetTree, keyPackage: await a2.newKeyPackage(), earKey, resync: false, user: alice.auth, asNewUser: false });
    await h.ok(ej.request);
    a2.state = ej.newState;
    for (const c of [a1, b1, c1]) await h.drain(c);
    assert.equal(a1.state!.groupContext.epoch, a2.state!.groupContext.epoch);

    // self_remove_client by carol, committed by alice (by reference) in a remove_users-free update
    const sr = await selfRemoveRequest(c1.state!, h.cs);
    await h.ok(sr.request);
    for (const c of [a1, a2, b1]) await h.drain(c);
    const cover = await commitRequest(a1.state!, h.cs, { type: DSRequestType.update_client });
    await h.ok(cover.request);
    a1.state = cover.newState;
    for (const c of [a2, b1]) await h.drain(c);
    c1.inbox.length = 0;
    assert.equal(a1.state.ratchetTree.filter((n) => n?.nodeType === "leaf").length, 3);

    // resync: bob lost his state and rejoins, replacing his old leaf
    const ek2 = await deriveEarKey(a1.state!, h.cs);
    const info2 = await h.externalInfo(groupId, ek2);
    const oldLeaf = b1.state!.ratchetTree[leafIndexOf(b1.state!) * 2] as { leaf: { credential: { identity: Uint8Array }; signaturePublicKey: Uint8Array } };
    const sameClient = await b1.newKeyPackage(oldLeaf.leaf.credential.identity, { signKey: b1.state!.signaturePrivateKey, publicKey: oldLeaf.leaf.signaturePublicKey });
    const rs = await externalJoinRequest({ cs: h.cs, groupInfo: info2.groupInfo, ratchetTree: info2.ratchetTree, keyPackage: sameClient, earKey: ek2, resync: true, user: bob.auth, asNewUser: false });
    await h.ok(rs.request);
    b1.inbox.length = 0;
    b1.state = rs.newState;
    for (const c of [a1, a2]) await h.drain(c);
    assert.equal(a1.state!.ratchetTree.filter((n) => n?.nodeType === "leaf").length, 3);

    // remove_users: alice removes bob
    const rmu = await commitRequest(a1.state!, h.cs, { type: DSRequestType.remove_users }, [{ proposalType: "remove", remove: { removed: leafIndexOf(b1.state!) } }]);
    await h.ok(rmu.request);
    a1.state = rmu.newState;
    await h.drain(a2);
    // bob can no longer send
    const late = await sendMessageRequest(b1.state!, h.cs, text("still here?"));
    await h.fails(late.request, DSErrorCode.stale_or_wrong_key);

    // delete_group: alice removes everyone else and the DS forgets the group
    const del = await commitRequest(a1.state!, h.cs, { type: DSRequestType.delete_group }, [{ proposalType: "remove", remove: { removed: leafIndexOf(a2.state!) } }]);
    await h.ok(del.request);
    assert.equal(await h.store.getHead(groupId), undefined);
    const after = await sendMessageRequest(a1.state!, h.cs, text("anyone?"));
    await h.fails(after.request, DSErrorCode.unknown_group);
    void randomBytes;
  });
});
