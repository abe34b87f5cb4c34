// Valid instances of every QS wire struct, shared by the round-trip and fuzz tests.
import { randomBytes } from "node:crypto";
import { DSFanoutRequest } from "../../src/protocol/DSFanoutRequest.js";
import { DSFanoutResponse } from "../../src/protocol/DSFanoutResponse.js";
import { DSFanoutResponseType, QsResponseType, QueueingServiceResponse, SIGNATURE_SCHEME_ED25519 } from "../../src/protocol/QsConstants.js";
import { QSErrorCode } from "../../src/protocol/QsErrors.js";
import { QsRequest } from "../../src/protocol/QsRequest.js";
import { QsResponse } from "../../src/protocol/QsResponse.js";
import { QueuedMessage } from "../../src/protocol/QueuedMessage.js";
import { QueueReference, SealedQueueReference } from "../../src/protocol/QueueReference.js";
import { VerificationKeyResponse } from "../../src/protocol/VerificationKeyResponse.js";
import { DsFanoutSigner, QueueOwner } from "../../src/qs/index.js";

const rb = (n: number) => new Uint8Array(randomBytes(n));
const te = new TextEncoder();

export interface Codec {
  name: string;
  decode(b: Uint8Array): { serialize(): Uint8Array };
  samples: Uint8Array[];
}

export function codecs(): Codec[] {
  const owner = QueueOwner.generate();
  const qid = rb(16);
  const qsRequests = [
    owner.createQueue(rb(32)),
    owner.fetch(qid, 0n, { maxMessages: 10, waitMs: 30_000 }),
    owner.fetch(qid, (1n << 64n) - 1n, { maxMessages: 0xffffffff, waitMs: 0 }),
    owner.ack(qid, 12345678901234n),
    owner.deleteQueue(qid),
    owner.referenceKey(rb(64)),
  ];
  const refKey = { keyId: 7, publicKey: rb(32) };
  const qsResponses = [
    new QsResponse(1, { type: QsResponseType.ok }),
    new QsResponse(1, { type: QsResponseType.error, code: QSErrorCode.bad_signature, supportedVersions: [] }),
    new QsResponse(1, { type: QsResponseType.error, code: QSErrorCode.unsupported_version, supportedVersions: [1, 2] }),
    new QsResponse(1, { type: QsResponseType.queue_created, queueId: qid, referenceKey: refKey }),
    new QsResponse(1, { type: QsResponseType.messages, messages: [], nextSequence: 0n }),
    new QsResponse(1, { type: QsResponseType.messages, messages: [{ sequence: 3n, ciphertext: rb(40) }, { sequence: 4n, ciphertext: rb(300) }], nextSequence: 5n }),
    new QsResponse(1, { type: QsResponseType.reference_key, referenceKey: refKey }),
  ];
  const signer = DsFanoutSigner.generate("ds.a.test");
  const fanouts = [
    signer.sign({ messageId: rb(32), recipients: [], message: te.encode("m"), hubTimestampMs: 0 }),
    signer.sign({ messageId: rb(32), recipients: [{ sealedReference: rb(68) }, { sealedReference: rb(68), sealedJoinerKey: rb(90) }], message: rb(200), hubTimestampMs: 1_750_000_000_000 }),
    new DSFanoutRequest({ version: 1, senderDomain: "a-b.c.example:8443", messageId: rb(32), recipients: [{ sealedReference: rb(1) }], message: rb(70), hubTimestampMs: Number.MAX_SAFE_INTEGER }, new Uint8Array(0)),
  ];
  const fanoutResponses = [
    new DSFanoutResponse(1, { type: DSFanoutResponseType.ok, results: [] }),
    new DSFanoutResponse(1, { type: DSFanoutResponseType.ok, results: [QueueingServiceResponse.ok, QueueingServiceResponse.invalid_client_queue_information, QueueingServiceResponse.queue_full] }),
    new DSFanoutResponse(1, { type: DSFanoutResponseType.error, code: QSErrorCode.sender_not_allowed }),
  ];
  const vkrs = [
    new VerificationKeyResponse(1, []),
    new VerificationKeyResponse(1, [{ signatureScheme: SIGNATURE_SCHEME_ED25519, publicKey: rb(32) }, { signatureScheme: 0x0403, publicKey: rb(65) }]),
  ];
  const queued = [new QueuedMessage(rb(100), undefined, 5, "ds.a.test"), new QueuedMessage(new Uint8Array(0), rb(80), 1_750_000_000_000, "x")];
  return [
    { name: "QsRequest", decode: QsRequest.deserialize, samples: qsRequests.map((r) => r.serialize()) },
    { name: "QsResponse", decode: QsResponse.deserialize, samples: qsResponses.map((r) => r.serialize()) },
    { name: "DSFanoutRequest", decode: DSFanoutRequest.deserialize, samples: fanouts.map((r) => r.serialize()) },
    { name: "DSFanoutResponse", decode: DSFanoutResponse.deserialize, samples: fanoutResponses.map((r) => r.serialize()) },
    { name: "VerificationKeyResponse", decode: VerificationKeyResponse.deserialize, samples: vkrs.map((r) => r.serialize()) },
    { name: "QueuedMessage", decode: QueuedMessage.deserialize, samples: queued.map((r) => r.serialize()) },
    { name: "QueueReference", decode: QueueReference.deserialize, samples: [new QueueReference(qid).serialize(), new QueueReference(rb(64)).serialize()] },
    { name: "SealedQueueReference", decode: SealedQueueReference.deserialize, samples: [new SealedQueueReference(1, rb(32), rb(33)).serialize(), new SealedQueueReference(255, rb(32), rb(81)).serialize()] },
  ];
}
