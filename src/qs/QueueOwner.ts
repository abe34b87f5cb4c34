// Client side of the QS protocol: a queue owner's Ed25519 key and the signed QsRequests it
// sends (transport-independent: the caller carries the bytes, through OHTTP in this project).
// A fresh 16-byte nonce and the current time go into every request, so each signature is used
// once and only for the operation and queue it names.
import { platform } from "../platform/current.js";
import { signWithLabel } from "../platform/signWithLabel.js";
import { INITIAL_SECRET_LENGTH, QS_PROTOCOL_VERSION, QS_REQUEST_SIGNATURE_LABEL, QsRequestType, REQUEST_NONCE_LENGTH } from "../protocol/QsConstants.js";
import { QsRequest, type QsRequestBody } from "../protocol/QsRequest.js";

/** What a queue owner signs with (Ed25519SigningKey on the server side fits it too). */
export interface QueueOwnerKey {
  readonly publicKey: Uint8Array;
  signWithLabel(label: string, content: Uint8Array): Uint8Array;
}

/** An owner key on the active platform (no node: import: clients in browsers use it). */
export class PlatformOwnerKey implements QueueOwnerKey {
  private constructor(
    private readonly privateKey: Uint8Array,
    readonly publicKey: Uint8Array,
  ) {}

  static generate(): PlatformOwnerKey {
    const k = platform().ed25519Generate();
    return new PlatformOwnerKey(k.privateKey, k.publicKey);
  }

  /** A key restored from exportPrivateKey() (the public key is recomputed). */
  static fromPrivateKey(privateKey: Uint8Array): PlatformOwnerKey {
    if (privateKey.length !== 32) throw new RangeError("an owner key is a 32-byte Ed25519 seed");
    return new PlatformOwnerKey(Uint8Array.from(privateKey), platform().ed25519PublicKey(privateKey));
  }

  /** The seed, for a client that persists its state (keep it as secret as the queue itself). */
  exportPrivateKey(): Uint8Array {
    return Uint8Array.from(this.privateKey);
  }

  signWithLabel(label: string, content: Uint8Array): Uint8Array {
    return signWithLabel(this.privateKey, this.publicKey, label, content);
  }
}

/** 32 fresh random bytes: the secret a client keeps to derive its queue's message keys. */
export function newInitialSecret(): Uint8Array {
  return platform().randomBytes(INITIAL_SECRET_LENGTH);
}

export class QueueOwner {
  constructor(
    readonly key: QueueOwnerKey,
    private readonly now: () => number = Date.now,
  ) {}

  static generate(now?: () => number): QueueOwner {
    return new QueueOwner(PlatformOwnerKey.generate(), now);
  }

  get publicKey(): Uint8Array {
    return this.key.publicKey;
  }

  /** Signs any request body (the other methods are shorthands). */
  sign(body: QsRequestBody, opts: { timestampMs?: number; nonce?: Uint8Array; version?: number } = {}): QsRequest {
    const version = opts.version ?? QS_PROTOCOL_VERSION;
    const timestampMs = opts.timestampMs ?? this.now();
    const nonce = opts.nonce ?? platform().randomBytes(REQUEST_NONCE_LENGTH);
    const signature = this.key.signWithLabel(QS_REQUEST_SIGNATURE_LABEL, QsRequest.tbs(version, body, timestampMs, nonce));
    return new QsRequest(version, body, timestampMs, nonce, signature);
  }

  createQueue(initialSecret: Uint8Array): QsRequest {
    return this.sign({ type: QsRequestType.create_queue, ownerKey: this.key.publicKey, initialSecret });
  }

  fetch(queueId: Uint8Array, fromSequence: bigint, opts: { maxMessages?: number; waitMs?: number } = {}): QsRequest {
    return this.sign({ type: QsRequestType.fetch, queueId, fromSequence, maxMessages: opts.maxMessages ?? 100, waitMs: opts.waitMs ?? 0 });
  }

  ack(queueId: Uint8Array, upToSequence: bigint): QsRequest {
    return this.sign({ type: QsRequestType.ack, queueId, upToSequence });
  }

  deleteQueue(queueId: Uint8Array): QsRequest {
    return this.sign({ type: QsRequestType.delete_queue, queueId });
  }

  referenceKey(queueId: Uint8Array): QsRequest {
    return this.sign({ type: QsRequestType.reference_key, queueId });
  }
}
