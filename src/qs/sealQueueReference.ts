// Client side of queue references (src/protocol/QueueReference.ts): HPKE base mode to the QS's
// queue-reference key through the active platform (no node: import: runs in browsers); the QS
// opens them with its node:crypto suite (queueReference.ts). info "MIMI QS queue reference",
// aad = the QS domain.
import { platform } from "../platform/current.js";
import { QUEUE_REFERENCE_AEAD_ID, QUEUE_REFERENCE_HPKE_INFO, QUEUE_REFERENCE_KDF_ID, QUEUE_REFERENCE_KEM_ID } from "../protocol/QsConstants.js";
import { QueueReference, SealedQueueReference } from "../protocol/QueueReference.js";
import { checkDomain } from "../protocol/qsCodec.js";

const te = new TextEncoder();
const REFERENCE_INFO = te.encode(QUEUE_REFERENCE_HPKE_INFO);

/**
 * For clients: seals `queueId` to the QS's queue-reference key. Call once per KeyPackage: every
 * call uses a fresh HPKE ephemeral key, so the bytes never repeat.
 */
export async function sealQueueReference(qsPublicKey: Uint8Array, keyId: number, qsDomain: string, queueId: Uint8Array): Promise<Uint8Array> {
  if (!Number.isInteger(keyId) || keyId < 0 || keyId > 255) throw new RangeError("key id must be a uint8");
  checkDomain(qsDomain, "qs_domain");
  const s = platform().hpkeSuite(QUEUE_REFERENCE_KEM_ID, QUEUE_REFERENCE_KDF_ID, QUEUE_REFERENCE_AEAD_ID);
  const recipientPublicKey = await s.kem.deserializePublicKey(qsPublicKey);
  const { ct, enc } = await s.seal({ recipientPublicKey, info: REFERENCE_INFO }, new QueueReference(queueId).serialize(), te.encode(qsDomain));
  return new SealedQueueReference(keyId, new Uint8Array(enc), new Uint8Array(ct)).serialize();
}
