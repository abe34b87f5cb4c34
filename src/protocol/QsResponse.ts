// QsResponse: the Queueing Service's answer to a QsRequest (wire profile "mimi-qs/1").
//
//   struct { uint64 sequence_number; opaque ciphertext<V>; } QueueMessage;
//   struct { uint8 key_id; opaque public_key<V>; } QsReferenceKey;
//   struct {
//     uint16 version;
//     QsResponseType response_type;
//     select (response_type) {
//       case ok:            struct {};
//       case error:         QSErrorCode code; uint16 supported_versions<V>;
//       case queue_created: opaque queue_id<V>; QsReferenceKey reference_key;
//       case messages:      QueueMessage messages<V>; uint64 next_sequence;
//       case reference_key: QsReferenceKey reference_key;
//     };
//   } QsResponse;
//
// A QueueMessage's ciphertext is AES-256-GCM under the queue's per-message key (see
// src/qs/QueueChain.ts); only the queue owner, who holds the initial secret, opens it.
import { MAX_FETCH_MESSAGES, MAX_QUEUE_CIPHERTEXT_BYTES, MAX_QUEUE_ID_BYTES, QsResponseType } from "./QsConstants.js";
import { isQsErrorCode, QSErrorCode, QsMalformedError } from "./QsErrors.js";
import { decodeQs } from "./qsCodec.js";
import { TlsWriter, type TlsReader } from "./tls.js";

export interface QueueMessage {
  readonly sequence: bigint;
  readonly ciphertext: Uint8Array;
}

export interface QsReferenceKey {
  readonly keyId: number;
  /** raw X25519 public key, 32 bytes */
  readonly publicKey: Uint8Array;
}

export type QsResponseBody =
  | { readonly type: QsResponseType.ok }
  | { readonly type: QsResponseType.error; readonly code: QSErrorCode; readonly supportedVersions: readonly number[] }
  | { readonly type: QsResponseType.queue_created; readonly queueId: Uint8Array; readonly referenceKey: QsReferenceKey }
  | { readonly type: QsResponseType.messages; readonly messages: readonly QueueMessage[]; readonly nextSequence: bigint }
  | { readonly type: QsResponseType.reference_key; readonly referenceKey: QsReferenceKey };

const writeRefKey = (w: TlsWriter, k: QsReferenceKey) => w.u8(k.keyId).opaque(k.publicKey);
function readRefKey(r: TlsReader): QsReferenceKey {
  const keyId = r.u8("key_id");
  const publicKey = r.opaque("public_key", 32);
  if (publicKey.length !== 32) throw new QsMalformedError("reference public_key must be 32 bytes");
  return { keyId, publicKey };
}

export class QsResponse {
  constructor(
    readonly version: number,
    readonly body: QsResponseBody,
  ) {}

  serialize(): Uint8Array {
    const w = new TlsWriter();
    const b = this.body;
    w.u16(this.version).u8(b.type);
    switch (b.type) {
      case QsResponseType.ok:
        break;
      case QsResponseType.error:
        w.u16(b.code).vector(b.supportedVersions, (iw, v) => iw.u16(v));
        break;
      case QsResponseType.queue_created:
        w.opaque(b.queueId);
        writeRefKey(w, b.referenceKey);
        break;
      case QsResponseType.messages:
        w.vector(b.messages, (iw, m) => iw.u64(m.sequence).opaque(m.ciphertext)).u64(b.nextSequence);
        break;
      case QsResponseType.reference_key:
        writeRefKey(w, b.referenceKey);
        break;
    }
    return w.finish();
  }

  static deserialize(bytes: Uint8Array): QsResponse {
    return decodeQs(bytes, "QsResponse", (r) => {
      const version = r.u16("version");
      const type = r.u8("response_type");
      let body: QsResponseBody;
      switch (type) {
        case QsResponseType.ok:
          body = { type };
          break;
        case QsResponseType.error: {
          const code = r.u16("error_code");
          if (!isQsErrorCode(code)) throw new QsMalformedError(`unknown error code ${code}`);
          body = { type, code, supportedVersions: r.vector("supported_versions", (ir) => ir.u16("version"), 64) };
          break;
        }
        case QsResponseType.queue_created: {
          const queueId = r.opaque("queue_id", MAX_QUEUE_ID_BYTES);
          if (queueId.length === 0) throw new QsMalformedError("queue_id is empty");
          body = { type, queueId, referenceKey: readRefKey(r) };
          break;
        }
        case QsResponseType.messages: {
          const messages = r.vector(
            "messages",
            (ir) => ({ sequence: ir.u64("sequence_number"), ciphertext: ir.opaque("ciphertext", MAX_QUEUE_CIPHERTEXT_BYTES) }),
            MAX_FETCH_MESSAGES,
          );
          body = { type, messages, nextSequence: r.u64("next_sequence") };
          break;
        }
        case QsResponseType.reference_key:
          body = { type, referenceKey: readRefKey(r) };
          break;
        default:
          throw new QsMalformedError(`unknown response_type ${type}`);
      }
      return new QsResponse(version, body);
    });
  }
}
