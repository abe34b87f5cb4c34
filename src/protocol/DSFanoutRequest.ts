// DSFanoutRequest: one message fanned out by a hub DS to the members' queues at one QS
// (draft-robert-mimi-delivery-service s"Server to server requests", s"DSFanoutRequests and
// DS-to-DS authentication"), with the reduced-metadata recipients of this profile: the DS names
// each recipient only by the sealed queue reference from its leaf's ClientQueueConfig.
//
//   struct {
//     opaque sealed_reference<V>;
//     optional<opaque sealed_joiner_key<V>>;
//   } FanoutRecipient;
//   struct {
//     uint16 version;
//     opaque sender_domain<V>;
//     opaque message_id<V>;            // 32 random bytes per fanned-out message
//     FanoutRecipient recipients<V>;
//     opaque message<V>;               // an encoded MLSMessage, opaque to the QS
//     uint64 hub_timestamp_ms;
//     opaque signature<V>;             // SignWithLabel(DS key, "MIMI DS fanout", DSFanoutRequestTBS)
//   } DSFanoutRequest;
//
// DSFanoutRequestTBS is every field but the signature.
import {
  MAX_FANOUT_MESSAGE_BYTES,
  MAX_FANOUT_RECIPIENTS,
  MAX_SEALED_JOINER_KEY_BYTES,
  MAX_SEALED_REFERENCE_BYTES,
  MAX_SIGNATURE_BYTES,
  MESSAGE_ID_LENGTH,
} from "./QsConstants.js";
import { QsMalformedError } from "./QsErrors.js";
import { checkDomain, decodeQs, encodeDomain, fixedOpaque, readDomain, safeU64 } from "./qsCodec.js";
import { TlsWriter, type TlsReader } from "./tls.js";

export interface FanoutRecipient {
  readonly sealedReference: Uint8Array;
  readonly sealedJoinerKey?: Uint8Array;
}

export interface DSFanoutRequestFields {
  readonly version: number;
  readonly senderDomain: string;
  readonly messageId: Uint8Array;
  readonly recipients: readonly FanoutRecipient[];
  readonly message: Uint8Array;
  readonly hubTimestampMs: number;
}

function writeRecipient(w: TlsWriter, r: FanoutRecipient): void {
  w.opaque(r.sealedReference).optional(r.sealedJoinerKey, (ow, k) => ow.opaque(k));
}

function readRecipient(r: TlsReader): FanoutRecipient {
  const sealedReference = r.opaque("sealed_reference", MAX_SEALED_REFERENCE_BYTES);
  const sealedJoinerKey = r.optional("sealed_joiner_key", (or) => or.opaque("sealed_joiner_key", MAX_SEALED_JOINER_KEY_BYTES));
  return sealedJoinerKey === undefined ? { sealedReference } : { sealedReference, sealedJoinerKey };
}

function checkFields(f: DSFanoutRequestFields): void {
  checkDomain(f.senderDomain, "sender_domain");
  if (f.messageId.length !== MESSAGE_ID_LENGTH) throw new QsMalformedError(`message_id must be ${MESSAGE_ID_LENGTH} bytes`);
  if (f.recipients.length > MAX_FANOUT_RECIPIENTS) throw new QsMalformedError(`more than ${MAX_FANOUT_RECIPIENTS} recipients`);
  if (f.message.length > MAX_FANOUT_MESSAGE_BYTES) throw new QsMalformedError("message is too large");
  if (!Number.isSafeInteger(f.hubTimestampMs) || f.hubTimestampMs < 0) throw new QsMalformedError("hub_timestamp_ms is out of range");
}

export class DSFanoutRequest implements DSFanoutRequestFields {
  readonly version: number;
  readonly senderDomain: string;
  readonly messageId: Uint8Array;
  readonly recipients: readonly FanoutRecipient[];
  readonly message: Uint8Array;
  readonly hubTimestampMs: number;

  constructor(
    fields: DSFanoutRequestFields,
    readonly signature: Uint8Array,
  ) {
    checkFields(fields);
    this.version = fields.version;
    this.senderDomain = fields.senderDomain;
    this.messageId = fields.messageId;
    this.recipients = fields.recipients;
    this.message = fields.message;
    this.hubTimestampMs = fields.hubTimestampMs;
  }

  /** DSFanoutRequestTBS: the encoding of every field but the signature. */
  static tbs(f: DSFanoutRequestFields): Uint8Array {
    checkFields(f);
    return new TlsWriter(f.message.length + f.recipients.length * 96 + 128)
      .u16(f.version)
      .opaque(encodeDomain(f.senderDomain))
      .opaque(f.messageId)
      .vector(f.recipients, writeRecipient)
      .opaque(f.message)
      .u64(BigInt(f.hubTimestampMs))
      .finish();
  }

  tbs(): Uint8Array {
    return DSFanoutRequest.tbs(this);
  }

  serialize(): Uint8Array {
    const tbs = this.tbs();
    return new TlsWriter(tbs.length + 80).raw(tbs).opaque(this.signature).finish();
  }

  static deserialize(bytes: Uint8Array): DSFanoutRequest {
    return decodeQs(bytes, "DSFanoutRequest", (r) => {
      const version = r.u16("version");
      const senderDomain = readDomain(r, "sender_domain");
      const messageId = fixedOpaque(r, "message_id", MESSAGE_ID_LENGTH);
      const recipients = r.vector("recipients", readRecipient, MAX_FANOUT_RECIPIENTS);
      const message = r.opaque("message", MAX_FANOUT_MESSAGE_BYTES);
      const hubTimestampMs = safeU64(r, "hub_timestamp_ms");
      const signature = r.opaque("signature", MAX_SIGNATURE_BYTES);
      return new DSFanoutRequest({ version, senderDomain, messageId, recipients, message, hubTimestampMs }, signature);
    });
  }
}
