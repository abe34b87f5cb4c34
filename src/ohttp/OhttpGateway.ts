// The Oblivious Gateway Resource's codec (RFC 9458 s4.3/s4.4, draft-ietf-ohai-chunked-ohttp-08).
// Decapsulation is the gateway's hot path, so everything that depends only on the key set is
// precomputed in setKeys(): the cipher suites, the per-(key, algorithm) header and info bytes,
// and the imported private key. Per request that leaves one X25519 derivation, the HPKE key
// schedule, one AEAD open, an export and the response seal.
import { randomBytes as nodeRandomBytes } from "node:crypto";
import type { AeadInterface, CipherSuite, RecipientContext } from "@hpke/core";
import { createFastCipherSuite, createReferenceCipherSuite } from "../hpke/suites.js";
import { EMPTY_BYTES } from "../hpke/bytes.js";
import { aeadParams, kdfHash, type AeadParams } from "./algorithms.js";
import { DEFAULT_CHUNK_SIZE, frameChunks, MAX_CHUNK_SIZE, parseChunks, planPieces, concatChunks } from "./ChunkFraming.js";
import {
  DecapsulationError,
  MalformedEncapsulatedRequestError,
  UnknownKeyIdError,
  UnsupportedKemError,
  UnsupportedSymmetricAlgorithmError,
} from "./errors.js";
import type { GatewayKeyPair } from "./GatewayKeyPair.js";
import {
  FINAL_CHUNK_AAD,
  LABEL_CHUNKED_REQUEST,
  LABEL_CHUNKED_RESPONSE,
  LABEL_REQUEST,
  LABEL_RESPONSE,
  REQUEST_HEADER_SIZE,
  requestHeader,
  requestInfo,
} from "./labels.js";
import { deriveResponseKeys, ResponseCipher, type ResponseKdf, type ResponseKeyMaterial } from "./ResponseCipher.js";
import { hkdfExpand, hkdfExtract } from "../hpke/NodeHkdf.js";

const HASH_SIZE = { sha256: 32, sha384: 48, sha512: 64 } as const;
/** HKDF on node:crypto for response keys: the gateway's hot path. */
const NODE_KDF: ResponseKdf = { extract: hkdfExtract, expand: (hash, prk, info, length) => hkdfExpand(hash, HASH_SIZE[hash], prk, info, length) };

export interface DecapsulatedRequest {
  readonly keyId: number;
  /** the client's encapsulated key: the replay-defence key of RFC 9458 s6.5 */
  readonly enc: Uint8Array;
  /** the Binary HTTP request */
  readonly request: Uint8Array;
  /** message/ohttp-res */
  encapsulateResponse(response: Uint8Array): Promise<Uint8Array>;
}

export interface DecapsulatedChunkedRequest {
  readonly keyId: number;
  readonly enc: Uint8Array;
  readonly request: Uint8Array;
  /**
   * message/ohttp-chunked-res. A body is cut into chunkSize pieces (default 16384, the size
   * every receiver must accept); an array gives the chunk boundaries explicitly, the last
   * element becoming the final chunk.
   */
  encapsulateResponse(response: Uint8Array | readonly Uint8Array[], chunkSize?: number): Promise<Uint8Array>;
}

export interface OhttpGatewayOptions {
  /** Use the node:crypto-backed suite (default true); false selects @hpke/core's stock suite. */
  fast?: boolean;
  /** Largest plaintext chunk accepted in a chunked request: 16 KiB..1 MiB, default 1 MiB. */
  maxChunkSize?: number;
  /** Source of response nonces (default crypto.randomBytes). Only fixed test vectors should override it. */
  randomBytes?: (n: number) => Uint8Array;
}

/** Everything fixed for one (key, KDF, AEAD) triple. */
interface Algorithm {
  readonly kdfId: number;
  readonly aeadId: number;
  readonly suite: CipherSuite;
  readonly aead: AeadInterface;
  readonly hash: "sha256" | "sha384" | "sha512";
  readonly hashSize: number;
  readonly params: AeadParams;
  /** max(Nn, Nk): length of the response nonce and of the exported secret */
  readonly entropyLen: number;
  readonly info: Uint8Array;
  readonly chunkedInfo: Uint8Array;
}

interface KeyEntry {
  readonly pair: GatewayKeyPair;
  readonly kemId: number;
  readonly encSize: number;
  readonly algorithms: ReadonlyMap<number, Algorithm>;
}

const algKey = (kdfId: number, aeadId: number) => kdfId * 0x10000 + aeadId;

export class OhttpGateway {
  private keys: ReadonlyMap<number, KeyEntry> = new Map();
  private readonly suites = new Map<number, CipherSuite>();
  private readonly fast: boolean;
  private readonly maxChunkSize: number;
  private readonly randomBytes: (n: number) => Uint8Array;

  constructor(keys: readonly GatewayKeyPair[], opts: OhttpGatewayOptions = {}) {
    this.fast = opts.fast ?? true;
    this.maxChunkSize = opts.maxChunkSize ?? MAX_CHUNK_SIZE;
    if (!Number.isInteger(this.maxChunkSize) || this.maxChunkSize < DEFAULT_CHUNK_SIZE || this.maxChunkSize > MAX_CHUNK_SIZE) {
      throw new RangeError(`maxChunkSize must be in ${DEFAULT_CHUNK_SIZE}..${MAX_CHUNK_SIZE}`);
    }
    this.randomBytes = opts.randomBytes ?? nodeRandomBytes;
    this.setKeys(keys);
  }

  /** Replaces the live key set (rotation). Builds the new set fully, then swaps it in. */
  setKeys(keys: readonly GatewayKeyPair[]): void {
    const next = new Map<number, KeyEntry>();
    for (const pair of keys) {
      if (next.has(pair.keyId)) throw new RangeError(`duplicate gateway key id ${pair.keyId}`);
      const kemId = pair.config.kemId;
      const algorithms = new Map<number, Algorithm>();
      for (const { kdfId, aeadId } of pair.config.symmetricAlgorithms) {
        const params = aeadParams(aeadId);
        const kdf = kdfHash(kdfId);
        if (params === undefined || kdf === undefined) throw new UnsupportedSymmetricAlgorithmError(kdfId, aeadId);
        const suite = this.suite(kemId, kdfId, aeadId);
        const header = requestHeader(pair.keyId, kemId, kdfId, aeadId);
        algorithms.set(algKey(kdfId, aeadId), {
          kdfId,
          aeadId,
          suite,
          aead: suite.aead,
          hash: kdf.hash,
          hashSize: kdf.Nh,
          params,
          entropyLen: Math.max(params.Nn, params.Nk),
          info: requestInfo(LABEL_REQUEST, header),
          chunkedInfo: requestInfo(LABEL_CHUNKED_REQUEST, header),
        });
      }
      next.set(pair.keyId, { pair, kemId, encSize: pair.config.publicKey.length, algorithms });
    }
    this.keys = next;
  }

  /** message/ohttp-req -> the Binary HTTP request and a way to answer it. */
  async decapsulateRequest(encapsulated: Uint8Array): Promise<DecapsulatedRequest> {
    const { key, alg, enc, bodyOffset } = this.parseHeader(encapsulated);
    const ct = encapsulated.subarray(bodyOffset);
    if (ct.length < alg.params.Nt) throw new MalformedEncapsulatedRequestError("ciphertext shorter than the AEAD tag");
    const ctx = await this.setup(key, alg, enc, alg.info);
    let pt: ArrayBuffer;
    try {
      pt = await ctx.open(ct);
    } catch (e) {
      throw new DecapsulationError("request ciphertext did not open", e);
    }
    return new GatewayExchange(key.pair.keyId, enc, new Uint8Array(pt), ctx, alg, this.randomBytes, false);
  }

  /** message/ohttp-chunked-req (the whole body already buffered). */
  async decapsulateChunkedRequest(encapsulated: Uint8Array): Promise<DecapsulatedChunkedRequest> {
    const { key, alg, enc, bodyOffset } = this.parseHeader(encapsulated);
    // Framing first: a truncated or oversized message is refused before any public-key work.
    const chunks = parseChunks(encapsulated, bodyOffset, alg.params.Nt, this.maxChunkSize);
    const ctx = await this.setup(key, alg, enc, alg.chunkedInfo);
    const parts: Uint8Array[] = [];
    try {
      // HPKE's sequence number binds chunk order; the "final" AAD binds the end.
      for (const c of chunks.nonFinal) parts.push(new Uint8Array(await ctx.open(c)));
      parts.push(new Uint8Array(await ctx.open(chunks.final, FINAL_CHUNK_AAD)));
    } catch (e) {
      throw new DecapsulationError(`request chunk ${parts.length} did not open`, e);
    }
    return new GatewayExchange(key.pair.keyId, enc, concatChunks(parts), ctx, alg, this.randomBytes, true);
  }

  private suite(kemId: number, kdfId: number, aeadId: number): CipherSuite {
    const k = kemId * 2 ** 32 + algKey(kdfId, aeadId);
    let s = this.suites.get(k);
    if (s === undefined) {
      try {
        s = this.fast ? createFastCipherSuite(kemId, kdfId, aeadId) : createReferenceCipherSuite(kemId, kdfId, aeadId);
      } catch {
        throw new UnsupportedSymmetricAlgorithmError(kdfId, aeadId);
      }
      this.suites.set(k, s);
    }
    return s;
  }

  private parseHeader(bytes: Uint8Array): { key: KeyEntry; alg: Algorithm; enc: Uint8Array; bodyOffset: number } {
    if (bytes.length < REQUEST_HEADER_SIZE) throw new MalformedEncapsulatedRequestError("shorter than its header");
    const keyId = bytes[0]!;
    const key = this.keys.get(keyId);
    if (key === undefined) throw new UnknownKeyIdError(keyId);
    const kemId = (bytes[1]! << 8) | bytes[2]!;
    if (kemId !== key.kemId) throw new UnsupportedKemError(kemId);
    const kdfId = (bytes[3]! << 8) | bytes[4]!;
    const aeadId = (bytes[5]! << 8) | bytes[6]!;
    const alg = key.algorithms.get(algKey(kdfId, aeadId));
    if (alg === undefined) throw new UnsupportedSymmetricAlgorithmError(kdfId, aeadId, `not offered by key ${keyId}`);
    const bodyOffset = REQUEST_HEADER_SIZE + key.encSize;
    if (bytes.length < bodyOffset) throw new MalformedEncapsulatedRequestError("shorter than its encapsulated key");
    // A copy: callers keep enc (replay filters) and must not pin the whole request buffer.
    const enc = bytes.slice(REQUEST_HEADER_SIZE, bodyOffset);
    return { key, alg, enc, bodyOffset };
  }

  private async setup(key: KeyEntry, alg: Algorithm, enc: Uint8Array, info: Uint8Array): Promise<RecipientContext> {
    // A key pair, never a lone private key: the stock KEM would re-derive the public key per call.
    const recipientKey = this.fast ? key.pair.nodeKeyPair : await key.pair.referenceKeyPair();
    try {
      return await alg.suite.createRecipientContext({ recipientKey, enc, info });
    } catch (e) {
      throw new DecapsulationError("HPKE setup failed", e);
    }
  }
}

/** @internal One decapsulated exchange; exported for the test vectors (responseKeys). */
export class GatewayExchange implements DecapsulatedRequest, DecapsulatedChunkedRequest {
  constructor(
    readonly keyId: number,
    readonly enc: Uint8Array,
    readonly request: Uint8Array,
    private readonly ctx: RecipientContext,
    private readonly alg: Algorithm,
    private readonly randomBytes: (n: number) => Uint8Array,
    readonly chunked: boolean,
  ) {}

  /** @internal secret, prk, key and nonce for a given response_nonce (RFC 9458 s4.4). */
  async responseKeys(responseNonce: Uint8Array): Promise<ResponseKeyMaterial & { secret: Uint8Array }> {
    const { alg } = this;
    const label = this.chunked ? LABEL_CHUNKED_RESPONSE : LABEL_RESPONSE;
    const secret = new Uint8Array(await this.ctx.export(label, alg.entropyLen));
    return { secret, ...deriveResponseKeys(NODE_KDF, alg.hash, alg.params, secret, this.enc, responseNonce) };
  }

  async encapsulateResponse(response: Uint8Array | readonly Uint8Array[], chunkSize: number = DEFAULT_CHUNK_SIZE): Promise<Uint8Array> {
    const { alg } = this;
    const plan = this.chunked ? planPieces(response, chunkSize) : undefined;
    if (!this.chunked && !(response instanceof Uint8Array)) throw new TypeError("a non-chunked response is one Uint8Array");
    const nonce = this.randomBytes(alg.entropyLen);
    if (nonce.length !== alg.entropyLen) throw new RangeError("randomBytes returned the wrong length");
    const cipher = new ResponseCipher(alg.aead, await this.responseKeys(nonce));
    if (plan === undefined) {
      const ct = await cipher.seal(0, response as Uint8Array, EMPTY_BYTES);
      const out = new Uint8Array(nonce.length + ct.length);
      out.set(nonce, 0);
      out.set(ct, nonce.length);
      return out;
    }
    const sealed: Uint8Array[] = [];
    for (const [i, piece] of plan.nonFinal.entries()) sealed.push(await cipher.seal(i, piece, EMPTY_BYTES));
    const final = await cipher.seal(plan.nonFinal.length, plan.final, FINAL_CHUNK_AAD);
    return frameChunks(nonce, sealed, final);
  }
}
