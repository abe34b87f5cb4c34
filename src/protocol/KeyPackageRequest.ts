// KeyPackageRequest, draft-mcmillion-mimi-delivery-service s3.1, byte for byte:
//     struct {
//       opaque user_id<V>;
//       opaque bearer_token<V>;
//       ProtocolVersion version;      // uint16, RFC 9420 s6 (mls10 = 1)
//       CipherSuite cipher_suite;     // uint16, RFC 9420 s17.1
//     } KeyPackageRequest;
// It travels only inside OHTTP (ARCHITECTURE "KeyPackages and bearer tokens").
import { MAX_BEARER_TOKEN_BYTES, MAX_USER_ID_BYTES } from "./KeyPackageConstants.js";
import { decodeExact, TlsWriter, type TlsReader } from "./tls.js";

export class KeyPackageRequest {
  constructor(
    readonly userId: Uint8Array,
    readonly bearerToken: Uint8Array,
    /** MLS ProtocolVersion (uint16) */
    readonly version: number,
    /** MLS CipherSuite (uint16) */
    readonly cipherSuite: number,
  ) {}

  write(w: TlsWriter): void {
    w.opaque(this.userId).opaque(this.bearerToken).u16(this.version).u16(this.cipherSuite);
  }

  static read(r: TlsReader): KeyPackageRequest {
    const userId = r.opaque("user_id", MAX_USER_ID_BYTES);
    const bearerToken = r.opaque("bearer_token", MAX_BEARER_TOKEN_BYTES);
    return new KeyPackageRequest(userId, bearerToken, r.u16("version"), r.u16("cipher_suite"));
  }

  serialize(): Uint8Array {
    const w = new TlsWriter(this.userId.length + this.bearerToken.length + 16);
    this.write(w);
    return w.finish();
  }

  static deserialize(bytes: Uint8Array): KeyPackageRequest {
    return decodeExact(bytes, "KeyPackageRequest", (r) => KeyPackageRequest.read(r));
  }
}
