// The client's codec (RFC 9458 s4.3/s4.4, draft-ietf-ohai-chunked-ohttp-08): encapsulates a
// Binary HTTP request to a gateway's key configuration and opens the matching response.
import type { AeadInterface, CipherSuite, SenderContext } from "@hpke/core";
import { EMPTY_BYTES } from "../hpke/bytes.js";
import { x25519 } from "@noble/curves/ed25519.js";
import { createReferenceCipherSuite } from "../hpke/referenceSuites.js";
import { platform } from "../platform/current.js";
import { aeadParams, isSupportedKem, isSupportedSymmetric, kdfHash, type AeadParams } from "./algorithms.js";
import { DEFAULT_CHUNK_SIZE, frameChunks, MAX_CHUNK_SIZE, parseChunks, planPieces, concatChunks } from "./ChunkFraming.js";
import {
  EncapsulationError,
  MalformedEncapsulatedResponseError,
  ResponseDecryptionError,
  UnsupportedKemError,
  UnsupportedSymmetricAlgorithmError,
} from "./errors.js";
import type { KeyConfig } from "./KeyConfig.js";
import {
  FINAL_CHUNK_AAD,
  LABEL_CHUNKED_REQUEST,
  LABEL_CHUNKED_RESPONSE,
  LABEL_REQUEST,
  LABEL_RESPONSE,
  requestHeader,
  requestInfo,
} from "./labels.js";
import { deriveResponseKeys, ResponseCipher } from "./ResponseCipher.js";

export interface OhttpClientOptions {
  /** Pick this (KDF, AEAD) instead of the first supported one in the config; it must be offered. */
  kdfId?: number;
  aeadId?: number;
  /** the active platform's suite (default true: node:crypto under NodePlatform); false selects @hpke/core's stock suite. */
  fast?: boolean;
  /** Largest plaintext chunk accepted in a chunked response: 16 KiB..1 MiB, default 1 MiB. */
  maxChunkSize?: number;
  /**
   * TEST ONLY: supplies the ephemeral private key of each request, to reproduce published test
   * vectors. Reusing an ephemeral key links requests and breaks the security of OHTTP.
   */
  unsafeEphemeralPrivateKeyForTesting?: () => Uint8Array;
}

export interface EncapsulatedRequestHandle {
  readonly encapsulatedRequest: Uint8Array;
  decapsulateResponse(res: Uint8Array): Promise<Uint8Array>;
}

export class OhttpClient {
  readonly kdfId: number;
  readonly aeadId: number;
  private readonly suite: CipherSuite;
  private readonly aead: AeadInterface;
  private readonly params: AeadParams;
  private readonly hash: "sha256" | "sha384" | "sha512";
  private readonly entropyLen: number;
  private readonly header: Uint8Array;
  private readonly info: Uint8Array;
  private readonly chunkedInfo: Uint8Array;
  private readonly maxChunkSize: number;
  private readonly ephemeral: (() => Uint8Array) | undefined;
  private recipientKey: Promise<CryptoKey> | undefined;

  constructor(
    readonly config: KeyConfig,
    opts: OhttpClientOptions = {},
  ) {
    if (!isSupportedKem(config.kemId)) throw new UnsupportedKemError(config.kemId);
    let chosen;
    if (opts.kdfId !== undefined || opts.aeadId !== undefined) {
      chosen = config.symmetricAlgorithms.find(
        (a) => (opts.kdfId === undefined || a.kdfId === opts.kdfId) && (opts.aeadId === undefined || a.aeadId === opts.aeadId),
      );
      if (chosen === undefined) throw new UnsupportedSymmetricAlgorithmError(opts.kdfId ?? 0, opts.aeadId ?? 0, "not offered by the key configuration");
      if (!isSupportedSymmetric(chosen)) throw new UnsupportedSymmetricAlgorithmError(chosen.kdfId, chosen.aeadId);
    } else {
      chosen = config.symmetricAlgorithms.find(isSupportedSymmetric);
      const first = config.symmetricAlgorithms[0]!;
      if (chosen === undefined) throw new UnsupportedSymmetricAlgorithmError(first.kdfId, first.aeadId, "no supported algorithm in the key configuration");
    }
    this.kdfId = chosen.kdfId;
    this.aeadId = chosen.aeadId;
    this.params = aeadParams(this.aeadId)!;
    const kdf = kdfHash(this.kdfId)!;
    this.hash = kdf.hash;
    this.entropyLen = Math.max(this.params.Nn, this.params.Nk);
    this.suite = (opts.fast ?? true)
      ? platform().hpkeSuite(config.kemId, this.kdfId, this.aeadId)
      : createReferenceCipherSuite(config.kemId, this.kdfId, this.aeadId);
    this.aead = this.suite.aead;
    this.header = requestHeader(config.keyId, config.kemId, this.kdfId, this.aeadId);
    this.info = requestInfo(LABEL_REQUEST, this.header);
    this.chunkedInfo = requestInfo(LABEL_CHUNKED_REQUEST, this.header);
    this.maxChunkSize = opts.maxChunkSize ?? MAX_CHUNK_SIZE;
    if (!Number.isInteger(this.maxChunkSize) || this.maxChunkSize < DEFAULT_CHUNK_SIZE || this.maxChunkSize > MAX_CHUNK_SIZE) {
      throw new RangeError(`maxChunkSize must be in ${DEFAULT_CHUNK_SIZE}..${MAX_CHUNK_SIZE}`);
    }
    this.ephemeral = opts.unsafeEphemeralPrivateKeyForTesting;
  }

  /** message/ohttp-req for one Binary HTTP request; the handle opens the matching message/ohttp-res. */
  async encapsulateRequest(request: Uint8Array): Promise<EncapsulatedRequestHandle> {
    const ctx = await this.setup(this.info);
    let ct: Uint8Array;
    try {
      ct = new Uint8Array(await ctx.seal(request));
    } catch (e) {
      throw new EncapsulationError(e);
    }
    const enc = new Uint8Array(ctx.enc);
    const out = new Uint8Array(this.header.length + enc.length + ct.length);
    out.set(this.header, 0);
    out.set(enc, this.header.length);
    out.set(ct, this.header.length + enc.length);
    return { encapsulatedRequest: out, decapsulateResponse: (res) => this.openResponse(ctx, enc, res) };
  }

  /**
   * message/ohttp-chunked-req. A body is cut into chunkSize pieces (default 16384); an array
   * gives the chunk boundaries explicitly, its last element becoming the final chunk.
   */
  async encapsulateChunkedRequest(
    request: Uint8Array | readonly Uint8Array[],
    chunkSize: number = DEFAULT_CHUNK_SIZE,
  ): Promise<EncapsulatedRequestHandle> {
    const plan = planPieces(request, chunkSize);
    const ctx = await this.setup(this.chunkedInfo);
    const sealed: Uint8Array[] = [];
    let final: Uint8Array;
    try {
      for (const piece of plan.nonFinal) sealed.push(new Uint8Array(await ctx.seal(piece)));
      final = new Uint8Array(await ctx.seal(plan.final, FINAL_CHUNK_AAD));
    } catch (e) {
      throw new EncapsulationError(e);
    }
    const enc = new Uint8Array(ctx.enc);
    const prefix = new Uint8Array(this.header.length + enc.length);
    prefix.set(this.header, 0);
    prefix.set(enc, this.header.length);
    return {
      encapsulatedRequest: frameChunks(prefix, sealed, final),
      decapsulateResponse: (res) => this.openChunkedResponse(ctx, enc, res),
    };
  }

  private async setup(info: Uint8Array): Promise<SenderContext> {
    try {
      this.recipientKey ??= this.suite.kem.deserializePublicKey(this.config.publicKey);
      const recipientPublicKey = await this.recipientKey;
      if (this.ephemeral === undefined) return await this.suite.createSenderContext({ recipientPublicKey, info });
      const skE = this.ephemeral();
      const ekm: CryptoKeyPair = {
        privateKey: await this.suite.kem.deserializePrivateKey(skE),
        publicKey: await this.suite.kem.deserializePublicKey(x25519.getPublicKey(skE)),
      };
      return await this.suite.createSenderContext({ recipientPublicKey, info, ekm });
    } catch (e) {
      throw new EncapsulationError(e);
    }
  }

  private async cipher(ctx: SenderContext, label: Uint8Array, enc: Uint8Array, nonce: Uint8Array): Promise<ResponseCipher> {
    const secret = new Uint8Array(await ctx.export(label, this.entropyLen));
    return new ResponseCipher(this.aead, deriveResponseKeys({ extract: (h, salt, ikm) => platform().hkdfExtract(h, salt, ikm), expand: (h, prk, info, n) => platform().hkdfExpand(h, prk, info, n) }, this.hash, this.params, secret, enc, nonce));
  }

  private async openResponse(ctx: SenderContext, enc: Uint8Array, res: Uint8Array): Promise<Uint8Array> {
    if (res.length < this.entropyLen + this.params.Nt) {
      throw new MalformedEncapsulatedResponseError(`${res.length} bytes, shorter than response_nonce plus the AEAD tag`);
    }
    const nonce = res.subarray(0, this.entropyLen);
    const cipher = await this.cipher(ctx, LABEL_RESPONSE, enc, nonce);
    try {
      return await cipher.open(0, res.subarray(this.entropyLen), EMPTY_BYTES);
    } catch (e) {
      throw new ResponseDecryptionError("response did not open", e);
    }
  }

  private async openChunkedResponse(ctx: SenderContext, enc: Uint8Array, res: Uint8Array): Promise<Uint8Array> {
    if (res.length < this.entropyLen) throw new MalformedEncapsulatedResponseError(`${res.length} bytes, shorter than response_nonce`);
    const chunks = parseChunks(res, this.entropyLen, this.params.Nt, this.maxChunkSize);
    const cipher = await this.cipher(ctx, LABEL_CHUNKED_RESPONSE, enc, res.subarray(0, this.entropyLen));
    const parts: Uint8Array[] = [];
    try {
      for (const c of chunks.nonFinal) parts.push(await cipher.open(parts.length, c, EMPTY_BYTES));
      parts.push(await cipher.open(parts.length, chunks.final, FINAL_CHUNK_AAD));
    } catch (e) {
      throw new ResponseDecryptionError(`response chunk ${parts.length} did not open`, e);
    }
    return concatChunks(parts);
  }
}
