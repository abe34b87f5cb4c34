// A corpus of real DSRequest and DSResponse encodings, made by ts-mls clients against a live DS:
// every request type and every auth type, with and without pp_data, and every response type.
// The codec tests round-trip it and the fuzz test mutates it.
import { randomBytes } from "node:crypto";
import {
  anonymous,
  commitRequest,
  createGroupRequest,
  deriveEarKey,
  externalCommitInfoRequest,
  externalJoinRequest,
  leafIndexOf,
  selfRemoveRequest,
  sendMessageRequest,
  signAsMember,
  welcomeInfoRequest,
} from "../../src/client/dsMember.js";
import { rbacExtension } from "../../src/ds/DeliveryService.js";
import { DSAuthType, DSRequestType, DSResponseType } from "../../src/protocol/constants.js";
import { DSRequest, type DSRequestBody } from "../../src/protocol/DSRequest.js";
import { DSResponse } from "../../src/protocol/DSResponse.js";
import { DSErrorCode } from "../../src/protocol/errors.js";
import { keyPackagesFor, text, world, type World } from "../ds/kit.js";

export interface Sample {
  name: string;
  bytes: Uint8Array;
  /** a signed request that a mutation must never turn into an accepted one */
  signed: boolean;
}

export interface Corpus {
  w: World;
  requests: Sample[];
  responses: Sample[];
}

/** Same body without pp_data, re-signed by the member (the DS answers pp_data_required). */
function withoutPp(w: World, bytes: Uint8Array): Uint8Array {
  const b = DSRequest.deserialize(bytes).body as DSRequestBody & { pp?: unknown };
  return signAsMember({ ...b, pp: undefined } as DSRequestBody, w.a1.state!);
}

export async function buildCorpus(): Promise<Corpus> {
  const w = await world({ rbac: true, members: ["bob", "carol"] });
  const { h, a1 } = w;
  const req: Sample[] = [];
  const add = (name: string, bytes: Uint8Array, signed = true) => req.push({ name, bytes, signed });

  add("request_group_id", anonymous({ type: DSRequestType.request_group_id }), false);
  add("signature_public_key", anonymous({ type: DSRequestType.signature_public_key }), false);
  const cg = await createGroupRequest({ cs: h.cs, groupId: randomBytes(32), keyPackage: await w.a2.newKeyPackage(), user: w.alice.auth, ds: h.identity, rbac: true });
  add("create_group", cg.request);

  // commits of every operation, all for the current epoch and never sent as they are
  const { kps } = await keyPackagesFor(w, [w.d1]);
  const addUsers = await commitRequest(a1.state!, h.cs, { type: DSRequestType.add_users, addedUsers: [{ userAuthKey: w.dave.auth.publicKey, clientCount: 1 }] }, [{ proposalType: "add", add: { keyPackage: kps[0]!.publicPackage } }]);
  add("add_users", addUsers.request);
  add("add_users without pp", withoutPp(w, addUsers.request));
  const { kps: a2kp } = await keyPackagesFor(w, [w.a2]);
  const addClients = await commitRequest(a1.state!, h.cs, { type: DSRequestType.add_clients }, [{ proposalType: "add", add: { keyPackage: a2kp[0]!.publicPackage } }]);
  add("add_clients", addClients.request);
  const bob = [leafIndexOf(w.b1.state!), leafIndexOf(w.b2.state!)];
  add("remove_users", (await commitRequest(a1.state!, h.cs, { type: DSRequestType.remove_users }, bob.map((removed) => ({ proposalType: "remove" as const, remove: { removed } })))).request);
  add("remove_clients", (await commitRequest(w.b1.state!, h.cs, { type: DSRequestType.remove_clients }, [{ proposalType: "remove", remove: { removed: bob[1]! } }])).request);
  const upd = await commitRequest(a1.state!, h.cs, { type: DSRequestType.update_client });
  add("update_client", upd.request);
  add("update_client without pp", withoutPp(w, upd.request));
  const roles = a1.state!.groupContext.extensions.map((e) => ((e.extensionType as unknown) === 0xf0a1 ? rbacExtension([0, leafIndexOf(w.c1.state!)]) : e));
  add("set_role", (await commitRequest(a1.state!, h.cs, { type: DSRequestType.set_role }, [{ proposalType: "group_context_extensions", groupContextExtensions: { extensions: roles } }])).request);
  const others = [bob[0]!, bob[1]!, leafIndexOf(w.c1.state!)];
  add("delete_group", (await commitRequest(a1.state!, h.cs, { type: DSRequestType.delete_group }, others.map((removed) => ({ proposalType: "remove" as const, remove: { removed } })))).request);
  add("self_remove_client", (await selfRemoveRequest(w.c1.state!, h.cs)).request);
  const msg = await sendMessageRequest(a1.state!, h.cs, text("corpus"));
  add("send_message", msg.request);
  add("send_message without pp", withoutPp(w, msg.request));

  const earKey = await deriveEarKey(a1.state!, h.cs);
  add("external_commit_info", externalCommitInfoRequest(w.groupId, earKey), false);
  const info = await h.externalInfo(w.groupId, earKey);
  const asUser = await externalJoinRequest({ cs: h.cs, groupInfo: info.groupInfo, ratchetTree: info.ratchetTree, keyPackage: await w.a2.newKeyPackage(), earKey, resync: false, user: w.alice.auth, asNewUser: false });
  add("external_join (user_signature)", asUser.request);
  // anonymous: the new user's auth key is not covered by any signature, so not "signed"
  const asNew = await externalJoinRequest({ cs: h.cs, groupInfo: info.groupInfo, ratchetTree: info.ratchetTree, keyPackage: await w.d1.newKeyPackage(), earKey, resync: false, user: w.dave.auth, asNewUser: true });
  add("external_join (anonymous)", asNew.request, false);

  // a pending Welcome joiner: accepted add of dave, welcome_info not fetched yet
  await h.ok(addUsers.request);
  a1.state = addUsers.newState;
  for (const c of [w.b1, w.b2, w.c1]) await h.drain(c);
  const epoch = addUsers.newState.groupContext.epoch;
  add("welcome_info (key_package_signature)", await welcomeInfoRequest(h.cs, w.groupId, epoch, addUsers.nextEarKey, kps[0]!));
  // requests made before that commit are stale now; make the signed ones current again
  const fresh = await commitRequest(a1.state!, h.cs, { type: DSRequestType.update_client });
  add("update_client (current)", fresh.request);
  const m2 = await sendMessageRequest(a1.state!, h.cs, text("corpus 2"));
  add("send_message (current)", m2.request);
  add("self_remove_client (current)", (await selfRemoveRequest(w.c1.state!, h.cs)).request);

  // responses: every type, from the DS where it gives them
  const res: Sample[] = [];
  const put = (name: string, bytes: Uint8Array) => res.push({ name, bytes, signed: false });
  put("ok", new DSResponse(1, { type: DSResponseType.ok }).serialize());
  put("error", new DSResponse(1, { type: DSResponseType.error, code: DSErrorCode.bad_signature, supportedVersions: [] }).serialize());
  put("error unsupported_version", (await h.ds.handle(Uint8Array.of(0, 9, 0))).response);
  put("group_id", (await h.ds.handle(req[0]!.bytes)).response);
  put("signature_public_key", (await h.ds.handle(req[1]!.bytes)).response);
  put("external_commit_info", (await h.ds.handle(externalCommitInfoRequest(w.groupId, addUsers.nextEarKey))).response);
  const eci = DSResponse.deserialize(res[res.length - 1]!.bytes).body;
  if (eci.type !== DSResponseType.external_commit_info) throw new Error("no external_commit_info");
  put("external_commit_info without tree", new DSResponse(1, { type: DSResponseType.external_commit_info, groupInfo: eci.groupInfo }).serialize());
  put("welcome_info", new DSResponse(1, { type: DSResponseType.welcome_info, ratchetTree: eci.ratchetTree! }).serialize());

  for (const s of req) if (DSRequest.deserialize(s.bytes).auth.type === undefined) throw new Error(s.name);
  return { w, requests: req, responses: res };
}

export const AUTH_TYPES = [DSAuthType.anonymous, DSAuthType.client_signature, DSAuthType.user_signature, DSAuthType.key_package_signature];
