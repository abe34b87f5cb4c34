// Building blocks for the DS acceptance tests: a small world of users around a Harness, group
// setup in one call, re-signing of tampered request bodies, and the "refused and nothing
// changed" check every validation test ends with.
import assert from "node:assert/strict";
import type { ClientState, KeyPackage, PrivateKeyPackage } from "ts-mls";
import {
  commitRequest,
  createGroupRequest,
  deriveEarKey,
  leafIndexOf,
  sendMessageRequest,
  signAsMember,
} from "../../src/client/dsMember.js";
import { makeKeyPackageRef } from "../../src/mls/adapter.js";
import { DSRequestType, DSResponseType } from "../../src/protocol/constants.js";
import { DSRequest, type DSRequestBody } from "../../src/protocol/DSRequest.js";
import type { DSErrorCode } from "../../src/protocol/errors.js";
import type { GroupStore } from "../../src/store/index.js";
import { Harness, type TestClient, type TestUser } from "./harness.js";

export type KeyPair = { publicPackage: KeyPackage; privatePackage: PrivateKeyPackage };

export const text = (s: string) => new TextEncoder().encode(s);

/** The decoded body of an encoded DSRequest (its MLS parts keep their exact bytes). */
export function bodyOf(request: Uint8Array): DSRequestBody {
  return DSRequest.deserialize(request).body;
}

/** Re-signs a (tampered) body as the member whose state is given. */
export function resign<B extends DSRequestBody>(request: Uint8Array, state: ClientState, mutate: (b: B) => DSRequestBody): Uint8Array {
  return signAsMember(mutate(bodyOf(request) as B), state);
}

export interface World {
  h: Harness;
  groupId: Uint8Array;
  alice: TestUser;
  bob: TestUser;
  carol: TestUser;
  dave: TestUser;
  /** creator, leaf 0, admin when the group has RBAC */
  a1: TestClient;
  a2: TestClient;
  b1: TestClient;
  b2: TestClient;
  c1: TestClient;
  d1: TestClient;
}

/**
 * alice (2 clients, a.test), bob (2 clients, b.test), carol (1, a.test), dave (1, a.test).
 * The group is created by a1; `members` lists the users whose clients are added right away
 * (alice's second client is never added here; bob's both clients are).
 */
export async function world(opts: { rbac?: boolean; members?: ("bob" | "carol")[]; store?: GroupStore } = {}): Promise<World> {
  const h = await new Harness(opts.store).init();
  const alice = h.user("alice", 2);
  const bob = h.user("bob", 2, "b.test");
  const carol = h.user("carol", 1);
  const dave = h.user("dave", 1);
  const [a1, a2] = alice.clients as [TestClient, TestClient];
  const [b1, b2] = bob.clients as [TestClient, TestClient];
  const c1 = carol.clients[0]!;
  const d1 = dave.clients[0]!;
  const gid = await h.ok(new DSRequest(1, { type: DSRequestType.request_group_id }, { type: 0 }).serialize());
  assert.equal(gid.response.body.type, DSResponseType.group_id);
  const groupId = (gid.response.body as { groupId: Uint8Array }).groupId;
  const created = await createGroupRequest({ cs: h.cs, groupId, keyPackage: await a1.newKeyPackage(), user: alice.auth, ds: h.identity, rbac: opts.rbac });
  await h.ok(created.request);
  a1.state = created.state;
  const w: World = { h, groupId, alice, bob, carol, dave, a1, a2, b1, b2, c1, d1 };
  const members = opts.members ?? ["bob", "carol"];
  const users = members.map((m) => (m === "bob" ? bob : carol));
  if (users.length > 0) await addUsers(w, a1, users);
  return w;
}

/** Every client of `w` that currently holds a group state. */
export function joined(w: World): TestClient[] {
  return [w.a1, w.a2, w.b1, w.b2, w.c1, w.d1].filter((c) => c.state !== undefined);
}

/** Lets every joined client but `except` process its inbox. */
export async function drainAll(w: World, ...except: TestClient[]): Promise<void> {
  for (const c of joined(w)) if (!except.includes(c)) await w.h.drain(c);
}

/** Fresh KeyPackages for clients, with a KeyPackageRef -> QS domain map for splitting Welcomes. */
export async function keyPackagesFor(w: World, clients: TestClient[]): Promise<{ kps: KeyPair[]; domainOfRef: (r: Uint8Array) => string }> {
  const kps: KeyPair[] = [];
  const domains = new Map<string, string>();
  for (const c of clients) {
    const kp = await c.newKeyPackage();
    kps.push(kp);
    domains.set(Buffer.from(await makeKeyPackageRef(kp.publicPackage, w.h.cs.hash)).toString("hex"), c.qsDomain);
  }
  return { kps, domainOfRef: (r) => domains.get(Buffer.from(r).toString("hex"))! };
}

/** add_users by `by` of every client of `users`; joins them and lets the others catch up. */
export async function addUsers(w: World, by: TestClient, users: TestUser[]): Promise<void> {
  const clients = users.flatMap((u) => u.clients);
  const { kps, domainOfRef } = await keyPackagesFor(w, clients);
  const r = await commitRequest(
    by.state!,
    w.h.cs,
    { type: DSRequestType.add_users, addedUsers: users.map((u) => ({ userAuthKey: u.auth.publicKey, clientCount: u.clients.length })), domainOfRef },
    kps.map((kp) => ({ proposalType: "add" as const, add: { keyPackage: kp.publicPackage } })),
  );
  const before = joined(w);
  await w.h.ok(r.request);
  by.state = r.newState;
  for (const [i, c] of clients.entries()) await w.h.joinFromWelcome(c, kps[i]!, w.groupId);
  for (const c of before) if (c !== by) await w.h.drain(c);
}

/** add_clients by `by` of the given clients (of by's own user). */
export async function addClients(w: World, by: TestClient, clients: TestClient[]): Promise<void> {
  const { kps, domainOfRef } = await keyPackagesFor(w, clients);
  const r = await commitRequest(by.state!, w.h.cs, { type: DSRequestType.add_clients, domainOfRef }, kps.map((kp) => ({ proposalType: "add" as const, add: { keyPackage: kp.publicPackage } })));
  const before = joined(w);
  await w.h.ok(r.request);
  by.state = r.newState;
  for (const [i, c] of clients.entries()) await w.h.joinFromWelcome(c, kps[i]!, w.groupId);
  for (const c of before) if (c !== by) await w.h.drain(c);
}

/** A valid update_client by `by`, applied everywhere. */
export async function update(w: World, by: TestClient): Promise<void> {
  const r = await commitRequest(by.state!, w.h.cs, { type: DSRequestType.update_client });
  await w.h.ok(r.request);
  by.state = r.newState;
  await drainAll(w, by);
}

export const leafOf = (c: TestClient) => leafIndexOf(c.state!);

/**
 * The refusal check: the request gets exactly `code`, nothing is fanned out, and the stored
 * head (version and epoch) is what it was.
 */
export async function refused(w: World, request: Uint8Array, code: DSErrorCode, groupId: Uint8Array = w.groupId): Promise<void> {
  const before = await w.h.store.getHead(groupId);
  await w.h.fails(request, code);
  const after = await w.h.store.getHead(groupId);
  assert.deepEqual(after, before, "a refused request leaves the stored group untouched");
}

/**
 * After a refusal the group still works under its current key: `sender` sends a message that
 * every other joined member (all at the same epoch) receives and decrypts.
 */
export async function stillWorks(w: World, sender: TestClient = w.a1): Promise<void> {
  const m = await sendMessageRequest(sender.state!, w.h.cs, text("still works"));
  sender.state = m.newState;
  const r = await w.h.ok(m.request);
  const members = sender.state!.ratchetTree.filter((n) => n?.nodeType === "leaf").length;
  assert.equal(r.fanout.length, members - 1, "the message reaches every other member");
  const others = joined(w).filter((c) => c !== sender && c.state!.groupContext.epoch === sender.state!.groupContext.epoch);
  for (const c of others) assert.deepEqual(await w.h.drain(c), [text("still works")], `${c.name} reads the message`);
}

export { deriveEarKey };
