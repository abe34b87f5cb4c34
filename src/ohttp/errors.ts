// Failures of the OHTTP codec, one class per failure point, all DecodeErrors so that callers
// can map any of them to a protocol status without string checks. `reason` is stable and
// machine-readable; messages never carry key material or message content.
import { DecodeError } from "../codec/errors.js";

export class OhttpError extends DecodeError {
  override name = "OhttpError";
  constructor(message: string, reason: string, cause?: unknown) {
    super(message, reason);
    if (cause !== undefined) this.cause = cause;
  }
}

/** A key configuration (RFC 9458 s3.1) or application/ohttp-keys list (s3.2) is malformed. */
export class MalformedKeyConfigError extends OhttpError {
  override name = "MalformedKeyConfigError";
  constructor(message: string, cause?: unknown) {
    super(`malformed key configuration: ${message}`, "malformed_key_config", cause);
  }
}

/** The HPKE KEM is not one this implementation supports (or, in a key config, one whose Npk it knows). */
export class UnsupportedKemError extends OhttpError {
  override name = "UnsupportedKemError";
  constructor(readonly kemId: number) {
    super(`unsupported HPKE KEM 0x${kemId.toString(16).padStart(4, "0")}`, "unsupported_kem");
  }
}

/** The (KDF, AEAD) pair is not supported here or not offered by the key configuration. */
export class UnsupportedSymmetricAlgorithmError extends OhttpError {
  override name = "UnsupportedSymmetricAlgorithmError";
  constructor(
    readonly kdfId: number,
    readonly aeadId: number,
    detail = "unsupported",
  ) {
    super(
      `HPKE symmetric algorithm (kdf 0x${kdfId.toString(16).padStart(4, "0")}, aead 0x${aeadId.toString(16).padStart(4, "0")}): ${detail}`,
      "unsupported_symmetric_algorithm",
    );
  }
}

/** The request names a key identifier the gateway does not hold (RFC 9458 s4.3). */
export class UnknownKeyIdError extends OhttpError {
  override name = "UnknownKeyIdError";
  constructor(readonly keyId: number) {
    super(`unknown key identifier ${keyId}`, "unknown_key_id");
  }
}

/** The encapsulated request is structurally invalid (too short for its header, enc or tag). */
export class MalformedEncapsulatedRequestError extends OhttpError {
  override name = "MalformedEncapsulatedRequestError";
  constructor(message: string, cause?: unknown) {
    super(`malformed encapsulated request: ${message}`, "malformed_encapsulated_request", cause);
  }
}

/** HPKE setup or Open failed on the gateway: wrong key, tampered enc/ciphertext, wrong AAD, reordered chunks. */
export class DecapsulationError extends OhttpError {
  override name = "DecapsulationError";
  constructor(message = "HPKE decapsulation failed", cause?: unknown) {
    super(message, "decapsulation_failed", cause);
  }
}

/** The client could not set up HPKE towards the key configuration (e.g. an invalid public key). */
export class EncapsulationError extends OhttpError {
  override name = "EncapsulationError";
  constructor(cause?: unknown) {
    super("HPKE encapsulation failed", "encapsulation_failed", cause);
  }
}

/** The encapsulated response is structurally invalid (shorter than its nonce plus a tag). */
export class MalformedEncapsulatedResponseError extends OhttpError {
  override name = "MalformedEncapsulatedResponseError";
  constructor(message: string) {
    super(`malformed encapsulated response: ${message}`, "malformed_encapsulated_response");
  }
}

/** The response AEAD failed to open (tampered, truncated final chunk, reordered chunks, wrong exchange). */
export class ResponseDecryptionError extends OhttpError {
  override name = "ResponseDecryptionError";
  constructor(message = "response decryption failed", cause?: unknown) {
    super(message, "response_decryption_failed", cause);
  }
}

/** A chunk of a chunked message is framed wrongly (bad varint, shorter than the AEAD tag). */
export class MalformedChunkError extends OhttpError {
  override name = "MalformedChunkError";
  constructor(message: string, reason = "malformed_chunk", cause?: unknown) {
    super(`malformed chunk: ${message}`, reason, cause);
  }
}

/** A chunk exceeds the configured maximum (a memory bound; the draft requires at least 16 KiB). */
export class ChunkTooLargeError extends MalformedChunkError {
  override name = "ChunkTooLargeError";
  constructor(
    readonly length: number,
    readonly max: number,
  ) {
    super(`chunk of ${length} bytes exceeds the ${max}-byte limit`, "chunk_too_large");
  }
}

/** A non-final chunk carries no data, which draft-ietf-ohai-chunked-ohttp-08 s6 equates with a decryption error. */
export class EmptyChunkError extends MalformedChunkError {
  override name = "EmptyChunkError";
  constructor() {
    super("non-final chunk with an empty plaintext", "empty_chunk");
  }
}

/** The chunked message ends without a final chunk (no zero length indicator): it was truncated. */
export class TruncatedChunkedMessageError extends OhttpError {
  override name = "TruncatedChunkedMessageError";
  constructor(message = "chunked message ends before its final chunk") {
    super(message, "truncated_chunked_message");
  }
}
