// A demo and test client: one user with one client, its queue at its home Queueing Service, its
// ts-mls state, and the calls it makes. Every request goes through the transport it was given
// (OHTTP through a relay in the demos, plain HTTP in crash tests), so a member whose home is
// provider B reads its queue at B while it talks to the group's hub DS at provider A.
import { randomBytes } from "node:crypto";
import { acceptAll, emptyPskIndex, joinGroup, processMessage, type CiphersuiteImpl, type ClientState, type KeyPackage, type PrivateKeyPackage, type RatchetTree } from "ts-mls";
import type { DsHttpClient, FetchLike } from "../client/DsHttpClient.js";
import { generateUserAuthKey, makeKeyPackage, welcomeInfoRequest } from "../client/dsMember.js";
import { QueueClient, type ReceivedMessage } from "../client/QueueClient.js";
import { openJoinerKey } from "../ds/earKey.js";
import { decodeMlsMessage } from "../mls/adapter.js";
import { DSResponseType } from "../protocol/constants.js";
import { DSErrorCode } from "../protocol/errors.js";
import type { DSResponse } from "../protocol/DSResponse.js";

export const DEMO_SUITE = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";

export type KeyPackagePair = { publicPackage: KeyPackage; privatePackage: PrivateKeyPackage };

/** A provider as a client reaches it: a transport and the origin the gateway allow-lists. */
export interface ProviderLink {
  transport: FetchLike;
  origin: string;
}

export class DemoError extends Error {
  override name = "DemoError";
}

/** The body of an ok DSResponse, or a DemoError naming the DS error code. */
export function okBody(r: DSResponse, what: string): Exclude<DSResponse["body"], { type: DSResponseType.error }> {
  if (r.body.type === DSResponseType.error) throw new DemoError(`${what}: DS error ${DSErrorCode[r.body.code]}`);
  return r.body as Exclude<DSResponse["body"], { type: DSResponseType.error }>;
}

/** What one pass over the queue brought. */
export interface CatchUp {
  /** application messages, decrypted, in queue order */
  texts: string[];
  /** Welcomes (with their sealed group-state key) for KeyPackages of this member */
  welcomes: ReceivedMessage[];
  /** commits and proposals processed */
  handshakes: number;
  /** DS Remove proposals (sender: the external DS) among them */
  dsProposals: number;
  /** the queue sequence numbers read, in order */
  sequences: bigint[];
}

export class DemoMember {
  state?: ClientState;
  readonly user = generateUserAuthKey();
  private readonly keyPackages: KeyPackagePair[] = [];

  private constructor(
    readonly name: string,
    readonly cs: CiphersuiteImpl,
    readonly queue: QueueClient,
  ) {}

  /** Creates the member's queue at its home QS (an owner-signed request through `home`). */
  static async create(name: string, cs: CiphersuiteImpl, home: ProviderLink, qsDomain: string): Promise<DemoMember> {
    return new DemoMember(name, cs, await QueueClient.create(home.transport, home.origin, qsDomain));
  }

  /** A fresh KeyPackage whose leaf carries a newly sealed reference to this member's queue. */
  async keyPackage(): Promise<KeyPackagePair> {
    const kp = await makeKeyPackage(this.cs, randomBytes(16), await this.queue.newQueueConfig());
    this.keyPackages.push(kp);
    return kp;
  }

  get epoch(): bigint | undefined {
    return this.state?.groupContext.epoch;
  }

  get leafIndex(): number {
    if (!this.state) throw new DemoError(`${this.name} is not in a group`);
    return this.state.privatePath.leafIndex;
  }

  /**
   * Joins from a Welcome: opens the group-state key the hub DS sealed to one of this member's
   * KeyPackages, asks that DS for welcome_info (the tree), and joins with ts-mls.
   */
  async joinFromWelcome(item: ReceivedMessage, hub: DsHttpClient, groupId: Uint8Array): Promise<bigint> {
    if (!item.sealedJoinerKey) throw new DemoError("a Welcome without a sealed group-state key");
    const w = decodeMlsMessage(item.message, 0)?.[0];
    if (w?.wireformat !== "mls_welcome") throw new DemoError("not a Welcome");
    for (const kp of this.keyPackages) {
      let opened: { epoch: bigint; earKey: Uint8Array };
      try {
        opened = await openJoinerKey(DEMO_SUITE, kp.privatePackage.initPrivateKey, item.sealedJoinerKey, groupId);
      } catch {
        continue; // sealed to another of this member's KeyPackages
      }
      const wi = okBody(await hub.send(await welcomeInfoRequest(this.cs, groupId, opened.epoch, opened.earKey, kp)), "welcome_info");
      if (wi.type !== DSResponseType.welcome_info) throw new DemoError("unexpected welcome_info answer");
      this.state = await joinGroup(w.welcome, kp.publicPackage, kp.privatePackage, emptyPskIndex, this.cs, wi.ratchetTree.value as RatchetTree);
      this.keyPackages.splice(this.keyPackages.indexOf(kp), 1);
      return this.state.groupContext.epoch;
    }
    throw new DemoError(`${this.name}: the Welcome is for none of its KeyPackages`);
  }

  /** Reads everything new from the queue (and acknowledges it), processing it in order. */
  async catchUp(opts: { waitMs?: number } = {}): Promise<CatchUp> {
    const out: CatchUp = { texts: [], welcomes: [], handshakes: 0, dsProposals: 0, sequences: [] };
    const td = new TextDecoder();
    for (const item of await this.queue.receive(opts)) {
      out.sequences.push(item.sequence);
      const msg = decodeMlsMessage(item.message, 0)?.[0];
      if (!msg) throw new DemoError(`${this.name}: undecodable message in the queue`);
      if (msg.wireformat === "mls_welcome") {
        out.welcomes.push(item);
        continue;
      }
      if (!this.state || (msg.wireformat !== "mls_public_message" && msg.wireformat !== "mls_private_message")) continue;
      if (msg.wireformat === "mls_public_message" && msg.publicMessage.content.sender.senderType === "external") out.dsProposals++;
      const r = await processMessage(msg, this.state, emptyPskIndex, acceptAll, this.cs);
      this.state = r.newState;
      if (r.kind === "applicationMessage") out.texts.push(td.decode(r.message));
      else out.handshakes++;
    }
    return out;
  }

  /** catchUp() until `done` holds or `attempts` long-polls (each up to `waitMs`) found nothing. */
  async catchUpUntil(done: (all: CatchUp) => boolean, opts: { waitMs?: number; attempts?: number } = {}): Promise<CatchUp> {
    const all: CatchUp = { texts: [], welcomes: [], handshakes: 0, dsProposals: 0, sequences: [] };
    for (let i = 0; i < (opts.attempts ?? 10) && !done(all); i++) {
      const c = await this.catchUp({ waitMs: opts.waitMs ?? 1000 });
      all.texts.push(...c.texts);
      all.welcomes.push(...c.welcomes);
      all.handshakes += c.handshakes;
      all.dsProposals += c.dsProposals;
      all.sequences.push(...c.sequences);
    }
    return all;
  }
}
