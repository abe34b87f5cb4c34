// DSFanoutResponse: the QS's answer to a DSFanoutRequest (draft-robert-mimi-delivery-service
// s"Server to server requests" with the per-recipient QueueingServiceResponse of the -00
// draft's Queueing Service section).
//
//   struct {
//     uint16 version;
//     DSFanoutResponseType response_type;
//     select (response_type) {
//       case ok:    QueueingServiceResponse results<V>;   // one per recipient, in request order
//       case error: QSErrorCode code;                     // the whole request was refused
//     };
//   } DSFanoutResponse;
import { DSFanoutResponseType, MAX_FANOUT_RECIPIENTS, QueueingServiceResponse } from "./QsConstants.js";
import { isQsErrorCode, type QSErrorCode, QsMalformedError } from "./QsErrors.js";
import { decodeQs } from "./qsCodec.js";
import { TlsWriter } from "./tls.js";

export type DSFanoutResponseBody =
  | { readonly type: DSFanoutResponseType.ok; readonly results: readonly QueueingServiceResponse[] }
  | { readonly type: DSFanoutResponseType.error; readonly code: QSErrorCode };

const STATUSES = new Set<number>([QueueingServiceResponse.ok, QueueingServiceResponse.invalid_client_queue_information, QueueingServiceResponse.queue_full]);

export class DSFanoutResponse {
  constructor(
    readonly version: number,
    readonly body: DSFanoutResponseBody,
  ) {}

  serialize(): Uint8Array {
    const w = new TlsWriter(16 + (this.body.type === DSFanoutResponseType.ok ? this.body.results.length : 0));
    w.u16(this.version).u8(this.body.type);
    if (this.body.type === DSFanoutResponseType.ok) w.vector(this.body.results, (iw, s) => iw.u8(s));
    else w.u16(this.body.code);
    return w.finish();
  }

  static deserialize(bytes: Uint8Array): DSFanoutResponse {
    return decodeQs(bytes, "DSFanoutResponse", (r) => {
      const version = r.u16("version");
      const type = r.u8("response_type");
      if (type === DSFanoutResponseType.ok) {
        const results = r.vector(
          "results",
          (ir) => {
            const s = ir.u8("status");
            if (!STATUSES.has(s)) throw new QsMalformedError(`unknown QueueingServiceResponse ${s}`);
            return s as QueueingServiceResponse;
          },
          MAX_FANOUT_RECIPIENTS,
        );
        return new DSFanoutResponse(version, { type, results });
      }
      if (type === DSFanoutResponseType.error) {
        const code = r.u16("error_code");
        if (!isQsErrorCode(code)) throw new QsMalformedError(`unknown error code ${code}`);
        return new DSFanoutResponse(version, { type, code });
      }
      throw new QsMalformedError(`unknown response_type ${type}`);
    });
  }
}
