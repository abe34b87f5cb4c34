// The node:crypto AEADs against independent implementations (WebCrypto AES-GCM through
// @hpke/core's stock classes, @noble/ciphers ChaCha20-Poly1305) and their failure modes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Aes128Gcm, Aes256Gcm, type AeadInterface } from "@hpke/core";
import { NodeAes128Gcm, NodeAes256Gcm } from "../../src/hpke/NodeAeadAesGcm.js";
import { NodeChaCha20Poly1305 } from "../../src/hpke/NodeChaCha20Poly1305.js";
import type { NodeAead } from "../../src/hpke/NodeAead.js";
import { Chacha20Poly1305 } from "@hpke/chacha20poly1305";
import { toHex } from "./testUtil.js";

const pairs: [string, NodeAead, AeadInterface][] = [
  ["AES-128-GCM", new NodeAes128Gcm(), new Aes128Gcm()],
  ["AES-256-GCM", new NodeAes256Gcm(), new Aes256Gcm()],
  ["ChaCha20-Poly1305", new NodeChaCha20Poly1305(), new Chacha20Poly1305()],
];

for (const [name, fast, ref] of pairs) {
  test(`RFC 9180 s7.3 ${name}: seal/open agree with an independent implementation`, async () => {
    for (const len of [0, 1, 15, 16, 17, 1000]) {
      const key = randomBytes(fast.keySize);
      const iv = randomBytes(12);
      const pt = randomBytes(len);
      const aad = randomBytes(len % 7);
      const a = fast.createEncryptionContext(key);
      const b = ref.createEncryptionContext(Uint8Array.from(key));
      const ct = await a.seal(iv, pt, aad);
      assert.equal(toHex(ct), toHex(await b.seal(iv, pt, aad)));
      assert.equal(toHex(await b.open(iv, ct, aad)), toHex(pt));
      assert.equal(toHex(await a.open(iv, ct, aad)), toHex(pt));
    }
  });

  test(`RFC 9180 s7.3 ${name}: tampering, wrong AAD, short input and bad sizes are refused`, async () => {
    const key = randomBytes(fast.keySize);
    const iv = randomBytes(12);
    const ctx = fast.createEncryptionContext(key);
    const ct = ctx.sealSync(iv, new Uint8Array([1, 2, 3]), new Uint8Array(0));
    for (let i = 0; i < ct.length; i++) {
      const bad = Uint8Array.from(ct);
      bad[i]! ^= 0x80;
      assert.throws(() => ctx.openSync(iv, bad, new Uint8Array(0)));
    }
    assert.throws(() => ctx.openSync(iv, ct, new Uint8Array([0])));
    assert.throws(() => ctx.openSync(iv, ct.subarray(0, 15), new Uint8Array(0)));
    assert.throws(() => ctx.openSync(randomBytes(11), ct, new Uint8Array(0)), RangeError);
    assert.throws(() => fast.createEncryptionContext(randomBytes(fast.keySize - 1)), RangeError);
  });
}
