// The node:crypto CryptoProvider must compute exactly what ts-mls's default provider computes
// (RFC 9420 s5.1 primitives), only faster.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ed448 } from "@noble/curves/ed448.js";
import {
  defaultCryptoProvider,
  getCiphersuiteFromName,
  signWithLabel,
  verifyWithLabel,
  type CiphersuiteImpl,
  type CiphersuiteName,
} from "../../src/mls/adapter.js";
import {
  getNodeCiphersuiteImpl,
  makeNodeCryptoProvider,
  makeNodeKdf,
  makeNodeSignature,
  UnsupportedCiphersuiteError,
} from "../../src/mls/cryptoProvider.js";
import { hex, toHex } from "./helpers.js";

const suites: CiphersuiteName[] = [
  "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519",
  "MLS_128_DHKEMP256_AES128GCM_SHA256_P256",
  "MLS_256_DHKEMP521_AES256GCM_SHA512_P521",
  "MLS_256_DHKEMP384_AES256GCM_SHA384_P384",
];

async function pair(name: CiphersuiteName): Promise<[CiphersuiteImpl, CiphersuiteImpl]> {
  return [await getNodeCiphersuiteImpl(name), await defaultCryptoProvider.getCiphersuiteImpl(getCiphersuiteFromName(name))];
}

describe("node:crypto provider (RFC 9420 s5.1 primitives)", () => {
  for (const name of suites) {
    it(`${name}: hash, MAC, HKDF equal the default provider`, async () => {
      const [ours, def] = await pair(name);
      for (const len of [0, 1, 55, 56, 64, 1000]) {
        const data = Uint8Array.from({ length: len }, (_, i) => (i * 7 + len) & 0xff);
        const key = Uint8Array.from({ length: ours.kdf.size }, (_, i) => i); // @hpke's HKDF wants Nh-byte salts
        assert.equal(toHex(await ours.hash.digest(data)), toHex(await def.hash.digest(data)));
        const mac = await ours.hash.mac(key, data);
        assert.equal(toHex(mac), toHex(await def.hash.mac(key, data)));
        assert.equal(await ours.hash.verifyMac(key, mac, data), true);
        assert.equal(await ours.hash.verifyMac(key, mac.slice(0, -1), data), false);
        const prk = await ours.kdf.extract(key, data);
        assert.equal(toHex(prk), toHex(await def.kdf.extract(key, data)));
        assert.equal(toHex(await ours.kdf.extract(new Uint8Array(0), data)), toHex(await def.kdf.extract(new Uint8Array(0), data)));
        for (const n of [1, 32, ours.kdf.size, 3 * ours.kdf.size + 5]) {
          assert.equal(toHex(await ours.kdf.expand(prk, data.subarray(0, 20), n)), toHex(await def.kdf.expand(prk, data.subarray(0, 20), n)));
        }
      }
      assert.equal(ours.kdf.size, def.kdf.size);
    });

    it(`${name}: signatures interoperate with the default provider`, async () => {
      const [ours, def] = await pair(name);
      const msg = new TextEncoder().encode("FramedContentTBS stand-in");
      for (const [signer, verifier] of [
        [ours, def],
        [def, ours],
      ] as const) {
        const { signKey, publicKey } = await signer.signature.keygen();
        const sig = await signWithLabel(signKey, "FramedContentTBS", msg, signer.signature);
        assert.equal(await verifyWithLabel(publicKey, "FramedContentTBS", msg, sig, verifier.signature), true);
        assert.equal(await verifyWithLabel(publicKey, "FramedContentTBS", msg.slice(1), sig, verifier.signature), false);
        const bad = sig.slice();
        bad[bad.length - 1]! ^= 1;
        assert.equal(await verifyWithLabel(publicKey, "FramedContentTBS", msg, bad, verifier.signature), false);
      }
    });
  }

  it("Ed25519 signatures are deterministic and identical to the default provider's (RFC 8032)", async () => {
    const [ours, def] = await pair("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519");
    // RFC 8032 s7.1 TEST 1
    const sk = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    const pk = hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    const expected =
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";
    assert.equal(toHex(await ours.signature.sign(sk, new Uint8Array(0))), expected);
    assert.equal(toHex(await def.signature.sign(sk, new Uint8Array(0))), expected);
    assert.equal(await ours.signature.verify(pk, new Uint8Array(0), hex(expected)), true);
    // the default provider's PKCS#8 private keys are accepted too
    const kp = await def.signature.keygen();
    assert.equal(kp.signKey.length, 48);
    assert.equal(toHex(await ours.signature.sign(kp.signKey, pk)), toHex(await def.signature.sign(kp.signKey, pk)));
  });

  it("Ed448 (node:crypto) equals @noble/curves", async () => {
    const s = makeNodeSignature("Ed448")!;
    const { signKey, publicKey } = await s.keygen();
    assert.equal(toHex(ed448.getPublicKey(signKey)), toHex(publicKey));
    const msg = new TextEncoder().encode("abc");
    const sig = await s.sign(signKey, msg);
    assert.equal(toHex(sig), toHex(ed448.sign(msg, signKey)));
    assert.equal(await s.verify(publicKey, msg, ed448.sign(msg, signKey)), true);
  });

  it("HKDF-SHA256 matches RFC 5869 test case 1", async () => {
    const kdf = makeNodeKdf("SHA-256");
    const prk = await kdf.extract(hex("000102030405060708090a0b0c"), hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"));
    assert.equal(toHex(prk), "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
    const okm = await kdf.expand(prk, hex("f0f1f2f3f4f5f6f7f8f9"), 42);
    assert.equal(toHex(okm), "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
    await assert.rejects(kdf.expand(prk, new Uint8Array(0), 255 * 32 + 1), RangeError);
  });

  it("malformed public keys and signatures verify as false, never throw", async () => {
    for (const alg of ["Ed25519", "P256", "P384", "P521", "Ed448"] as const) {
      const s = makeNodeSignature(alg)!;
      const { publicKey } = await s.keygen();
      const msg = new Uint8Array([1, 2, 3]);
      assert.equal(await s.verify(publicKey.slice(1), msg, new Uint8Array(64)), false, alg);
      assert.equal(await s.verify(new Uint8Array(publicKey.length).fill(0xff), msg, new Uint8Array(64)), false, alg);
      assert.equal(await s.verify(publicKey, msg, new Uint8Array(3)), false, alg);
      assert.equal(await s.verify(publicKey, msg, new Uint8Array(0)), false, alg);
    }
  });

  it("engine mode serves suites whose HPKE is not installed, and HPKE then fails with a typed error", async () => {
    // MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448 needs @hpke/dhkem-x448, which is not a dependency
    const name: CiphersuiteName = "MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448";
    const provider = makeNodeCryptoProvider({ hpke: "optional" });
    const cs = await provider.getCiphersuiteImpl(getCiphersuiteFromName(name));
    assert.equal(cs.kdf.size, 64);
    assert.equal((await cs.hash.digest(new Uint8Array(0))).length, 64);
    const hpkeAvailable = await cs.hpke.generateKeyPair().then(
      () => true,
      (e: unknown) => {
        assert.ok(e instanceof UnsupportedCiphersuiteError);
        return false;
      },
    );
    if (!hpkeAvailable) {
      await assert.rejects(makeNodeCryptoProvider().getCiphersuiteImpl(getCiphersuiteFromName(name)), UnsupportedCiphersuiteError);
    }
  });

  it("getNodeCiphersuiteImpl caches per suite and mode", async () => {
    const a = await getNodeCiphersuiteImpl(1);
    const b = await getNodeCiphersuiteImpl("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519");
    assert.equal(a, b);
    assert.notEqual(await getNodeCiphersuiteImpl(1, "engine"), a);
    await assert.rejects(getNodeCiphersuiteImpl(0x7777), UnsupportedCiphersuiteError);
  });
});
