// Queue references (the QS-readable part of a ClientQueueConfig):
//
//   struct { opaque queue_id<V>; } QueueReference;
//   struct {
//     uint8 key_id;                    // which QS queue-reference key (rotation)
//     opaque enc<V>;                   // HPKE encapsulated key
//     opaque ciphertext<V>;            // HPKE Seal(pkR, info "MIMI QS queue reference", aad qs_domain, QueueReference)
//   } SealedQueueReference;            // = ClientQueueConfig.sealed_reference
//
// A client seals a fresh reference for every KeyPackage, so two groups never see the same
// bytes for one client; only the QS can open one.
import { MAX_QUEUE_ID_BYTES } from "./QsConstants.js";
import { QsMalformedError } from "./QsErrors.js";
import { decodeQs } from "./qsCodec.js";
import { TlsWriter } from "./tls.js";

export class QueueReference {
  constructor(readonly queueId: Uint8Array) {}

  serialize(): Uint8Array {
    return new TlsWriter(this.queueId.length + 4).opaque(this.queueId).finish();
  }

  static deserialize(bytes: Uint8Array): QueueReference {
    return decodeQs(bytes, "QueueReference", (r) => {
      const id = r.opaque("queue_id", MAX_QUEUE_ID_BYTES);
      if (id.length === 0) throw new QsMalformedError("queue_id is empty");
      return new QueueReference(id);
    });
  }
}

export class SealedQueueReference {
  constructor(
    readonly keyId: number,
    readonly enc: Uint8Array,
    readonly ciphertext: Uint8Array,
  ) {}

  serialize(): Uint8Array {
    return new TlsWriter(this.enc.length + this.ciphertext.length + 8).u8(this.keyId).opaque(this.enc).opaque(this.ciphertext).finish();
  }

  static deserialize(bytes: Uint8Array): SealedQueueReference {
    return decodeQs(bytes, "SealedQueueReference", (r) => {
      const keyId = r.u8("key_id");
      const enc = r.opaque("enc", 32);
      if (enc.length !== 32) throw new QsMalformedError("enc must be 32 bytes");
      const ciphertext = r.opaque("ciphertext", MAX_QUEUE_ID_BYTES + 1 + 16);
      if (ciphertext.length < 17) throw new QsMalformedError("ciphertext is too short");
      return new SealedQueueReference(keyId, enc, ciphertext);
    });
  }
}
