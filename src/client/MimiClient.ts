// The client SDK: what a messaging app uses. A MimiUser is a person's pseudonymous identity (a
// master secret shared by its devices); a MimiClient is one device: its queue at the home QS,
// its KeyPackages in the home directory, and its groups. Every request goes through the
// ProviderLink the app configured for the provider it is meant for (an ObliviousHttpTransport
// through that provider's relay and gateway in production), so no provider sees the client's
// address and the relay sees no content.
//
// Groups (MimiGroup) wrap the ts-mls ClientState and the DS request builders of dsMember.ts; an
// operation only replaces the state once the hub DS has accepted it, so a refused request leaves
// the group as it was. receive() reads the queue and processes everything in order: commits,
// proposals (including the DS's own Remove proposals), application messages, Welcomes (joined
// automatically) and connection offers (joined by external commit).
import type { CiphersuiteImpl, ClientState, GroupInfo, KeyPackage, PrivateKeyPackage, Proposal, RatchetTree } from "ts-mls";
import { acceptAll, ciphersuites, decodeGroupState, emptyPskIndex, encodeGroupState, joinGroup, processMessage } from "ts-mls";
import { ed25519 } from "@noble/curves/ed25519.js";
import { openJoinerKey } from "./groupKey.js";
import { rbacExtension } from "../protocol/rbac.js";
import { keyPackageTransaction, signUpload } from "../keypackages/clientRequests.js";
import { accumulatePskSecret, decodeMlsMessage, decryptGroupInfo, decryptGroupSecrets, defaultClientConfig, encodeMlsMessage, makeKeyPackageRef } from "../mls/adapter.js";
import { decodeExact, TlsWriter, type TlsReader } from "../protocol/tls.js";
import { decodeClientQueueConfig } from "../protocol/ClientQueueConfig.js";
import { ConnectionOffer } from "../protocol/ConnectionOffer.js";
import { ConnectionRequest } from "../protocol/ConnectionRequest.js";
import { DSRequestType, DSResponseType, EXTENSION_TYPE_QUEUE_CONFIG, EXTENSION_TYPE_RBAC } from "../protocol/constants.js";
import { DSErrorCode } from "../protocol/errors.js";
import type { DSResponse } from "../protocol/DSResponse.js";
import { DSFanoutResponse } from "../protocol/DSFanoutResponse.js";
import { KeyMaterialClientCode, KeyPackagePool, KeyPackageStatus } from "../protocol/KeyPackageConstants.js";
import { KeyPackageTransactionResponse } from "../protocol/KeyPackageTransactionResponse.js";
import { KeyPackageUploadResponse } from "../protocol/KeyPackageUploadResponse.js";
import { DSFanoutResponseType, QueuedContentType, QueueingServiceResponse } from "../protocol/QsConstants.js";
import { USER_AUTH_KEY_SALT_LENGTH } from "../protocol/constants.js";
import { openConnectionOffer, sealConnectionOffer } from "./connectionOffer.js";
import { fetchMimiDirectory, queryIdentifier } from "./discovery.js";
import { DsHttpClient, type FetchLike } from "./DsHttpClient.js";
import {
  anonymous,
  commitRequest,
  createGroupRequest,
  deriveEarKey,
  externalCommitInfoRequest,
  externalJoinRequest,
  makeKeyPackage,
  selfRemoveRequest,
  sendMessageRequest,
  welcomeInfoRequest,
  type CommitOperation,
  type UserAuthKey,
} from "./dsMember.js";
import { QueueClient, type QueueClientState, type ReceivedMessage } from "./QueueClient.js";
import { deriveUserAuthKey, USER_MASTER_SECRET_LENGTH, userAuthKeyExtension, userAuthKeyOf } from "./userAuthKey.js";

/** How the client reaches one provider (through that provider's relay and gateway). */
export interface ProviderLink {
  domain: string;
  transport: FetchLike;
  /** the provider origin as its gateway's allow-list names it */
  origin: string;
}

/** Resolves a MIMI domain to the link the app configured for it; throws for unknown domains. */
export type ProviderResolver = (domain: string) => ProviderLink;

/** Every failure the SDK reports; `code` names a DS error when the DS refused. */
export class MimiClientError extends Error {
  override name = "MimiClientError";
  constructor(
    message: string,
    readonly code?: DSErrorCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

type KeyPackagePair = { publicPackage: KeyPackage; privatePackage: PrivateKeyPackage };
type OkBody = Exclude<DSResponse["body"], { type: DSResponseType.error }>;

function okBody(r: DSResponse, what: string): OkBody {
  if (r.body.type === DSResponseType.error) throw new MimiClientError(`${what}: DS error ${DSErrorCode[r.body.code]}`, r.body.code);
  return r.body as OkBody;
}

/** version of the exportState() encoding */
const CLIENT_STATE_VERSION = 1;
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const bytesEqual = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));

/** A person's pseudonymous identity at its home provider; its devices share the master secret. */
export class MimiUser {
  private constructor(
    readonly userId: string,
    readonly domain: string,
    private readonly masterSecret: Uint8Array,
  ) {}

  static generate(userId: string, domain: string): MimiUser {
    return new MimiUser(userId, domain, random(USER_MASTER_SECRET_LENGTH));
  }

  /** Another device of the same user (the secret travels between the user's devices out of band). */
  static fromSecret(userId: string, domain: string, masterSecret: Uint8Array): MimiUser {
    if (masterSecret.length !== USER_MASTER_SECRET_LENGTH) throw new MimiClientError("bad master secret length");
    return new MimiUser(userId, domain, Uint8Array.from(masterSecret));
  }

  exportSecret(): Uint8Array {
    return Uint8Array.from(this.masterSecret);
  }

  get uri(): string {
    return `mimi://${this.domain}/u/${this.userId}`;
  }

  /** A fresh per-KeyPackage user key: (salt, public key) for the leaf, and the key pair. */
  freshUserKey(): { salt: Uint8Array; key: UserAuthKey } {
    const salt = random(USER_AUTH_KEY_SALT_LENGTH);
    return { salt, key: deriveUserAuthKey(this.masterSecret, salt) };
  }

  /**
   * The user keys this user holds in a group, lowest leaf first: every leaf whose user_auth_key
   * binding derives from this user's secret (the group's key for this user is among them).
   */
  keysInTree(tree: RatchetTree): UserAuthKey[] {
    const out: UserAuthKey[] = [];
    for (const node of tree) {
      if (node?.nodeType !== "leaf") continue;
      const b = userAuthKeyOf(node.leaf.extensions);
      if (!b) continue;
      const k = deriveUserAuthKey(this.masterSecret, b.salt);
      if (bytesEqual(k.publicKey, b.publicKey) && !out.some((o) => bytesEqual(o.publicKey, k.publicKey))) out.push(k);
    }
    return out;
  }
}

/** What receive() found, in queue order. */
export type MimiEvent =
  | { type: "message"; group: MimiGroup; text: string; data: Uint8Array }
  | { type: "joined"; group: MimiGroup; via: "welcome" | "connection_offer" }
  | { type: "commit"; group: MimiGroup; epoch: bigint }
  | { type: "proposal"; group: MimiGroup; fromDs: boolean }
  | { type: "removed"; groupId: Uint8Array }
  /** traffic of an epoch this client already left behind (e.g. its own resync commit echoed to its old leaf) */
  | { type: "stale"; group: MimiGroup; epoch: bigint }
  /** a connection offer whose key is stale (another device of this user joined first): join with that device's current key */
  | { type: "offer_superseded"; hubDomain: string; groupId: Uint8Array; initiatorUri: string }
  | { type: "ignored"; reason: string; error?: Error };

/** What a client keeps to resync a group after losing its MLS state: its leaf's key material. */
export interface LeafIdentity {
  pseudonym: Uint8Array;
  signKey: Uint8Array;
  publicKey: Uint8Array;
}

export interface MimiClientOptions {
  user: MimiUser;
  /** this device's id at the home provider (the KeyPackage directory's client id) */
  clientId: string;
  providers: ProviderResolver;
  cs: CiphersuiteImpl;
}

export class MimiClient {
  readonly groups = new Map<string, MimiGroup>();
  /** the Ed25519 key this client signs KeyPackage uploads with; the provider's account system registers it */
  readonly uploadKey: { publicKey: Uint8Array; privateKey: Uint8Array };
  private readonly groupKeyPackages: KeyPackagePair[] = [];
  private readonly connectionKeyPackages: KeyPackagePair[] = [];
  private readonly lastResort = new Set<KeyPackagePair>();
  private uploadSequence = 0n;

  private constructor(
    readonly opts: MimiClientOptions,
    readonly queue: QueueClient,
    uploadPrivateKey?: Uint8Array,
  ) {
    const privateKey = uploadPrivateKey ?? ed25519.utils.randomSecretKey();
    this.uploadKey = { privateKey, publicKey: ed25519.getPublicKey(privateKey) };
  }

  /** Creates the client's queue at its home provider's QS. */
  static async create(opts: MimiClientOptions): Promise<MimiClient> {
    const home = opts.providers(opts.user.domain);
    return new MimiClient(opts, await QueueClient.create(home.transport, home.origin, home.domain));
  }

  get user(): MimiUser {
    return this.opts.user;
  }

  /**
   * Everything this client needs to resume after a restart: its user's master secret, upload key,
   * queue (owner key and ratchet position), unused KeyPackages with their private keys, and every
   * group's MLS state. It holds all of the client's secrets: the app must store it encrypted
   * (e.g. under a key from the platform keystore) and replace it after every change.
   */
  exportState(): Uint8Array {
    const w = new TlsWriter(4096);
    const te = new TextEncoder();
    w.u16(CLIENT_STATE_VERSION);
    w.opaque(te.encode(this.user.userId)).opaque(te.encode(this.user.domain)).opaque(this.user.exportSecret());
    w.opaque(te.encode(this.opts.clientId)).opaque(this.uploadKey.privateKey).u64(this.uploadSequence);
    const q = this.queue.exportState();
    w.opaque(te.encode(q.qsDomain)).opaque(q.queueId).opaque(q.ownerPrivateKey).u8(q.referenceKey.keyId).opaque(q.referenceKey.publicKey);
    w.u64(q.position).opaque(q.chainKey).u64(q.nextSequence);
    const kps = [
      ...this.groupKeyPackages.map((kp) => ({ kp, pool: 0 })),
      ...this.connectionKeyPackages.map((kp) => ({ kp, pool: 1 })),
    ];
    w.vector(kps, (iw, { kp, pool }) => {
      iw.u8(pool).u8(this.lastResort.has(kp) ? 1 : 0);
      iw.opaque(encodeMlsMessage({ version: "mls10", wireformat: "mls_key_package", keyPackage: kp.publicPackage }));
      iw.opaque(kp.privatePackage.initPrivateKey).opaque(kp.privatePackage.hpkePrivateKey).opaque(kp.privatePackage.signaturePrivateKey);
    });
    w.vector([...this.groups.values()], (iw, g) => {
      iw.opaque(g.groupId).opaque(te.encode(g.hubDomain)).u8(g.leaving ? 1 : 0).opaque(te.encode(g.peerUri ?? ""));
      iw.opaque(encodeGroupState(g.state));
    });
    return w.finish();
  }

  /** A client resumed from exportState() bytes; MimiClientError if they do not decode. */
  static restore(state: Uint8Array, opts: { providers: ProviderResolver; cs: CiphersuiteImpl }): MimiClient {
    const td = new TextDecoder("utf-8", { fatal: true });
    const text = (r: TlsReader, what: string) => td.decode(r.opaque(what, 1024));
    try {
      return decodeExact(state, "MimiClientState", (r) => {
        const version = r.u16("version");
        if (version !== CLIENT_STATE_VERSION) throw new MimiClientError(`client state version ${version} is not supported`);
        const user = MimiUser.fromSecret(text(r, "user_id"), text(r, "domain"), r.opaque("master_secret", 32));
        const clientId = text(r, "client_id");
        const uploadPrivate = r.opaque("upload_private_key", 32);
        const uploadSequence = r.u64("upload_sequence");
        const q: QueueClientState = {
          qsDomain: text(r, "qs_domain"),
          queueId: r.opaque("queue_id", 64),
          ownerPrivateKey: r.opaque("owner_private_key", 32),
          referenceKey: { keyId: r.u8("reference_key_id"), publicKey: r.opaque("reference_public_key", 64) },
          position: r.u64("position"),
          chainKey: r.opaque("chain_key", 32),
          nextSequence: r.u64("next_sequence"),
        };
        const kps = r.vector("key_packages", (ir) => {
          const pool = ir.u8("pool");
          const lastResort = ir.u8("last_resort") === 1;
          const m = decodeMlsMessage(ir.opaque("key_package"), 0)?.[0];
          if (m?.wireformat !== "mls_key_package") throw new MimiClientError("a stored KeyPackage does not decode");
          const privatePackage: PrivateKeyPackage = { initPrivateKey: ir.opaque("init_private_key", 128), hpkePrivateKey: ir.opaque("hpke_private_key", 128), signaturePrivateKey: ir.opaque("signature_private_key", 128) };
          return { pool, lastResort, kp: { publicPackage: m.keyPackage, privatePackage } };
        });
        const groups = r.vector("groups", (ir) => {
          const groupId = ir.opaque("group_id", 255);
          const hubDomain = text(ir, "hub_domain");
          const leaving = ir.u8("leaving") === 1;
          const peerUri = text(ir, "peer_uri");
          const gs = decodeGroupState(ir.opaque("group_state"), 0)?.[0];
          if (!gs) throw new MimiClientError("a stored group state does not decode");
          return { groupId, hubDomain, leaving, peerUri, state: { ...gs, clientConfig: defaultClientConfig } as ClientState };
        });
        const home = opts.providers(user.domain);
        const c = new MimiClient({ user, clientId, providers: opts.providers, cs: opts.cs }, QueueClient.fromState(home.transport, home.origin, q), uploadPrivate);
        c.uploadSequence = uploadSequence;
        for (const k of kps) {
          (k.pool === 0 ? c.groupKeyPackages : c.connectionKeyPackages).push(k.kp);
          if (k.lastResort) c.lastResort.add(k.kp);
        }
        for (const g of groups) {
          const group = c.track(new MimiGroup(c, g.groupId, g.hubDomain, g.state));
          group.leaving = g.leaving;
          if (g.peerUri) group.peerUri = g.peerUri;
        }
        return c;
      });
    } catch (e) {
      if (e instanceof MimiClientError) throw e;
      throw new MimiClientError("the client state does not decode", undefined, { cause: e });
    }
  }

  get cs(): CiphersuiteImpl {
    return this.opts.cs;
  }

  private link(domain: string): ProviderLink {
    return this.opts.providers(domain);
  }

  ds(domain: string): DsHttpClient {
    const l = this.link(domain);
    return new DsHttpClient(l.transport, l.origin);
  }

  private async post(domain: string, path: string, body: Uint8Array): Promise<Uint8Array> {
    const l = this.link(domain);
    const r = await l.transport.fetch(`${l.origin}${path}`, { method: "POST", headers: { "content-type": "application/octet-stream" }, body });
    if (r.status !== 200) throw new MimiClientError(`${domain}${path} answered HTTP ${r.status}`);
    return r.body;
  }

  /** A fresh KeyPackage: a newly sealed queue reference and a fresh per-group user key. */
  async newKeyPackage(identity?: LeafIdentity): Promise<KeyPackagePair> {
    const { salt, key } = this.user.freshUserKey();
    return makeKeyPackage(
      this.cs,
      identity?.pseudonym ?? random(16),
      await this.queue.newQueueConfig(),
      identity ? { signKey: identity.signKey, publicKey: identity.publicKey } : undefined,
      undefined,
      [userAuthKeyExtension({ salt, publicKey: key.publicKey })],
    );
  }

  /**
   * A KeyPackage handed to another device of this user directly (add_clients), not through the
   * directory; this client keeps its private part to join from the Welcome.
   */
  async keyPackageForOwnDevice(): Promise<KeyPackage> {
    const kp = await this.newKeyPackage();
    this.groupKeyPackages.push(kp);
    return kp.publicPackage;
  }

  /**
   * A KeyPackage handed to someone out of band (a contact card, a QR code) instead of through
   * the directory: a connection KeyPackage for connect(), or a group one for an add. This client
   * keeps its private part.
   */
  async handOutKeyPackage(pool: "group" | "connection"): Promise<KeyPackage> {
    const kp = await this.newKeyPackage();
    (pool === "group" ? this.groupKeyPackages : this.connectionKeyPackages).push(kp);
    return kp.publicPackage;
  }

  /** Uploads fresh KeyPackages to the home directory (group and connection pools, optional last resort). */
  async publishKeyPackages(opts: { group?: number; connection?: number; lastResort?: boolean } = {}): Promise<void> {
    const items: { pool: KeyPackagePool; lastResort?: boolean; keyPackage: KeyPackage }[] = [];
    for (let i = 0; i < (opts.group ?? 2); i++) {
      const kp = await this.newKeyPackage();
      this.groupKeyPackages.push(kp);
      items.push({ pool: KeyPackagePool.group, keyPackage: kp.publicPackage });
    }
    for (let i = 0; i < (opts.connection ?? 1); i++) {
      const kp = await this.newKeyPackage();
      this.connectionKeyPackages.push(kp);
      items.push({ pool: KeyPackagePool.connection, keyPackage: kp.publicPackage });
    }
    if (opts.lastResort) {
      const kp = await this.newKeyPackage();
      this.groupKeyPackages.push(kp);
      this.lastResort.add(kp);
      items.push({ pool: KeyPackagePool.group, lastResort: true, keyPackage: kp.publicPackage });
    }
    const te = new TextEncoder();
    // Strictly increasing per client: the clock in ms, bumped past the last one used.
    const seq = BigInt(Date.now());
    this.uploadSequence = seq > this.uploadSequence ? seq : this.uploadSequence + 1n;
    const body = signUpload({ userId: te.encode(this.user.userId), clientId: te.encode(this.opts.clientId), sequence: this.uploadSequence, items, ...this.uploadKey });
    const res = KeyPackageUploadResponse.deserialize(await this.post(this.user.domain, "/key_packages", body));
    if (res.status !== KeyPackageStatus.ok) throw new MimiClientError(`KeyPackage upload refused: ${KeyPackageStatus[res.status]}`);
  }

  /**
   * Claims one KeyPackage per client of `userId` at `domain` with a bearer token (from discovery
   * or the user). Clients without usable KeyPackages are skipped; none at all is an error.
   */
  async claimKeyPackages(target: { domain: string; userId: string; token: Uint8Array }, pool: "group" | "connection", opts: { lastResort?: boolean } = {}): Promise<KeyPackage[]> {
    const suite = ciphersuites[this.cs.name];
    const body = keyPackageTransaction([{ userId: new TextEncoder().encode(target.userId), token: target.token }], suite, opts.lastResort ?? false);
    const res = KeyPackageTransactionResponse.deserialize(await this.post(target.domain, pool === "group" ? "/group_key_packages" : "/connection_key_packages", body));
    if (res.status !== KeyPackageStatus.ok) throw new MimiClientError(`KeyPackage request refused: ${KeyPackageStatus[res.status]}`);
    const out: KeyPackage[] = [];
    for (const c of res.users[0]?.clients ?? []) {
      if (c.status !== KeyMaterialClientCode.success) continue;
      const m = decodeMlsMessage((c as { keyPackage: Uint8Array }).keyPackage, 0)?.[0];
      if (m?.wireformat !== "mls_key_package") throw new MimiClientError("the directory served something that is not a KeyPackage");
      out.push(m.keyPackage);
    }
    if (out.length === 0) throw new MimiClientError(`no usable ${pool} KeyPackage for ${target.userId}@${target.domain}`);
    return out;
  }

  /**
   * Finds a user by handle at `domain` (draft-barnes directory and identifierQuery, through that
   * provider's relay and gateway). The answer carries a short-lived bearer token for the user's
   * connection KeyPackages: what connect() needs.
   */
  async discover(handle: string, domain: string): Promise<{ domain: string; userId: string; uri: string; token: Uint8Array }> {
    const l = this.link(domain);
    const found = await queryIdentifier(l.transport, await fetchMimiDirectory(l.transport, l.origin), handle);
    if (found.domain !== domain) throw new MimiClientError(`${domain} answered for another domain (${found.domain})`);
    return { domain: found.domain, userId: new TextDecoder().decode(found.userId), uri: found.uri, token: found.token };
  }

  /** Creates a group at the hub DS of `hubDomain` (default: the home provider's DS). */
  async createGroup(opts: { hubDomain?: string; rbac?: boolean } = {}): Promise<MimiGroup> {
    const hub = opts.hubDomain ?? this.user.domain;
    const ds = this.ds(hub);
    const idBody = okBody(await ds.send(anonymous({ type: DSRequestType.request_group_id })), "request_group_id");
    const keyBody = okBody(await ds.send(anonymous({ type: DSRequestType.signature_public_key })), "signature_public_key");
    if (idBody.type !== DSResponseType.group_id || keyBody.type !== DSResponseType.signature_public_key) throw new MimiClientError("unexpected DS answer");
    const kp = await this.newKeyPackage();
    const userKey = this.user.keysInTree([{ nodeType: "leaf", leaf: kp.publicPackage.leafNode }] as RatchetTree)[0]!;
    const c = await createGroupRequest({ cs: this.cs, groupId: idBody.groupId, keyPackage: kp, user: userKey, ds: { signaturePublicKey: keyBody.signaturePublicKey, domain: hub }, rbac: opts.rbac });
    okBody(await ds.send(c.request), "create_group");
    return this.track(new MimiGroup(this, idBody.groupId, hub, c.state));
  }

  private track(g: MimiGroup): MimiGroup {
    this.groups.set(hex(g.groupId), g);
    return g;
  }

  /** @internal */
  untrack(groupId: Uint8Array): void {
    this.groups.delete(hex(groupId));
  }

  group(groupId: Uint8Array): MimiGroup | undefined {
    return this.groups.get(hex(groupId));
  }

  /**
   * Reduced-metadata connection establishment: creates a connection group at the home DS, claims
   * the target's connection KeyPackages (or takes ones handed out of band) and sends each of its
   * clients a connection offer sealed to that KeyPackage, through the target's QS. The target's clients join by external commit; no
   * KeyPackage of theirs ever reaches the DS.
   */
  async connect(target: { domain: string; userId: string; token: Uint8Array } | { keyPackages: readonly KeyPackage[] }): Promise<{ group: MimiGroup; offers: number }> {
    const kps = "keyPackages" in target ? target.keyPackages : await this.claimKeyPackages(target, "connection");
    const group = await this.createGroup();
    const offer = new ConnectionOffer(group.hubDomain, group.groupId, await group.earKey(), this.user.uri);
    let delivered = 0;
    for (const kp of kps) {
      const qc = kp.leafNode.extensions.find((e) => e.extensionType === EXTENSION_TYPE_QUEUE_CONFIG);
      if (!qc) continue;
      const { qsDomain, sealedReference } = decodeClientQueueConfig(qc.extensionData);
      const req = new ConnectionRequest(sealedReference, await sealConnectionOffer(offer, kp, this.cs));
      const res = DSFanoutResponse.deserialize(await this.post(qsDomain, "/connection_request", req.serialize()));
      if (res.body.type === DSFanoutResponseType.ok && res.body.results[0] === QueueingServiceResponse.ok) delivered++;
    }
    if (delivered === 0) throw new MimiClientError("no connection offer was accepted");
    return { group, offers: delivered };
  }

  /**
   * Joins a group by external commit with its current group-state key (from a connection offer or
   * another device of this user): as a new user when none of this user's keys is in the group,
   * otherwise as the user (a new client); `resync` replaces this client's old leaf.
   */
  async joinExternal(opts: { hubDomain: string; groupId: Uint8Array; earKey: Uint8Array; resync?: LeafIdentity }): Promise<MimiGroup> {
    const ds = this.ds(opts.hubDomain);
    const info = okBody(await ds.send(externalCommitInfoRequest(opts.groupId, opts.earKey)), "external_commit_info");
    if (info.type !== DSResponseType.external_commit_info || info.groupInfo.value.wireformat !== "mls_group_info" || !info.ratchetTree) throw new MimiClientError("unexpected external_commit_info answer");
    const groupInfo = info.groupInfo.value.groupInfo as GroupInfo;
    const tree = info.ratchetTree.value as RatchetTree;
    const mine = this.user.keysInTree(tree);
    const kp = await this.newKeyPackage(opts.resync);
    let lastError: unknown;
    // Which of this user's keys the DS holds for the group is not visible in the tree; the DS
    // refuses a wrong one without changing anything, so try them lowest leaf first.
    const attempts: { user: UserAuthKey; asNewUser: boolean }[] = mine.length
      ? mine.map((user) => ({ user, asNewUser: false }))
      : [{ user: this.user.keysInTree([{ nodeType: "leaf", leaf: kp.publicPackage.leafNode }] as RatchetTree)[0]!, asNewUser: true }];
    for (const a of attempts) {
      const j = await externalJoinRequest({ cs: this.cs, groupInfo, ratchetTree: tree, keyPackage: kp, earKey: opts.earKey, resync: opts.resync !== undefined, user: a.user, asNewUser: a.asNewUser });
      const r = await ds.send(j.request);
      if (r.body.type === DSResponseType.error) {
        lastError = new MimiClientError(`external_join: DS error ${DSErrorCode[r.body.code]}`, r.body.code);
        continue;
      }
      return this.track(new MimiGroup(this, opts.groupId, opts.hubDomain, j.newState));
    }
    throw lastError;
  }

  /** Reads the queue once (long-polling up to waitMs) and processes everything in order. */
  async receive(opts: { waitMs?: number } = {}): Promise<MimiEvent[]> {
    const events: MimiEvent[] = [];
    for (const item of await this.queue.receive(opts)) {
      try {
        events.push(...(await this.process(item)));
      } catch (e) {
        events.push({ type: "ignored", reason: (e as Error).message, error: e as Error });
      }
    }
    return events;
  }

  /** receive() until `done(all events so far)` or `attempts` polls. */
  async receiveUntil(done: (events: MimiEvent[]) => boolean, opts: { waitMs?: number; attempts?: number } = {}): Promise<MimiEvent[]> {
    const all: MimiEvent[] = [];
    for (let i = 0; i < (opts.attempts ?? 10) && !done(all); i++) all.push(...(await this.receive({ waitMs: opts.waitMs ?? 1000 })));
    return all;
  }

  private async process(item: ReceivedMessage): Promise<MimiEvent[]> {
    if (item.contentType === QueuedContentType.connection_offer) {
      const { offer, keyPackage } = await openConnectionOffer(item.message, this.connectionKeyPackages, this.cs);
      this.connectionKeyPackages.splice(this.connectionKeyPackages.indexOf(keyPackage), 1);
      if (this.group(offer.groupId)) return [{ type: "ignored", reason: "already in that group" }];
      let group: MimiGroup;
      try {
        group = await this.joinExternal({ hubDomain: offer.hubDomain, groupId: offer.groupId, earKey: offer.earKey });
      } catch (e) {
        // The offer carries the key of the epoch it was made in; once another client of this
        // user joined, the group moved on and that device must hand over the current key.
        if (e instanceof MimiClientError && e.code === DSErrorCode.stale_or_wrong_key) {
          return [{ type: "offer_superseded", hubDomain: offer.hubDomain, groupId: offer.groupId, initiatorUri: offer.initiatorUri }];
        }
        throw e;
      }
      group.peerUri = offer.initiatorUri;
      return [{ type: "joined", group, via: "connection_offer" }];
    }
    const msg = decodeMlsMessage(item.message, 0)?.[0];
    if (!msg) return [{ type: "ignored", reason: "undecodable MLS message" }];
    if (msg.wireformat === "mls_welcome") return [await this.joinFromWelcome(item, msg.welcome)];
    let groupId: Uint8Array;
    if (msg.wireformat === "mls_private_message") groupId = msg.privateMessage.groupId;
    else if (msg.wireformat === "mls_public_message") groupId = msg.publicMessage.content.groupId;
    else return [{ type: "ignored", reason: `unexpected ${msg.wireformat}` }];
    const group = this.group(groupId);
    if (!group) return [{ type: "ignored", reason: "a message for a group this client is not in" }];
    return group.processIncoming(msg);
  }

  private async joinFromWelcome(item: ReceivedMessage, welcome: Parameters<typeof joinGroup>[0]): Promise<MimiEvent> {
    if (!item.sealedJoinerKey) throw new MimiClientError("a Welcome without a sealed group-state key");
    const ds = this.ds(item.senderDomain);
    for (const kp of this.groupKeyPackages) {
      // The Welcome names our KeyPackage by reference among its secrets.
      const ref = await makeKeyPackageRef(kp.publicPackage, this.cs.hash);
      if (!welcome.secrets.some((s) => bytesEqual(s.newMember, ref))) continue;
      const groupId = await this.groupIdOfWelcome(kp, welcome);
      const opened = await openJoinerKey(this.cs.name, kp.privatePackage.initPrivateKey, item.sealedJoinerKey, groupId);
      const wi = okBody(await ds.send(await welcomeInfoRequest(this.cs, groupId, opened.epoch, opened.earKey, kp)), "welcome_info");
      if (wi.type !== DSResponseType.welcome_info) throw new MimiClientError("unexpected welcome_info answer");
      const state = await joinGroup(welcome, kp.publicPackage, kp.privatePackage, emptyPskIndex, this.cs, wi.ratchetTree.value as RatchetTree);
      // Last-resort KeyPackages stay usable; single-use ones are spent.
      if (!this.lastResort.has(kp)) this.groupKeyPackages.splice(this.groupKeyPackages.indexOf(kp), 1);
      return { type: "joined", group: this.track(new MimiGroup(this, groupId, item.senderDomain, state)), via: "welcome" };
    }
    throw new MimiClientError("the Welcome is for none of this client's KeyPackages");
  }

  /**
   * The group id is inside the Welcome's encrypted GroupInfo, and the sealed group-state key binds
   * it as AAD: open the group secrets with the KeyPackage's init key and read it from there.
   */
  private async groupIdOfWelcome(kp: KeyPackagePair, welcome: Parameters<typeof joinGroup>[0]): Promise<Uint8Array> {
    const cs = this.cs;
    const secrets = await decryptGroupSecrets(await cs.hpke.importPrivateKey(kp.privatePackage.initPrivateKey), await makeKeyPackageRef(kp.publicPackage, cs.hash), welcome, cs.hpke);
    if (!secrets) throw new MimiClientError("the Welcome's group secrets do not open");
    const [pskSecret] = await accumulatePskSecret(secrets.psks, emptyPskIndex, cs, new Uint8Array(cs.kdf.size));
    const gi = await decryptGroupInfo(welcome, secrets.joinerSecret, pskSecret, cs);
    if (!gi) throw new MimiClientError("the Welcome's GroupInfo does not open");
    return gi.groupContext.groupId;
  }
}

/** One group as this client is in it. */
export class MimiGroup {
  /** for connection groups: who offered the connection */
  peerUri?: string;

  constructor(
    readonly client: MimiClient,
    readonly groupId: Uint8Array,
    /** the DS that holds the group */
    readonly hubDomain: string,
    private stateValue: ClientState,
  ) {}

  get state(): ClientState {
    return this.stateValue;
  }

  get epoch(): bigint {
    return this.stateValue.groupContext.epoch;
  }

  get leafIndex(): number {
    return this.stateValue.privatePath.leafIndex;
  }

  /** the current members' leaf indexes */
  get memberLeaves(): number[] {
    const out: number[] = [];
    this.stateValue.ratchetTree.forEach((n, i) => {
      if (n?.nodeType === "leaf" && i % 2 === 0) out.push(i / 2);
    });
    return out;
  }

  /** The key material a resync needs after the MLS state is lost (keep it with the app's data). */
  get leafIdentity(): LeafIdentity {
    const node = this.stateValue.ratchetTree[this.leafIndex * 2];
    if (node?.nodeType !== "leaf" || node.leaf.credential.credentialType !== "basic") throw new MimiClientError("own leaf missing");
    return { pseudonym: node.leaf.credential.identity, signKey: this.stateValue.signaturePrivateKey, publicKey: node.leaf.signaturePublicKey };
  }

  /** The leaf of the member that joined with `kp` (matched by signature key), if it is in the group. */
  leafOf(kp: KeyPackage): number | undefined {
    for (const i of this.memberLeaves) {
      const n = this.stateValue.ratchetTree[i * 2];
      if (n?.nodeType === "leaf" && bytesEqual(n.leaf.signaturePublicKey, kp.leafNode.signaturePublicKey)) return i;
    }
    return undefined;
  }

  /** The current epoch's group-state key (for a connection offer or another device of this user). */
  earKey(): Promise<Uint8Array> {
    return deriveEarKey(this.stateValue, this.client.cs);
  }

  private get ds(): DsHttpClient {
    return this.client.ds(this.hubDomain);
  }

  async send(text: string | Uint8Array): Promise<void> {
    if (this.leaving) throw new MimiClientError("this client left the group");
    const s = await sendMessageRequest(this.stateValue, this.client.cs, typeof text === "string" ? new TextEncoder().encode(text) : text);
    okBody(await this.ds.send(s.request), "send_message");
    this.stateValue = s.newState;
  }

  private async commit(op: CommitOperation, proposals: Proposal[] = []): Promise<void> {
    const c = await commitRequest(this.stateValue, this.client.cs, op, proposals);
    okBody(await this.ds.send(c.request), DSRequestType[op.type]);
    this.stateValue = c.newState;
  }

  /** Adds users, each with the KeyPackages of its clients (one Welcome per destination QS). */
  async addUsers(users: readonly (readonly KeyPackage[])[]): Promise<void> {
    const addedUsers = users.map((kps) => {
      const b = kps[0] && userAuthKeyOf(kps[0].leafNode.extensions);
      if (!b) throw new MimiClientError("a KeyPackage without a user_auth_key binding cannot add a user");
      return { userAuthKey: b.publicKey, clientCount: kps.length };
    });
    const proposals: Proposal[] = users.flat().map((keyPackage) => ({ proposalType: "add", add: { keyPackage } }));
    await this.commit({ type: DSRequestType.add_users, addedUsers, domainOfRef: await this.domainsOfRefs(users.flat()) }, proposals);
  }

  /** Adds more clients of this client's own user. */
  async addClients(kps: readonly KeyPackage[]): Promise<void> {
    await this.commit({ type: DSRequestType.add_clients, domainOfRef: await this.domainsOfRefs(kps) }, kps.map((keyPackage) => ({ proposalType: "add", add: { keyPackage } })));
  }

  private async domainsOfRefs(kps: readonly KeyPackage[]): Promise<(ref: Uint8Array) => string> {
    const m = new Map<string, string>();
    for (const kp of kps) {
      const qc = kp.leafNode.extensions.find((e) => e.extensionType === EXTENSION_TYPE_QUEUE_CONFIG);
      m.set(hex(await makeKeyPackageRef(kp, this.client.cs.hash)), qc ? decodeClientQueueConfig(qc.extensionData).qsDomain : "");
    }
    return (ref) => m.get(hex(ref)) ?? "";
  }

  /** Removes every client (leaf) of one or more other users. */
  removeUsers(leaves: readonly number[]): Promise<void> {
    return this.commit({ type: DSRequestType.remove_users }, leaves.map((removed) => ({ proposalType: "remove", remove: { removed } })));
  }

  /** Removes other clients of this client's own user. */
  removeClients(leaves: readonly number[]): Promise<void> {
    return this.commit({ type: DSRequestType.remove_clients }, leaves.map((removed) => ({ proposalType: "remove", remove: { removed } })));
  }

  /** A new path (fresh leaf key, next epoch); also commits pending proposals (self-removes, DS removes). */
  update(): Promise<void> {
    return this.commit({ type: DSRequestType.update_client });
  }

  /** Makes `admins` (leaf indexes) the group's admins (RBAC groups only). */
  setAdmins(admins: readonly number[]): Promise<void> {
    const ext = this.stateValue.groupContext.extensions.filter((e) => e.extensionType !== EXTENSION_TYPE_RBAC);
    return this.commit({ type: DSRequestType.set_role }, [{ proposalType: "group_context_extensions", groupContextExtensions: { extensions: [...ext, rbacExtension(admins)] } }]);
  }

  /**
   * Leaves: a self-remove proposal the next commit of another member covers. The group stays
   * tracked until that commit arrives (receive() then reports "removed"); sending is refused.
   */
  async leave(): Promise<void> {
    const r = await selfRemoveRequest(this.stateValue, this.client.cs);
    okBody(await this.ds.send(r.request), "self_remove_client");
    this.stateValue = r.newState;
    this.leaving = true;
  }

  /** set once leave() succeeded */
  leaving = false;

  /** Deletes the group: removes every other member and drops the group at the DS. */
  async delete(): Promise<void> {
    const others = this.memberLeaves.filter((l) => l !== this.leafIndex);
    await this.commit({ type: DSRequestType.delete_group }, others.map((removed) => ({ proposalType: "remove", remove: { removed } })));
    this.client.untrack(this.groupId);
  }

  /** @internal processes one incoming commit, proposal or application message. */
  async processIncoming(msg: Parameters<typeof processMessage>[0]): Promise<MimiEvent[]> {
    const fromDs = msg.wireformat === "mls_public_message" && msg.publicMessage.content.sender.senderType === "external";
    const before = this.epoch;
    const msgEpoch = msg.wireformat === "mls_public_message" ? msg.publicMessage.content.epoch : msg.wireformat === "mls_private_message" ? msg.privateMessage.epoch : before;
    // Traffic of an epoch this client has left behind, e.g. its own resync commit fanned out to
    // the leaf it replaced (same queue): nothing to do.
    if (msgEpoch < before) return [{ type: "stale", group: this, epoch: msgEpoch }];
    const r = await processMessage(msg, this.stateValue, emptyPskIndex, acceptAll, this.client.cs);
    this.stateValue = r.newState;
    if (r.kind === "applicationMessage") return [{ type: "message", group: this, text: new TextDecoder().decode(r.message), data: r.message }];
    // A commit that removes this client cannot be followed into the next epoch (its path secret
    // is not encrypted to us): ts-mls marks the state removed and keeps the epoch.
    if (this.stateValue.groupActiveState.kind === "removedFromGroup") {
      this.client.untrack(this.groupId);
      return [{ type: "removed", groupId: this.groupId }];
    }
    if (this.epoch === before) return [{ type: "proposal", group: this, fromDs }];
    return [{ type: "commit", group: this, epoch: this.epoch }];
  }
}
