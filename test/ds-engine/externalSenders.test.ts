// RFC 9420 s12.1.8.3 external_senders in the RFC form (one extension, a vector) and in the form
// ts-mls 1.6.4 writes (one extension per sender); external proposals (s12.1.8) and GroupInfo
// bootstrap (s12.4.3.1) through the engine.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { createGroupInfoWithExternalPubAndRatchetTree } from "ts-mls";
import {
  encodeExternalSender,
  encodeGroupInfo,
  framedContentTBS,
  signFramedContentTBS,
  type CiphersuiteImpl,
  type ExternalSender,
  type FramedContent,
  type GroupContext,
  type PublicMessage,
} from "../../src/mls/adapter.js";
import {
  externalSendersExtensions,
  InvalidExtensionError,
  readExternalSenders,
} from "../../src/ds/engine/ExternalSenders.js";
import { BadSignatureError, InvalidGroupInfoError, InvalidSenderError, MalformedMessageError, NonMemberSenderError } from "../../src/ds/engine/errors.js";
import { PublicGroup } from "../../src/ds/engine/PublicGroup.js";
import { commit, create, engineCs, join, memberCs, newClient, st, type Client } from "./scenario.js";

const utf8 = (s: string) => new TextEncoder().encode(s);

let cs: CiphersuiteImpl;
let ecs: CiphersuiteImpl;
let senders: { sender: ExternalSender; signKey: Uint8Array }[];

before(async () => {
  cs = await memberCs();
  ecs = await engineCs();
  senders = await Promise.all(
    ["ds-a", "ds-b"].map(async (n) => {
      const k = await ecs.signature.keygen();
      return { sender: { signaturePublicKey: k.publicKey, credential: { credentialType: "basic" as const, identity: utf8(n) } }, signKey: k.signKey };
    }),
  );
});

describe("external_senders extension forms", () => {
  it("reads the RFC 9420 vector form and the ts-mls 1.6.4 per-extension form", () => {
    const list = senders.map((s) => s.sender);
    const rfc = externalSendersExtensions(list, "rfc9420");
    assert.equal(rfc.length, 1);
    const r1 = readExternalSenders(rfc);
    assert.equal(r1.form, "rfc9420");
    assert.deepEqual(r1.senders, list);
    const legacy = externalSendersExtensions(list, "ts-mls-1.6");
    assert.equal(legacy.length, 2);
    assert.deepEqual(legacy[0]!.extensionData, encodeExternalSender(list[0]!));
    const r2 = readExternalSenders([{ extensionType: "application_id", extensionData: utf8("x") }, ...legacy]);
    assert.equal(r2.form, "ts-mls-1.6");
    assert.deepEqual(r2.senders, list);
    // one sender in the 1.6.4 form is not mistaken for the vector form
    const single = readExternalSenders(externalSendersExtensions(list.slice(0, 1), "ts-mls-1.6"));
    assert.equal(single.form, "ts-mls-1.6");
    assert.deepEqual(single.senders, list.slice(0, 1));
    assert.deepEqual(readExternalSenders([]), { senders: [], form: undefined });
  });

  it("refuses an undecodable extension", () => {
    for (const data of [new Uint8Array([0x05, 1, 2]), new Uint8Array([0x40]), new Uint8Array(0)]) {
      assert.throws(() => readExternalSenders([{ extensionType: "external_senders", extensionData: data }]), InvalidExtensionError);
    }
  });
});

describe("external proposals and RFC-form external_senders through the engine", () => {
  let alice: Client;
  let bob: Client;
  let g: PublicGroup;

  before(async () => {
    [alice, bob] = (await Promise.all(["alice", "bob"].map((n) => newClient(n, cs)))) as [Client, Client];
    await create(alice, "ext-senders", [], cs);
    const s0 = st(alice);
    g = await PublicGroup.fromPublicState({ groupContext: s0.groupContext, ratchetTree: s0.ratchetTree, confirmationTag: s0.confirmationTag }, ecs);
    const { commit: c, welcome } = await commit(alice, cs, { proposals: [{ proposalType: "add", add: { keyPackage: bob.keyPackage } }] });
    g = (await g.processCommit(c)).group;
    assert.ok(welcome);
    await join(bob, welcome, cs);
  });

  async function signed(content: FramedContent, signKey: Uint8Array, gc: GroupContext, senderType: PublicMessage["senderType"]): Promise<PublicMessage> {
    const signature = await signFramedContentTBS(signKey, framedContentTBS(content, "mls_public_message", gc), ecs.signature);
    const auth = content.contentType === "commit" ? { contentType: "commit" as const, signature, confirmationTag: new Uint8Array(32).fill(7) } : { contentType: content.contentType, signature };
    return senderType === "member"
      ? ({ content, auth, senderType, membershipTag: new Uint8Array(32) } as PublicMessage)
      : ({ content, auth, senderType } as PublicMessage);
  }

  it("a member commit installs RFC-form external_senders (ts-mls's own decoder cannot read them) and the DS's Remove is then accepted", async () => {
    const exts = externalSendersExtensions(senders.map((s) => s.sender), "rfc9420");
    const gce: FramedContent = {
      groupId: g.groupId,
      epoch: g.epoch,
      sender: { senderType: "member", leafIndex: 0 },
      authenticatedData: new Uint8Array(0),
      contentType: "commit",
      commit: { proposals: [{ proposalOrRefType: "proposal", proposal: { proposalType: "group_context_extensions", groupContextExtensions: { extensions: exts } } }], path: undefined },
    };
    const r = await g.processCommit(await signed(gce, st(alice).signaturePrivateKey, g.groupContext, "member"));
    assert.equal(r.summary.extensionsChanged, true);
    const g2 = r.group;
    assert.deepEqual(g2.groupContext.extensions, exts);

    const removeBob = (senderIndex: number): FramedContent => ({
      groupId: g2.groupId,
      epoch: g2.epoch,
      sender: { senderType: "external", senderIndex },
      authenticatedData: new Uint8Array(0),
      contentType: "proposal",
      proposal: { proposalType: "remove", remove: { removed: 1 } },
    });
    // the second sender of the vector
    const ok = await g2.processProposal(await signed(removeBob(1), senders[1]!.signKey, g2.groupContext, "external"));
    assert.deepEqual(ok.proposal.sender, { senderType: "external", senderIndex: 1 });
    await assert.rejects(g2.processProposal(await signed(removeBob(1), senders[0]!.signKey, g2.groupContext, "external")), BadSignatureError);
    await assert.rejects(g2.processProposal(await signed(removeBob(2), senders[0]!.signKey, g2.groupContext, "external")), NonMemberSenderError);
    // external senders may not send Update (s12.1.8)
    const upd: FramedContent = { ...removeBob(0), proposal: { proposalType: "update", update: { leafNode: g2.leaf(0) as never } } } as FramedContent;
    await assert.rejects(g2.processProposal(await signed(upd, senders[0]!.signKey, g2.groupContext, "external")), InvalidSenderError);
  });

  it("fromGroupInfo verifies the GroupInfo signature and takes the tree from the ratchet_tree extension", async () => {
    const gi = await createGroupInfoWithExternalPubAndRatchetTree(st(alice), [], cs);
    const fromGi = await PublicGroup.fromGroupInfo(encodeGroupInfo(gi), undefined, ecs);
    assert.deepEqual(fromGi.serialize(), g.serialize());
    const sig = gi.signature.slice();
    sig[5]! ^= 1;
    await assert.rejects(PublicGroup.fromGroupInfo({ ...gi, signature: sig }, undefined, ecs), BadSignatureError);
    await assert.rejects(PublicGroup.fromGroupInfo({ ...gi, signer: 9 }, undefined, ecs), InvalidGroupInfoError);
    const noTree = { ...gi, extensions: gi.extensions.filter((e) => e.extensionType !== "ratchet_tree") };
    await assert.rejects(PublicGroup.fromGroupInfo(noTree, undefined, ecs), InvalidGroupInfoError);
    await assert.rejects(PublicGroup.fromGroupInfo(encodeGroupInfo(gi).subarray(1), undefined, ecs), MalformedMessageError);
  });
});
