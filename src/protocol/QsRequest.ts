// QsRequest: a queue owner's request to its Queueing Service (wire profile "mimi-qs/1").
//
//   struct {
//     uint16 version;
//     QsRequestType request_type;
//     select (request_type) {
//       case create_queue:  opaque owner_key<V>; opaque initial_secret<V>;
//       case fetch:         opaque queue_id<V>; uint64 from_sequence; uint32 max_messages; uint32 wait_ms;
//       case ack:           opaque queue_id<V>; uint64 up_to_sequence;
//       case delete_queue:  opaque queue_id<V>;
//       case reference_key: opaque queue_id<V>;
//     };
//     uint64 timestamp_ms;
//     opaque nonce<V>;                 // 16 random bytes
//     opaque signature<V>;             // SignWithLabel(owner key, "MIMI QS request", QsRequestTBS)
//   } QsRequest;
//
// QsRequestTBS is every field but the signature, so a signature covers the operation, the
// queue, its arguments, the time and the nonce and cannot be replayed for another operation or
// queue. create_queue is signed by the key it registers (proof of possession).
import {
  ED25519_PUBLIC_KEY_LENGTH,
  INITIAL_SECRET_LENGTH,
  MAX_QUEUE_ID_BYTES,
  MAX_SIGNATURE_BYTES,
  QsRequestType,
  REQUEST_NONCE_LENGTH,
} from "./QsConstants.js";
import { QsMalformedError } from "./QsErrors.js";
import { decodeQs, fixedOpaque, safeU64 } from "./qsCodec.js";
import { TlsWriter, type TlsReader } from "./tls.js";

export type QsRequestBody =
  | { readonly type: QsRequestType.create_queue; readonly ownerKey: Uint8Array; readonly initialSecret: Uint8Array }
  | { readonly type: QsRequestType.fetch; readonly queueId: Uint8Array; readonly fromSequence: bigint; readonly maxMessages: number; readonly waitMs: number }
  | { readonly type: QsRequestType.ack; readonly queueId: Uint8Array; readonly upToSequence: bigint }
  | { readonly type: QsRequestType.delete_queue; readonly queueId: Uint8Array }
  | { readonly type: QsRequestType.reference_key; readonly queueId: Uint8Array };

const U64_MAX = (1n << 64n) - 1n;

function writeBody(w: TlsWriter, b: QsRequestBody): void {
  w.u8(b.type);
  switch (b.type) {
    case QsRequestType.create_queue:
      w.opaque(b.ownerKey).opaque(b.initialSecret);
      return;
    case QsRequestType.fetch:
      w.opaque(b.queueId).u64(b.fromSequence).u32(b.maxMessages).u32(b.waitMs);
      return;
    case QsRequestType.ack:
      w.opaque(b.queueId).u64(b.upToSequence);
      return;
    case QsRequestType.delete_queue:
    case QsRequestType.reference_key:
      w.opaque(b.queueId);
      return;
  }
}

function readQueueId(r: TlsReader): Uint8Array {
  const id = r.opaque("queue_id", MAX_QUEUE_ID_BYTES);
  if (id.length === 0) throw new QsMalformedError("queue_id is empty");
  return id;
}

function readBody(r: TlsReader): QsRequestBody {
  const type = r.u8("request_type");
  switch (type) {
    case QsRequestType.create_queue:
      return { type, ownerKey: fixedOpaque(r, "owner_key", ED25519_PUBLIC_KEY_LENGTH), initialSecret: fixedOpaque(r, "initial_secret", INITIAL_SECRET_LENGTH) };
    case QsRequestType.fetch:
      return { type, queueId: readQueueId(r), fromSequence: r.u64("from_sequence"), maxMessages: r.u32("max_messages"), waitMs: r.u32("wait_ms") };
    case QsRequestType.ack:
      return { type, queueId: readQueueId(r), upToSequence: r.u64("up_to_sequence") };
    case QsRequestType.delete_queue:
    case QsRequestType.reference_key:
      return { type, queueId: readQueueId(r) };
    default:
      throw new QsMalformedError(`unknown request_type ${type}`);
  }
}

function checkBody(b: QsRequestBody): void {
  const u32 = (v: number, what: string) => {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new QsMalformedError(`${what} is not a uint32`);
  };
  const u64 = (v: bigint, what: string) => {
    if (typeof v !== "bigint" || v < 0n || v > U64_MAX) throw new QsMalformedError(`${what} is not a uint64`);
  };
  if (b.type === QsRequestType.fetch) {
    u64(b.fromSequence, "from_sequence");
    u32(b.maxMessages, "max_messages");
    u32(b.waitMs, "wait_ms");
  } else if (b.type === QsRequestType.ack) {
    u64(b.upToSequence, "up_to_sequence");
  }
}

export class QsRequest {
  constructor(
    readonly version: number,
    readonly body: QsRequestBody,
    /** milliseconds since the Unix epoch, at signing */
    readonly timestampMs: number,
    readonly nonce: Uint8Array,
    readonly signature: Uint8Array,
  ) {
    checkBody(body);
    if (!Number.isSafeInteger(timestampMs) || timestampMs < 0) throw new QsMalformedError("timestamp_ms is out of range");
  }

  /** The queue the request is about (undefined for create_queue). */
  get queueId(): Uint8Array | undefined {
    return this.body.type === QsRequestType.create_queue ? undefined : this.body.queueId;
  }

  /** QsRequestTBS: the encoding of every field but the signature. */
  static tbs(version: number, body: QsRequestBody, timestampMs: number, nonce: Uint8Array): Uint8Array {
    checkBody(body);
    const w = new TlsWriter(128).u16(version);
    writeBody(w, body);
    return w.u64(BigInt(timestampMs)).opaque(nonce).finish();
  }

  tbs(): Uint8Array {
    return QsRequest.tbs(this.version, this.body, this.timestampMs, this.nonce);
  }

  serialize(): Uint8Array {
    return new TlsWriter(200).raw(this.tbs()).opaque(this.signature).finish();
  }

  static deserialize(bytes: Uint8Array): QsRequest {
    return decodeQs(bytes, "QsRequest", (r) => {
      const version = r.u16("version");
      const body = readBody(r);
      const timestampMs = safeU64(r, "timestamp_ms");
      const nonce = fixedOpaque(r, "nonce", REQUEST_NONCE_LENGTH);
      const signature = r.opaque("signature", MAX_SIGNATURE_BYTES);
      return new QsRequest(version, body, timestampMs, nonce, signature);
    });
  }
}
