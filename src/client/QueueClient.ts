// The client's queue at its provider's Queueing Service: created once per client, read and
// acknowledged through the same OHTTP transport as everything else. Every KeyPackage gets a
// queue config with a freshly sealed reference, so two groups never see the same bytes.
import { QsResponseType, QueuedContentType } from "../protocol/QsConstants.js";
import { QsResponse } from "../protocol/QsResponse.js";
import { encodeClientQueueConfig, type ClientQueueConfig } from "../protocol/ClientQueueConfig.js";
import { QueueMessageDecryptor } from "../qs/QueueMessageDecryptor.js";
import { newInitialSecret, PlatformOwnerKey, QueueOwner } from "../qs/QueueOwner.js";
import { sealQueueReference } from "../qs/sealQueueReference.js";
import type { FetchLike } from "./DsHttpClient.js";

export class QueueClientError extends Error {
  override name = "QueueClientError";
}

export interface ReceivedMessage {
  sequence: bigint;
  /** mls_message: a DS fanout; connection_offer: a SealedConnectionOffer from an initiator */
  contentType: QueuedContentType;
  /** an encoded MLSMessage, or a SealedConnectionOffer */
  message: Uint8Array;
  sealedJoinerKey: Uint8Array | undefined;
  hubTimestampMs: number;
  /** the hub DS that fanned it out (a Welcome joiner asks it for welcome_info) */
  senderDomain: string;
}

/** Everything a QueueClient needs to resume after a restart (secret: store it encrypted). */
export interface QueueClientState {
  qsDomain: string;
  queueId: Uint8Array;
  ownerPrivateKey: Uint8Array;
  referenceKey: { keyId: number; publicKey: Uint8Array };
  /** the decryptor's position (lowest sequence still needed) and its chain key */
  position: bigint;
  chainKey: Uint8Array;
  nextSequence: bigint;
}

export class QueueClient {
  private nextSequence = 0n;

  private constructor(
    private readonly transport: FetchLike,
    private readonly origin: string,
    readonly qsDomain: string,
    private readonly owner: QueueOwner,
    readonly queueId: Uint8Array,
    private readonly referenceKey: { keyId: number; publicKey: Uint8Array },
    private readonly decryptor: QueueMessageDecryptor,
  ) {}

  private static async call(transport: FetchLike, origin: string, request: Uint8Array): Promise<QsResponse> {
    const r = await transport.fetch(`${origin}/queue_operation`, { method: "POST", headers: { "content-type": "application/octet-stream" }, body: request });
    if (r.status !== 200) throw new QueueClientError(`provider answered HTTP ${r.status}`);
    const res = QsResponse.deserialize(r.body);
    if (res.body.type === QsResponseType.error) throw new QueueClientError(`QS error ${res.body.code}`);
    return res;
  }

  /** Creates a queue owned by a fresh Ed25519 key; the initial ratchet secret never leaves the client. */
  static async create(transport: FetchLike, origin: string, qsDomain: string): Promise<QueueClient> {
    const owner = QueueOwner.generate();
    const initialSecret = newInitialSecret();
    const res = await QueueClient.call(transport, origin, owner.createQueue(initialSecret).serialize());
    if (res.body.type !== QsResponseType.queue_created) throw new QueueClientError("unexpected QS answer");
    return new QueueClient(transport, origin, qsDomain, owner, res.body.queueId, res.body.referenceKey, QueueMessageDecryptor.fromInitialSecret(res.body.queueId, initialSecret));
  }

  /** The state to persist; QueueClient.fromState resumes from it. */
  exportState(): QueueClientState {
    if (!(this.owner.key instanceof PlatformOwnerKey)) throw new QueueClientError("this queue's owner key cannot be exported");
    const k = this.decryptor.state;
    return {
      qsDomain: this.qsDomain,
      queueId: Uint8Array.from(this.queueId),
      ownerPrivateKey: this.owner.key.exportPrivateKey(),
      referenceKey: { keyId: this.referenceKey.keyId, publicKey: Uint8Array.from(this.referenceKey.publicKey) },
      position: k.position,
      chainKey: k.chainKey,
      nextSequence: this.nextSequence,
    };
  }

  static fromState(transport: FetchLike, origin: string, st: QueueClientState): QueueClient {
    const c = new QueueClient(
      transport,
      origin,
      st.qsDomain,
      new QueueOwner(PlatformOwnerKey.fromPrivateKey(st.ownerPrivateKey)),
      Uint8Array.from(st.queueId),
      { keyId: st.referenceKey.keyId, publicKey: Uint8Array.from(st.referenceKey.publicKey) },
      QueueMessageDecryptor.fromState({ queueId: st.queueId, position: st.position, chainKey: st.chainKey }),
    );
    c.nextSequence = st.nextSequence;
    return c;
  }

  /** A queue config for one new KeyPackage. */
  async newQueueConfig(): Promise<ClientQueueConfig> {
    return { qsDomain: this.qsDomain, sealedReference: await sealQueueReference(this.referenceKey.publicKey, this.referenceKey.keyId, this.qsDomain, this.queueId) };
  }

  /** The raw extension bytes of a queue config (what the DS fans out to). */
  async newQueueConfigBytes(): Promise<Uint8Array> {
    return encodeClientQueueConfig(await this.newQueueConfig());
  }

  /** Fetches and decrypts everything new, then acknowledges it (deleting it at the QS). */
  async receive(opts: { waitMs?: number } = {}): Promise<ReceivedMessage[]> {
    const res = await QueueClient.call(this.transport, this.origin, this.owner.fetch(this.queueId, this.nextSequence, { waitMs: opts.waitMs ?? 0 }).serialize());
    if (res.body.type !== QsResponseType.messages) throw new QueueClientError("unexpected QS answer");
    const out: ReceivedMessage[] = res.body.messages.map((m) => {
      const d = this.decryptor.decrypt(m);
      return { sequence: m.sequence, contentType: d.contentType, message: d.message, sealedJoinerKey: d.sealedJoinerKey, hubTimestampMs: d.hubTimestampMs, senderDomain: d.senderDomain };
    });
    if (res.body.messages.length) {
      const last = res.body.messages[res.body.messages.length - 1]!.sequence;
      await QueueClient.call(this.transport, this.origin, this.owner.ack(this.queueId, last).serialize());
      this.decryptor.forget(last);
    }
    this.nextSequence = res.body.nextSequence;
    return out;
  }
}
