// Chunk framing of draft-ietf-ohai-chunked-ohttp-08 s4/s5:
//   Non-Final Chunk { Length (i) = 1.., AEAD-Protected Chunk (..) } ...
//   Final Chunk Indicator (i) = 0, AEAD-Protected Final Chunk (..)   // to the end of the message
// Lengths are QUIC varints; the framing itself is not authenticated (order and finality are,
// by nonce and AAD), so non-minimal varints are accepted.
import { concatBytes } from "../codec/bytes.js";
import { TruncatedError } from "../codec/errors.js";
import { readVarint, varintSize, writeVarint } from "../codec/varint.js";
import { ChunkTooLargeError, EmptyChunkError, MalformedChunkError, TruncatedChunkedMessageError } from "./errors.js";

/** The draft: implementations MUST accept chunks of 2^14 bytes; senders SHOULD not exceed it. */
export const DEFAULT_CHUNK_SIZE = 16384;
/** Largest plaintext chunk accepted or produced: a memory bound per chunk. */
export const MAX_CHUNK_SIZE = 1 << 20;

export interface ParsedChunks {
  readonly nonFinal: Uint8Array[];
  readonly final: Uint8Array;
}

/** Splits sealed chunks out of bytes[offset..]; views, no copies. */
export function parseChunks(bytes: Uint8Array, offset: number, tagSize: number, maxChunk: number): ParsedChunks {
  const nonFinal: Uint8Array[] = [];
  let o = offset;
  // Every pass consumes at least one length byte plus tagSize + 1 bytes, so this ends.
  while (o < bytes.length) {
    let len: number;
    let next: number;
    try {
      [len, next] = readVarint(bytes, o, "chunk length");
    } catch (e) {
      if (e instanceof TruncatedError) throw new TruncatedChunkedMessageError("chunked message ends inside a chunk length");
      throw new MalformedChunkError("invalid chunk length", "malformed_chunk", e);
    }
    if (len === 0) {
      const final = bytes.subarray(next);
      if (final.length < tagSize) throw new MalformedChunkError(`final chunk of ${final.length} bytes is shorter than the AEAD tag`);
      if (final.length - tagSize > maxChunk) throw new ChunkTooLargeError(final.length - tagSize, maxChunk);
      return { nonFinal, final };
    }
    if (len - tagSize > maxChunk) throw new ChunkTooLargeError(len - tagSize, maxChunk);
    if (len < tagSize) throw new MalformedChunkError(`chunk of ${len} bytes is shorter than the AEAD tag`);
    if (len === tagSize) throw new EmptyChunkError();
    if (next + len > bytes.length) throw new TruncatedChunkedMessageError("chunked message ends inside a chunk");
    nonFinal.push(bytes.subarray(next, next + len));
    o = next + len;
  }
  throw new TruncatedChunkedMessageError();
}

/** prefix || (varint(len) || chunk)* || 0x00 || final */
export function frameChunks(prefix: Uint8Array, nonFinal: readonly Uint8Array[], final: Uint8Array): Uint8Array {
  let n = prefix.length + 1 + final.length;
  for (const c of nonFinal) n += varintSize(c.length) + c.length;
  const out = new Uint8Array(n);
  out.set(prefix, 0);
  let o = prefix.length;
  for (const c of nonFinal) {
    o = writeVarint(out, o, c.length);
    out.set(c, o);
    o += c.length;
  }
  out[o++] = 0;
  out.set(final, o);
  return out;
}

function checkChunkSize(chunkSize: number): void {
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > MAX_CHUNK_SIZE) {
    throw new RangeError(`chunk size must be an integer in 1..${MAX_CHUNK_SIZE}, got ${chunkSize}`);
  }
}

/**
 * Plaintext pieces for a chunked message. From one body: chunkSize-byte pieces, the last one
 * (possibly empty, for an empty body) going into the final chunk. From explicit pieces: each is
 * one chunk, the last is the final one; non-final pieces must not be empty (draft s6).
 */
export function planPieces(body: Uint8Array | readonly Uint8Array[], chunkSize: number): { nonFinal: Uint8Array[]; final: Uint8Array } {
  checkChunkSize(chunkSize);
  if (!(body instanceof Uint8Array)) {
    if (body.length === 0) return { nonFinal: [], final: new Uint8Array(0) };
    const pieces = [...body];
    const final = pieces.pop()!;
    for (const p of pieces) {
      if (p.length === 0) throw new RangeError("a non-final chunk must not be empty");
      if (p.length > MAX_CHUNK_SIZE) throw new RangeError(`chunk of ${p.length} bytes exceeds ${MAX_CHUNK_SIZE}`);
    }
    if (final.length > MAX_CHUNK_SIZE) throw new RangeError(`chunk of ${final.length} bytes exceeds ${MAX_CHUNK_SIZE}`);
    return { nonFinal: pieces, final };
  }
  if (body.length === 0) return { nonFinal: [], final: body };
  const nonFinal: Uint8Array[] = [];
  let o = 0;
  while (body.length - o > chunkSize) {
    nonFinal.push(body.subarray(o, o + chunkSize));
    o += chunkSize;
  }
  return { nonFinal, final: body.subarray(o) };
}

export function concatChunks(parts: readonly Uint8Array[]): Uint8Array {
  return parts.length === 1 ? parts[0]! : concatBytes(...parts);
}
