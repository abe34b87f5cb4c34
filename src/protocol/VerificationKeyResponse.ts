// VerificationKeyResponse: what GET /verification_key (draft-kohbrok-mimi-moh s"Verification
// Key") returns: every DS signature key currently valid for DSFanoutRequests. During a rotation
// the list holds the new (signing) key and the previous ones still inside their overlap window,
// so a QS with a cached list keeps verifying while it refreshes.
//
//   struct { uint16 signature_scheme; opaque public_key<V>; } VerificationKey;
//   struct { uint16 version; VerificationKey keys<V>; } VerificationKeyResponse;
import { MAX_VERIFICATION_KEYS } from "./QsConstants.js";
import { decodeQs } from "./qsCodec.js";
import { TlsWriter } from "./tls.js";

export interface VerificationKey {
  /** TLS SignatureScheme; SIGNATURE_SCHEME_ED25519 (0x0807) is the only one a QS uses */
  readonly signatureScheme: number;
  readonly publicKey: Uint8Array;
}

export class VerificationKeyResponse {
  constructor(
    readonly version: number,
    readonly keys: readonly VerificationKey[],
  ) {}

  serialize(): Uint8Array {
    return new TlsWriter(64 + this.keys.length * 40)
      .u16(this.version)
      .vector(this.keys, (w, k) => w.u16(k.signatureScheme).opaque(k.publicKey))
      .finish();
  }

  static deserialize(bytes: Uint8Array): VerificationKeyResponse {
    return decodeQs(bytes, "VerificationKeyResponse", (r) => {
      const version = r.u16("version");
      const keys = r.vector("keys", (ir) => ({ signatureScheme: ir.u16("signature_scheme"), publicKey: ir.opaque("public_key", 256) }), MAX_VERIFICATION_KEYS);
      return new VerificationKeyResponse(version, keys);
    });
  }
}
