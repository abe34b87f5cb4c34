// Crash durability across federation (ARCHITECTURE.md s3 "Concurrency": nothing acknowledged to
// a client is lost on a crash). Two provider processes: a.test hosts the group's DS, b.test
// hosts half the members' queues. Two members send bursts concurrently while
//  - provider B (the remote QS) is killed with SIGKILL: A answers from its durable outbox, and
//    delivers everything once B is back;
//  - provider A (the DS and local QS) is killed with SIGKILL: every send_message that got an ok
//    answer is in every recipient's queue after A restarts (its outbox resumes the remote part).
// Afterwards every queue is gap-free, every acknowledged message is there exactly once, and each
// sender's messages arrive in the order they were sent. Clients reach the providers directly:
// OHTTP is not what is under test here (see dsChain and federation tests).
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { RoleProcess } from "../../src/cli/processes.js";
import { DsHttpClient } from "../../src/client/DsHttpClient.js";
import { anonymous, commitRequest, createGroupRequest, sendMessageRequest } from "../../src/client/dsMember.js";
import { DEMO_SUITE, DemoMember, okBody } from "../../src/demo/DemoMember.js";
import { makeKeyPackageRef } from "../../src/mls/adapter.js";
import { getNodeCiphersuiteImpl } from "../../src/mls/cryptoProvider.js";
import { DSRequestType, DSResponseType } from "../../src/protocol/constants.js";
import { directTransport, eventually, freePort, kill9, metric, type ProviderSpec, startProvider } from "./fanoutKit.js";

const BURST = 25;
const te = new TextEncoder();

interface Tracked {
  m: DemoMember;
  /** every text read, in order */
  texts: string[];
  /** every queue sequence number read, in order (after the group setup) */
  sequences: bigint[];
}

describe("crash durability of fanout: SIGKILL of the remote QS and of the DS during bursts", () => {
  let dir: string;
  let specA: ProviderSpec;
  let specB: ProviderSpec;
  let procA: RoleProcess;
  let procB: RoleProcess;
  let urlA: string;
  let ds: DsHttpClient;
  const members: Tracked[] = [];
  let a1: Tracked, a2: Tracked, b1: Tracked, b2: Tracked;
  let afterRounds = 0;

  /** Sends `count` messages from `who` one after another; returns the texts that got an ok answer. Stops at the first failure. */
  async function burst(who: Tracked, tag: string, count: number, onAck: (n: number) => void = () => {}): Promise<string[]> {
    const acked: string[] = [];
    for (let i = 0; i < count; i++) {
      const text = `${who.m.name}-${tag}-${i}`;
      const s = await sendMessageRequest(who.m.state!, who.m.cs, te.encode(text));
      // the client's ratchet moved on whether or not the DS answers
      who.m.state = s.newState;
      let res;
      try {
        res = await ds.send(s.request);
      } catch {
        break; // the provider is gone: not acknowledged
      }
      okBody(res, "send_message");
      acked.push(text);
      onAck(acked.length);
    }
    return acked;
  }

  /** Reads until nothing new arrives for a while; records texts and sequence numbers. */
  async function drain(t: Tracked): Promise<void> {
    for (let i = 0; i < 50; i++) {
      const c = await t.m.catchUp({ waitMs: i === 0 ? 0 : 300 });
      t.texts.push(...c.texts);
      t.sequences.push(...c.sequences);
      if (c.sequences.length === 0 && i > 0) return;
    }
  }

  /** Every acknowledged text of other senders, exactly once, in per-sender order; the queue gap-free. */
  function check(t: Tracked, tag: string, acked: Map<Tracked, string[]>, unacked: Map<Tracked, string | undefined>): void {
    const seqs = t.sequences;
    for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1]! + 1n, `${t.m.name}'s queue is gap-free`);
    assert.equal(new Set(t.texts).size, t.texts.length, `${t.m.name} read nothing twice`);
    for (const [sender, texts] of acked) {
      if (sender === t) continue;
      const got = t.texts.filter((x) => x.startsWith(`${sender.m.name}-${tag}-`));
      const extra = unacked.get(sender);
      const expected = got.length === texts.length + 1 && extra !== undefined && got.at(-1) === extra ? [...texts, extra] : texts;
      assert.deepEqual(got, expected, `${t.m.name} holds every acknowledged message of ${sender.m.name}, in order`);
    }
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mimi-crash-"));
    const [pa, pb] = [await freePort(), await freePort()];
    const fast = ["--fanout-max-backoff", "500"];
    specA = { domain: "a.test", port: pa, dataDir: join(dir, "a"), logFile: join(dir, "a.log"), federate: [`b.test=http://127.0.0.1:${pb}`], extra: fast };
    specB = { domain: "b.test", port: pb, dataDir: join(dir, "b"), logFile: join(dir, "b.log"), federate: [`a.test=http://127.0.0.1:${pa}`], extra: fast };
    procA = await startProvider(specA);
    procB = await startProvider(specB);
    urlA = procA.url;
    ds = new DsHttpClient(directTransport, urlA);
    const cs = await getNodeCiphersuiteImpl(DEMO_SUITE);
    const at = (url: string) => ({ transport: directTransport, origin: url });
    const mk = async (name: string, url: string, domain: string) => ({ m: await DemoMember.create(name, cs, at(url), domain), texts: [], sequences: [] }) as Tracked;
    a1 = await mk("a1", procA.url, "a.test");
    a2 = await mk("a2", procA.url, "a.test");
    b1 = await mk("b1", procB.url, "b.test");
    b2 = await mk("b2", procB.url, "b.test");
    members.push(a1, a2, b1, b2);
    // a1 creates the group at A's DS and adds the other three
    const key = okBody(await ds.send(anonymous({ type: DSRequestType.signature_public_key })), "signature_public_key");
    const gid = okBody(await ds.send(anonymous({ type: DSRequestType.request_group_id })), "request_group_id");
    if (key.type !== DSResponseType.signature_public_key || gid.type !== DSResponseType.group_id) throw new Error("unexpected answer");
    const created = await createGroupRequest({ cs, groupId: gid.groupId, keyPackage: await a1.m.keyPackage(), user: a1.m.user, ds: { signaturePublicKey: key.signaturePublicKey, domain: "a.test" } });
    okBody(await ds.send(created.request), "create_group");
    a1.m.state = created.state;
    const joiners = [a2, b1, b2];
    const kps = [];
    const domains = new Map<string, string>();
    for (const j of joiners) {
      const kp = await j.m.keyPackage();
      kps.push(kp);
      domains.set(Buffer.from(await makeKeyPackageRef(kp.publicPackage, cs.hash)).toString("hex"), j.m.queue.qsDomain);
    }
    const add = await commitRequest(
      a1.m.state,
      cs,
      { type: DSRequestType.add_users, addedUsers: joiners.map((j) => ({ userAuthKey: j.m.user.publicKey, clientCount: 1 })), domainOfRef: (r) => domains.get(Buffer.from(r).toString("hex"))! },
      kps.map((kp) => ({ proposalType: "add" as const, add: { keyPackage: kp.publicPackage } })),
    );
    okBody(await ds.send(add.request), "add_users");
    a1.m.state = add.newState;
    for (const j of joiners) {
      const c = await j.m.catchUpUntil((x) => x.welcomes.length > 0, { waitMs: 1000, attempts: 5 });
      assert.equal(c.welcomes.length, 1, `${j.m.name} got its Welcome`);
      await j.m.joinFromWelcome(c.welcomes[0]!, ds, gid.groupId);
      j.sequences.push(...c.sequences);
    }
  });

  after(async () => {
    for (const p of [procA, procB]) if (p) await p.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("kill -9 of provider B (the remote QS) mid-burst: A's outbox keeps every acknowledged fanout and delivers it once B restarts", async () => {
    let killed: Promise<void> | undefined;
    const [fromA1, fromB1] = await Promise.all([
      burst(a1, "qs-crash", BURST, (n) => {
        if (n === 8) killed = kill9(procB);
      }),
      burst(b1, "qs-crash", BURST),
    ]);
    await killed;
    // Every message was acknowledged: A answered from its durable outbox while B was down.
    assert.equal(fromA1.length, BURST);
    assert.equal(fromB1.length, BURST);
    assert.ok((await metric(urlA, "mimi_provider_fanout_outbox_pending")) > 0, "A holds the fanout for B");
    procB = await startProvider(specB);
    assert.ok(await eventually(async () => (await metric(urlA, "mimi_provider_fanout_outbox_pending")) === 0, 20_000), "A's outbox drained after B came back");
    assert.ok((await metric(urlA, "mimi_provider_fanout_outbox_events_total", { event: "retried" })) > 0);
    assert.equal(await metric(urlA, "mimi_provider_fanout_outbox_events_total", { event: "expired" }), 0);
    const acked = new Map([[a1, fromA1], [b1, fromB1]]);
    for (const t of members) await drain(t);
    for (const t of members) check(t, "qs-crash", acked, new Map());
  });

  it("kill -9 of provider A (the DS) mid-burst: every send_message answered ok is in the recipients' queues after A restarts", async () => {
    let killed: Promise<void> | undefined;
    const lastSent = new Map<Tracked, string | undefined>();
    const sendUntilGone = (t: Tracked, kill: boolean) =>
      burst(t, "ds-crash", 10 * BURST, (n) => {
        lastSent.set(t, `${t.m.name}-ds-crash-${n}`); // the next one may be in flight at the kill
        if (kill && n === BURST) killed = kill9(procA);
      });
    const [fromA1, fromB1] = await Promise.all([sendUntilGone(a1, true), sendUntilGone(b1, false)]);
    await killed;
    assert.ok(fromA1.length >= BURST && fromA1.length < 10 * BURST, "a1's burst was cut by the kill");
    assert.ok(fromB1.length < 10 * BURST, "b1's burst was cut by the kill");
    procA = await startProvider(specA);
    assert.ok(await eventually(async () => (await metric(urlA, "mimi_provider_fanout_outbox_pending")) === 0, 20_000), "A's outbox resumed and drained after the restart");
    const acked = new Map([[a1, fromA1], [b1, fromB1]]);
    for (const t of members) await drain(t);
    for (const t of members) check(t, "ds-crash", acked, lastSent);
    // The group carries on after the crash.
    await carriesOn();
  });

  it("kill -9 of A while its outbox holds fanout for a dead B: A resumes the outbox from disk, and after B restarts nothing acknowledged is lost", async () => {
    await kill9(procB);
    const [fromA1, fromB1] = await Promise.all([burst(a1, "both", 10), burst(b1, "both", 10)]);
    assert.equal(fromA1.length + fromB1.length, 20, "A acknowledged every message while B was down");
    const pending = await metric(urlA, "mimi_provider_fanout_outbox_pending");
    assert.equal(pending, 20, "one stored request per message for b.test");
    await kill9(procA);
    procA = await startProvider(specA);
    assert.equal(await metric(urlA, "mimi_provider_fanout_outbox_pending"), pending, "the restarted A resumed every stored request");
    procB = await startProvider(specB);
    assert.ok(await eventually(async () => (await metric(urlA, "mimi_provider_fanout_outbox_pending")) === 0, 20_000), "drained once B is back");
    const acked = new Map([[a1, fromA1], [b1, fromB1]]);
    for (const t of members) await drain(t);
    for (const t of members) check(t, "both", acked, new Map());
    await carriesOn();
  });

  async function carriesOn(): Promise<void> {
    const tag = `after${++afterRounds}`;
    const sent = await burst(a2, tag, 1);
    assert.equal(sent.length, 1);
    for (const t of [a1, b1, b2]) {
      await drain(t);
      assert.equal(t.texts.at(-1), sent[0], `${t.m.name} reads the message sent after the restart`);
    }
  }
});
