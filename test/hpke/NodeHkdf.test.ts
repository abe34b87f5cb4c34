// HKDF (RFC 5869) on createHmac: the RFC's own test case, agreement with node:crypto's
// independent hkdfSync for any salt length (the OHTTP response uses a 48-byte salt that
// @hpke/core's stock extract() refuses), and RFC 9180's labeled forms vs the stock KDF.
import { test } from "node:test";
import assert from "node:assert/strict";
import { hkdfSync, randomBytes } from "node:crypto";
import { HkdfSha256, HkdfSha384, HkdfSha512 } from "@hpke/core";
import { NodeHkdfSha256 } from "../../src/hpke/NodeHkdfSha256.js";
import { NodeHkdfSha384 } from "../../src/hpke/NodeHkdfSha384.js";
import { NodeHkdfSha512 } from "../../src/hpke/NodeHkdfSha512.js";
import { hex, toHex } from "./testUtil.js";

test("RFC 5869 A.1 test case 1 (SHA-256)", async () => {
  const kdf = new NodeHkdfSha256();
  const prk = await kdf.extract(hex("000102030405060708090a0b0c"), hex("0b".repeat(22)));
  assert.equal(toHex(prk), "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
  const okm = await kdf.expand(prk, hex("f0f1f2f3f4f5f6f7f8f9"), 42);
  assert.equal(toHex(okm), "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
});

test("RFC 5869: extract+expand equals node:crypto hkdfSync for salts of 0..80 bytes and several lengths", () => {
  for (const [kdf, hash] of [
    [new NodeHkdfSha256(), "sha256"],
    [new NodeHkdfSha384(), "sha384"],
    [new NodeHkdfSha512(), "sha512"],
  ] as const) {
    for (let saltLen = 0; saltLen <= 80; saltLen += 4) {
      const salt = randomBytes(saltLen);
      const ikm = randomBytes(1 + saltLen);
      const info = randomBytes(saltLen % 13);
      for (const len of [1, 12, 16, 32, 48, 64, 65, 200]) {
        const ours = kdf.expandSync(kdf.extractSync(salt, ikm), info, len);
        assert.equal(toHex(ours), toHex(new Uint8Array(hkdfSync(hash, ikm, salt, info, len))), `${hash} salt ${saltLen} len ${len}`);
      }
    }
  }
});

test("RFC 5869 s2.3: expand refuses L > 255 * HashLen", async () => {
  const kdf = new NodeHkdfSha256();
  assert.throws(() => kdf.expandSync(new Uint8Array(32), new Uint8Array(0), 255 * 32 + 1), RangeError);
  assert.equal(kdf.expandSync(new Uint8Array(32), new Uint8Array(0), 255 * 32).length, 255 * 32);
});

test("RFC 9180 s4: labeled extract/expand and extractAndExpand match @hpke/core's stock KDFs", async () => {
  const suiteId = new TextEncoder().encode("HPKE\x00\x20\x00\x01\x00\x01");
  for (const [ours, stock] of [
    [new NodeHkdfSha256(), new HkdfSha256()],
    [new NodeHkdfSha384(), new HkdfSha384()],
    [new NodeHkdfSha512(), new HkdfSha512()],
  ] as const) {
    ours.init(suiteId);
    stock.init(suiteId);
    const label = new TextEncoder().encode("info_hash");
    const ikm = randomBytes(20);
    const a = await ours.labeledExtract(new Uint8Array(0), label, ikm);
    const b = await stock.labeledExtract(new Uint8Array(0), label, ikm);
    assert.equal(toHex(a), toHex(b));
    assert.equal(toHex(await ours.labeledExpand(a, label, ikm, 32)), toHex(await stock.labeledExpand(b, label, ikm, 32)));
    // Same (salt, ikm) twice with different info: the one-entry memo must not leak across infos.
    const salt = randomBytes(ours.hashSize);
    for (const info of [randomBytes(5), randomBytes(6), randomBytes(7), randomBytes(8), randomBytes(9)]) {
      assert.equal(toHex(await ours.extractAndExpand(salt, ikm, info, 16)), toHex(await stock.extractAndExpand(salt, ikm, info, 16)));
    }
    // The stock extract refuses a salt that is not Nh bytes; ours accepts it (RFC 5869 allows any salt).
    await assert.rejects(stock.extract(randomBytes(48 + ours.hashSize), ikm));
    assert.equal((await ours.extract(randomBytes(48 + ours.hashSize), ikm)).byteLength, ours.hashSize);
  }
});
