// Media types of RFC 9458 s9 and draft-ietf-ohai-chunked-ohttp-08 s7.
export const OHTTP_REQ = "message/ohttp-req";
export const OHTTP_RES = "message/ohttp-res";
export const OHTTP_CHUNKED_REQ = "message/ohttp-chunked-req";
export const OHTTP_CHUNKED_RES = "message/ohttp-chunked-res";
export const OHTTP_KEYS = "application/ohttp-keys";
