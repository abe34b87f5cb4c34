// RFC 9420 s12 group operations followed by the key-less engine next to real ts-mls members:
// after every epoch the engine's GroupContext, ratchet tree and confirmation tag are
// byte-identical to every member's; every refusal is a typed error that leaves the state as is.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { createApplicationMessage, createGroupInfoWithExternalPub, encodeExternalSender, proposeExternal, type MLSMessage } from "ts-mls";
import { encodeMlsMessage, type CiphersuiteImpl } from "../../src/mls/adapter.js";
import {
  BadSignatureError,
  DuplicateProposalError,
  InvalidProposalError,
  InvalidSenderError,
  InvalidUpdatePathError,
  MalformedMessageError,
  NonMemberSenderError,
  PrivateHandshakeError,
  UnexpectedContentError,
  UnknownGroupError,
  UnknownProposalError,
  WrongEpochError,
  type DsEngineError,
} from "../../src/ds/engine/errors.js";
import { PublicGroup } from "../../src/ds/engine/PublicGroup.js";
import {
  assertSameAsMembers,
  commit,
  create,
  deliver,
  engineCs,
  externalJoin,
  join,
  memberCs,
  newClient,
  propose,
  publicOf,
  renewKeyPackage,
  resign,
  st,
  updateLeafNode,
  type Client,
} from "./scenario.js";

let cs: CiphersuiteImpl;
let ecs: CiphersuiteImpl;
before(async () => {
  cs = await memberCs();
  ecs = await engineCs();
});

async function bootstrap(c: Client): Promise<PublicGroup> {
  const s = st(c);
  return PublicGroup.fromPublicState({ groupContext: s.groupContext, ratchetTree: s.ratchetTree, confirmationTag: s.confirmationTag }, ecs);
}

describe("RFC 9420 s12: engine follows a group of ts-mls members", () => {
  it("adds, path update, Update/Remove by reference, external join, resync, external-sender Remove, empty GroupContextExtensions", async () => {
    const ds = await ecs.signature.keygen();
    // external_senders first: ts-mls 1.6.4 indexes senders by extension position when proposing
    const extSenders = { extensionType: "external_senders" as const, extensionData: encodeExternalSender({ signaturePublicKey: ds.publicKey, credential: { credentialType: "basic", identity: new TextEncoder().encode("ds") } }) };
    const [alice, bob, carol, dave, erin] = await Promise.all(["alice", "bob", "carol", "dave", "erin"].map((n) => newClient(n, cs)));
    assert.ok(alice && bob && carol && dave && erin);
    await create(alice, "scenario-group", [extSenders], cs);
    let g = await bootstrap(alice);
    assert.equal(g.epoch, 0n);

    // epoch 1: alice adds bob (add-only commit: no path)
    {
      const { commit: c, welcome } = await commit(alice, cs, { proposals: [{ proposalType: "add", add: { keyPackage: bob.keyPackage } }] });
      const r = await g.processCommit(encodeMlsMessage(c));
      g = r.group;
      assert.equal(r.summary.epoch, 1n);
      assert.deepEqual(r.summary.added.map((a) => a.leafIndex), [1]);
      assert.equal(r.summary.pathPresent, false);
      assert.deepEqual(r.summary.committer, { kind: "member", leafIndex: 0 });
      assert.ok(welcome);
      // the summary's KeyPackageRef is the one the Welcome addresses
      assert.deepEqual(welcome.secrets.map((s) => Buffer.from(s.newMember).toString("hex")), r.summary.added.map((a) => Buffer.from(a.keyPackageRef).toString("hex")));
      await join(bob, welcome, cs);
      assertSameAsMembers(g, [alice, bob]);
    }

    // epoch 2: bob adds carol and dave in one commit
    {
      const { commit: c, welcome } = await commit(bob, cs, {
        proposals: [
          { proposalType: "add", add: { keyPackage: carol.keyPackage } },
          { proposalType: "add", add: { keyPackage: dave.keyPackage } },
        ],
      });
      const r = await g.processCommit(c);
      g = r.group;
      assert.deepEqual(r.summary.added.map((a) => a.leafIndex), [2, 3]);
      await deliver(c, [alice], cs);
      assert.ok(welcome);
      await join(carol, welcome, cs);
      await join(dave, welcome, cs);
      assertSameAsMembers(g, [alice, bob, carol, dave]);
      assert.equal(g.members().length, 4);
    }

    // epoch 3: carol's empty commit (path update)
    {
      const { commit: c } = await commit(carol, cs);
      const r = await g.processCommit(c);
      g = r.group;
      assert.equal(r.summary.pathPresent, true);
      assert.deepEqual([r.summary.added, r.summary.removed, r.summary.updated], [[], [], []]);
      await deliver(c, [alice, bob, dave], cs);
      assertSameAsMembers(g, [alice, bob, carol, dave]);
    }

    // epoch 4: dave proposes an Update, alice commits it by reference
    {
      const leafNode = await updateLeafNode(dave, cs);
      const p = await propose(dave, { proposalType: "update", update: { leafNode } }, cs);
      const pr = await g.processProposal(p);
      g = pr.group;
      assert.equal(g.pendingProposals.length, 1);
      assert.equal(pr.proposal.proposal.proposalType, "update");
      await deliver(p, [alice, bob, carol], cs);
      const { commit: c } = await commit(alice, cs);
      const r = await g.processCommit(c);
      g = r.group;
      assert.deepEqual(r.summary.updated.map((u) => u.leafIndex), [3]);
      assert.equal(r.summary.proposals[0]?.ref !== undefined, true);
      assert.equal(g.pendingProposals.length, 0);
      await deliver(c, [bob, carol], cs);
      // dave cannot follow: ts-mls keeps no private key for a hand-made Update; he resyncs below
      assertSameAsMembers(g, [alice, bob, carol]);
    }

    // epoch 5: bob proposes removing carol, alice commits
    {
      const p = await propose(bob, { proposalType: "remove", remove: { removed: 2 } }, cs);
      g = (await g.processProposal(p)).group;
      await deliver(p, [alice], cs);
      const { commit: c } = await commit(alice, cs);
      const r = await g.processCommit(c);
      g = r.group;
      assert.deepEqual(r.summary.removed.map((x) => [x.leafIndex, new TextDecoder().decode((x.leafNode.credential as { identity: Uint8Array }).identity)]), [[2, "carol"]]);
      await deliver(c, [bob], cs);
      assertSameAsMembers(g, [alice, bob]);
    }

    // epoch 6: erin joins by external commit and takes the first blank leaf (carol's)
    {
      const pm = await externalJoin(erin, alice, false, cs);
      const r = await g.processCommit(pm);
      g = r.group;
      assert.deepEqual(r.summary.committer, { kind: "new_member", leafIndex: 2, resyncOf: undefined });
      await deliver(pm, [alice, bob], cs);
      assertSameAsMembers(g, [alice, bob, erin]);
    }

    // epoch 7: dave lost his state and resyncs: external commit removing his old leaf
    {
      const dave2 = await renewKeyPackage(dave, cs);
      const pm = await externalJoin(dave2, bob, true, cs);
      const r = await g.processCommit(pm);
      g = r.group;
      assert.deepEqual(r.summary.committer, { kind: "new_member", leafIndex: 3, resyncOf: 3 });
      assert.deepEqual(r.summary.removed.map((x) => x.leafIndex), [3]);
      await deliver(pm, [alice, bob, erin], cs);
      dave.state = dave2.state;
      assertSameAsMembers(g, [alice, bob, erin, dave]);
    }

    // epoch 8: the DS, an external sender, proposes removing erin; bob commits it
    {
      const gi = await createGroupInfoWithExternalPub(st(alice), [], cs);
      const p = await proposeExternal(gi, { proposalType: "remove", remove: { removed: 2 } }, ds.publicKey, ds.signKey, cs);
      const pr = await g.processProposal(p);
      g = pr.group;
      assert.deepEqual(pr.proposal.sender, { senderType: "external", senderIndex: 0 });
      await deliver(p, [alice, bob, dave, erin], cs);
      const { commit: c } = await commit(bob, cs);
      const r = await g.processCommit(c);
      g = r.group;
      assert.deepEqual(r.summary.removed.map((x) => x.leafIndex), [2]);
      assert.deepEqual(r.summary.proposals.map((x) => x.sender?.senderType), ["external"]);
      await deliver(c, [alice, dave], cs);
      assertSameAsMembers(g, [alice, bob, dave]);
    }

    // epoch 9: GroupContextExtensions with an empty list. ts-mls members keep the old
    // extensions (RFC 9420 would clear them); the engine must do as its members do.
    {
      const before = g.groupContext.extensions;
      const { commit: c } = await commit(alice, cs, { proposals: [{ proposalType: "group_context_extensions", groupContextExtensions: { extensions: [] } }] });
      const r = await g.processCommit(c);
      g = r.group;
      assert.equal(r.summary.extensionsChanged, false);
      assert.deepEqual(g.groupContext.extensions, before);
      await deliver(c, [bob, dave], cs);
      assertSameAsMembers(g, [alice, bob, dave]);
    }

    // state survives serialization and keeps following the group
    {
      const restored = PublicGroup.deserialize(g.serialize(), ecs);
      assert.deepEqual(restored.serialize(), g.serialize());
      const { commit: c } = await commit(dave, cs);
      g = (await restored.processCommit(c)).group;
      await deliver(c, [alice, bob], cs);
      assertSameAsMembers(g, [alice, bob, dave]);
      assert.equal(g.epoch, 10n);
    }
  });
});

describe("refusals are typed and leave the state unchanged", () => {
  let alice: Client;
  let bob: Client;
  let carol: Client;
  let g: PublicGroup;

  before(async () => {
    [alice, bob, carol] = await Promise.all(["alice", "bob", "carol"].map((n) => newClient(n, cs))) as [Client, Client, Client];
    await create(alice, "negative-group", [], cs);
    g = await bootstrap(alice);
    const { commit: c, welcome } = await commit(alice, cs, {
      proposals: [
        { proposalType: "add", add: { keyPackage: bob.keyPackage } },
        { proposalType: "add", add: { keyPackage: carol.keyPackage } },
      ],
    });
    g = (await g.processCommit(c)).group;
    assert.ok(welcome);
    await join(bob, welcome, cs);
    await join(carol, welcome, cs);
    assertSameAsMembers(g, [alice, bob, carol]);
  });

  /** `op` fails with `type` (and `code`) and the engine state is byte-identical afterwards. */
  async function refuses(op: (grp: PublicGroup) => Promise<unknown>, type: new (...a: never[]) => DsEngineError, code: string): Promise<void> {
    const snapshot = g.serialize();
    await assert.rejects(op(g), (e: unknown) => {
      assert.ok(e instanceof type, `expected ${type.name}, got ${String(e)}`);
      assert.equal((e as DsEngineError).code, code);
      return true;
    });
    assert.deepEqual(g.serialize(), snapshot);
  }

  it("a commit sent as PrivateMessage (s6.3) is refused: the DS cannot track it", async () => {
    const { createCommit } = await import("ts-mls");
    const r = await createCommit({ state: st(alice), cipherSuite: cs }, { wireAsPublicMessage: false });
    assert.equal(r.commit.wireformat, "mls_private_message");
    await refuses((grp) => grp.processCommit(encodeMlsMessage(r.commit)), PrivateHandshakeError, "private_handshake");
    const p = await (await import("ts-mls")).createProposal(st(bob), false, { proposalType: "remove", remove: { removed: 2 } }, cs);
    await refuses((grp) => grp.processProposal(p.message), PrivateHandshakeError, "private_handshake");
    const app = await createApplicationMessage(st(carol), new Uint8Array([1]), cs);
    const appMsg: MLSMessage = { version: "mls10", wireformat: "mls_private_message", privateMessage: app.privateMessage };
    await refuses((grp) => grp.processCommit(appMsg), UnexpectedContentError, "unexpected_content");
  });

  it("a forged FramedContent signature is refused", async () => {
    const { commit: c } = await (async () => {
      const { createCommit } = await import("ts-mls");
      return createCommit({ state: st(bob), cipherSuite: cs }, { wireAsPublicMessage: true });
    })();
    const pm = publicOf(c);
    const sig = pm.auth.signature.slice();
    sig[0]! ^= 0x80;
    await refuses((grp) => grp.processCommit({ ...pm, auth: { ...pm.auth, signature: sig } } as typeof pm), BadSignatureError, "bad_signature");
    // signed by another member's key but claiming bob's leaf
    const forged = await resign(pm, st(carol).signaturePrivateKey, st(bob).groupContext, cs);
    await refuses((grp) => grp.processCommit(forged), BadSignatureError, "bad_signature");
  });

  it("a sender that is not a member is refused", async () => {
    const { createCommit } = await import("ts-mls");
    const pm = publicOf((await createCommit({ state: st(bob), cipherSuite: cs }, { wireAsPublicMessage: true })).commit);
    for (const leafIndex of [3, 7, 2 ** 31]) {
      const moved = { ...pm, content: { ...pm.content, sender: { senderType: "member" as const, leafIndex } } };
      await refuses((grp) => grp.processCommit(moved), NonMemberSenderError, "non_member_sender");
    }
    const ext = { ...pm, senderType: "external", content: { ...pm.content, sender: { senderType: "external" as const, senderIndex: 0 } } };
    await refuses((grp) => grp.processCommit(ext as typeof pm), InvalidSenderError, "invalid_sender");
  });

  it("a commit for a past epoch, or for another group, is refused", async () => {
    const { createCommit } = await import("ts-mls");
    const before = st(bob);
    const r = await createCommit({ state: before, cipherSuite: cs }, { wireAsPublicMessage: true });
    const next = (await g.processCommit(r.commit)).group;
    assert.equal(next.epoch, g.epoch + 1n);
    // replaying it against the advanced state: wrong epoch
    await assert.rejects(next.processCommit(r.commit), (e: unknown) => e instanceof WrongEpochError && e.expected === g.epoch + 1n && e.received === g.epoch);
    const pm = publicOf(r.commit);
    const other = { ...pm, content: { ...pm.content, groupId: new TextEncoder().encode("other-group") } };
    await refuses((grp) => grp.processCommit(other), UnknownGroupError, "unknown_group");
    // the original state still accepts the commit
    assert.equal((await g.processCommit(r.commit)).group.epoch, g.epoch + 1n);
  });

  it("references to unknown proposals, duplicate proposals and wrong content types are refused", async () => {
    const { createCommit, createProposal } = await import("ts-mls");
    // bob proposes removing carol; the DS never sees the proposal, then bob commits it by reference
    const p = await createProposal(st(bob), true, { proposalType: "remove", remove: { removed: 2 } }, cs);
    const c = await createCommit({ state: p.newState, cipherSuite: cs }, { wireAsPublicMessage: true });
    await refuses((grp) => grp.processCommit(c.commit), UnknownProposalError, "unknown_proposal");
    const withP = (await g.processProposal(p.message)).group;
    await assert.rejects(withP.processProposal(p.message), DuplicateProposalError);
    assert.equal((await withP.processCommit(c.commit)).summary.removed[0]?.leafIndex, 2);
    await refuses((grp) => grp.processCommit(p.message), UnexpectedContentError, "unexpected_content");
    await refuses((grp) => grp.processProposal(c.commit), UnexpectedContentError, "unexpected_content");
  });

  it("malformed bytes are refused with a decode error", async () => {
    const { createCommit } = await import("ts-mls");
    const bytes = encodeMlsMessage((await createCommit({ state: st(carol), cipherSuite: cs }, { wireAsPublicMessage: true })).commit);
    await refuses((grp) => grp.processCommit(bytes.subarray(0, bytes.length - 3)), MalformedMessageError, "malformed_message");
    await refuses((grp) => grp.processCommit(new Uint8Array([...bytes, 0])), MalformedMessageError, "malformed_message");
    await refuses((grp) => grp.processCommit(new Uint8Array([0, 1, 0, 9, 9])), MalformedMessageError, "malformed_message");
  });

  it("an UpdatePath with a missing ciphertext (s12.4.2) is refused even when properly signed", async () => {
    const { createCommit } = await import("ts-mls");
    const pm = publicOf((await createCommit({ state: st(alice), cipherSuite: cs }, { wireAsPublicMessage: true })).commit);
    assert.ok(pm.content.contentType === "commit" && pm.content.commit.path);
    const path = pm.content.commit.path;
    const nodes = path.nodes.map((n, i) => (i === 0 ? { ...n, encryptedPathSecret: n.encryptedPathSecret.slice(1) } : n));
    const tampered = { ...pm, content: { ...pm.content, commit: { ...pm.content.commit, path: { ...path, nodes } } } };
    const signed = await resign(tampered, st(alice).signaturePrivateKey, st(alice).groupContext, cs);
    await refuses((grp) => grp.processCommit(signed), InvalidUpdatePathError, "invalid_update_path");
  });

  it("a commit removing its own committer (s12.2) is refused", async () => {
    const { createCommit } = await import("ts-mls");
    const pm = publicOf((await createCommit({ state: st(alice), cipherSuite: cs }, { wireAsPublicMessage: true })).commit);
    assert.ok(pm.content.contentType === "commit");
    const proposals = [{ proposalOrRefType: "proposal" as const, proposal: { proposalType: "remove" as const, remove: { removed: 0 } } }];
    const tampered = { ...pm, content: { ...pm.content, commit: { ...pm.content.commit, proposals } } };
    const signed = await resign(tampered, st(alice).signaturePrivateKey, st(alice).groupContext, cs);
    await refuses((grp) => grp.processCommit(signed), InvalidProposalError, "invalid_proposal");
  });

  it("proposals are checked on receipt (s12.1): sender type, KeyPackage signature, Remove target", async () => {
    const { createProposal, proposeAddExternal, createGroupInfoWithExternalPub } = await import("ts-mls");
    // a would-be member asks to be added (new_member_proposal): accepted, stored by reference
    const frank = await newClient("frank", cs);
    const gi = await createGroupInfoWithExternalPub(st(alice), [], cs);
    const addMsg = await proposeAddExternal(gi, frank.keyPackage, frank.privateKeys, cs);
    const r = await g.processProposal(addMsg);
    assert.deepEqual(r.proposal.sender, { senderType: "new_member_proposal" });
    assert.equal(r.group.pendingProposals.length, 1);
    // the same sender type with anything but Add
    const pm = publicOf(addMsg);
    assert.ok(pm.content.contentType === "proposal");
    const notAdd = { ...pm, content: { ...pm.content, proposal: { proposalType: "remove" as const, remove: { removed: 1 } } } };
    await refuses((grp) => grp.processProposal(notAdd), InvalidSenderError, "invalid_sender");
    // an Add whose KeyPackage signature is broken, properly framed and signed by bob
    const kp = { ...frank.keyPackage, signature: frank.keyPackage.signature.map((b, i) => (i === 0 ? b ^ 1 : b)) };
    const badAdd = await createProposal(st(bob), true, { proposalType: "add", add: { keyPackage: kp } }, cs);
    await refuses((grp) => grp.processProposal(badAdd.message), BadSignatureError, "bad_signature");
    // a Remove of a blank leaf
    const blank = await createProposal(st(bob), true, { proposalType: "remove", remove: { removed: 3 } }, cs);
    await refuses((grp) => grp.processProposal(blank.message), InvalidProposalError, "invalid_proposal");
  });

  it("an external commit removing someone else's leaf (s12.4.3.2) is refused", async () => {
    const mallory = await newClient("mallory", cs);
    const pm = await externalJoin(mallory, alice, false, cs);
    assert.ok(pm.content.contentType === "commit");
    const proposals = [
      ...pm.content.commit.proposals,
      { proposalOrRefType: "proposal" as const, proposal: { proposalType: "remove" as const, remove: { removed: 1 } } },
    ];
    const tampered = { ...pm, content: { ...pm.content, commit: { ...pm.content.commit, proposals } } };
    const signed = await resign(tampered, mallory.privateKeys.signaturePrivateKey, st(alice).groupContext, cs);
    await refuses((grp) => grp.processCommit(signed), InvalidProposalError, "invalid_proposal");
    // and one without its ExternalInit
    const noInit = { ...pm, content: { ...pm.content, commit: { ...pm.content.commit, proposals: [] } } };
    await refuses(async (grp) => grp.processCommit(await resign(noInit, mallory.privateKeys.signaturePrivateKey, st(alice).groupContext, cs)), InvalidProposalError, "invalid_proposal");
    // the untouched external commit is fine
    assert.equal((await g.processCommit(pm)).summary.committer.kind, "new_member");
  });
});
