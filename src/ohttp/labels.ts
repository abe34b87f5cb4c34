// Labels and the request header of RFC 9458 s4.1/s4.3/s4.4 and their chunked counterparts of
// draft-ietf-ohai-chunked-ohttp-08 s6.1/s6.2.
import { utf8 } from "../hpke/bytes.js";

export const LABEL_REQUEST = utf8("message/bhttp request");
export const LABEL_RESPONSE = utf8("message/bhttp response");
export const LABEL_CHUNKED_REQUEST = utf8("message/bhttp chunked request");
export const LABEL_CHUNKED_RESPONSE = utf8("message/bhttp chunked response");
/** AAD of the final chunk, in requests and responses alike. */
export const FINAL_CHUNK_AAD = utf8("final");
export const LABEL_KEY = utf8("key");
export const LABEL_NONCE = utf8("nonce");

/** Length of hdr = key_id(8) kem_id(16) kdf_id(16) aead_id(16). */
export const REQUEST_HEADER_SIZE = 7;

export function requestHeader(keyId: number, kemId: number, kdfId: number, aeadId: number): Uint8Array {
  return new Uint8Array([keyId, kemId >>> 8, kemId & 0xff, kdfId >>> 8, kdfId & 0xff, aeadId >>> 8, aeadId & 0xff]);
}

/** info = label || 0x00 || hdr */
export function requestInfo(label: Uint8Array, header: Uint8Array): Uint8Array {
  const out = new Uint8Array(label.length + 1 + header.length);
  out.set(label, 0);
  out.set(header, label.length + 1);
  return out;
}
