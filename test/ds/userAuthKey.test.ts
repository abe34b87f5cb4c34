// Per-group user keys declared in the leaf (user_auth_key extension, type 0xF0A3): the DS
// enrols a new user only under a key that one of the user's own added leaves declares
// (checkDeclaredUserKey in src/ds/DeliveryService.ts), in add_users (draft-robert-mimi-delivery-
// service s"Add users to a group") and in a new user's external join (s"Join the group using an
// external commit"). The leaf signature covers the extension, so an adder cannot enrol a user
// under a key the user does not hold. Leaves without the extension declare nothing and keep
// working as before. Every refusal is invalid_proposal, fans nothing out, leaves the stored head
// as it was, and the group keeps working.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import {
  commitRequest,
  deriveEarKey,
  externalJoinRequest,
  generateUserAuthKey,
  makeKeyPackage,
  sendMessageRequest,
  type UserAuthKey,
} from "../../src/client/dsMember.js";
import { deriveUserAuthKey, userAuthKeyExtension, userAuthKeyOf } from "../../src/client/userAuthKey.js";
import { makeKeyPackageRef } from "../../src/mls/adapter.js";
import { decodeClientQueueConfig, leafQueueConfig } from "../../src/protocol/ClientQueueConfig.js";
import { DSRequestType } from "../../src/protocol/constants.js";
import { DSErrorCode } from "../../src/protocol/errors.js";
import type { TestClient } from "./harness.js";
import { drainAll, refused, stillWorks, text, world, type KeyPair, type World } from "./kit.js";

const rb = (n: number) => new Uint8Array(randomBytes(n));

/** What a client's KeyPackage leaf says about its user key. */
type Declares = { kind: "key"; salt: Uint8Array; key: UserAuthKey } | { kind: "none" } | { kind: "raw"; data: Uint8Array } | { kind: "twice"; salt: Uint8Array; key: UserAuthKey };

/** A user's master secret and the per-KeyPackage keys derived from it (as MimiUser does). */
function userSecret() {
  const master = rb(32);
  return {
    fresh(): { kind: "key"; salt: Uint8Array; key: UserAuthKey } {
      const salt = rb(16);
      return { kind: "key", salt, key: deriveUserAuthKey(master, salt) };
    },
  };
}

/**
 * A KeyPackage of `c` whose leaf carries the given user_auth_key extension. It reuses a queue
 * config the harness registered for `c` (through c.newKeyPackage), so fanout reaches c's inbox.
 */
async function keyPackageOf(w: World, c: TestClient, d: Declares): Promise<KeyPair> {
  const registered = await c.newKeyPackage();
  const qc = decodeClientQueueConfig(leafQueueConfig(registered.publicPackage.leafNode)!);
  const ext = (data?: Uint8Array) => (d.kind === "key" || d.kind === "twice" ? userAuthKeyExtension({ salt: d.salt, publicKey: d.key.publicKey }) : { ...userAuthKeyExtension({ salt: rb(16), publicKey: rb(32) }), extensionData: data! });
  const extra = d.kind === "none" ? [] : d.kind === "raw" ? [ext(d.data)] : d.kind === "twice" ? [ext(), ext()] : [ext()];
  return makeKeyPackage(w.h.cs, rb(16), qc, undefined, undefined, extra);
}

/** An add_users commit by a1 of the given (client, KeyPackage) groups, one entry per user. */
async function addUsersRequest(w: World, users: { userAuthKey: Uint8Array; clients: { c: TestClient; kp: KeyPair }[] }[]) {
  const all = users.flatMap((u) => u.clients);
  const domains = new Map<string, string>();
  for (const { c, kp } of all) domains.set(Buffer.from(await makeKeyPackageRef(kp.publicPackage, w.h.cs.hash)).toString("hex"), c.qsDomain);
  return commitRequest(
    w.a1.state!,
    w.h.cs,
    { type: DSRequestType.add_users, addedUsers: users.map((u) => ({ userAuthKey: u.userAuthKey, clientCount: u.clients.length })), domainOfRef: (r) => domains.get(Buffer.from(r).toString("hex"))! },
    all.map(({ kp }) => ({ proposalType: "add" as const, add: { keyPackage: kp.publicPackage } })),
  );
}

/** Sends an accepted add_users request and lets the joiners join and the others catch up. */
async function accept(w: World, r: Awaited<ReturnType<typeof addUsersRequest>>, joiners: { c: TestClient; kp: KeyPair }[]) {
  const before = [w.a1, w.a2, w.b1, w.b2, w.c1, w.d1].filter((c) => c.state !== undefined);
  await w.h.ok(r.request);
  w.a1.state = r.newState;
  for (const { c, kp } of joiners) await w.h.joinFromWelcome(c, kp, w.groupId);
  for (const c of before) if (c !== w.a1) await w.h.drain(c);
}

async function externalJoin(w: World, kp: KeyPair, user: UserAuthKey, asNewUser = true) {
  const earKey = await deriveEarKey(w.a1.state!, w.h.cs);
  const info = await w.h.externalInfo(w.groupId, earKey);
  return externalJoinRequest({ cs: w.h.cs, groupInfo: info.groupInfo, ratchetTree: info.ratchetTree, keyPackage: kp, earKey, resync: false, user, asNewUser });
}

describe("add_users: the user key must be one the added leaves declare (user_auth_key extension)", () => {
  it("accepts the declared key; the DS then knows the user by it (a user-signed join of its second client)", async () => {
    const w = await world({ members: ["carol"] });
    const bobKeys = userSecret();
    const decl = bobKeys.fresh();
    const kp = await keyPackageOf(w, w.b1, decl);
    assert.deepEqual(userAuthKeyOf(kp.publicPackage.leafNode.extensions)?.publicKey, decl.key.publicKey);
    await accept(w, await addUsersRequest(w, [{ userAuthKey: decl.key.publicKey, clients: [{ c: w.b1, kp }] }]), [{ c: w.b1, kp }]);
    await stillWorks(w);
    // bob's second client joins by external commit signed with the group's user key for bob
    const ej = await externalJoin(w, await keyPackageOf(w, w.b2, bobKeys.fresh()), decl.key, false);
    await w.h.ok(ej.request);
    w.b2.state = ej.newState;
    await drainAll(w, w.b2);
    await stillWorks(w, w.b2);
  });

  it("refuses a key other than the declared one (invalid_proposal), changes nothing, and the group still works", async () => {
    const w = await world({ members: ["carol"] });
    const decl = userSecret().fresh();
    const kp = await keyPackageOf(w, w.d1, decl);
    const joiner = [{ c: w.d1, kp }];
    const wrongKeys = [
      generateUserAuthKey().publicKey, // a key the adder made up
      userSecret().fresh().key.publicKey, // another user's derived key
      deriveUserAuthKey(rb(32), decl.salt).publicKey, // the declared salt under another secret
    ];
    for (const k of wrongKeys) {
      await refused(w, (await addUsersRequest(w, [{ userAuthKey: k, clients: joiner }])).request, DSErrorCode.invalid_proposal);
    }
    assert.equal(w.d1.inbox.length, 0, "no Welcome reached the would-be joiner");
    await stillWorks(w);
    // the same KeyPackage under its declared key is then accepted
    await accept(w, await addUsersRequest(w, [{ userAuthKey: decl.key.publicKey, clients: joiner }]), joiner);
    await stillWorks(w, w.d1);
  });

  it("refuses a leaf with a malformed user_auth_key extension (invalid_proposal)", async () => {
    const w = await world({ members: ["carol"] });
    const k = generateUserAuthKey();
    for (const data of [new Uint8Array(0), rb(10), Uint8Array.from([16, ...rb(16), 31, ...rb(31)]), Uint8Array.from([16, ...rb(16), 32, ...k.publicKey, 0])]) {
      const kp = await keyPackageOf(w, w.d1, { kind: "raw", data });
      await refused(w, (await addUsersRequest(w, [{ userAuthKey: k.publicKey, clients: [{ c: w.d1, kp }] }])).request, DSErrorCode.invalid_proposal);
    }
    await stillWorks(w);
  });

  it("a user with several clients: the key must be declared by one of them; refused when none does", async () => {
    const w = await world({ members: ["carol"] });
    const bob = userSecret();
    const [d1, d2] = [bob.fresh(), bob.fresh()];
    const clients = [
      { c: w.b1, kp: await keyPackageOf(w, w.b1, d1) },
      { c: w.b2, kp: await keyPackageOf(w, w.b2, d2) },
    ];
    await refused(w, (await addUsersRequest(w, [{ userAuthKey: generateUserAuthKey().publicKey, clients }])).request, DSErrorCode.invalid_proposal);
    // one client declaring nothing does not excuse the other's mismatch
    const mixed = [clients[0]!, { c: w.b2, kp: await keyPackageOf(w, w.b2, { kind: "none" }) }];
    await refused(w, (await addUsersRequest(w, [{ userAuthKey: generateUserAuthKey().publicKey, clients: mixed }])).request, DSErrorCode.invalid_proposal);
    await stillWorks(w);
    await accept(w, await addUsersRequest(w, [{ userAuthKey: d2.key.publicKey, clients }]), clients);
    await stillWorks(w, w.b1);
  });

  it("two users in one add_users: each is checked against its own leaves", async () => {
    const w = await world({ members: ["carol"] });
    const bobDecl = userSecret().fresh();
    const daveDecl = userSecret().fresh();
    const bob = [{ c: w.b1, kp: await keyPackageOf(w, w.b1, bobDecl) }];
    const dave = [{ c: w.d1, kp: await keyPackageOf(w, w.d1, daveDecl) }];
    // keys swapped between the two users: each names a key only the other's leaf declares
    await refused(w, (await addUsersRequest(w, [{ userAuthKey: daveDecl.key.publicKey, clients: bob }, { userAuthKey: bobDecl.key.publicKey, clients: dave }])).request, DSErrorCode.invalid_proposal);
    // one right, one wrong: the whole commit is refused
    await refused(w, (await addUsersRequest(w, [{ userAuthKey: bobDecl.key.publicKey, clients: bob }, { userAuthKey: generateUserAuthKey().publicKey, clients: dave }])).request, DSErrorCode.invalid_proposal);
    await stillWorks(w);
    await accept(w, await addUsersRequest(w, [{ userAuthKey: bobDecl.key.publicKey, clients: bob }, { userAuthKey: daveDecl.key.publicKey, clients: dave }]), [...bob, ...dave]);
    await stillWorks(w, w.d1);
  });

  it("leaves without the extension keep working: any user key is accepted, as before", async () => {
    const w = await world({ members: ["carol"] });
    const clients = [{ c: w.d1, kp: await keyPackageOf(w, w.d1, { kind: "none" }) }];
    assert.equal(userAuthKeyOf(clients[0]!.kp.publicPackage.leafNode.extensions), undefined);
    await accept(w, await addUsersRequest(w, [{ userAuthKey: w.dave.auth.publicKey, clients }]), clients);
    await stillWorks(w, w.d1);
  });
});

describe("external_join as a new user: newUserAuthKey must be the joiner leaf's declared key", () => {
  it("refuses a newUserAuthKey other than the declared one (invalid_proposal); the declared one joins", async () => {
    const w = await world({ members: ["carol"] });
    const decl = userSecret().fresh();
    const kp = await keyPackageOf(w, w.d1, decl);
    for (const other of [generateUserAuthKey(), userSecret().fresh().key]) {
      await refused(w, (await externalJoin(w, kp, other)).request, DSErrorCode.invalid_proposal);
    }
    // a leaf declaring its key twice, or a broken binding, is refused too
    for (const d of [{ kind: "twice", salt: decl.salt, key: decl.key } as const, { kind: "raw", data: rb(49) } as const]) {
      await refused(w, (await externalJoin(w, await keyPackageOf(w, w.d1, d), decl.key)).request, DSErrorCode.invalid_proposal);
    }
    await stillWorks(w);
    const ej = await externalJoin(w, kp, decl.key);
    await w.h.ok(ej.request);
    w.d1.state = ej.newState;
    await drainAll(w, w.d1);
    await stillWorks(w, w.d1);
    // and dave is now known by that key: a message from d1 reaches everyone
    const m = await sendMessageRequest(w.d1.state!, w.h.cs, text("hi from dave"));
    w.d1.state = m.newState;
    await w.h.ok(m.request);
    assert.deepEqual(await w.h.drain(w.a1), [text("hi from dave")]);
  });

  it("a joiner leaf without the extension joins under any new user key, as before", async () => {
    const w = await world({ members: ["carol"] });
    const ej = await externalJoin(w, await keyPackageOf(w, w.d1, { kind: "none" }), w.dave.auth);
    await w.h.ok(ej.request);
    w.d1.state = ej.newState;
    await drainAll(w, w.d1);
    await stillWorks(w, w.d1);
  });
});
