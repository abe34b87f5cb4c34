// Oblivious HTTP (RFC 9458) and chunked OHTTP (draft-ietf-ohai-chunked-ohttp-08).
export { KeyConfig, KeyConfigList, type SymmetricAlgorithm } from "./KeyConfig.js";
export { GatewayKeyPair } from "./GatewayKeyPair.js";
export {
  OhttpGateway,
  type DecapsulatedChunkedRequest,
  type DecapsulatedRequest,
  type OhttpGatewayOptions,
} from "./OhttpGateway.js";
export { OhttpClient, type EncapsulatedRequestHandle, type OhttpClientOptions } from "./OhttpClient.js";
export { OHTTP_CHUNKED_REQ, OHTTP_CHUNKED_RES, OHTTP_KEYS, OHTTP_REQ, OHTTP_RES } from "./mediaTypes.js";
export {
  ChunkTooLargeError,
  DecapsulationError,
  EmptyChunkError,
  EncapsulationError,
  MalformedChunkError,
  MalformedEncapsulatedRequestError,
  MalformedEncapsulatedResponseError,
  MalformedKeyConfigError,
  OhttpError,
  ResponseDecryptionError,
  TruncatedChunkedMessageError,
  UnknownKeyIdError,
  UnsupportedKemError,
  UnsupportedSymmetricAlgorithmError,
} from "./errors.js";
export { DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE } from "./ChunkFraming.js";
export {
  AEAD_AES_128_GCM,
  AEAD_AES_256_GCM,
  AEAD_CHACHA20_POLY1305,
  DEFAULT_SYMMETRIC,
  KDF_HKDF_SHA256,
  KEM_X25519_HKDF_SHA256,
} from "./algorithms.js";
