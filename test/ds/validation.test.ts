// Every validation rule of the Delivery Service (draft-robert-mimi-delivery-service s"Operations"
// .. s"Role-based access control", and the README wire profile), each broken once by a real
// ts-mls client or a tampered request: the DS must answer with the specific DSErrorCode, fan
// nothing out, leave the stored head (version and epoch) as it was, and keep serving the group.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import {
  createApplicationMessage,
  createCommit,
  createGroup,
  createGroupInfoWithExternalPub,
  createProposal,
  defaultCapabilities,
  defaultLifetime,
  generateKeyPackage,
  type ClientState,
  type Extension,
  type GroupInfo,
} from "ts-mls";
import {
  anonymous,
  commitRequest,
  createGroupRequest,
  deriveEarKey,
  dsExternalSenderExtension,
  externalJoinRequest,
  generateUserAuthKey,
  PROFILE_EXTENSIONS,
  selfRemoveRequest,
  sendMessageRequest,
  signAsClient,
  signAsMember,
  signAsUser,
  welcomeInfoRequest,
} from "../../src/client/dsMember.js";
import { rbacExtension } from "../../src/ds/DeliveryService.js";
import { earKeyHashExtension } from "../../src/ds/earKey.js";
import { decodeExtension, decodeLeafNode, decodeMlsMessage, encodeExtension, encodeLeafNode, encodeMlsMessage, type MLSMessage } from "../../src/mls/adapter.js";
import { DSRequestType, DSResponseType, EXTENSION_TYPE_RBAC } from "../../src/protocol/constants.js";
import type { DSRequestBody, MLSGroupUpdate, Mls } from "../../src/protocol/DSRequest.js";
import { DSResponse } from "../../src/protocol/DSResponse.js";
import { DSErrorCode } from "../../src/protocol/errors.js";
import type { TestClient } from "./harness.js";
import {
  addClients,
  addUsers,
  bodyOf,
  drainAll,
  keyPackagesFor,
  leafOf,
  refused,
  resign,
  stillWorks,
  text,
  update,
  world,
  type KeyPair,
  type World,
} from "./kit.js";

type Body<T extends DSRequestType> = Extract<DSRequestBody, { type: T }>;

const mls = <T>(bytes: Uint8Array, dec: (b: Uint8Array, o: number) => [T, number] | undefined): Mls<T> => ({ value: dec(bytes, 0)![0], bytes });
const mlsMsg = (m: MLSMessage): Mls<MLSMessage> => mls(encodeMlsMessage(m), decodeMlsMessage);
const flipLast = (b: Uint8Array) => {
  const c = Uint8Array.from(b);
  c[c.length - 1]! ^= 0x01;
  return c;
};

/** A create_group body from a ts-mls state at epoch `state.groupContext.epoch`, with overrides. */
async function createBody(
  w: World,
  state: ClientState,
  o: { groupId?: Uint8Array; giExtensions?: Extension[]; tamperGi?: (gi: GroupInfo) => GroupInfo; pp?: "absent"; earKey?: Uint8Array } = {},
): Promise<Body<DSRequestType.create_group>> {
  const earKey = await deriveEarKey(state, w.h.cs);
  let gi = await createGroupInfoWithExternalPub(state, o.giExtensions ?? [earKeyHashExtension(earKey)], w.h.cs);
  if (o.tamperGi) gi = o.tamperGi(gi);
  const leaf = (state.ratchetTree[0] as { leaf: Parameters<typeof encodeLeafNode>[0] }).leaf;
  return {
    type: DSRequestType.create_group,
    groupId: o.groupId ?? state.groupContext.groupId,
    leafNode: mls(encodeLeafNode(leaf), decodeLeafNode),
    groupInfo: mlsMsg({ version: "mls10", wireformat: "mls_group_info", groupInfo: gi }),
    pp: o.pp === "absent" ? undefined : { earKey: o.earKey ?? earKey, userAuthKey: w.alice.auth.publicKey },
  };
}

/** A new local group of a1's user with the given GroupContext extensions (DS first by default). */
async function localGroup(w: World, o: { extensions?: Extension[]; keyPackage?: Awaited<ReturnType<TestClient["newKeyPackage"]>> } = {}) {
  const kp = o.keyPackage ?? (await w.a2.newKeyPackage());
  const groupId = randomBytes(32);
  const state = await createGroup(groupId, kp.publicPackage, kp.privatePackage, o.extensions ?? [dsExternalSenderExtension(w.h.identity.signaturePublicKey, w.h.identity.domain)], w.h.cs);
  return { groupId, state };
}

/** The group is absent before and after, and a correct create of the same group then succeeds. */
async function refusedCreate(w: World, request: Uint8Array, code: DSErrorCode, groupId: Uint8Array) {
  assert.equal(await w.h.store.getHead(groupId), undefined);
  await refused(w, request, code, groupId);
  assert.equal(await w.h.store.getHead(groupId), undefined, "nothing was created");
  await refused(w, request, code); // the existing group is untouched as well
}

/** A member's PartialGroupInfo for a new state, with the hash of `nextKey`. */
async function groupUpdate(commit: MLSMessage, newState: ClientState, w: World, nextKey?: Uint8Array): Promise<MLSGroupUpdate> {
  const gi = await createGroupInfoWithExternalPub(newState, [earKeyHashExtension(nextKey ?? (await deriveEarKey(newState, w.h.cs)))], w.h.cs);
  return { commit: mlsMsg(commit), partialGroupInfo: { extensions: gi.extensions.map((e) => mls(encodeExtension(e), decodeExtension)), signature: gi.signature } };
}

/** GroupContext extensions of a state with RBAC admins replaced (external_senders stays first). */
function withAdmins(state: ClientState, admins: number[]): Extension[] {
  return state.groupContext.extensions.map((e) => ((e.extensionType as unknown) === EXTENSION_TYPE_RBAC ? rbacExtension(admins) : e));
}
const gce = (extensions: Extension[]) => ({ proposalType: "group_context_extensions" as const, groupContextExtensions: { extensions } });
const remove = (leaf: number) => ({ proposalType: "remove" as const, remove: { removed: leaf } });

// ---------------------------------------------------------------------------------------------

describe("create_group validation (draft s\"Create group\" / Validation)", () => {
  it("refuses a group id shorter than 16 bytes (invalid_group_id)", async () => {
    const w = await world({ members: [] });
    const short = randomBytes(8);
    const r = await createGroupRequest({ cs: w.h.cs, groupId: short, keyPackage: await w.a2.newKeyPackage(), user: w.alice.auth, ds: w.h.identity });
    await refusedCreate(w, r.request, DSErrorCode.invalid_group_id, short);
    // an empty id is refused the same way
    const empty = await createGroupRequest({ cs: w.h.cs, groupId: new Uint8Array(0), keyPackage: await w.a2.newKeyPackage(), user: w.alice.auth, ds: w.h.identity });
    await w.h.fails(empty.request, DSErrorCode.invalid_group_id);
    await stillWorks(w);
  });

  it("refuses a group id already in use (invalid_group_id) and keeps the existing group", async () => {
    const w = await world({ members: ["carol"] });
    const r = await createGroupRequest({ cs: w.h.cs, groupId: w.groupId, keyPackage: await w.a2.newKeyPackage(), user: w.alice.auth, ds: w.h.identity });
    await refused(w, r.request, DSErrorCode.invalid_group_id);
    await stillWorks(w);
  });

  it("refuses a GroupInfo for another group id (invalid_group_info)", async () => {
    const w = await world({ members: [] });
    const g = await localGroup(w);
    const other = randomBytes(32);
    const req = signAsMember(await createBody(w, g.state, { groupId: other }), g.state);
    await refusedCreate(w, req, DSErrorCode.invalid_group_info, other);
    assert.equal(await w.h.store.getHead(g.groupId), undefined);
    await w.h.ok(signAsMember(await createBody(w, g.state), g.state));
  });

  it("refuses a GroupInfo whose epoch is not 0 (invalid_group_info)", async () => {
    const w = await world({ members: [] });
    const g = await localGroup(w);
    const c = await createCommit({ state: g.state, cipherSuite: w.h.cs }, { wireAsPublicMessage: true });
    assert.equal(c.newState.groupContext.epoch, 1n);
    await refusedCreate(w, signAsMember(await createBody(w, c.newState), c.newState), DSErrorCode.invalid_group_info, g.groupId);
    await w.h.ok(signAsMember(await createBody(w, g.state), g.state));
  });

  it("refuses a GroupInfo whose signature does not verify (invalid_group_info)", async () => {
    const w = await world({ members: [] });
    const g = await localGroup(w);
    const req = signAsMember(await createBody(w, g.state, { tamperGi: (gi) => ({ ...gi, signature: flipLast(gi.signature) }) }), g.state);
    await refusedCreate(w, req, DSErrorCode.invalid_group_info, g.groupId);
    await w.h.ok(signAsMember(await createBody(w, g.state), g.state));
  });

  it("refuses a group whose external_senders does not name this DS (invalid_group_info)", async () => {
    const w = await world({ members: [] });
    const other = generateUserAuthKey();
    const g = await localGroup(w, { extensions: [dsExternalSenderExtension(other.publicKey, "evil.test")] });
    await refusedCreate(w, signAsMember(await createBody(w, g.state), g.state), DSErrorCode.invalid_group_info, g.groupId);
    // and without any external_senders extension at all
    const none = await localGroup(w, { extensions: [] });
    await refusedCreate(w, signAsMember(await createBody(w, none.state), none.state), DSErrorCode.invalid_group_info, none.groupId);
    await stillWorks(w);
  });

  it("refuses an initial RBAC extension that does not list exactly the creator (invalid_group_info)", async () => {
    const w = await world({ members: [] });
    const ds = dsExternalSenderExtension(w.h.identity.signaturePublicKey, w.h.identity.domain);
    const g = await localGroup(w, { extensions: [ds, rbacExtension([0, 5])] });
    await refusedCreate(w, signAsMember(await createBody(w, g.state), g.state), DSErrorCode.invalid_group_info, g.groupId);
    await stillWorks(w);
  });

  it("refuses a creator leaf without the queue-config extension (invalid_leaf_node)", async () => {
    const w = await world({ members: [] });
    const caps = defaultCapabilities();
    caps.extensions = [...new Set([...caps.extensions, ...PROFILE_EXTENSIONS])];
    const kp = await generateKeyPackage({ credentialType: "basic", identity: randomBytes(16) }, caps, defaultLifetime, [], w.h.cs);
    const g = await localGroup(w, { keyPackage: kp });
    await refusedCreate(w, signAsMember(await createBody(w, g.state), g.state), DSErrorCode.invalid_leaf_node, g.groupId);
    await stillWorks(w);
  });

  it("refuses a GroupInfo without the ear_key_hash extension or with a wrong hash (invalid_group_info)", async () => {
    const w = await world({ members: [] });
    const g = await localGroup(w);
    await refusedCreate(w, signAsMember(await createBody(w, g.state, { giExtensions: [] }), g.state), DSErrorCode.invalid_group_info, g.groupId);
    await refusedCreate(w, signAsMember(await createBody(w, g.state, { earKey: randomBytes(32) }), g.state), DSErrorCode.invalid_group_info, g.groupId);
  });

  it("refuses create_group without pp_data (pp_data_required) and a key of the wrong size (malformed)", async () => {
    const w = await world({ members: [] });
    const g = await localGroup(w);
    await refusedCreate(w, signAsMember(await createBody(w, g.state, { pp: "absent" }), g.state), DSErrorCode.pp_data_required, g.groupId);
    await refusedCreate(w, signAsMember(await createBody(w, g.state, { earKey: randomBytes(16) }), g.state), DSErrorCode.malformed, g.groupId);
    await w.h.ok(signAsMember(await createBody(w, g.state), g.state));
  });

  it("refuses a create_group not signed by leaf 0 (bad_signature)", async () => {
    const w = await world({ members: [] });
    const g = await localGroup(w);
    const body = await createBody(w, g.state);
    // another key, claiming leaf 0
    const intruder = generateUserAuthKey();
    await refusedCreate(w, signAsClient(body, 0, intruder.privateKey, intruder.publicKey), DSErrorCode.bad_signature, g.groupId);
    // the right key, but naming another sender index
    const leaf0 = (g.state.ratchetTree[0] as { leaf: { signaturePublicKey: Uint8Array } }).leaf.signaturePublicKey;
    await refusedCreate(w, signAsClient(body, 1, g.state.signaturePrivateKey, leaf0), DSErrorCode.bad_signature, g.groupId);
    // a user signature instead of a client signature
    await refusedCreate(w, signAsUser(body, w.alice.auth), DSErrorCode.bad_signature, g.groupId);
    await w.h.ok(signAsMember(body, g.state));
  });
});

describe("add_users validation (draft s\"Add users to a group\" / Validation)", () => {
  const addOf = (kp: KeyPair) => ({ proposalType: "add" as const, add: { keyPackage: kp.publicPackage } });

  it("refuses proposals other than Add (invalid_proposal)", async () => {
    const w = await world({ members: ["carol"] });
    const { kps } = await keyPackagesFor(w, [w.d1]);
    const bad = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.add_users, addedUsers: [{ userAuthKey: w.dave.auth.publicKey, clientCount: 1 }] }, [addOf(kps[0]!), remove(leafOf(w.c1))]);
    await refused(w, bad.request, DSErrorCode.invalid_proposal);
    await stillWorks(w);
    await addUsers(w, w.a1, [w.dave]);
    await stillWorks(w, w.d1);
  });

  it("refuses adding a client of a user already in the group (invalid_proposal: use add_clients)", async () => {
    const w = await world({ members: ["carol"] });
    const { kps } = await keyPackagesFor(w, [w.a2]);
    const asNewUser = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.add_users, addedUsers: [{ userAuthKey: w.alice.auth.publicKey, clientCount: 1 }] }, [addOf(kps[0]!)]);
    await refused(w, asNewUser.request, DSErrorCode.invalid_proposal);
    // carol's user key for a new client is refused the same way
    const asCarol = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.add_users, addedUsers: [{ userAuthKey: w.carol.auth.publicKey, clientCount: 1 }] }, [addOf(kps[0]!)]);
    await refused(w, asCarol.request, DSErrorCode.invalid_proposal);
    await stillWorks(w);
    await addClients(w, w.a1, [w.a2]);
    await stillWorks(w, w.a2);
  });

  it("refuses added_users client counts that do not cover the Adds exactly (invalid_proposal)", async () => {
    const w = await world({ members: ["carol"] });
    const { kps, domainOfRef } = await keyPackagesFor(w, w.bob.clients);
    const adds = kps.map(addOf);
    const bob = w.bob.auth.publicKey;
    for (const addedUsers of [
      [{ userAuthKey: bob, clientCount: 1 }],
      [{ userAuthKey: bob, clientCount: 3 }],
      [{ userAuthKey: bob, clientCount: 2 }, { userAuthKey: w.dave.auth.publicKey, clientCount: 0 }],
      [{ userAuthKey: bob, clientCount: 1 }, { userAuthKey: bob, clientCount: 1 }],
      [],
    ]) {
      const r = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.add_users, addedUsers, domainOfRef }, adds);
      await refused(w, r.request, DSErrorCode.invalid_proposal);
    }
    await stillWorks(w);
    await addUsers(w, w.a1, [w.bob]);
    await stillWorks(w, w.b2);
  });

  it("refuses a new member without a Welcome, and a member named by two Welcomes (invalid_welcome)", async () => {
    const w = await world({ members: ["carol"] });
    const { kps } = await keyPackagesFor(w, [w.d1]);
    const good = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.add_users, addedUsers: [{ userAuthKey: w.dave.auth.publicKey, clientCount: 1 }] }, [addOf(kps[0]!)]);
    await refused(w, resign<Body<DSRequestType.add_users>>(good.request, w.a1.state!, (b) => ({ ...b, welcomes: [] })), DSErrorCode.invalid_welcome);
    await refused(w, resign<Body<DSRequestType.add_users>>(good.request, w.a1.state!, (b) => ({ ...b, welcomes: [b.welcomes[0]!, b.welcomes[0]!] })), DSErrorCode.invalid_welcome);
    // something that is not a Welcome in the welcomes list
    await refused(w, resign<Body<DSRequestType.add_users>>(good.request, w.a1.state!, (b) => ({ ...b, welcomes: [b.groupUpdate.commit] })), DSErrorCode.invalid_welcome);
    await stillWorks(w);
    // the untampered request still goes through
    await w.h.ok(good.request);
    w.a1.state = good.newState;
    await w.h.joinFromWelcome(w.d1, kps[0]!, w.groupId);
    await drainAll(w, w.a1, w.d1);
    await stillWorks(w, w.d1);
  });

  it("refuses a Welcome naming a KeyPackage the commit does not add (invalid_welcome)", async () => {
    const w = await world({ members: ["carol"] });
    const { kps } = await keyPackagesFor(w, [w.d1]);
    const good = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.add_users, addedUsers: [{ userAuthKey: w.dave.auth.publicKey, clientCount: 1 }] }, [addOf(kps[0]!)]);
    const foreign = resign<Body<DSRequestType.add_users>>(good.request, w.a1.state!, (b) => {
      const m = b.welcomes[0]!.value;
      assert.equal(m.wireformat, "mls_welcome");
      const welcome = (m as Extract<MLSMessage, { wireformat: "mls_welcome" }>).welcome;
      const secrets = [...welcome.secrets, { ...welcome.secrets[0]!, newMember: randomBytes(32) }];
      return { ...b, welcomes: [mlsMsg({ version: "mls10", wireformat: "mls_welcome", welcome: { ...welcome, secrets } })] };
    });
    await refused(w, foreign, DSErrorCode.invalid_welcome);
    await stillWorks(w);
  });

  it("refuses one Welcome spanning two QS domains (invalid_welcome: one Welcome per guest provider)", async () => {
    const w = await world({ members: ["carol"] });
    const { kps, domainOfRef } = await keyPackagesFor(w, [w.b1, w.b2, w.d1]);
    const addedUsers = [{ userAuthKey: w.bob.auth.publicKey, clientCount: 2 }, { userAuthKey: w.dave.auth.publicKey, clientCount: 1 }];
    const single = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.add_users, addedUsers }, kps.map(addOf));
    assert.equal(bodyOf(single.request).type, DSRequestType.add_users);
    assert.equal((bodyOf(single.request) as Body<DSRequestType.add_users>).welcomes.length, 1);
    await refused(w, single.request, DSErrorCode.invalid_welcome);
    await stillWorks(w);
    const split = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.add_users, addedUsers, domainOfRef }, kps.map(addOf));
    const r = await w.h.ok(split.request);
    assert.equal(r.fanout.filter((f) => f.sealedJoinerKey).length, 3);
  });

  it("refuses two Welcomes for the same QS domain (invalid_welcome)", async () => {
    const w = await world({ members: [] });
    const { kps, domainOfRef } = await keyPackagesFor(w, [w.c1, w.d1]);
    const addedUsers = [{ userAuthKey: w.carol.auth.publicKey, clientCount: 1 }, { userAuthKey: w.dave.auth.publicKey, clientCount: 1 }];
    // carol and dave are both on a.test; split them anyway
    let n = 0;
    const labels = new Map<string, string>();
    const twoWays = (ref: Uint8Array) => {
      const k = Buffer.from(ref).toString("hex");
      if (!labels.has(k)) labels.set(k, `w${n++}`);
      return labels.get(k)!;
    };
    const r2 = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.add_users, addedUsers, domainOfRef: twoWays }, kps.map(addOf));
    assert.equal((bodyOf(r2.request) as Body<DSRequestType.add_users>).welcomes.length, 2);
    await refused(w, r2.request, DSErrorCode.invalid_welcome);
    await stillWorks(w);
    const ok = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.add_users, addedUsers, domainOfRef }, kps.map(addOf));
    await w.h.ok(ok.request);
  });

  it("refuses add_users by a non-admin when the group has an RBAC extension (not_allowed)", async () => {
    const w = await world({ rbac: true, members: ["carol"] });
    const { kps } = await keyPackagesFor(w, [w.d1]);
    const r = await commitRequest(w.c1.state!, w.h.cs, { type: DSRequestType.add_users, addedUsers: [{ userAuthKey: w.dave.auth.publicKey, clientCount: 1 }] }, [addOf(kps[0]!)]);
    await refused(w, r.request, DSErrorCode.not_allowed);
    await stillWorks(w, w.c1);
    await addUsers(w, w.a1, [w.dave]);
    await stillWorks(w, w.d1);
  });

  it("refuses add_users without pp_data (pp_data_required)", async () => {
    const w = await world({ members: ["carol"] });
    const { kps } = await keyPackagesFor(w, [w.d1]);
    const r = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.add_users, addedUsers: [{ userAuthKey: w.dave.auth.publicKey, clientCount: 1 }] }, [addOf(kps[0]!)]);
    await refused(w, resign<Body<DSRequestType.add_users>>(r.request, w.a1.state!, (b) => ({ ...b, pp: undefined })), DSErrorCode.pp_data_required);
    await stillWorks(w);
  });
});

describe("remove_users validation (draft s\"Remove users from a group\" / Validation)", () => {
  it("refuses removing only one of a user's two clients (invalid_proposal)", async () => {
    const w = await world();
    const r = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.remove_users }, [remove(leafOf(w.b1))]);
    await refused(w, r.request, DSErrorCode.invalid_proposal);
    await stillWorks(w);
    const both = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.remove_users }, [remove(leafOf(w.b1)), remove(leafOf(w.b2))]);
    await w.h.ok(both.request);
  });

  it("refuses proposals other than Remove (invalid_proposal)", async () => {
    const w = await world();
    const { kps } = await keyPackagesFor(w, [w.d1]);
    const r = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.remove_users }, [remove(leafOf(w.b1)), remove(leafOf(w.b2)), { proposalType: "add", add: { keyPackage: kps[0]!.publicPackage } }]);
    await refused(w, r.request, DSErrorCode.invalid_proposal);
    await stillWorks(w);
  });

  it("refuses remove_users of the committer's own user (invalid_proposal: use remove_clients / self_remove_client)", async () => {
    const w = await world({ members: ["carol"] });
    await addClients(w, w.a1, [w.a2]);
    const r = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.remove_users }, [remove(leafOf(w.a2))]);
    await refused(w, r.request, DSErrorCode.invalid_proposal);
    await stillWorks(w);
  });

  it("refuses remove_users by a non-admin (not_allowed)", async () => {
    const w = await world({ rbac: true });
    const r = await commitRequest(w.c1.state!, w.h.cs, { type: DSRequestType.remove_users }, [remove(leafOf(w.b1)), remove(leafOf(w.b2))]);
    await refused(w, r.request, DSErrorCode.not_allowed);
    await stillWorks(w, w.c1);
    const ok = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.remove_users }, [remove(leafOf(w.b1)), remove(leafOf(w.b2))]);
    await w.h.ok(ok.request);
  });
});

describe("add_clients / remove_clients validation (draft s\"Add clients\", s\"Remove clients\")", () => {
  it("refuses remove_clients targeting another user's client (invalid_proposal)", async () => {
    const w = await world({ members: ["carol"] });
    await addClients(w, w.a1, [w.a2]);
    const r = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.remove_clients }, [remove(leafOf(w.c1))]);
    await refused(w, r.request, DSErrorCode.invalid_proposal);
    // mixing an own client with another user's client is refused as well
    const mixed = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.remove_clients }, [remove(leafOf(w.a2)), remove(leafOf(w.c1))]);
    await refused(w, mixed.request, DSErrorCode.invalid_proposal);
    await stillWorks(w);
    const own = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.remove_clients }, [remove(leafOf(w.a2))]);
    await w.h.ok(own.request);
  });

  it("refuses proposals other than Add in add_clients, and other than Remove in remove_clients (invalid_proposal)", async () => {
    const w = await world({ members: ["carol"] });
    const { kps } = await keyPackagesFor(w, [w.a2]);
    const addPlusRemove = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.add_clients }, [{ proposalType: "add", add: { keyPackage: kps[0]!.publicPackage } }, remove(leafOf(w.c1))]);
    await refused(w, addPlusRemove.request, DSErrorCode.invalid_proposal);
    await addClients(w, w.a1, [w.a2]);
    const { kps: dk } = await keyPackagesFor(w, [w.d1]);
    const removePlusAdd = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.remove_clients }, [remove(leafOf(w.a2)), { proposalType: "add", add: { keyPackage: dk[0]!.publicPackage } }]);
    await refused(w, removePlusAdd.request, DSErrorCode.invalid_proposal);
    await stillWorks(w);
  });

  it("refuses add_clients without a Welcome for the new client (invalid_welcome)", async () => {
    const w = await world({ members: ["carol"] });
    const { kps } = await keyPackagesFor(w, [w.a2]);
    const r = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.add_clients }, [{ proposalType: "add", add: { keyPackage: kps[0]!.publicPackage } }]);
    await refused(w, resign<Body<DSRequestType.add_clients>>(r.request, w.a1.state!, (b) => ({ ...b, welcomes: [] })), DSErrorCode.invalid_welcome);
    await stillWorks(w);
  });

  it("a commit removing its own committer cannot be built with ts-mls 1.6.4 (RFC 9420 s12.2), so remove_clients of oneself cannot reach the DS", async () => {
    const w = await world({ members: ["carol"] });
    await assert.rejects(commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.remove_clients }, [remove(leafOf(w.a1))]), /removing committer/);
    // the only way to leave: self_remove_client, committed by another member
    const sr = await selfRemoveRequest(w.c1.state!, w.h.cs);
    await w.h.ok(sr.request);
  });
});

describe("self_remove_client validation (draft s\"Self remove a client from a group\" / Validation)", () => {
  it("refuses a Remove proposal that targets another member (invalid_proposal)", async () => {
    const w = await world();
    const earKey = await deriveEarKey(w.c1.state!, w.h.cs);
    const p = await createProposal(w.c1.state!, true, remove(leafOf(w.b1)), w.h.cs);
    const req = signAsMember({ type: DSRequestType.self_remove_client, proposal: mlsMsg(p.message), pp: { earKey } }, w.c1.state!);
    await refused(w, req, DSErrorCode.invalid_proposal);
    await stillWorks(w);
    await w.h.ok((await selfRemoveRequest(w.c1.state!, w.h.cs)).request);
  });

  it("refuses a commit where a proposal is expected (invalid_message)", async () => {
    const w = await world();
    const earKey = await deriveEarKey(w.c1.state!, w.h.cs);
    const c = await commitRequest(w.c1.state!, w.h.cs, { type: DSRequestType.update_client });
    const req = signAsMember({ type: DSRequestType.self_remove_client, proposal: mlsMsg(decodeMlsMessage(c.commit, 0)![0]), pp: { earKey } }, w.c1.state!);
    await refused(w, req, DSErrorCode.invalid_message);
    // a proposal sent as PrivateMessage is refused the same way
    const priv = await createProposal(w.c1.state!, false, remove(leafOf(w.c1)), w.h.cs);
    await refused(w, signAsMember({ type: DSRequestType.self_remove_client, proposal: mlsMsg(priv.message), pp: { earKey } }, w.c1.state!), DSErrorCode.invalid_message);
    await stillWorks(w);
  });

  it("refuses a second self-remove while the first is pending (invalid_proposal), so commits stay buildable", async () => {
    const w = await world();
    await w.h.ok((await selfRemoveRequest(w.c1.state!, w.h.cs)).request);
    await refused(w, (await selfRemoveRequest(w.c1.state!, w.h.cs)).request, DSErrorCode.invalid_proposal);
    await drainAll(w, w.c1);
    w.c1.state = undefined;
    await update(w, w.a1); // covers the one pending Remove
    await stillWorks(w, w.b1);
  });

  it("refuses a self-remove signed by another member than the one leaving (bad_signature)", async () => {
    const w = await world();
    const sr = await selfRemoveRequest(w.c1.state!, w.h.cs);
    await refused(w, resign(sr.request, w.a1.state!, (b) => b), DSErrorCode.bad_signature);
    await stillWorks(w);
    await w.h.ok(sr.request);
  });
});

describe("update_client validation (draft s\"Update a client in a group\" / Validation)", () => {
  it("refuses an update commit carrying by-value proposals (invalid_proposal)", async () => {
    const w = await world();
    const { kps } = await keyPackagesFor(w, [w.d1]);
    for (const extra of [[remove(leafOf(w.c1))], [{ proposalType: "add" as const, add: { keyPackage: kps[0]!.publicPackage } }], [gce(w.a1.state!.groupContext.extensions)]]) {
      const r = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.update_client }, extra);
      await refused(w, r.request, DSErrorCode.invalid_proposal);
    }
    await stillWorks(w);
    await update(w, w.a1);
    await stillWorks(w, w.b1);
  });
  // A path-less update_client cannot be built: ts-mls puts an UpdatePath in every commit that is
  // not add-only (RFC 9420 s12.4), and an add-only commit is refused above for its Add.
});

describe("external_join validation (draft s\"Join the group using an external commit\" / Validation)", () => {
  async function joinerSetup(w: World) {
    const earKey = await deriveEarKey(w.a1.state!, w.h.cs);
    const info = await w.h.externalInfo(w.groupId, earKey);
    return { earKey, info };
  }

  it("refuses a new user's join signed with a user signature instead of anonymously (bad_signature)", async () => {
    const w = await world();
    const { earKey, info } = await joinerSetup(w);
    const ej = await externalJoinRequest({ cs: w.h.cs, groupInfo: info.groupInfo, ratchetTree: info.ratchetTree, keyPackage: await w.d1.newKeyPackage(), earKey, resync: false, user: w.dave.auth, asNewUser: true });
    await refused(w, signAsUser(bodyOf(ej.request), w.dave.auth), DSErrorCode.bad_signature);
    await stillWorks(w);
    await w.h.ok(ej.request);
  });

  it("refuses a new-user join naming a user already in the group (invalid_proposal)", async () => {
    const w = await world();
    const { earKey, info } = await joinerSetup(w);
    const ej = await externalJoinRequest({ cs: w.h.cs, groupInfo: info.groupInfo, ratchetTree: info.ratchetTree, keyPackage: await w.c1.newKeyPackage(), earKey, resync: false, user: w.carol.auth, asNewUser: true });
    await refused(w, ej.request, DSErrorCode.invalid_proposal);
    await stillWorks(w);
  });

  it("refuses a join signed by a user who is not in the group (not_a_member)", async () => {
    const w = await world();
    const { earKey, info } = await joinerSetup(w);
    const ej = await externalJoinRequest({ cs: w.h.cs, groupInfo: info.groupInfo, ratchetTree: info.ratchetTree, keyPackage: await w.d1.newKeyPackage(), earKey, resync: false, user: w.dave.auth, asNewUser: false });
    await refused(w, ej.request, DSErrorCode.not_a_member);
    await stillWorks(w);
  });

  it("refuses a resync signed by another user than the one whose client is replaced (not_allowed)", async () => {
    const w = await world();
    const { earKey, info } = await joinerSetup(w);
    const old = w.c1.state!.ratchetTree[leafOf(w.c1) * 2] as { leaf: { credential: { identity: Uint8Array }; signaturePublicKey: Uint8Array } };
    const same = await w.c1.newKeyPackage(old.leaf.credential.identity, { signKey: w.c1.state!.signaturePrivateKey, publicKey: old.leaf.signaturePublicKey });
    const asAlice = await externalJoinRequest({ cs: w.h.cs, groupInfo: info.groupInfo, ratchetTree: info.ratchetTree, keyPackage: same, earKey, resync: true, user: w.alice.auth, asNewUser: false });
    await refused(w, asAlice.request, DSErrorCode.not_allowed);
    // and a resync cannot come from an anonymous "new user" either
    const asNew = await externalJoinRequest({ cs: w.h.cs, groupInfo: info.groupInfo, ratchetTree: info.ratchetTree, keyPackage: same, earKey, resync: true, user: w.dave.auth, asNewUser: true });
    await refused(w, asNew.request, DSErrorCode.not_allowed);
    await stillWorks(w);
    const asCarol = await externalJoinRequest({ cs: w.h.cs, groupInfo: info.groupInfo, ratchetTree: info.ratchetTree, keyPackage: same, earKey, resync: true, user: w.carol.auth, asNewUser: false });
    await w.h.ok(asCarol.request);
  });

  it("refuses an external commit sent as add_users, and a member commit sent as external_join (invalid_commit)", async () => {
    const w = await world();
    const { earKey, info } = await joinerSetup(w);
    const ej = await externalJoinRequest({ cs: w.h.cs, groupInfo: info.groupInfo, ratchetTree: info.ratchetTree, keyPackage: await w.d1.newKeyPackage(), earKey, resync: false, user: w.dave.auth, asNewUser: true });
    const eb = bodyOf(ej.request) as Body<DSRequestType.external_join>;
    const asAdd: DSRequestBody = { type: DSRequestType.add_users, groupUpdate: eb.groupUpdate, welcomes: [], pp: { keys: eb.pp!.keys, addedUsers: [{ userAuthKey: w.dave.auth.publicKey, clientCount: 1 }] } };
    await refused(w, signAsMember(asAdd, w.a1.state!), DSErrorCode.invalid_commit);
    const upd = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.update_client });
    const ub = bodyOf(upd.request) as Body<DSRequestType.update_client>;
    await refused(w, signAsUser({ type: DSRequestType.external_join, groupUpdate: ub.groupUpdate, pp: { keys: ub.pp! } }, w.alice.auth), DSErrorCode.invalid_commit);
    await stillWorks(w);
  });
});

describe("send_message validation (draft s\"Send an application message to a group\" / Validation)", () => {
  it("refuses a PublicMessage and a handshake message sent as PrivateMessage (invalid_message)", async () => {
    const w = await world();
    const earKey = await deriveEarKey(w.a1.state!, w.h.cs);
    const pub = await createProposal(w.a1.state!, true, remove(leafOf(w.c1)), w.h.cs);
    await refused(w, signAsMember({ type: DSRequestType.send_message, message: mlsMsg(pub.message), pp: { earKey } }, w.a1.state!), DSErrorCode.invalid_message);
    const priv = await createProposal(w.a1.state!, false, remove(leafOf(w.c1)), w.h.cs);
    assert.equal(priv.message.wireformat, "mls_private_message");
    await refused(w, signAsMember({ type: DSRequestType.send_message, message: mlsMsg(priv.message), pp: { earKey } }, w.a1.state!), DSErrorCode.invalid_message);
    const privCommit = await createCommit({ state: w.a1.state!, cipherSuite: w.h.cs }, { wireAsPublicMessage: false });
    await refused(w, signAsMember({ type: DSRequestType.send_message, message: mlsMsg(privCommit.commit), pp: { earKey } }, w.a1.state!), DSErrorCode.invalid_message);
    await stillWorks(w);
  });

  it("refuses a message for another epoch (wrong_epoch)", async () => {
    const w = await world();
    const stale = w.c1.state!;
    await update(w, w.a1);
    w.c1.inbox.length = 0;
    const m = await createApplicationMessage(stale, text("old epoch"), w.h.cs);
    const earKey = await deriveEarKey(w.a1.state!, w.h.cs);
    const body: DSRequestBody = { type: DSRequestType.send_message, message: mlsMsg({ version: "mls10", wireformat: "mls_private_message", privateMessage: m.privateMessage }), pp: { earKey } };
    await refused(w, signAsMember(body, stale), DSErrorCode.wrong_epoch);
    // with the stale epoch's own key the member learns only that its key is stale: the DS reveals
    // the current epoch to key holders only
    await refused(w, (await sendMessageRequest(stale, w.h.cs, text("old"))).request, DSErrorCode.stale_or_wrong_key);
    w.c1.state = undefined; // c1 stays behind; the others carry on
    await stillWorks(w);
  });

  it("refuses a wrong or stale group-state key (stale_or_wrong_key), a key of the wrong size (malformed), and no pp_data (pp_data_required)", async () => {
    const w = await world();
    const oldKey = await deriveEarKey(w.a1.state!, w.h.cs);
    await update(w, w.b1);
    const m = await sendMessageRequest(w.a1.state!, w.h.cs, text("x"));
    const retry = (pp: { earKey: Uint8Array } | undefined) => resign<Body<DSRequestType.send_message>>(m.request, w.a1.state!, (b) => ({ ...b, pp }));
    await refused(w, retry({ earKey: randomBytes(32) }), DSErrorCode.stale_or_wrong_key);
    await refused(w, retry({ earKey: oldKey }), DSErrorCode.stale_or_wrong_key);
    await refused(w, retry({ earKey: randomBytes(31) }), DSErrorCode.malformed);
    await refused(w, retry(undefined), DSErrorCode.pp_data_required);
    w.a1.state = m.newState;
    await w.h.ok(m.request);
    await drainAll(w, w.a1);
    await stillWorks(w);
  });

  it("refuses a bad request signature (bad_signature) and an unsigned message", async () => {
    const w = await world();
    const m = await sendMessageRequest(w.a1.state!, w.h.cs, text("x"));
    const tampered = Uint8Array.from(m.request);
    tampered[tampered.length - 1]! ^= 0x80;
    await refused(w, tampered, DSErrorCode.bad_signature);
    // signed with a1's key while naming bob's leaf
    const body = bodyOf(m.request);
    const a1Pub = (w.a1.state!.ratchetTree[0] as { leaf: { signaturePublicKey: Uint8Array } }).leaf.signaturePublicKey;
    await refused(w, signAsClient(body, leafOf(w.b1), w.a1.state!.signaturePrivateKey, a1Pub), DSErrorCode.bad_signature);
    await refused(w, anonymous(body), DSErrorCode.bad_signature);
    await refused(w, signAsUser(body, w.alice.auth), DSErrorCode.bad_signature);
    w.a1.state = m.newState;
    await w.h.ok(m.request);
    await drainAll(w, w.a1);
    await stillWorks(w);
  });

  it("refuses a sender index of a blank or absent leaf (not_a_member) and an unknown group (unknown_group)", async () => {
    const w = await world();
    const bobLeaves = [leafOf(w.b1), leafOf(w.b2)];
    const rm = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.remove_users }, bobLeaves.map(remove));
    await w.h.ok(rm.request);
    w.a1.state = rm.newState;
    w.b1.state = w.b2.state = undefined;
    await drainAll(w, w.a1);
    assert.equal(w.a1.state.ratchetTree[bobLeaves[0]! * 2], undefined, "bob's first leaf is blank now");
    const m = await sendMessageRequest(w.a1.state!, w.h.cs, text("x"));
    const body = bodyOf(m.request);
    const intruder = generateUserAuthKey();
    for (const idx of [bobLeaves[0]!, 1000, 0xffffffff]) await refused(w, signAsClient(body, idx, intruder.privateKey, intruder.publicKey), DSErrorCode.not_a_member);
    // the group id travels in the PrivateMessage header: another id names no group
    const pm = (body as Body<DSRequestType.send_message>).message.value as Extract<MLSMessage, { wireformat: "mls_private_message" }>;
    const elsewhere: DSRequestBody = { ...(body as Body<DSRequestType.send_message>), message: mlsMsg({ ...pm, privateMessage: { ...pm.privateMessage, groupId: randomBytes(32) } }) };
    await refused(w, signAsMember(elsewhere, w.a1.state!), DSErrorCode.unknown_group);
    w.a1.state = m.newState;
    await w.h.ok(m.request);
    await drainAll(w, w.a1);
    await stillWorks(w, w.c1);
  });
});

describe("commit validation common to every commit operation (draft s\"MLS messages and GroupInfos\")", () => {
  it("refuses a commit sent as PrivateMessage (invalid_message)", async () => {
    const w = await world();
    const c = await createCommit({ state: w.a1.state!, cipherSuite: w.h.cs }, { wireAsPublicMessage: false });
    assert.equal(c.commit.wireformat, "mls_private_message");
    const body: DSRequestBody = {
      type: DSRequestType.update_client,
      groupUpdate: await groupUpdate(c.commit, c.newState, w),
      pp: { earKey: await deriveEarKey(w.a1.state!, w.h.cs), nextEarKey: await deriveEarKey(c.newState, w.h.cs) },
    };
    await refused(w, signAsMember(body, w.a1.state!), DSErrorCode.invalid_message);
    // an application message where a commit is expected is refused the same way
    const app = await sendMessageRequest(w.a1.state!, w.h.cs, text("not a commit"));
    const ab = bodyOf(app.request) as Body<DSRequestType.send_message>;
    await refused(w, signAsMember({ ...body, groupUpdate: { ...(body as Body<DSRequestType.update_client>).groupUpdate, commit: ab.message } } as DSRequestBody, w.a1.state!), DSErrorCode.invalid_message);
    await stillWorks(w);
  });

  it("refuses a commit for a past epoch (wrong_epoch) and a replayed commit under its old key (stale_or_wrong_key)", async () => {
    const w = await world();
    const stale = w.c1.state!;
    const first = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.update_client });
    await w.h.ok(first.request);
    w.a1.state = first.newState;
    await drainAll(w, w.a1, w.c1);
    // the same commit again: its key no longer opens the group
    await refused(w, first.request, DSErrorCode.stale_or_wrong_key);
    // carol commits from the old epoch, with the current key (e.g. learnt from another device)
    const current = await deriveEarKey(w.a1.state!, w.h.cs);
    const late = await commitRequest(stale, w.h.cs, { type: DSRequestType.update_client });
    await refused(w, resign<Body<DSRequestType.update_client>>(late.request, stale, (b) => ({ ...b, pp: { ...b.pp!, earKey: current } })), DSErrorCode.wrong_epoch);
    await refused(w, resign<Body<DSRequestType.update_client>>(first.request, w.a1.state!, (b) => ({ ...b, pp: { ...b.pp!, earKey: current } })), DSErrorCode.wrong_epoch);
    await w.h.drain(w.c1);
    await stillWorks(w);
  });

  it("refuses a next_ear_key that does not match the ear_key_hash the committer signed (invalid_commit)", async () => {
    const w = await world();
    const r = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.update_client });
    await refused(w, resign<Body<DSRequestType.update_client>>(r.request, w.a1.state!, (b) => ({ ...b, pp: { ...b.pp!, nextEarKey: randomBytes(32) } })), DSErrorCode.invalid_commit);
    // the old key offered as the next one
    await refused(w, resign<Body<DSRequestType.update_client>>(r.request, w.a1.state!, (b) => ({ ...b, pp: { ...b.pp!, nextEarKey: b.pp!.earKey } })), DSErrorCode.invalid_commit);
    // no ear_key_hash extension in the PartialGroupInfo
    const noHash = await createCommit({ state: w.a1.state!, cipherSuite: w.h.cs }, { wireAsPublicMessage: true });
    const gi = await createGroupInfoWithExternalPub(noHash.newState, [], w.h.cs);
    const body: DSRequestBody = {
      type: DSRequestType.update_client,
      groupUpdate: { commit: mlsMsg(noHash.commit), partialGroupInfo: { extensions: gi.extensions.map((e) => mls(encodeExtension(e), decodeExtension)), signature: gi.signature } },
      pp: { earKey: await deriveEarKey(w.a1.state!, w.h.cs), nextEarKey: await deriveEarKey(noHash.newState, w.h.cs) },
    };
    await refused(w, signAsMember(body, w.a1.state!), DSErrorCode.invalid_commit);
    await stillWorks(w);
    await w.h.ok(r.request);
  });

  it("refuses a PartialGroupInfo whose signature does not verify over the new GroupContext (invalid_group_info)", async () => {
    const w = await world();
    const r = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.update_client });
    const bad = resign<Body<DSRequestType.update_client>>(r.request, w.a1.state!, (b) => ({ ...b, groupUpdate: { ...b.groupUpdate, partialGroupInfo: { ...b.groupUpdate.partialGroupInfo, signature: flipLast(b.groupUpdate.partialGroupInfo.signature) } } }));
    await refused(w, bad, DSErrorCode.invalid_group_info);
    // a GroupInfo signature of the OLD epoch does not complete the new one either
    const oldGi = await createGroupInfoWithExternalPub(w.a1.state!, [earKeyHashExtension(r.nextEarKey)], w.h.cs);
    const old = resign<Body<DSRequestType.update_client>>(r.request, w.a1.state!, (b) => ({ ...b, groupUpdate: { ...b.groupUpdate, partialGroupInfo: { ...b.groupUpdate.partialGroupInfo, signature: oldGi.signature } } }));
    await refused(w, old, DSErrorCode.invalid_group_info);
    await stillWorks(w);
    await w.h.ok(r.request);
  });

  it("refuses a commit whose GroupContextExtensions drop or replace the DS in external_senders (invalid_proposal: only RBAC may change outside set_role)", async () => {
    const w = await world({ rbac: true });
    const others = w.a1.state!.groupContext.extensions.filter((e) => e.extensionType !== "external_senders");
    assert.equal(others.length, 1, "the RBAC extension stays");
    const r = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.remove_users }, [remove(leafOf(w.b1)), remove(leafOf(w.b2)), gce(others)]);
    assert.ok(!r.newState.groupContext.extensions.some((e) => e.extensionType === "external_senders"), "the member's new GroupContext has no DS");
    await refused(w, r.request, DSErrorCode.invalid_proposal);
    // replacing the DS by another external sender is refused the same way
    const evil = generateUserAuthKey();
    const swap = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.remove_users }, [remove(leafOf(w.b1)), remove(leafOf(w.b2)), gce([dsExternalSenderExtension(evil.publicKey, "evil.test"), ...others])]);
    await refused(w, swap.request, DSErrorCode.invalid_proposal);
    await stillWorks(w);
    // An EMPTY GroupContextExtensions list means "no change" to ts-mls 1.6.4 (RFC 9420 reads it
    // as "no extensions"); the DS engine follows ts-mls, so members and DS agree the DS stays.
    const empty = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.remove_users }, [remove(leafOf(w.b1)), remove(leafOf(w.b2)), gce([])]);
    assert.ok(empty.newState.groupContext.extensions.some((e) => e.extensionType === "external_senders"));
    await w.h.ok(empty.request);
    const info = await w.h.externalInfo(w.groupId, empty.nextEarKey);
    assert.deepEqual(info.groupInfo.groupContext.extensions, empty.newState.groupContext.extensions);
  });

  it("refuses a commit whose DSRequest is signed by another member than the committer (bad_signature)", async () => {
    const w = await world();
    const r = await commitRequest(w.b1.state!, w.h.cs, { type: DSRequestType.update_client });
    await refused(w, resign(r.request, w.a1.state!, (b) => b), DSErrorCode.bad_signature);
    // bob's index with alice's key
    const a1Pub = (w.a1.state!.ratchetTree[0] as { leaf: { signaturePublicKey: Uint8Array } }).leaf.signaturePublicKey;
    await refused(w, signAsClient(bodyOf(r.request), leafOf(w.b1), w.a1.state!.signaturePrivateKey, a1Pub), DSErrorCode.bad_signature);
    // the committer's user key instead of its leaf key
    await refused(w, signAsUser(bodyOf(r.request), w.bob.auth), DSErrorCode.bad_signature);
    await stillWorks(w);
    await w.h.ok(r.request);
  });

  it("refuses delete_group unless it removes every other member, and from a non-admin (invalid_commit, not_allowed)", async () => {
    const w = await world({ rbac: true });
    const partial = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.delete_group }, [remove(leafOf(w.c1))]);
    await refused(w, partial.request, DSErrorCode.invalid_commit);
    const byCarol = await commitRequest(w.c1.state!, w.h.cs, { type: DSRequestType.delete_group }, [remove(leafOf(w.a1)), remove(leafOf(w.b1)), remove(leafOf(w.b2))]);
    await refused(w, byCarol.request, DSErrorCode.not_allowed);
    await stillWorks(w);
    const all = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.delete_group }, [leafOf(w.b1), leafOf(w.b2), leafOf(w.c1)].map(remove));
    await w.h.ok(all.request);
    assert.equal(await w.h.store.getHead(w.groupId), undefined);
  });
});

describe("set_role and the RBAC extension (draft s\"Role-based access control in groups\")", () => {
  it("an admin promotes a member, who can then add users", async () => {
    const w = await world({ rbac: true, members: ["carol"] });
    const carol = leafOf(w.c1);
    const r = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.set_role }, [gce(withAdmins(w.a1.state!, [0, carol]))]);
    await w.h.ok(r.request);
    w.a1.state = r.newState;
    await drainAll(w, w.a1);
    await addUsers(w, w.c1, [w.dave]);
    await stillWorks(w, w.d1);
    // and the new admin can demote the creator
    const demote = await commitRequest(w.c1.state!, w.h.cs, { type: DSRequestType.set_role }, [gce(withAdmins(w.c1.state!, [carol]))]);
    await w.h.ok(demote.request);
    w.c1.state = demote.newState;
    await drainAll(w, w.c1);
    const { kps } = await keyPackagesFor(w, w.bob.clients);
    const byAlice = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.add_users, addedUsers: [{ userAuthKey: w.bob.auth.publicKey, clientCount: 2 }] }, kps.map((k) => ({ proposalType: "add" as const, add: { keyPackage: k.publicPackage } })));
    await refused(w, byAlice.request, DSErrorCode.not_allowed);
  });

  it("refuses set_role by a non-admin (not_allowed)", async () => {
    const w = await world({ rbac: true, members: ["carol"] });
    const r = await commitRequest(w.c1.state!, w.h.cs, { type: DSRequestType.set_role }, [gce(withAdmins(w.c1.state!, [0, leafOf(w.c1)]))]);
    await refused(w, r.request, DSErrorCode.not_allowed);
    await stillWorks(w, w.c1);
  });

  it("refuses set_role in a group without RBAC extension (not_allowed)", async () => {
    const w = await world({ members: ["carol"] });
    const r = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.set_role }, [gce([...w.a1.state!.groupContext.extensions, rbacExtension([0])])]);
    await refused(w, r.request, DSErrorCode.not_allowed);
    await stillWorks(w);
  });

  it("refuses set_role that also changes another extension, leaves no admin, or names a non-member (invalid_proposal)", async () => {
    const w = await world({ rbac: true, members: ["carol"] });
    const carol = leafOf(w.c1);
    const second = dsExternalSenderExtension(generateUserAuthKey().publicKey, "other.test");
    for (const extensions of [[...withAdmins(w.a1.state!, [0, carol]), second], withAdmins(w.a1.state!, []), withAdmins(w.a1.state!, [0, 7])]) {
      const r = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.set_role }, [gce(extensions)]);
      await refused(w, r.request, DSErrorCode.invalid_proposal);
    }
    // set_role with a Remove besides its one GroupContextExtensions proposal
    const withRemove = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.set_role }, [gce(withAdmins(w.a1.state!, [0])), remove(carol)]);
    await refused(w, withRemove.request, DSErrorCode.invalid_proposal);
    await stillWorks(w);
  });

  it("refuses roles changed by another operation than set_role (not_allowed)", async () => {
    const w = await world({ rbac: true });
    const r = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.remove_users }, [remove(leafOf(w.b1)), remove(leafOf(w.b2)), gce(withAdmins(w.a1.state!, [0, leafOf(w.c1)]))]);
    await refused(w, r.request, DSErrorCode.not_allowed);
    await stillWorks(w);
  });

  it("refuses removing an admin's leaf without dropping it from the admin list (not_allowed)", async () => {
    const w = await world({ rbac: true, members: ["carol"] });
    const carol = leafOf(w.c1);
    const promote = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.set_role }, [gce(withAdmins(w.a1.state!, [0, carol]))]);
    await w.h.ok(promote.request);
    w.a1.state = promote.newState;
    await drainAll(w, w.a1);
    const r = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.remove_users }, [remove(carol)]);
    await refused(w, r.request, DSErrorCode.not_allowed);
    await stillWorks(w);
    const drop = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.remove_users }, [remove(carol), gce(withAdmins(w.a1.state!, [0]))]);
    await w.h.ok(drop.request);
  });

  it("refuses a self-removed admin's leaf committed without dropping it from the admin list (not_allowed)", async () => {
    const w = await world({ rbac: true, members: ["carol"] });
    const carol = leafOf(w.c1);
    const promote = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.set_role }, [gce(withAdmins(w.a1.state!, [0, carol]))]);
    await w.h.ok(promote.request);
    w.a1.state = promote.newState;
    await drainAll(w, w.a1);
    await w.h.ok((await selfRemoveRequest(w.c1.state!, w.h.cs)).request);
    await w.h.drain(w.a1);
    const cover = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.update_client });
    await refused(w, cover.request, DSErrorCode.not_allowed);
  });
});

describe("DS-initiated removal (draft s\"Handling of MLS Proposals by reference\", ARCHITECTURE s3 \"Opaque queue configurations\")", () => {
  it("fans out the DS's Remove proposal, refuses messages and commits that leave it out (pending_removal), accepts the commit that covers it", async () => {
    const w = await world();
    const earKey = await deriveEarKey(w.a1.state!, w.h.cs);
    const target = leafOf(w.c1);
    const before = await w.h.store.getHead(w.groupId);
    const p = await w.h.ds.proposeRemoval(w.groupId, earKey, target);
    assert.equal(DSResponse.deserialize(p.response).body.type, DSResponseType.ok);
    const fanout = await p.fanout();
    assert.equal(fanout.length, 4, "every member, the removed one included, gets the proposal");
    const m0 = decodeMlsMessage(fanout[0]!.message, 0)![0];
    assert.equal(m0.wireformat, "mls_public_message");
    assert.equal((m0 as Extract<MLSMessage, { wireformat: "mls_public_message" }>).publicMessage.content.sender.senderType, "external");
    w.h.deliver(fanout);
    const after = await w.h.store.getHead(w.groupId);
    assert.equal(after!.epoch, before!.epoch, "a proposal keeps the epoch");
    // a1 and b1 process the proposal; b2 has not yet (ts-mls itself would not send
    // application messages with unapplied proposals, so the message comes from b2)
    await w.h.drain(w.a1);
    await w.h.drain(w.b1);
    const msg = await sendMessageRequest(w.b2.state!, w.h.cs, text("hi"));
    await refused(w, msg.request, DSErrorCode.pending_removal);
    const blind = await commitRequest(w.b2.state!, w.h.cs, { type: DSRequestType.update_client });
    await refused(w, blind.request, DSErrorCode.pending_removal);
    // a1's commit includes the pending proposal by reference
    const cover = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.update_client });
    const res = await w.h.ok(cover.request);
    assert.equal(res.fanout.length, 3, "the removed member learns of the commit too");
    w.a1.state = cover.newState;
    assert.equal(w.a1.state.ratchetTree[target * 2], undefined, "carol's leaf is blank");
    w.c1.state = undefined;
    await drainAll(w, w.a1);
    await stillWorks(w, w.b1);
  });

  it("refuses a removal request for a blank leaf and with a wrong key, changing nothing", async () => {
    const w = await world();
    const earKey = await deriveEarKey(w.a1.state!, w.h.cs);
    const before = await w.h.store.getHead(w.groupId);
    await assert.rejects(w.h.ds.proposeRemoval(w.groupId, earKey, 99), (e: { code?: unknown }) => e.code === DSErrorCode.not_a_member);
    await assert.rejects(w.h.ds.proposeRemoval(w.groupId, randomBytes(32), 1), (e: { code?: unknown }) => e.code === DSErrorCode.stale_or_wrong_key);
    assert.deepEqual(await w.h.store.getHead(w.groupId), before);
    await stillWorks(w);
  });
});

describe("version negotiation (draft s\"Framing and processing overview\")", () => {
  it("answers unsupported_version listing [1] to a request of version 2 (and 0)", async () => {
    const w = await world({ members: ["carol"] });
    const m = await sendMessageRequest(w.a1.state!, w.h.cs, text("v2"));
    for (const v of [2, 0, 0xffff]) {
      const bytes = Uint8Array.from(m.request);
      bytes[0] = v >> 8;
      bytes[1] = v & 0xff;
      const r = await w.h.ds.handle(bytes);
      const resp = DSResponse.deserialize(r.response);
      assert.equal(resp.version, 1);
      assert.equal(resp.body.type, DSResponseType.error);
      if (resp.body.type !== DSResponseType.error) return;
      assert.equal(resp.body.code, DSErrorCode.unsupported_version);
      assert.deepEqual(resp.body.supportedVersions, [1]);
      assert.deepEqual(await r.fanout(), []);
    }
    // an undecodable body of version 2 still gets unsupported_version, not malformed
    const junk = await w.h.ds.handle(Uint8Array.of(0, 2, 0xff, 0xff));
    const jr = DSResponse.deserialize(junk.response).body;
    assert.ok(jr.type === DSResponseType.error && jr.code === DSErrorCode.unsupported_version && jr.supportedVersions[0] === 1);
    // other errors list no versions
    const empty = DSResponse.deserialize((await w.h.ds.handle(new Uint8Array(0))).response).body;
    assert.ok(empty.type === DSResponseType.error && empty.code === DSErrorCode.malformed && empty.supportedVersions.length === 0);
    w.a1.state = m.newState;
    await w.h.ok(m.request);
  });
});

describe("welcome_info (joiner records, draft s\"MLS messages and GroupInfos\")", () => {
  async function pendingJoiner() {
    const w = await world({ members: ["carol"] });
    const { kps } = await keyPackagesFor(w, [w.d1]);
    const r = await commitRequest(w.a1.state!, w.h.cs, { type: DSRequestType.add_users, addedUsers: [{ userAuthKey: w.dave.auth.publicKey, clientCount: 1 }] }, [{ proposalType: "add", add: { keyPackage: kps[0]!.publicPackage } }]);
    await w.h.ok(r.request);
    w.a1.state = r.newState;
    await drainAll(w, w.a1);
    return { w, kp: kps[0]!, epoch: r.newState.groupContext.epoch, key: r.nextEarKey };
  }

  it("serves a joiner once: a second fetch by the same joiner is not_found", async () => {
    const { w, kp, epoch, key } = await pendingJoiner();
    await w.h.joinFromWelcome(w.d1, kp, w.groupId);
    await refused(w, await welcomeInfoRequest(w.h.cs, w.groupId, epoch, key, kp), DSErrorCode.not_found);
    await stillWorks(w, w.d1);
  });

  it("refuses a key that does not open that epoch's record (stale_or_wrong_key)", async () => {
    const { w, kp, epoch } = await pendingJoiner();
    await refused(w, await welcomeInfoRequest(w.h.cs, w.groupId, epoch, randomBytes(32), kp), DSErrorCode.stale_or_wrong_key);
    await update(w, w.a1); // the record outlives its epoch: the next epoch's key does not open it
    await refused(w, await welcomeInfoRequest(w.h.cs, w.groupId, epoch, await deriveEarKey(w.a1.state!, w.h.cs), kp), DSErrorCode.stale_or_wrong_key);
    await w.h.joinFromWelcome(w.d1, kp, w.groupId);
  });

  it("answers not_found for an epoch without joiner record, a future epoch, and an unknown joiner", async () => {
    const { w, kp, epoch, key } = await pendingJoiner();
    await update(w, w.a1); // epoch + 1 adds nobody
    const k2 = await deriveEarKey(w.a1.state!, w.h.cs);
    await refused(w, await welcomeInfoRequest(w.h.cs, w.groupId, epoch + 1n, k2, kp), DSErrorCode.not_found);
    await refused(w, await welcomeInfoRequest(w.h.cs, w.groupId, epoch + 5n, k2, kp), DSErrorCode.not_found);
    const stranger = await w.a2.newKeyPackage();
    await refused(w, await welcomeInfoRequest(w.h.cs, w.groupId, epoch, key, stranger), DSErrorCode.not_found);
    await w.h.joinFromWelcome(w.d1, kp, w.groupId);
  });
});

describe("GroupContextExtensions outside set_role (README wire profile: remove_* may carry one only to drop removed admins)", () => {
  it("refuses a remove_clients whose GroupContextExtensions add an external sender (invalid_proposal)", async () => {
    const w = await world({ rbac: true, members: ["bob", "carol"] });
    const evil = dsExternalSenderExtension(generateUserAuthKey().publicKey, "evil.test");
    // bob (no admin) removes his own second client and slips in a second external sender
    const r = await commitRequest(w.b1.state!, w.h.cs, { type: DSRequestType.remove_clients }, [remove(leafOf(w.b2)), gce([...w.b1.state!.groupContext.extensions, evil])]);
    assert.equal(r.newState.groupContext.extensions.filter((e) => e.extensionType === "external_senders").length, 2);
    await refused(w, r.request, DSErrorCode.invalid_proposal);
    await stillWorks(w);
  });
});

describe("operations the DS does not serve (README \"Wire profile\": key_packages and connection_key_packages are served by the KeyPackage directory)", () => {
  it("answers unsupported_operation to key_packages and connection_key_packages", async () => {
    const w = await world({ members: [] });
    for (const t of [DSRequestType.key_packages, DSRequestType.connection_key_packages]) {
      const r = DSResponse.deserialize((await w.h.ds.handle(Uint8Array.of(0, 1, t, 0, 0))).response).body;
      assert.equal(r.type, DSResponseType.error);
      assert.equal(DSErrorCode[(r as { code: DSErrorCode }).code], "unsupported_operation");
    }
  });

  it("answers an error (never throws) to key_packages, connection_key_packages and unknown request types", async () => {
    const w = await world({ members: [] });
    for (const t of [DSRequestType.key_packages, DSRequestType.connection_key_packages, 17, 0xff]) {
      const r = DSResponse.deserialize((await w.h.ds.handle(Uint8Array.of(0, 1, t, 0, 0))).response).body;
      assert.equal(r.type, DSResponseType.error);
      assert.ok([DSErrorCode.malformed, DSErrorCode.unsupported_operation].includes((r as { code: DSErrorCode }).code));
    }
    await stillWorks(w);
  });
});
