// The QS side of queue references (src/protocol/QueueReference.ts): HPKE base mode on the
// project's node:crypto suite, info "MIMI QS queue reference", aad = the QS domain, so a
// reference sealed for one QS never opens at another even under a shared key. Clients seal
// through sealQueueReference.ts (the active platform's suite).
import { QUEUE_REFERENCE_AEAD_ID, QUEUE_REFERENCE_HPKE_INFO, QUEUE_REFERENCE_KDF_ID, QUEUE_REFERENCE_KEM_ID } from "../protocol/QsConstants.js";
import { createFastCipherSuite } from "../hpke/index.js";

const te = new TextEncoder();
let suite: ReturnType<typeof createFastCipherSuite> | undefined;
/** @internal the one HPKE suite of queue references */
export function referenceSuite() {
  suite ??= createFastCipherSuite(QUEUE_REFERENCE_KEM_ID, QUEUE_REFERENCE_KDF_ID, QUEUE_REFERENCE_AEAD_ID);
  return suite;
}
export const REFERENCE_INFO = te.encode(QUEUE_REFERENCE_HPKE_INFO);

export { sealQueueReference } from "./sealQueueReference.js";
