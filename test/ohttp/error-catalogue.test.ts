// Error catalogue (COMMON.md: bad input always gets a clear typed error): truncated, extended,
// bit-flipped and random inputs to every OHTTP decoder. Whatever fails must fail with a
// DecodeError (an OhttpError subclass or a codec error) carrying a stable reason; nothing else
// may escape, and valid inputs must still decode afterwards (no partial state).
import { test } from "node:test";
import assert from "node:assert/strict";
import { DecodeError } from "../../src/codec/errors.js";
import { OhttpError } from "../../src/ohttp/index.js";
import { SeededRandom } from "../hpke/testUtil.js";
import { makeDecoders, type Decoder } from "./corpus.js";

function variants(valid: Uint8Array, rnd: SeededRandom): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let n = 0; n < valid.length; n++) out.push(valid.subarray(0, n)); // every truncation
  for (let k = 1; k <= 8; k++) out.push(Buffer.concat([valid, rnd.bytes(k)])); // extensions
  out.push(Buffer.concat([valid, new Uint8Array(1)]));
  const stride = valid.length > 160 ? 3 : 1;
  for (let bit = 0; bit < valid.length * 8; bit += stride) {
    const b = Uint8Array.from(valid);
    b[bit >> 3]! ^= 1 << (bit & 7);
    out.push(b);
  }
  for (let i = 0; i < 150; i++) out.push(rnd.bytes(rnd.int(300))); // random
  for (let i = 0; i < 100; i++) out.push(Buffer.concat([valid.subarray(0, rnd.int(valid.length)), rnd.bytes(rnd.int(64))])); // valid prefix + noise
  return out;
}

async function catalogue(d: Decoder, seed: number) {
  const reasons = new Map<string, number>();
  const expected = await d.run(d.valid);
  let ok = 0;
  for (const input of variants(d.valid, new SeededRandom(seed))) {
    try {
      const out = await d.run(input);
      if (d.authenticated) assert.equal(out, expected, `${d.name}: tampered input decoded to different content`);
      ok++;
    } catch (e) {
      assert.ok(e instanceof DecodeError, `${d.name}: ${(e as Error)?.constructor?.name} escaped: ${(e as Error)?.message}`);
      assert.equal(typeof e.reason, "string");
      assert.ok(e.reason.length > 0);
      const key = `${e.constructor.name}(${e.reason})`;
      reasons.set(key, (reasons.get(key) ?? 0) + 1);
    }
  }
  await d.run(d.valid); // still works
  return { reasons, ok };
}

test("error catalogue: every failure of every OHTTP decoder is a typed DecodeError", async (t) => {
  const decoders = await makeDecoders();
  const seen = new Set<string>();
  for (const [i, d] of decoders.entries()) {
    const { reasons, ok } = await catalogue(d, 1000 + i);
    t.diagnostic(`${d.name}: ${ok} accepted, ${[...reasons].map(([k, n]) => `${k} x${n}`).join(", ")}`);
    for (const k of reasons.keys()) seen.add(k);
    const failed = [...reasons.values()].reduce((a, b) => a + b, 0);
    assert.ok(failed > 0, `${d.name}: some variants must fail`);
    // Key configurations are not authenticated (a flipped public-key bit is a valid config);
    // AEAD-protected messages must reject nearly everything.
    if (d.authenticated) assert.ok(failed > 20 * ok, `${d.name}: ${ok} tampered variants decoded`);
  }
  // The catalogue reaches every failure point a wire input can trigger.
  for (const expected of [
    "MalformedKeyConfigError(malformed_key_config)",
    "UnsupportedKemError(unsupported_kem)",
    "UnknownKeyIdError(unknown_key_id)",
    "UnsupportedSymmetricAlgorithmError(unsupported_symmetric_algorithm)",
    "MalformedEncapsulatedRequestError(malformed_encapsulated_request)",
    "DecapsulationError(decapsulation_failed)",
    "MalformedEncapsulatedResponseError(malformed_encapsulated_response)",
    "ResponseDecryptionError(response_decryption_failed)",
    "MalformedChunkError(malformed_chunk)",
    "TruncatedChunkedMessageError(truncated_chunked_message)",
  ]) {
    assert.ok(seen.has(expected), `not reached: ${expected}`);
  }
});

test("error catalogue: OhttpError subclasses carry distinct stable reasons", async () => {
  const mod = await import("../../src/ohttp/errors.js");
  const reasons = new Map<string, string>();
  const samples: OhttpError[] = [
    new mod.MalformedKeyConfigError("x"),
    new mod.UnsupportedKemError(1),
    new mod.UnsupportedSymmetricAlgorithmError(1, 2),
    new mod.UnknownKeyIdError(3),
    new mod.MalformedEncapsulatedRequestError("x"),
    new mod.DecapsulationError(),
    new mod.EncapsulationError(),
    new mod.MalformedEncapsulatedResponseError("x"),
    new mod.ResponseDecryptionError(),
    new mod.MalformedChunkError("x"),
    new mod.ChunkTooLargeError(2, 1),
    new mod.EmptyChunkError(),
    new mod.TruncatedChunkedMessageError(),
  ];
  for (const e of samples) {
    assert.ok(e instanceof DecodeError && e instanceof OhttpError);
    assert.equal(e.name, e.constructor.name);
    assert.ok(!reasons.has(e.reason), `reason ${e.reason} reused by ${e.name} and ${reasons.get(e.reason)}`);
    reasons.set(e.reason, e.name);
  }
});
