// The two client platforms (src/platform) must be interchangeable: every primitive gives the same
// bytes (or interoperates, for randomised HPKE) under PortablePlatform (noble/WebCrypto, what
// browsers run) and NodePlatform (node:crypto), and the client-side copies of server schedules
// (group-state key hash, joiner-key envelope) match the DS's own.
import assert from "node:assert/strict";
import { createHash, createHmac, hkdfSync, randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { earKeyHash as clientEarKeyHash, openJoinerKey as clientOpenJoinerKey } from "../../src/client/groupKey.js";
import { earKeyHash as dsEarKeyHash, sealJoinerKey } from "../../src/ds/earKey.js";
import { verifyWithLabelEd25519 } from "../../src/ds/signatures.js";
import { NodePlatform } from "../../src/platform/NodePlatform.js";
import { PortablePlatform, usePlatform, signWithLabel, type Platform } from "../../src/platform/index.js";
import { ed25519Seed } from "../../src/platform/signWithLabel.js";

const rb = (n: number) => new Uint8Array(randomBytes(n));
const PLATFORMS: Platform[] = [PortablePlatform, NodePlatform];

describe("src/platform: PortablePlatform and NodePlatform agree byte for byte", () => {
  it("SHA-256, HMAC-SHA-256 and HKDF (RFC 5869) equal node:crypto's for many lengths", () => {
    for (let i = 0; i < 40; i++) {
      const [a, b, key] = [rb(i * 7), rb(i * 3 + 1), rb(1 + (i % 70))];
      const sha = new Uint8Array(createHash("sha256").update(a).update(b).digest());
      const mac = new Uint8Array(createHmac("sha256", key).update(a).update(b).digest());
      for (const p of PLATFORMS) {
        assert.deepEqual(p.sha256(a, b), sha, `${p.name} sha256`);
        assert.deepEqual(p.hmacSha256(key, a, b), mac, `${p.name} hmac`);
        for (const hash of ["sha256", "sha384", "sha512"] as const) {
          const len = 1 + ((i * 13) % 100);
          const okm = new Uint8Array(hkdfSync(hash, a, b, key, len));
          assert.deepEqual(p.hkdfExpand(hash, p.hkdfExtract(hash, b, a), key, len), okm, `${p.name} hkdf ${hash}`);
        }
      }
    }
  });

  it("AES-256-GCM ciphertexts are identical and cross-open; a flipped bit is refused on both", () => {
    for (const n of [0, 1, 15, 16, 17, 1000]) {
      const [key, nonce, pt, aad] = [rb(32), rb(12), rb(n), rb(n % 40)];
      const ct = PortablePlatform.aes256GcmSeal(key, nonce, pt, aad);
      assert.deepEqual(NodePlatform.aes256GcmSeal(key, nonce, pt, aad), ct);
      assert.deepEqual(NodePlatform.aes256GcmOpen(key, nonce, ct, aad), pt);
      assert.deepEqual(PortablePlatform.aes256GcmOpen(key, nonce, ct, aad), pt);
      const bad = Uint8Array.from(ct);
      bad[bad.length - 1]! ^= 1;
      for (const p of PLATFORMS) assert.throws(() => p.aes256GcmOpen(key, nonce, bad, aad), `${p.name} refuses a forged tag`);
    }
  });

  it("Ed25519: same public key and (deterministic) signature; both verify with the DS's verifier", () => {
    for (let i = 0; i < 10; i++) {
      const k = (i % 2 ? PortablePlatform : NodePlatform).ed25519Generate();
      for (const p of PLATFORMS) assert.deepEqual(p.ed25519PublicKey(k.privateKey), k.publicKey);
      const msg = rb(i * 11);
      const s1 = PortablePlatform.ed25519Sign(k.privateKey, k.publicKey, msg);
      assert.deepEqual(NodePlatform.ed25519Sign(k.privateKey, k.publicKey, msg), s1);
      for (const p of PLATFORMS) {
        usePlatform(p);
        const sig = signWithLabel(k.privateKey, k.publicKey, "test label", msg);
        assert.ok(verifyWithLabelEd25519(k.publicKey, "test label", msg, sig));
        assert.ok(!verifyWithLabelEd25519(k.publicKey, "other label", msg, sig));
      }
    }
    usePlatform(PortablePlatform);
  });

  it("PKCS#8 Ed25519 keys (ts-mls's WebCrypto provider) sign like their seed; other lengths are refused", () => {
    const seed = rb(32);
    const pkcs8 = Uint8Array.from([...Buffer.from("302e020100300506032b657004220420", "hex"), ...seed]);
    assert.deepEqual(ed25519Seed(pkcs8), seed);
    assert.throws(() => ed25519Seed(rb(48)), RangeError);
    assert.throws(() => ed25519Seed(rb(31)), RangeError);
  });

  it("HPKE: a seal on either platform opens on the other (X25519, HKDF-SHA256, AES-128-GCM and ChaCha20-Poly1305)", async () => {
    for (const aead of [0x0001, 0x0003]) {
      for (const [from, to] of [[PortablePlatform, NodePlatform], [NodePlatform, PortablePlatform]] as const) {
        const recipient = await to.hpkeSuite(0x0020, 0x0001, aead).kem.generateKeyPair();
        const pub = new Uint8Array(await to.hpkeSuite(0x0020, 0x0001, aead).kem.serializePublicKey(recipient.publicKey));
        const s = from.hpkeSuite(0x0020, 0x0001, aead);
        const info = rb(9);
        const pt = rb(77);
        const { ct, enc } = await s.seal({ recipientPublicKey: await s.kem.deserializePublicKey(pub), info }, pt, rb(0));
        const back = await to.hpkeSuite(0x0020, 0x0001, aead).open({ recipientKey: recipient, enc, info }, ct, rb(0));
        assert.deepEqual(new Uint8Array(back), pt);
      }
    }
  });

  it("the client's group-state key hash and joiner-key envelope match the DS's", async () => {
    const key = rb(32);
    for (const p of PLATFORMS) {
      usePlatform(p);
      assert.deepEqual(clientEarKeyHash(key), new Uint8Array(dsEarKeyHash(key)));
      const kem = p.hpkeSuite(0x0020, 0x0001, 0x0001).kem;
      const kp = await kem.generateKeyPair();
      const initKey = new Uint8Array(await kem.serializePublicKey(kp.publicKey));
      const initPriv = new Uint8Array(await kem.serializePrivateKey(kp.privateKey));
      const groupId = rb(16);
      const sealed = await sealJoinerKey("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519", initKey, key, groupId, 7n);
      const opened = await clientOpenJoinerKey("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519", initPriv, sealed, groupId);
      assert.equal(opened.epoch, 7n);
      assert.deepEqual(opened.earKey, key);
      await assert.rejects(clientOpenJoinerKey("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519", initPriv, sealed, rb(16)), "the group id is bound as AAD");
    }
    usePlatform(PortablePlatform);
  });
});
