// QueuedMessage: the plaintext of one queued message, which exists only in the QS's memory while
// it enqueues and on the owning client after decryption; at rest and on the wire it is the
// AES-256-GCM ciphertext of QueueMessage.
//
//   enum { mls_message(1), connection_offer(2), (255) } QueuedContentType;
//   struct {
//     QueuedContentType content_type;
//     opaque message<V>;                       // an MLSMessage (fanout) or a SealedConnectionOffer
//     optional<opaque sealed_joiner_key<V>>;   // Welcome recipients: the sealed group-state key
//     uint64 hub_timestamp_ms;                 // as signed by the hub DS (offers: QS acceptance time)
//     opaque sender_domain<V>;                 // the hub DS that signed the fanout (offers: this QS)
//   } QueuedMessage;
//
// The content type is inside the encryption, so the store cannot tell connection offers from
// group traffic.
import { MAX_FANOUT_MESSAGE_BYTES, MAX_SEALED_JOINER_KEY_BYTES, QueuedContentType } from "./QsConstants.js";
import { QsMalformedError } from "./QsErrors.js";
import { checkDomain, decodeQs, encodeDomain, readDomain, safeU64 } from "./qsCodec.js";
import { TlsWriter } from "./tls.js";

export { QueuedContentType };

export class QueuedMessage {
  constructor(
    readonly message: Uint8Array,
    readonly sealedJoinerKey: Uint8Array | undefined,
    readonly hubTimestampMs: number,
    readonly senderDomain: string,
    readonly contentType: QueuedContentType = QueuedContentType.mls_message,
  ) {
    checkDomain(senderDomain, "sender_domain");
    if (contentType !== QueuedContentType.mls_message && contentType !== QueuedContentType.connection_offer) throw new QsMalformedError(`unknown content_type ${String(contentType)}`);
    if (contentType === QueuedContentType.connection_offer && sealedJoinerKey !== undefined) throw new QsMalformedError("a connection offer carries no joiner key");
  }

  serialize(): Uint8Array {
    return new TlsWriter(this.message.length + (this.sealedJoinerKey?.length ?? 0) + 300)
      .u8(this.contentType)
      .opaque(this.message)
      .optional(this.sealedJoinerKey, (w, k) => w.opaque(k))
      .u64(BigInt(this.hubTimestampMs))
      .opaque(encodeDomain(this.senderDomain))
      .finish();
  }

  static deserialize(bytes: Uint8Array): QueuedMessage {
    return decodeQs(bytes, "QueuedMessage", (r) => {
      const contentType = r.u8("content_type");
      if (contentType !== QueuedContentType.mls_message && contentType !== QueuedContentType.connection_offer) throw new QsMalformedError(`unknown content_type ${contentType}`);
      const message = r.opaque("message", MAX_FANOUT_MESSAGE_BYTES);
      const sealedJoinerKey = r.optional("sealed_joiner_key", (or) => or.opaque("sealed_joiner_key", MAX_SEALED_JOINER_KEY_BYTES));
      const hubTimestampMs = safeU64(r, "hub_timestamp_ms");
      return new QueuedMessage(message, sealedJoinerKey, hubTimestampMs, readDomain(r, "sender_domain"), contentType);
    });
  }
}
