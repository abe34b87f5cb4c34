// QueuedMessage: the plaintext of one queued message, which exists only in the QS's memory while
// it enqueues and on the owning client after decryption; at rest and on the wire it is the
// AES-256-GCM ciphertext of QueueMessage.
//
//   struct {
//     opaque message<V>;                       // the fanned-out MLSMessage
//     optional<opaque sealed_joiner_key<V>>;   // Welcome recipients: the sealed group-state key
//     uint64 hub_timestamp_ms;                 // as signed by the hub DS
//     opaque sender_domain<V>;                 // the hub DS that signed the fanout
//   } QueuedMessage;
import { MAX_FANOUT_MESSAGE_BYTES, MAX_SEALED_JOINER_KEY_BYTES } from "./QsConstants.js";
import { checkDomain, decodeQs, encodeDomain, readDomain, safeU64 } from "./qsCodec.js";
import { TlsWriter } from "./tls.js";

export class QueuedMessage {
  constructor(
    readonly message: Uint8Array,
    readonly sealedJoinerKey: Uint8Array | undefined,
    readonly hubTimestampMs: number,
    readonly senderDomain: string,
  ) {
    checkDomain(senderDomain, "sender_domain");
  }

  serialize(): Uint8Array {
    return new TlsWriter(this.message.length + (this.sealedJoinerKey?.length ?? 0) + 300)
      .opaque(this.message)
      .optional(this.sealedJoinerKey, (w, k) => w.opaque(k))
      .u64(BigInt(this.hubTimestampMs))
      .opaque(encodeDomain(this.senderDomain))
      .finish();
  }

  static deserialize(bytes: Uint8Array): QueuedMessage {
    return decodeQs(bytes, "QueuedMessage", (r) => {
      const message = r.opaque("message", MAX_FANOUT_MESSAGE_BYTES);
      const sealedJoinerKey = r.optional("sealed_joiner_key", (or) => or.opaque("sealed_joiner_key", MAX_SEALED_JOINER_KEY_BYTES));
      const hubTimestampMs = safeU64(r, "hub_timestamp_ms");
      return new QueuedMessage(message, sealedJoinerKey, hubTimestampMs, readDomain(r, "sender_domain"));
    });
  }
}
