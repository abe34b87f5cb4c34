// RFC 9180 behaviour of the fast suite, proven against @hpke/core's stock suite: for every
// supported KDF x AEAD, contexts set up on one suite must interoperate with the other in both
// directions (Seal/Open over several sequence numbers, Export at several lengths), in base
// and auth mode; the same ephemeral input must give identical bytes on both.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { AeadId, CipherSuite, DecapError, DeserializeError, KdfId, KemId, NotSupportedError, OpenError } from "@hpke/core";
import { createFastCipherSuite, createReferenceCipherSuite } from "../../src/hpke/suites.js";
import { NodeX25519Kem } from "../../src/hpke/NodeX25519Kem.js";
import { NodeX25519Key } from "../../src/hpke/NodeX25519Key.js";
import { toHex } from "./testUtil.js";

const KDFS = [KdfId.HkdfSha256, KdfId.HkdfSha384, KdfId.HkdfSha512];
const AEADS = [AeadId.Aes128Gcm, AeadId.Aes256Gcm, AeadId.Chacha20Poly1305];
const X25519 = KemId.DhkemX25519HkdfSha256;
const MESSAGES = [new Uint8Array(0), randomBytes(1), randomBytes(100), randomBytes(5000)];

/** Imports one raw key pair into a suite's own key representation. */
async function importPair(suite: CipherSuite, sk: Uint8Array): Promise<CryptoKeyPair> {
  const pk = NodeX25519Key.privateFromRaw(sk).publicKey!.raw;
  return { privateKey: await suite.kem.deserializePrivateKey(sk), publicKey: await suite.kem.deserializePublicKey(pk) };
}

async function exchange(from: CipherSuite, to: CipherSuite, auth: boolean): Promise<void> {
  const skR = randomBytes(32);
  const skS = randomBytes(32);
  const info = randomBytes(40);
  const sender = await from.createSenderContext({
    recipientPublicKey: (await importPair(from, skR)).publicKey,
    info,
    ...(auth ? { senderKey: await importPair(from, skS) } : {}),
  });
  const recipient = await to.createRecipientContext({
    recipientKey: await importPair(to, skR),
    enc: sender.enc,
    info,
    ...(auth ? { senderPublicKey: (await importPair(to, skS)).publicKey } : {}),
  });
  for (const [i, m] of MESSAGES.entries()) {
    const aad = new TextEncoder().encode(`Count-${i}`);
    const ct = await sender.seal(m, aad);
    assert.equal(ct.byteLength, m.length + 16);
    assert.equal(toHex(await recipient.open(ct, aad)), toHex(m));
  }
  // Export must agree for lengths below, at and above one hash block.
  for (const [ctx, len] of [
    [new Uint8Array(0), 1],
    [new TextEncoder().encode("message/bhttp response"), 16],
    [randomBytes(3), 32],
    [randomBytes(70), 100],
  ] as const) {
    assert.equal(toHex(await sender.export(ctx, len)), toHex(await recipient.export(ctx, len)));
  }
}

for (const kdf of KDFS) {
  for (const aead of AEADS) {
    const label = `kdf 0x${kdf.toString(16)} aead 0x${aead.toString(16)}`;
    test(`RFC 9180 s5.1/s5.2/s5.3: fast -> reference, base mode (${label})`, async () => {
      await exchange(createFastCipherSuite(X25519, kdf, aead), createReferenceCipherSuite(X25519, kdf, aead), false);
    });
    test(`RFC 9180 s5.1/s5.2/s5.3: reference -> fast, base mode (${label})`, async () => {
      await exchange(createReferenceCipherSuite(X25519, kdf, aead), createFastCipherSuite(X25519, kdf, aead), false);
    });
    test(`RFC 9180 s5.1.3: auth mode both directions (${label})`, async () => {
      await exchange(createFastCipherSuite(X25519, kdf, aead), createReferenceCipherSuite(X25519, kdf, aead), true);
      await exchange(createReferenceCipherSuite(X25519, kdf, aead), createFastCipherSuite(X25519, kdf, aead), true);
    });
    test(`RFC 9180 s7.1.3: same ekm gives identical enc, ciphertext and exports (${label})`, async () => {
      const fast = createFastCipherSuite(X25519, kdf, aead);
      const ref = createReferenceCipherSuite(X25519, kdf, aead);
      const skR = randomBytes(32);
      const ikmE = randomBytes(32);
      const info = randomBytes(10);
      const a = await fast.createSenderContext({ recipientPublicKey: (await importPair(fast, skR)).publicKey, info, ekm: ikmE });
      const b = await ref.createSenderContext({ recipientPublicKey: (await importPair(ref, skR)).publicKey, info, ekm: ikmE });
      assert.equal(toHex(a.enc), toHex(b.enc));
      const pt = randomBytes(33);
      assert.equal(toHex(await a.seal(pt)), toHex(await b.seal(pt)));
      assert.equal(toHex(await a.export(new Uint8Array(0), 48)), toHex(await b.export(new Uint8Array(0), 48)));
    });
  }
}

test("RFC 9180 s5.2: a flipped ciphertext bit or a wrong AAD fails Open with OpenError", async () => {
  for (const aead of AEADS) {
    const suite = createFastCipherSuite(X25519, KdfId.HkdfSha256, aead);
    const rkp = await suite.kem.generateKeyPair();
    const sender = await suite.createSenderContext({ recipientPublicKey: rkp.publicKey });
    const ct = new Uint8Array(await sender.seal(new TextEncoder().encode("hello")));
    for (let bit = 0; bit < ct.length * 8; bit += 7) {
      const recipient = await suite.createRecipientContext({ recipientKey: rkp, enc: sender.enc });
      const bad = Uint8Array.from(ct);
      bad[bit >> 3]! ^= 1 << (bit & 7);
      await assert.rejects(recipient.open(bad), OpenError);
    }
    const recipient = await suite.createRecipientContext({ recipientKey: rkp, enc: sender.enc });
    await assert.rejects(recipient.open(ct, new Uint8Array([1])), OpenError);
    await assert.rejects(recipient.open(ct.subarray(0, 15)), OpenError);
  }
});

test("RFC 9180 s4.1/s7.1.4: decap rejects a malformed enc and the all-zero DH output", async () => {
  const kem = new NodeX25519Kem();
  const rkp = await kem.generateKeyPair();
  await assert.rejects(kem.decap({ recipientKey: rkp, enc: new Uint8Array(31) }), DeserializeError);
  await assert.rejects(kem.decap({ recipientKey: rkp, enc: new Uint8Array(33) }), DeserializeError);
  // u = 0 and u = 1 are small-order points: X25519 gives the all-zero value, which RFC 9180 s7.1.4 forbids.
  await assert.rejects(kem.decap({ recipientKey: rkp, enc: new Uint8Array(32) }), DecapError);
  const one = new Uint8Array(32);
  one[0] = 1;
  await assert.rejects(kem.decap({ recipientKey: rkp, enc: one }), DecapError);
});

test("NodeX25519Kem: a lone private key decapsulates like a key pair; keys round-trip through every import path", async () => {
  const kem = new NodeX25519Kem();
  const ref = createReferenceCipherSuite(X25519, KdfId.HkdfSha256, AeadId.Aes128Gcm);
  const rkp = await kem.generateKeyPair();
  const { enc, sharedSecret } = await kem.encap({ recipientPublicKey: rkp.publicKey });
  assert.equal(toHex(await kem.decap({ recipientKey: rkp.privateKey, enc })), toHex(sharedSecret));
  assert.equal(toHex(await kem.decap({ recipientKey: rkp, enc })), toHex(sharedSecret));

  const skRaw = new Uint8Array(await kem.serializePrivateKey(rkp.privateKey));
  const pkRaw = new Uint8Array(await kem.serializePublicKey(rkp.publicKey));
  const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64url");
  const viaRaw = await kem.importKey("raw", skRaw.slice().buffer, false);
  const viaJwk = await kem.importKey("jwk", { kty: "OKP", crv: "X25519", d: b64(skRaw), x: b64(pkRaw) }, false);
  const pubJwk = await kem.importKey("jwk", { kty: "OKP", crv: "X25519", x: b64(pkRaw) }, true);
  for (const k of [viaRaw, viaJwk]) assert.equal(toHex(await kem.decap({ recipientKey: k, enc })), toHex(sharedSecret));
  assert.equal(toHex(await kem.serializePublicKey(pubJwk)), toHex(pkRaw));
  await assert.rejects(kem.importKey("jwk", { kty: "OKP", crv: "X25519", d: b64(skRaw), x: b64(new Uint8Array(32)) }, false), DeserializeError);
  await assert.rejects(kem.importKey("jwk", { kty: "EC", crv: "P-256", x: b64(pkRaw) }, true), DeserializeError);
  await assert.rejects(kem.importKey("raw", new ArrayBuffer(31), true), DeserializeError);

  // Keys of the stock (WebCrypto) KEM are converted on the fly. (Imported, not generated: see
  // NodeX25519Key.generatePair for why generated node:crypto keys are never exported.)
  const stockPair = await importPair(ref, randomBytes(32));
  const e2 = await kem.encap({ recipientPublicKey: stockPair.publicKey });
  assert.equal(toHex(await ref.kem.decap({ recipientKey: stockPair, enc: e2.enc })), toHex(e2.sharedSecret));
  assert.equal(toHex(await kem.decap({ recipientKey: stockPair, enc: e2.enc })), toHex(e2.sharedSecret));
});

test("suites: unknown algorithm ids throw NotSupportedError", () => {
  assert.throws(() => createFastCipherSuite(0x10, 1, 1), NotSupportedError);
  assert.throws(() => createFastCipherSuite(X25519, 4, 1), NotSupportedError);
  assert.throws(() => createFastCipherSuite(X25519, 1, 0xffff), NotSupportedError);
  assert.throws(() => createReferenceCipherSuite(X25519, 1, 9), NotSupportedError);
});
