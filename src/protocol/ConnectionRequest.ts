// ConnectionRequest: POST /connection_request (draft-kohbrok-mimi-moh s"Deliver Connection
// Request") in the reduced-metadata connection flow (draft-robert-mimi-delivery-service,
// s"Privacy preserving message delivery"). The initiator claimed one of the responder's
// connection KeyPackages; it sends the KeyPackage's sealed queue reference and a connection offer
// sealed to the KeyPackage's init key straight to the responder's QS (through OHTTP), so neither
// provider's DS ever sees a KeyPackage tied to the connection group, and the initiator's own
// provider does not learn whom it connects to.
//
//   struct {
//     uint16 version;
//     opaque sealed_reference<V>;   // from the connection KeyPackage's ClientQueueConfig
//     opaque sealed_offer<V>;       // a SealedConnectionOffer, opaque to the QS
//   } ConnectionRequest;
//
// The answer is a DSFanoutResponse with exactly one result (ok, invalid_client_queue_information
// or queue_full) or a request-level error code.
import { CONNECTION_REQUEST_VERSION, MAX_SEALED_OFFER_BYTES, MAX_SEALED_REFERENCE_BYTES } from "./QsConstants.js";
import { QsMalformedError } from "./QsErrors.js";
import { decodeQs } from "./qsCodec.js";
import { TlsWriter } from "./tls.js";

export class ConnectionRequest {
  constructor(
    readonly sealedReference: Uint8Array,
    readonly sealedOffer: Uint8Array,
    readonly version: number = CONNECTION_REQUEST_VERSION,
  ) {
    if (sealedReference.length === 0 || sealedReference.length > MAX_SEALED_REFERENCE_BYTES) throw new QsMalformedError("sealed_reference has a bad length");
    if (sealedOffer.length === 0 || sealedOffer.length > MAX_SEALED_OFFER_BYTES) throw new QsMalformedError("sealed_offer has a bad length");
  }

  serialize(): Uint8Array {
    return new TlsWriter(this.sealedReference.length + this.sealedOffer.length + 16).u16(this.version).opaque(this.sealedReference).opaque(this.sealedOffer).finish();
  }

  static deserialize(bytes: Uint8Array): ConnectionRequest {
    return decodeQs(bytes, "ConnectionRequest", (r) => {
      const version = r.u16("version");
      const sealedReference = r.opaque("sealed_reference", MAX_SEALED_REFERENCE_BYTES);
      const sealedOffer = r.opaque("sealed_offer", MAX_SEALED_OFFER_BYTES);
      return new ConnectionRequest(sealedReference, sealedOffer, version);
    });
  }
}
