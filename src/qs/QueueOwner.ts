// Client side of the QS protocol: a queue owner's Ed25519 key and the signed QsRequests it
// sends (transport-independent: the caller carries the bytes, through OHTTP in this project).
// A fresh 16-byte nonce and the current time go into every request, so each signature is used
// once and only for the operation and queue it names.
import { randomBytes } from "node:crypto";
import { INITIAL_SECRET_LENGTH, QS_PROTOCOL_VERSION, QS_REQUEST_SIGNATURE_LABEL, QsRequestType, REQUEST_NONCE_LENGTH } from "../protocol/QsConstants.js";
import { QsRequest, type QsRequestBody } from "../protocol/QsRequest.js";
import { Ed25519SigningKey } from "./Ed25519SigningKey.js";

/** 32 fresh random bytes: the secret a client keeps to derive its queue's message keys. */
export function newInitialSecret(): Uint8Array {
  return new Uint8Array(randomBytes(INITIAL_SECRET_LENGTH));
}

export class QueueOwner {
  constructor(
    readonly key: Ed25519SigningKey,
    private readonly now: () => number = Date.now,
  ) {}

  static generate(now?: () => number): QueueOwner {
    return new QueueOwner(Ed25519SigningKey.generate(), now);
  }

  get publicKey(): Uint8Array {
    return this.key.publicKey;
  }

  /** Signs any request body (the other methods are shorthands). */
  sign(body: QsRequestBody, opts: { timestampMs?: number; nonce?: Uint8Array; version?: number } = {}): QsRequest {
    const version = opts.version ?? QS_PROTOCOL_VERSION;
    const timestampMs = opts.timestampMs ?? this.now();
    const nonce = opts.nonce ?? new Uint8Array(randomBytes(REQUEST_NONCE_LENGTH));
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
