// Tampering, RFC 9458 s4.3/s4.4/s5.2 and draft-ietf-ohai-chunked-ohttp-08 s5/s6: bit flips
// anywhere in requests and responses, wrong key ids, unsupported algorithms, truncation at
// every offset, and reordered, dropped, duplicated, empty and oversized chunks each give their
// specific typed error.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  ChunkTooLargeError,
  DecapsulationError,
  EmptyChunkError,
  GatewayKeyPair,
  MalformedChunkError,
  MalformedEncapsulatedRequestError,
  MalformedEncapsulatedResponseError,
  OhttpClient,
  OhttpError,
  OhttpGateway,
  ResponseDecryptionError,
  TruncatedChunkedMessageError,
  UnknownKeyIdError,
  UnsupportedKemError,
  UnsupportedSymmetricAlgorithmError,
} from "../../src/ohttp/index.js";
import { frameChunks, parseChunks } from "../../src/ohttp/ChunkFraming.js";
import { FINAL_CHUNK_AAD, LABEL_CHUNKED_REQUEST, requestHeader, requestInfo } from "../../src/ohttp/labels.js";
import { createFastCipherSuite } from "../../src/hpke/suites.js";
import { encodeVarint } from "../../src/codec/varint.js";

type ErrorClass = new (...args: never[]) => Error;

async function expectError(p: Promise<unknown>, cls: ErrorClass | ErrorClass[], what: string): Promise<void> {
  const classes = Array.isArray(cls) ? cls : [cls];
  try {
    await p;
  } catch (e) {
    assert.ok(
      classes.some((c) => e instanceof c),
      `${what}: expected ${classes.map((c) => c.name).join("|")}, got ${(e as Error).constructor.name}: ${(e as Error).message}`,
    );
    return;
  }
  assert.fail(`${what}: expected an error`);
}

function flip(bytes: Uint8Array, bit: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[bit >> 3]! ^= 1 << (bit & 7);
  return out;
}

const setup = async () => {
  const kp = await GatewayKeyPair.generate(5, [{ kdfId: 1, aeadId: 1 }]);
  return { kp, gateway: new OhttpGateway([kp]), client: new OhttpClient(kp.config) };
};

test("RFC 9458 s4.3: every single-bit flip of an encapsulated request gives the error of the field it hits", async () => {
  const { gateway, client } = await setup();
  const { encapsulatedRequest: req } = await client.encapsulateRequest(randomBytes(40));
  for (let bit = 0; bit < req.length * 8; bit++) {
    const byte = bit >> 3;
    const expected =
      byte === 0
        ? UnknownKeyIdError
        : byte < 3
          ? UnsupportedKemError
          : byte < 7
            ? UnsupportedSymmetricAlgorithmError
            : DecapsulationError; // enc or ciphertext
    await expectError(gateway.decapsulateRequest(flip(req, bit)), expected, `bit ${bit}`);
  }
});

test("RFC 9458 s4.4: every single-bit flip of an encapsulated response gives ResponseDecryptionError", async () => {
  const { gateway, client } = await setup();
  const h = await client.encapsulateRequest(randomBytes(10));
  const res = await (await gateway.decapsulateRequest(h.encapsulatedRequest)).encapsulateResponse(randomBytes(20));
  for (let bit = 0; bit < res.length * 8; bit++) {
    await expectError(h.decapsulateResponse(flip(res, bit)), ResponseDecryptionError, `bit ${bit}`);
  }
  // A response from a different exchange does not open either.
  const other = await client.encapsulateRequest(randomBytes(10));
  await expectError(other.decapsulateResponse(res), ResponseDecryptionError, "foreign response");
});

test("RFC 9458 s4.3/s4.4: truncation at every offset", async () => {
  const { gateway, client } = await setup();
  const h = await client.encapsulateRequest(randomBytes(30));
  const req = h.encapsulatedRequest;
  for (let n = 0; n < req.length; n++) {
    const expected = n < 7 + 32 + 16 ? MalformedEncapsulatedRequestError : DecapsulationError;
    await expectError(gateway.decapsulateRequest(req.subarray(0, n)), expected, `request cut at ${n}`);
  }
  const res = await (await gateway.decapsulateRequest(req)).encapsulateResponse(randomBytes(30));
  for (let n = 0; n < res.length; n++) {
    const expected = n < 16 + 16 ? MalformedEncapsulatedResponseError : ResponseDecryptionError;
    await expectError(h.decapsulateResponse(res.subarray(0, n)), expected, `response cut at ${n}`);
  }
  // Extension is tampering too.
  await expectError(gateway.decapsulateRequest(Buffer.concat([req, Buffer.from([0])])), DecapsulationError, "request + 1 byte");
  await expectError(h.decapsulateResponse(Buffer.concat([res, Buffer.from([0])])), ResponseDecryptionError, "response + 1 byte");
});

test("RFC 9458 s4.3: wrong key id, unsupported KEM and unsupported algorithms are told apart", async () => {
  const { gateway, client } = await setup();
  const { encapsulatedRequest: req } = await client.encapsulateRequest(randomBytes(8));
  const with_ = (i: number, v: number) => {
    const r = Uint8Array.from(req);
    r[i] = v;
    return r;
  };
  await expectError(gateway.decapsulateRequest(with_(0, 6)), UnknownKeyIdError, "key id 6");
  await expectError(gateway.decapsulateRequest(with_(2, 0x10)), UnsupportedKemError, "KEM P-256");
  await expectError(gateway.decapsulateRequest(with_(4, 2)), UnsupportedSymmetricAlgorithmError, "KDF SHA-384 not offered");
  await expectError(gateway.decapsulateRequest(with_(6, 3)), UnsupportedSymmetricAlgorithmError, "ChaCha20 not offered");
  const e = await gateway.decapsulateRequest(with_(0, 6)).catch((x: unknown) => x);
  assert.ok(e instanceof UnknownKeyIdError && e.keyId === 6 && e.reason === "unknown_key_id");
});

/** Splits a chunked message into its prefix, sealed non-final chunks and sealed final chunk. */
function split(msg: Uint8Array, prefixLen: number) {
  const { nonFinal, final } = parseChunks(msg, prefixLen, 16, 1 << 20);
  return { prefix: msg.subarray(0, prefixLen), nonFinal, final };
}

test("draft-ietf-ohai-chunked-ohttp-08 s6.1: reordered, dropped, duplicated and re-marked request chunks", async () => {
  const { gateway, client } = await setup();
  const { encapsulatedRequest: req } = await client.encapsulateChunkedRequest([randomBytes(100), randomBytes(200), randomBytes(50)]);
  assert.equal((await gateway.decapsulateChunkedRequest(req)).request.length, 350);
  const { prefix, nonFinal: [c0, c1], final } = split(req, 39);
  const cases: [string, Uint8Array, ErrorClass][] = [
    ["swapped chunks", frameChunks(prefix, [c1!, c0!], final), DecapsulationError],
    ["dropped first chunk", frameChunks(prefix, [c1!], final), DecapsulationError],
    ["duplicated chunk", frameChunks(prefix, [c0!, c0!, c1!], final), DecapsulationError],
    ["last non-final chunk marked final", frameChunks(prefix, [c0!], c1!), DecapsulationError],
    ["final chunk moved first", frameChunks(prefix, [final, c0!], c1!), DecapsulationError],
    ["final chunk dropped", Buffer.concat([prefix, frameChunks(new Uint8Array(0), [c0!, c1!], new Uint8Array(0)).subarray(0, -1)]), TruncatedChunkedMessageError],
    ["final chunk framed as non-final", Buffer.concat([prefix, encodeVarint(c0!.length), c0!, encodeVarint(c1!.length), c1!, encodeVarint(final.length), final]), TruncatedChunkedMessageError],
  ];
  for (const [what, msg, cls] of cases) await expectError(gateway.decapsulateChunkedRequest(msg), cls, what);
  // Non-minimal length encodings are not authenticated and must be accepted (draft s6).
  const relaxed = Buffer.concat([prefix, Buffer.from([0x80, 0, 0, c0!.length]), c0!, Buffer.from([0x40, c1!.length]), c1!, Buffer.from([0x40, 0]), final]);
  assert.equal((await gateway.decapsulateChunkedRequest(relaxed)).request.length, 350);
});

test("draft-ietf-ohai-chunked-ohttp-08 s6.2: reordered, dropped and re-marked response chunks", async () => {
  const { gateway, client } = await setup();
  const h = await client.encapsulateChunkedRequest(randomBytes(10));
  const d = await gateway.decapsulateChunkedRequest(h.encapsulatedRequest);
  const res = await d.encapsulateResponse([randomBytes(30), randomBytes(40), randomBytes(5)]);
  assert.equal((await h.decapsulateResponse(res)).length, 75);
  const { prefix, nonFinal: [c0, c1], final } = split(res, 16);
  const cases: [string, Uint8Array, ErrorClass][] = [
    ["swapped chunks", frameChunks(prefix, [c1!, c0!], final), ResponseDecryptionError],
    ["dropped chunk", frameChunks(prefix, [c0!], final), ResponseDecryptionError],
    ["last non-final marked final", frameChunks(prefix, [c0!], c1!), ResponseDecryptionError],
    ["final dropped", Buffer.concat([prefix, encodeVarint(c0!.length), c0!, encodeVarint(c1!.length), c1!]), TruncatedChunkedMessageError],
    ["nonce only", prefix, TruncatedChunkedMessageError],
    ["shorter than nonce", prefix.subarray(0, 15), MalformedEncapsulatedResponseError],
  ];
  for (const [what, msg, cls] of cases) await expectError(h.decapsulateResponse(msg), cls, what);
  for (let bit = 0; bit < res.length * 8; bit += 3) {
    await expectError(
      h.decapsulateResponse(flip(res, bit)),
      [ResponseDecryptionError, TruncatedChunkedMessageError, MalformedChunkError],
      `response bit ${bit}`,
    );
  }
});

test("draft-ietf-ohai-chunked-ohttp-08 s4: truncation of a chunked request at every offset", async () => {
  const { gateway, client } = await setup();
  // chunks: 100 (sealed 116, 2-byte length), 200 (sealed 216, 2-byte length), final 50 (sealed 66)
  const { encapsulatedRequest: req } = await client.encapsulateChunkedRequest([randomBytes(100), randomBytes(200), randomBytes(50)]);
  const finalIndicator = 39 + 2 + 116 + 2 + 216;
  assert.equal(req[finalIndicator], 0);
  for (let n = 0; n < req.length; n++) {
    let expected: ErrorClass;
    if (n < 39) expected = MalformedEncapsulatedRequestError;
    else if (n <= finalIndicator) expected = TruncatedChunkedMessageError; // no final chunk seen
    else if (n < finalIndicator + 1 + 16) expected = MalformedChunkError; // final shorter than the tag
    else expected = DecapsulationError; // final chunk cut: only the AEAD can tell
    await expectError(gateway.decapsulateChunkedRequest(req.subarray(0, n)), expected, `cut at ${n}`);
  }
});

test("draft-ietf-ohai-chunked-ohttp-08 s6: empty non-final chunks, short and oversized chunks", async () => {
  const { kp, gateway, client } = await setup();
  // Craft what our client refuses to send: an empty non-final chunk.
  const suite = createFastCipherSuite(0x20, 1, 1);
  const header = requestHeader(5, 0x20, 1, 1);
  const ctx = await suite.createSenderContext({
    recipientPublicKey: await suite.kem.deserializePublicKey(kp.config.publicKey),
    info: requestInfo(LABEL_CHUNKED_REQUEST, header),
  });
  const empty = new Uint8Array(await ctx.seal(new Uint8Array(0)));
  const fin = new Uint8Array(await ctx.seal(randomBytes(3), FINAL_CHUNK_AAD));
  const prefix = Buffer.concat([header, new Uint8Array(ctx.enc)]);
  await expectError(gateway.decapsulateChunkedRequest(frameChunks(prefix, [empty], fin)), EmptyChunkError, "empty non-final chunk");

  const { encapsulatedRequest: ok } = await client.encapsulateChunkedRequest(randomBytes(5));
  const p = ok.subarray(0, 39);
  await expectError(gateway.decapsulateChunkedRequest(Buffer.concat([p, encodeVarint(5), randomBytes(5), Buffer.from([0]), randomBytes(16)])), MalformedChunkError, "chunk shorter than tag");
  await expectError(gateway.decapsulateChunkedRequest(Buffer.concat([p, Buffer.from([0]), randomBytes(15)])), MalformedChunkError, "final shorter than tag");
  await expectError(gateway.decapsulateChunkedRequest(Buffer.concat([p, encodeVarint((1 << 20) + 17), randomBytes(64)])), ChunkTooLargeError, "2^20 + 1 byte chunk");
  await expectError(gateway.decapsulateChunkedRequest(Buffer.concat([p, Buffer.from([0]), randomBytes((1 << 20) + 17)])), ChunkTooLargeError, "2^20 + 1 byte final");
  await expectError(gateway.decapsulateChunkedRequest(Buffer.concat([p, Buffer.from([0xc0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])])), MalformedChunkError, "varint above 2^53");
  const e = await gateway.decapsulateChunkedRequest(frameChunks(prefix, [empty], fin)).catch((x: unknown) => x);
  assert.ok(e instanceof EmptyChunkError && e.reason === "empty_chunk");

  // A gateway limited to the 16 KiB minimum accepts exactly that much per chunk.
  const strict = new OhttpGateway([kp], { maxChunkSize: 16384 });
  const at = await client.encapsulateChunkedRequest(randomBytes(16384 * 2), 16384);
  assert.equal((await strict.decapsulateChunkedRequest(at.encapsulatedRequest)).request.length, 32768);
  const over = await client.encapsulateChunkedRequest(randomBytes(16385 * 2), 16385);
  await expectError(strict.decapsulateChunkedRequest(over.encapsulatedRequest), ChunkTooLargeError, "16385-byte chunk at a 16 KiB gateway");
  assert.throws(() => new OhttpGateway([kp], { maxChunkSize: 1000 }), RangeError);
});

test("RFC 9458 s4 vs chunked: a message of one kind fails as the other", async () => {
  const { gateway, client } = await setup();
  const plain = await client.encapsulateRequest(randomBytes(20));
  const chunked = await client.encapsulateChunkedRequest(randomBytes(20));
  // Different info labels: never decapsulates under the wrong media type.
  await expectError(gateway.decapsulateRequest(chunked.encapsulatedRequest), DecapsulationError, "chunked as plain");
  await expectError(gateway.decapsulateChunkedRequest(plain.encapsulatedRequest), OhttpError, "plain as chunked");
  const dPlain = await gateway.decapsulateRequest(plain.encapsulatedRequest);
  const dChunked = await gateway.decapsulateChunkedRequest(chunked.encapsulatedRequest);
  await expectError(plain.decapsulateResponse(await dChunked.encapsulateResponse(randomBytes(5))), ResponseDecryptionError, "chunked response as plain");
  await expectError(chunked.decapsulateResponse(await dPlain.encapsulateResponse(randomBytes(5))), OhttpError, "plain response as chunked");
});
