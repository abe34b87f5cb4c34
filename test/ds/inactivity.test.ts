import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { commitRequest, createGroupRequest, leafIndexOf, sendMessageRequest } from "../../src/client/dsMember.js";
import { DeliveryService } from "../../src/ds/DeliveryService.js";
import { decodeMlsMessage } from "../../src/mls/adapter.js";
import { DSRequestType } from "../../src/protocol/constants.js";
import { DSErrorCode } from "../../src/protocol/errors.js";
import { Harness } from "./harness.js";

describe("DS-issued removal of inactive clients (draft s\"Client removals induced by the Delivery Service\")", () => {
  it("proposes the removal of a member whose keys are older than the limit, after the next commit", async () => {
    let now = Date.now();
    const h = await new Harness().init();
    // the harness's DS, with a clock and an inactivity limit of 30 days
    (h as unknown as { ds: DeliveryService }).ds = new DeliveryService({ store: h.store, identity: h.identity, inactiveClientDays: 30, now: () => now });
    const alice = h.user("alice", 1);
    const bob = h.user("bob", 1);
    const [a1, b1] = [alice.clients[0]!, bob.clients[0]!];
    const groupId = randomBytes(32);
    const created = await createGroupRequest({ cs: h.cs, groupId, keyPackage: await a1.newKeyPackage(), user: alice.auth, ds: h.identity });
    await h.ok(created.request);
    a1.state = created.state;
    const bkp = await b1.newKeyPackage();
    const add = await commitRequest(a1.state, h.cs, { type: DSRequestType.add_users, addedUsers: [{ userAuthKey: bob.auth.publicKey, clientCount: 1 }] }, [{ proposalType: "add", add: { keyPackage: bkp.publicPackage } }]);
    await h.ok(add.request);
    a1.state = add.newState;
    await h.joinFromWelcome(b1, bkp, groupId);

    // 20 days later alice updates: nobody is past the 30-day limit yet
    now += 20 * 86_400_000;
    const u1 = await commitRequest(a1.state, h.cs, { type: DSRequestType.update_client });
    const r1 = await h.ok(u1.request);
    a1.state = u1.newState;
    await h.drain(b1);
    assert.equal(r1.fanout.length, 1, "only the commit, to bob");

    // 40 days after bob joined, alice updates again: bob never refreshed his keys
    now += 20 * 86_400_000;
    const u2 = await commitRequest(a1.state, h.cs, { type: DSRequestType.update_client });
    const r2 = await h.ok(u2.request);
    a1.state = u2.newState;
    const proposals = r2.fanout.filter((f) => {
      const m = decodeMlsMessage(f.message, 0)![0];
      return m.wireformat === "mls_public_message" && m.publicMessage.content.sender.senderType === "external";
    });
    assert.ok(proposals.length >= 1, "a Remove proposal from the DS was fanned out");
    // until a commit covers it, messages are refused (made before alice processed the proposal:
    // ts-mls itself will not send with unapplied proposals)
    await h.fails((await sendMessageRequest(a1.state!, h.cs, new Uint8Array([1]))).request, DSErrorCode.pending_removal);
    await h.drain(a1);
    const cover = await commitRequest(a1.state!, h.cs, { type: DSRequestType.update_client });
    await h.ok(cover.request);
    a1.state = cover.newState;
    assert.equal(a1.state.ratchetTree[leafIndexOf(b1.state!) * 2], undefined, "bob's leaf is blank");
    await h.ok((await sendMessageRequest(a1.state, h.cs, new Uint8Array([2]))).request);
  });
});
