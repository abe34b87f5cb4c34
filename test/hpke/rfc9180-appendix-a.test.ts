// RFC 9180 Appendix A (base mode) against both suites: the node:crypto-backed fast suite and
// @hpke/core's stock suite. Each value the RFC prints that the CipherSuite API can reach is
// asserted byte for byte: derived key pairs, enc, the KEM shared secret, ciphertexts at
// successive sequence numbers, and exported secrets.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createCipheriv } from "node:crypto";
import type { CipherSuite } from "@hpke/core";
import { createFastCipherSuite, createReferenceCipherSuite } from "../../src/hpke/suites.js";
import { NodeX25519Key } from "../../src/hpke/NodeX25519Key.js";
import { hex, readJson, toHex } from "./testUtil.js";

interface Vector {
  name: string;
  kem_id: number;
  kdf_id: number;
  aead_id: number;
  info: string;
  ikmE?: string;
  skEm: string;
  pkEm?: string;
  ikmR?: string;
  skRm?: string;
  pkRm: string;
  enc?: string;
  shared_secret?: string;
  key?: string;
  base_nonce?: string;
  encryptions: { aad: string; pt: string; ct: string }[];
  exports: { context: string; len: number; value: string }[];
}

const { vectors } = readJson<{ vectors: Vector[] }>("test/hpke/fixtures/rfc9180-base-vectors.json");

const suites: [string, (kem: number, kdf: number, aead: number) => CipherSuite][] = [
  ["fast", createFastCipherSuite],
  ["reference", createReferenceCipherSuite],
];

async function keyPairFromPrivate(suite: CipherSuite, sk: Uint8Array): Promise<CryptoKeyPair> {
  const pub = NodeX25519Key.privateFromRaw(sk).publicKey!.raw;
  return { privateKey: await suite.kem.deserializePrivateKey(sk), publicKey: await suite.kem.deserializePublicKey(pub) };
}

test("RFC 9180 A.x: key, base_nonce transcriptions reproduce the first ciphertext (fixture sanity)", () => {
  for (const v of vectors) {
    if (v.key === undefined || v.base_nonce === undefined) continue;
    const e = v.encryptions[0]!;
    const cipher = v.aead_id === 1 ? "aes-128-gcm" : v.aead_id === 2 ? "aes-256-gcm" : "chacha20-poly1305";
    const c = createCipheriv(cipher as "aes-128-gcm", hex(v.key), hex(v.base_nonce), { authTagLength: 16 });
    c.setAAD(hex(e.aad), { plaintextLength: hex(e.pt).length });
    const ct = Buffer.concat([c.update(hex(e.pt)), c.final(), c.getAuthTag()]);
    assert.equal(ct.toString("hex"), e.ct, v.name);
  }
});

for (const [suiteName, make] of suites) {
  for (const v of vectors) {
    if (v.ikmE !== undefined || v.ikmR !== undefined) {
      test(`RFC 9180 A (${v.name}) s7.1.3 DeriveKeyPair [${suiteName}]`, async () => {
        const suite = make(v.kem_id, v.kdf_id, v.aead_id);
        for (const [ikm, sk, pk] of [
          [v.ikmE, v.skEm, v.pkEm],
          [v.ikmR, v.skRm, v.pkRm],
        ] as const) {
          if (ikm === undefined || sk === undefined || pk === undefined) continue;
          const kp = await suite.kem.deriveKeyPair(hex(ikm));
          assert.equal(toHex(await suite.kem.serializePrivateKey(kp.privateKey)), sk);
          assert.equal(toHex(await suite.kem.serializePublicKey(kp.publicKey)), pk);
        }
      });
    }

    test(`RFC 9180 A (${v.name}) s5.1 SetupBaseS: enc, Seal, Export [${suiteName}]`, async () => {
      const suite = make(v.kem_id, v.kdf_id, v.aead_id);
      const ekm = await keyPairFromPrivate(suite, hex(v.skEm));
      const sender = await suite.createSenderContext({
        recipientPublicKey: await suite.kem.deserializePublicKey(hex(v.pkRm)),
        info: hex(v.info),
        ekm,
      });
      if (v.enc !== undefined) assert.equal(toHex(sender.enc), v.enc);
      for (const e of v.encryptions) assert.equal(toHex(await sender.seal(hex(e.pt), hex(e.aad))), e.ct);
      for (const x of v.exports) assert.equal(toHex(await sender.export(hex(x.context), x.len)), x.value);
    });

    if (v.skRm !== undefined && v.enc !== undefined) {
      test(`RFC 9180 A (${v.name}) s4.1 Decap and s5.1 SetupBaseR: shared_secret, Open, Export [${suiteName}]`, async () => {
        const suite = make(v.kem_id, v.kdf_id, v.aead_id);
        const recipientKey = await keyPairFromPrivate(suite, hex(v.skRm!));
        assert.equal(toHex(await suite.kem.serializePublicKey(recipientKey.publicKey)), v.pkRm);
        assert.equal(toHex(await suite.kem.decap({ recipientKey, enc: hex(v.enc!) })), v.shared_secret);
        const recipient = await suite.createRecipientContext({ recipientKey, enc: hex(v.enc!), info: hex(v.info) });
        for (const e of v.encryptions) assert.equal(toHex(await recipient.open(hex(e.ct), hex(e.aad))), e.pt);
        for (const x of v.exports) assert.equal(toHex(await recipient.export(hex(x.context), x.len)), x.value);
      });
    }
  }
}
