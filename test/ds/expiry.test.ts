import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createGroupRequest, sendMessageRequest } from "../../src/client/dsMember.js";
import { DeliveryService } from "../../src/ds/DeliveryService.js";
import { DSErrorCode } from "../../src/protocol/errors.js";
import { randomBytes } from "node:crypto";
import { Harness } from "./harness.js";

describe("group expiry (configurable TTL)", () => {
  it("deletes a group unused for longer than the TTL, and only then", async () => {
    const h = await new Harness().init();
    const alice = h.user("alice", 1);
    const a1 = alice.clients[0]!;
    const groupId = randomBytes(32);
    const created = await createGroupRequest({ cs: h.cs, groupId, keyPackage: await a1.newKeyPackage(), user: alice.auth, ds: h.identity });
    await h.ok(created.request);
    let now = Date.now();
    const ds = new DeliveryService({ store: h.store, identity: h.identity, now: () => now });
    assert.equal(await ds.sweepExpired(30), 0);
    now += 20 * 86_400_000;
    assert.equal(await ds.sweepExpired(30), 0, "20 days idle is within a 30-day TTL");
    now += 20 * 86_400_000;
    assert.equal(await ds.sweepExpired(30), 1, "40 days idle is past it");
    assert.equal(await h.store.getHead(groupId), undefined);
    const msg = await sendMessageRequest(created.state, h.cs, new Uint8Array([1]));
    await h.fails(msg.request, DSErrorCode.unknown_group);
  });
});
