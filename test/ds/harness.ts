// A DS with real ts-mls clients around it: users with several clients, each client with its
// own queue config; helpers that send requests and check responses.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { acceptAll, emptyPskIndex, joinGroup, processMessage, type ClientState, type CiphersuiteImpl, type KeyPackage, type PrivateKeyPackage } from "ts-mls";
import { externalCommitInfoRequest, generateUserAuthKey, makeKeyPackage, welcomeInfoRequest, type UserAuthKey } from "../../src/client/dsMember.js";
import type { GroupInfo, RatchetTree } from "ts-mls";
import { DeliveryService, type DsResult, type FanoutItem } from "../../src/ds/DeliveryService.js";
import { openJoinerKey } from "../../src/ds/earKey.js";
import { getNodeCiphersuiteImpl } from "../../src/mls/cryptoProvider.js";
import { decodeMlsMessage, decodeRatchetTree } from "../../src/mls/adapter.js";
import { DSResponseType } from "../../src/protocol/constants.js";
import { DSResponse } from "../../src/protocol/DSResponse.js";
import { DSErrorCode } from "../../src/protocol/errors.js";
import { encodeClientQueueConfig } from "../../src/protocol/ClientQueueConfig.js";
import type { GroupStore } from "../../src/store/index.js";
import { MemoryGroupStore } from "../../src/store/index.js";
import { signWithLabelEd25519 } from "../../src/ds/signatures.js";
import { generateEd25519 } from "../../src/util/keygen.js";

export const SUITE = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";

export function dsIdentity() {
  const k = generateEd25519();
  return { domain: "a.test", signaturePublicKey: k.publicKey, signaturePrivateKey: k.privateKey };
}

export interface TestClient {
  name: string;
  user: TestUser;
  qsDomain: string;
  /**
   * Every fresh KeyPackage gets a newly sealed queue reference and, unless given, a fresh
   * pseudonymous credential (a resync must reuse the replaced leaf's credential).
   */
  newKeyPackage(pseudonym?: Uint8Array, signatureKeyPair?: { signKey: Uint8Array; publicKey: Uint8Array }): Promise<{ publicPackage: KeyPackage; privatePackage: PrivateKeyPackage }>;
  state?: ClientState;
  inbox: FanoutItem[];
}

export interface TestUser {
  name: string;
  auth: UserAuthKey;
  clients: TestClient[];
}

export class Harness {
  readonly identity = dsIdentity();
  readonly store: GroupStore;
  readonly ds: DeliveryService;
  cs!: CiphersuiteImpl;
  /** every KeyPackage the harness made, in order (for tests that look for identifiers) */
  readonly keyPackages: { publicPackage: KeyPackage; privatePackage: PrivateKeyPackage }[] = [];
  /** queue config bytes -> client, to deliver fanout */
  private readonly queues = new Map<string, TestClient>();

  constructor(store?: GroupStore) {
    this.store = store ?? new MemoryGroupStore();
    this.ds = new DeliveryService({ store: this.store, identity: this.identity });
  }

  async init(): Promise<this> {
    this.cs = await getNodeCiphersuiteImpl(SUITE);
    return this;
  }

  user(name: string, clients: number, qsDomain = "a.test"): TestUser {
    const u: TestUser = { name, auth: generateUserAuthKey(), clients: [] };
    for (let i = 0; i < clients; i++) {
      const c: TestClient = {
        name: `${name}${i + 1}`,
        user: u,
        qsDomain,
        inbox: [],
        newKeyPackage: async (pseudonym?: Uint8Array, signatureKeyPair?: { signKey: Uint8Array; publicKey: Uint8Array }) => {
          const qc = { qsDomain, sealedReference: randomBytes(48) };
          const kp = await makeKeyPackage(this.cs, pseudonym ?? randomBytes(16), qc, signatureKeyPair);
          this.queues.set(Buffer.from(encodeClientQueueConfig(qc)).toString("hex"), c);
          this.keyPackages.push(kp);
          return kp;
        },
      };
      u.clients.push(c);
    }
    return u;
  }

  /** Sends a request; delivers its fanout into the recipients' inboxes; returns the response. */
  async send(request: Uint8Array): Promise<{ response: DSResponse; result: DsResult; fanout: FanoutItem[] }> {
    if (process.env.MIMI_TEST_TRACE) process.stderr.write(`[ds] start\n`);
    const result = await this.ds.handle(request);
    if (process.env.MIMI_TEST_TRACE) process.stderr.write(`[ds] ${result.operation}\n`);
    const response = DSResponse.deserialize(result.response);
    const fanout = await result.fanout();
    this.deliver(fanout);
    return { response, result, fanout };
  }

  /** Puts fanout items into their recipients' inboxes (also for DS-initiated messages). */
  deliver(fanout: readonly FanoutItem[]): void {
    for (const f of fanout) {
      const c = this.queues.get(Buffer.from(f.queueConfig).toString("hex"));
      assert.ok(c, "fanout to an unknown queue config");
      c.inbox.push(f);
    }
  }

  async ok(request: Uint8Array) {
    const r = await this.send(request);
    if (r.response.body.type === DSResponseType.error) assert.fail(`expected ok, got error ${DSErrorCode[r.response.body.code]}`);
    return r;
  }

  async fails(request: Uint8Array, code: DSErrorCode) {
    const r = await this.send(request);
    assert.equal(r.response.body.type, DSResponseType.error, `expected ${DSErrorCode[code]}, got success`);
    if (r.response.body.type === DSResponseType.error) assert.equal(DSErrorCode[r.response.body.code], DSErrorCode[code]);
    assert.equal(r.fanout.length, 0, "a refused request fans nothing out");
    return r;
  }

  /** external_commit_info: the GroupInfo and tree an external joiner needs. */
  async externalInfo(groupId: Uint8Array, earKey: Uint8Array): Promise<{ groupInfo: GroupInfo; ratchetTree: RatchetTree }> {
    const r = await this.ok(externalCommitInfoRequest(groupId, earKey));
    const b = r.response.body;
    assert.equal(b.type, DSResponseType.external_commit_info);
    if (b.type !== DSResponseType.external_commit_info) throw new Error("unreachable");
    assert.equal(b.groupInfo.value.wireformat, "mls_group_info");
    if (b.groupInfo.value.wireformat !== "mls_group_info" || !b.ratchetTree) throw new Error("no GroupInfo or tree");
    return { groupInfo: b.groupInfo.value.groupInfo, ratchetTree: b.ratchetTree.value };
  }

  /** Processes everything in a client's inbox with ts-mls (commits, proposals, app messages). */
  async drain(c: TestClient): Promise<Uint8Array[]> {
    const plaintexts: Uint8Array[] = [];
    const items = c.inbox.splice(0);
    for (const it of items) {
      const m = decodeMlsMessage(it.message, 0)![0];
      if (m.wireformat === "mls_welcome") continue;
      if (m.wireformat !== "mls_public_message" && m.wireformat !== "mls_private_message") continue;
      if (!c.state) continue;
      const r = await processMessage(m, c.state, emptyPskIndex, acceptAll, this.cs);
      c.state = r.newState;
      if (r.kind === "applicationMessage") plaintexts.push(r.message);
    }
    return plaintexts;
  }

  /** Joins from the Welcome in the inbox: opens the sealed key, fetches welcome_info, joins. */
  async joinFromWelcome(c: TestClient, kp: { publicPackage: KeyPackage; privatePackage: PrivateKeyPackage }, groupId: Uint8Array) {
    const idx = c.inbox.findIndex((f) => decodeMlsMessage(f.message, 0)![0].wireformat === "mls_welcome");
    assert.ok(idx >= 0, `${c.name} got no Welcome`);
    const item = c.inbox.splice(idx, 1)[0]!;
    assert.ok(item.sealedJoinerKey, "Welcome comes with the sealed group-state key");
    const { epoch, earKey } = await openJoinerKey(SUITE, kp.privatePackage.initPrivateKey, item.sealedJoinerKey!, groupId);
    const w = decodeMlsMessage(item.message, 0)![0];
    assert.equal(w.wireformat, "mls_welcome");
    const res = await this.ok(await welcomeInfoRequest(this.cs, groupId, epoch, earKey, kp));
    assert.equal(res.response.body.type, DSResponseType.welcome_info);
    const tree = (res.response.body as { ratchetTree: { value: Parameters<typeof joinGroup>[5] } }).ratchetTree.value;
    c.state = await joinGroup((w as { welcome: Parameters<typeof joinGroup>[0] }).welcome, kp.publicPackage, kp.privatePackage, emptyPskIndex, this.cs, tree);
    return { epoch, earKey };
  }
}

export { signWithLabelEd25519, decodeRatchetTree };
