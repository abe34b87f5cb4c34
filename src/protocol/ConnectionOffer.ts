// The connection offer of the reduced-metadata connection flow: what the initiator tells the
// responder so it can join the connection group by external commit. It travels only inside a
// SealedConnectionOffer (HPKE base mode to the init key of the responder's connection
// KeyPackage), carried by a ConnectionRequest through the responder's QS into its queue.
//
//   struct {
//     opaque hub_domain<V>;      // the DS that holds the connection group
//     opaque group_id<V>;
//     opaque ear_key<V>;         // the group-state key of the group's current epoch
//     opaque initiator_uri<V>;   // who asks, e.g. mimi://a.test/u/alice (for the responder's consent)
//   } ConnectionOffer;
//
//   struct {
//     opaque key_package_ref<V>; // which connection KeyPackage it is sealed to
//     opaque kem_output<V>;
//     opaque ciphertext<V>;      // HPKE Seal(info = "MIMI connection offer", aad = key_package_ref)
//   } SealedConnectionOffer;
import { EAR_KEY_LENGTH } from "./constants.js";
import { MAX_DOMAIN_BYTES } from "./QsConstants.js";
import { checkDomain, decodeQs, encodeDomain, readDomain } from "./qsCodec.js";
import { QsMalformedError } from "./QsErrors.js";
import { TlsWriter } from "./tls.js";

export const CONNECTION_OFFER_HPKE_INFO = "MIMI connection offer";
const MAX_GROUP_ID_BYTES = 255;
const MAX_URI_BYTES = 1024;
const MAX_KEM_OUTPUT_BYTES = 256;
const MAX_OFFER_CIPHERTEXT_BYTES = MAX_URI_BYTES + MAX_DOMAIN_BYTES + 512;
const utf8 = new TextDecoder("utf-8", { fatal: true });

export class ConnectionOffer {
  constructor(
    readonly hubDomain: string,
    readonly groupId: Uint8Array,
    readonly earKey: Uint8Array,
    readonly initiatorUri: string,
  ) {
    checkDomain(hubDomain, "hub_domain");
    if (groupId.length === 0 || groupId.length > MAX_GROUP_ID_BYTES) throw new QsMalformedError("group_id has a bad length");
    if (earKey.length !== EAR_KEY_LENGTH) throw new QsMalformedError(`ear_key must be ${EAR_KEY_LENGTH} bytes`);
    const uri = new TextEncoder().encode(initiatorUri);
    if (uri.length > MAX_URI_BYTES) throw new QsMalformedError("initiator_uri is too long");
    // a lone surrogate would not survive the UTF-8 round trip
    if (utf8.decode(uri) !== initiatorUri) throw new QsMalformedError("initiator_uri is not well-formed Unicode");
  }

  serialize(): Uint8Array {
    return new TlsWriter(128 + this.groupId.length + this.initiatorUri.length * 3)
      .opaque(encodeDomain(this.hubDomain))
      .opaque(this.groupId)
      .opaque(this.earKey)
      .opaque(new TextEncoder().encode(this.initiatorUri))
      .finish();
  }

  static deserialize(bytes: Uint8Array): ConnectionOffer {
    return decodeQs(bytes, "ConnectionOffer", (r) => {
      const hubDomain = readDomain(r, "hub_domain");
      const groupId = r.opaque("group_id", MAX_GROUP_ID_BYTES);
      const earKey = r.opaque("ear_key", EAR_KEY_LENGTH);
      let initiatorUri: string;
      try {
        initiatorUri = utf8.decode(r.opaque("initiator_uri", MAX_URI_BYTES));
      } catch (e) {
        if (e instanceof TypeError) throw new QsMalformedError("initiator_uri is not UTF-8");
        throw e;
      }
      return new ConnectionOffer(hubDomain, groupId, earKey, initiatorUri);
    });
  }
}

export class SealedConnectionOffer {
  constructor(
    readonly keyPackageRef: Uint8Array,
    readonly kemOutput: Uint8Array,
    readonly ciphertext: Uint8Array,
  ) {
    if (keyPackageRef.length === 0 || keyPackageRef.length > 64) throw new QsMalformedError("key_package_ref has a bad length");
    if (kemOutput.length > MAX_KEM_OUTPUT_BYTES) throw new QsMalformedError("kem_output is too long");
    if (ciphertext.length > MAX_OFFER_CIPHERTEXT_BYTES) throw new QsMalformedError("ciphertext is too long");
  }

  serialize(): Uint8Array {
    return new TlsWriter(this.ciphertext.length + 160).opaque(this.keyPackageRef).opaque(this.kemOutput).opaque(this.ciphertext).finish();
  }

  static deserialize(bytes: Uint8Array): SealedConnectionOffer {
    return decodeQs(bytes, "SealedConnectionOffer", (r) => new SealedConnectionOffer(r.opaque("key_package_ref", 64), r.opaque("kem_output", MAX_KEM_OUTPUT_BYTES), r.opaque("ciphertext", MAX_OFFER_CIPHERTEXT_BYTES)));
  }
}
