// Client side of the reduced-metadata connection flow (draft-robert-mimi-delivery-service
// s"Privacy preserving message delivery"): sealing a ConnectionOffer to the init key of the
// responder's connection KeyPackage with HPKE base mode (RFC 9180 s5.1, info "MIMI connection
// offer", aad = KeyPackageRef) and opening it with the matching private package
// (src/client/connectionOffer.ts); and the per-KeyPackage user keys of src/client/userAuthKey.ts
// (HKDF-SHA256, RFC 5869, into an Ed25519 seed, RFC 8032) with their user_auth_key extension.
import assert from "node:assert/strict";
import { createPrivateKey, createPublicKey, hkdfSync, randomBytes, sign as nodeSign, verify as nodeVerify } from "node:crypto";
import { before, describe, it } from "node:test";
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import { ed25519 } from "@noble/curves/ed25519.js";
import type { CiphersuiteImpl, KeyPackage, PrivateKeyPackage } from "ts-mls";
import { ConnectionOfferError, openConnectionOffer, sealConnectionOffer } from "../../src/client/connectionOffer.js";
import { makeKeyPackage } from "../../src/client/dsMember.js";
import { deriveUserAuthKey, USER_MASTER_SECRET_LENGTH, userAuthKeyExtension, userAuthKeyOf } from "../../src/client/userAuthKey.js";
import { decodeMlsMessage, encodeMlsMessage, makeKeyPackageRef } from "../../src/mls/adapter.js";
import { getNodeCiphersuiteImpl } from "../../src/mls/cryptoProvider.js";
import { CONNECTION_OFFER_HPKE_INFO, ConnectionOffer, SealedConnectionOffer } from "../../src/protocol/ConnectionOffer.js";
import { EXTENSION_TYPE_USER_AUTH_KEY, USER_AUTH_KEY_DERIVATION_INFO, USER_AUTH_KEY_SALT_LENGTH } from "../../src/protocol/constants.js";
import { QsMalformedError } from "../../src/protocol/QsErrors.js";

type KeyPair = { publicPackage: KeyPackage; privatePackage: PrivateKeyPackage };

const SUITE = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";
const rb = (n: number) => new Uint8Array(randomBytes(n));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const te = new TextEncoder();

let cs: CiphersuiteImpl;
const newKp = (extra: Parameters<typeof makeKeyPackage>[5] = []) =>
  makeKeyPackage(cs, rb(16), { qsDomain: "b.test", sealedReference: rb(48) }, undefined, undefined, extra);
const anOffer = () => new ConnectionOffer("hub.a.test", rb(32), rb(32), "mimi://a.test/u/alice");

function sameOffer(a: ConnectionOffer, b: ConnectionOffer): void {
  assert.equal(a.hubDomain, b.hubDomain);
  assert.deepEqual(a.groupId, b.groupId);
  assert.deepEqual(a.earKey, b.earKey);
  assert.equal(a.initiatorUri, b.initiatorUri);
}

async function rejectsWith(p: Promise<unknown>, what: string, message?: RegExp): Promise<ConnectionOfferError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ConnectionOfferError, `${what}: threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
    if (message) assert.match(e.message, message, what);
    return e;
  }
  assert.fail(`${what}: opened`);
}

/** Re-encodes a sealed offer with one field replaced. */
function tamper(sealed: Uint8Array, f: (s: SealedConnectionOffer) => SealedConnectionOffer): Uint8Array {
  return f(SealedConnectionOffer.deserialize(sealed)).serialize();
}
const flip = (b: Uint8Array, i: number, bit = 0x01) => {
  const c = Uint8Array.from(b);
  c[i]! ^= bit;
  return c;
};

describe("connection offers: HPKE to the connection KeyPackage's init key (draft-robert-mimi-delivery-service s\"Privacy preserving message delivery\")", () => {
  let kp: KeyPair;
  let other: KeyPair;
  before(async () => {
    cs = await getNodeCiphersuiteImpl(SUITE);
    kp = await newKp();
    other = await newKp();
  });

  it("an offer sealed to a KeyPackage opens with its private package, field by field", async () => {
    const offer = anOffer();
    const sealed = await sealConnectionOffer(offer, kp.publicPackage, cs);
    const s = SealedConnectionOffer.deserialize(sealed);
    assert.deepEqual(s.keyPackageRef, await makeKeyPackageRef(kp.publicPackage, cs.hash), "names the KeyPackage by its KeyPackageRef");
    assert.equal(s.keyPackageRef.length, 32);
    assert.equal(s.kemOutput.length, 32, "DHKEM(X25519) enc");
    assert.equal(s.ciphertext.length, offer.serialize().length + 16, "AES-128-GCM adds its 16-byte tag");
    // the offer is not visible in the sealed bytes
    assert.ok(!hex(sealed).includes(hex(offer.groupId)) && !hex(sealed).includes(hex(te.encode(offer.initiatorUri))));

    const opened = await openConnectionOffer(sealed, [kp], cs);
    sameOffer(opened.offer, offer);
    assert.equal(opened.keyPackage, kp);
    // among several candidates the right one is picked, wherever it is
    const o2 = await openConnectionOffer(sealed, [other, kp], cs);
    sameOffer(o2.offer, offer);
    assert.equal(o2.keyPackage, kp);
  });

  it("a KeyPackage that went over the wire still seals to the same KeyPackageRef", async () => {
    const bytes = encodeMlsMessage({ version: "mls10", wireformat: "mls_key_package", keyPackage: kp.publicPackage });
    const m = decodeMlsMessage(bytes, 0)![0];
    assert.equal(m.wireformat, "mls_key_package");
    if (m.wireformat !== "mls_key_package") return;
    const offer = anOffer();
    const opened = await openConnectionOffer(await sealConnectionOffer(offer, m.keyPackage, cs), [other, kp], cs);
    sameOffer(opened.offer, offer);
    assert.equal(opened.keyPackage, kp);
  });

  it("an independent HPKE implementation (@hpke/core) seals offers that open (RFC 9180 interop)", async () => {
    const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes128Gcm() });
    const offer = anOffer();
    const ref = await makeKeyPackageRef(kp.publicPackage, cs.hash);
    const recipientPublicKey = await suite.kem.deserializePublicKey(kp.publicPackage.initKey);
    const { ct, enc } = await suite.seal({ recipientPublicKey, info: te.encode(CONNECTION_OFFER_HPKE_INFO) }, offer.serialize(), ref);
    const sealed = new SealedConnectionOffer(ref, new Uint8Array(enc), new Uint8Array(ct)).serialize();
    sameOffer((await openConnectionOffer(sealed, [kp], cs)).offer, offer);

    // ...and with another info string it does not (the info is part of the profile)
    const wrongInfo = await suite.seal({ recipientPublicKey, info: te.encode("MIMI connection offer ") }, offer.serialize(), ref);
    await rejectsWith(openConnectionOffer(new SealedConnectionOffer(ref, new Uint8Array(wrongInfo.enc), new Uint8Array(wrongInfo.ct)).serialize(), [kp], cs), "wrong info", /does not open/);

    // a well-sealed plaintext that is not a ConnectionOffer is refused as malformed, not thrown raw
    for (const pt of [new Uint8Array(0), te.encode("not an offer"), new TlsLikeOffer("B.TEST").bytes]) {
      const r = await suite.seal({ recipientPublicKey, info: te.encode(CONNECTION_OFFER_HPKE_INFO) }, pt, ref);
      const e = await rejectsWith(openConnectionOffer(new SealedConnectionOffer(ref, new Uint8Array(r.enc), new Uint8Array(r.ct)).serialize(), [kp], cs), `plaintext ${hex(pt).slice(0, 16)}`, /malformed connection offer/);
      assert.ok(e.cause instanceof QsMalformedError, "the cause is the codec's typed error");
    }
  });

  it("opening with a different KeyPackage (or none) fails with ConnectionOfferError", async () => {
    const sealed = await sealConnectionOffer(anOffer(), kp.publicPackage, cs);
    await rejectsWith(openConnectionOffer(sealed, [other], cs), "other KeyPackage", /none of this client's/);
    await rejectsWith(openConnectionOffer(sealed, [], cs), "no candidates", /none of this client's/);
    // the right public package with another KeyPackage's private part: the ref matches, HPKE fails
    await rejectsWith(openConnectionOffer(sealed, [{ publicPackage: kp.publicPackage, privatePackage: other.privatePackage }], cs), "wrong private key", /does not open/);
  });

  it("a flipped bit in the ciphertext or the kem_output fails with ConnectionOfferError", async () => {
    const sealed = await sealConnectionOffer(anOffer(), kp.publicPackage, cs);
    const s = SealedConnectionOffer.deserialize(sealed);
    for (const i of [0, Math.floor(s.ciphertext.length / 2), s.ciphertext.length - 1]) {
      for (const bit of [0x01, 0x80]) {
        await rejectsWith(openConnectionOffer(tamper(sealed, (x) => new SealedConnectionOffer(x.keyPackageRef, x.kemOutput, flip(x.ciphertext, i, bit))), [kp], cs), `ciphertext[${i}]^${bit}`, /does not open/);
      }
    }
    for (const i of [0, 31]) {
      await rejectsWith(openConnectionOffer(tamper(sealed, (x) => new SealedConnectionOffer(x.keyPackageRef, flip(x.kemOutput, i, 0x40), x.ciphertext)), [kp], cs), `kem_output[${i}]`, /does not open/);
    }
    // a truncated ciphertext or a short kem_output: refused, never a raw error
    await rejectsWith(openConnectionOffer(tamper(sealed, (x) => new SealedConnectionOffer(x.keyPackageRef, x.kemOutput, x.ciphertext.subarray(0, 10))), [kp], cs), "short ciphertext");
    await rejectsWith(openConnectionOffer(tamper(sealed, (x) => new SealedConnectionOffer(x.keyPackageRef, x.kemOutput.subarray(0, 31), x.ciphertext)), [kp], cs), "short kem_output");
    // the original still opens
    await openConnectionOffer(sealed, [kp], cs);
  });

  it("malformed sealed bytes fail with ConnectionOfferError whose cause is QsMalformedError", async () => {
    const sealed = await sealConnectionOffer(anOffer(), kp.publicPackage, cs);
    for (const bad of [new Uint8Array(0), sealed.subarray(0, sealed.length - 1), Uint8Array.from([...sealed, 0]), Uint8Array.of(0xc0)]) {
      const e = await rejectsWith(openConnectionOffer(bad, [kp], cs), `bytes ${bad.length}`, /malformed sealed connection offer/);
      assert.ok(e.cause instanceof QsMalformedError);
    }
  });

  it("the KeyPackageRef is the AAD: an offer re-addressed to another candidate's ref does not open", async () => {
    const offer = anOffer();
    const sealed = await sealConnectionOffer(offer, kp.publicPackage, cs);
    const otherRef = await makeKeyPackageRef(other.publicPackage, cs.hash);
    const swapped = tamper(sealed, (x) => new SealedConnectionOffer(otherRef, x.kemOutput, x.ciphertext));
    await rejectsWith(openConnectionOffer(swapped, [kp, other], cs), "ref swapped to another candidate", /does not open/);

    // Isolate the AAD: a second "KeyPackage" with the same init key (and so the same HPKE
    // private key) but another KeyPackageRef (its signature bytes differ; the ref hashes the
    // whole KeyPackage). Only the AAD differs, and it must still fail.
    const twin: KeyPair = { publicPackage: { ...kp.publicPackage, signature: flip(kp.publicPackage.signature, 0) }, privatePackage: kp.privatePackage };
    const twinRef = await makeKeyPackageRef(twin.publicPackage, cs.hash);
    assert.notEqual(hex(twinRef), hex(await makeKeyPackageRef(kp.publicPackage, cs.hash)));
    assert.deepEqual(twin.publicPackage.initKey, kp.publicPackage.initKey);
    const toTwin = tamper(sealed, (x) => new SealedConnectionOffer(twinRef, x.kemOutput, x.ciphertext));
    await rejectsWith(openConnectionOffer(toTwin, [twin], cs), "same init key, other ref", /does not open/);
    // sealed to the twin directly, it opens for the twin (so the failure above is the AAD alone)
    const opened = await openConnectionOffer(await sealConnectionOffer(offer, twin.publicPackage, cs), [kp, twin], cs);
    assert.equal(opened.keyPackage, twin);
    sameOffer(opened.offer, offer);
  });

  it("two seals of the same offer differ (fresh HPKE ephemeral key) and both open", async () => {
    const offer = anOffer();
    const a = await sealConnectionOffer(offer, kp.publicPackage, cs);
    const b = await sealConnectionOffer(offer, kp.publicPackage, cs);
    assert.notEqual(hex(a), hex(b));
    const [sa, sb] = [SealedConnectionOffer.deserialize(a), SealedConnectionOffer.deserialize(b)];
    assert.deepEqual(sa.keyPackageRef, sb.keyPackageRef);
    assert.notEqual(hex(sa.kemOutput), hex(sb.kemOutput));
    assert.notEqual(hex(sa.ciphertext), hex(sb.ciphertext));
    assert.equal(a.length, b.length, "the size depends only on the offer");
    sameOffer((await openConnectionOffer(a, [kp], cs)).offer, offer);
    sameOffer((await openConnectionOffer(b, [kp], cs)).offer, offer);
  });

  it("a KeyPackage of an unsupported cipher suite is refused with ConnectionOfferError", async () => {
    const p256 = { ...kp.publicPackage, cipherSuite: "MLS_128_DHKEMP256_AES128GCM_SHA256_P256" } as KeyPackage;
    await rejectsWith(sealConnectionOffer(anOffer(), p256, cs), "seal P-256", /not supported/);
    const sealed = await sealConnectionOffer(anOffer(), kp.publicPackage, cs);
    const p256Ref = await makeKeyPackageRef(p256, cs.hash);
    await rejectsWith(openConnectionOffer(tamper(sealed, (x) => new SealedConnectionOffer(p256Ref, x.kemOutput, x.ciphertext)), [{ publicPackage: p256, privatePackage: kp.privatePackage }], cs), "open P-256", /not supported/);
  });

  it("the ChaCha20-Poly1305 suite round-trips too", async () => {
    const chacha = await getNodeCiphersuiteImpl("MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519");
    const k = await makeKeyPackage(chacha, rb(16), { qsDomain: "b.test", sealedReference: rb(48) });
    const offer = anOffer();
    const sealed = await sealConnectionOffer(offer, k.publicPackage, chacha);
    sameOffer((await openConnectionOffer(sealed, [k], chacha)).offer, offer);
    await rejectsWith(openConnectionOffer(tamper(sealed, (x) => new SealedConnectionOffer(x.keyPackageRef, x.kemOutput, flip(x.ciphertext, 0))), [k], chacha), "chacha flip", /does not open/);
  });
});

/** Bytes of a ConnectionOffer-shaped struct with an uppercase (so invalid) hub_domain. */
class TlsLikeOffer {
  readonly bytes: Uint8Array;
  constructor(domain: string) {
    const d = te.encode(domain);
    const uri = te.encode("mimi://a.test/u/x");
    this.bytes = Uint8Array.from([d.length, ...d, 1, 7, 32, ...new Uint8Array(32), uri.length, ...uri]);
  }
}

// ---------------------------------------------------------------------------------------------

/** Ed25519 key objects for node:crypto from a raw seed / public key (RFC 8410 DER prefixes). */
const nodePrivate = (seed: Uint8Array) => createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]), format: "der", type: "pkcs8" });
const nodePublic = (pub: Uint8Array) => createPublicKey({ key: Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), pub]), format: "der", type: "spki" });

describe("per-KeyPackage user keys (HKDF-SHA256 into an Ed25519 seed, src/client/userAuthKey.ts)", () => {
  it("derivation is HKDF-SHA256(ikm = master, salt, info) as in RFC 5869, and deterministic", () => {
    assert.equal(USER_MASTER_SECRET_LENGTH, 32);
    assert.equal(USER_AUTH_KEY_SALT_LENGTH, 16);
    for (let i = 0; i < 5; i++) {
      const master = rb(32);
      const salt = rb(16);
      const k = deriveUserAuthKey(master, salt);
      const seed = new Uint8Array(hkdfSync("sha256", master, salt, te.encode(USER_AUTH_KEY_DERIVATION_INFO), 32));
      assert.deepEqual(k.privateKey, seed);
      const spki = createPublicKey(nodePrivate(seed)).export({ format: "der", type: "spki" });
      const expectedPub = new Uint8Array(spki.subarray(spki.length - 32));
      assert.deepEqual(k.publicKey, expectedPub, "the public key is node:crypto's for the same seed");
      const again = deriveUserAuthKey(Uint8Array.from(master), Uint8Array.from(salt));
      assert.deepEqual(again.privateKey, k.privateKey);
      assert.deepEqual(again.publicKey, k.publicKey);
    }
  });

  it("different salts, and different secrets, give different keys", () => {
    const master = rb(32);
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) seen.add(hex(deriveUserAuthKey(master, rb(16)).publicKey));
    for (let i = 0; i < 20; i++) seen.add(hex(deriveUserAuthKey(rb(32), new Uint8Array(16)).publicKey));
    assert.equal(seen.size, 40);
    // one bit of difference is enough
    const salt = rb(16);
    assert.notEqual(hex(deriveUserAuthKey(master, salt).publicKey), hex(deriveUserAuthKey(master, flip(salt, 15)).publicKey));
    assert.notEqual(hex(deriveUserAuthKey(master, salt).publicKey), hex(deriveUserAuthKey(flip(master, 0), salt).publicKey));
  });

  it("the derived key signs and verifies Ed25519 (RFC 8032) with noble and node:crypto alike", () => {
    const k = deriveUserAuthKey(rb(32), rb(16));
    const msg = te.encode("MIMI user request");
    const sigNoble = ed25519.sign(msg, k.privateKey);
    assert.ok(nodeVerify(null, msg, nodePublic(k.publicKey), sigNoble), "node verifies noble's signature");
    const sigNode = new Uint8Array(nodeSign(null, msg, nodePrivate(k.privateKey)));
    assert.deepEqual(sigNode, sigNoble, "Ed25519 is deterministic: the same signature from both");
    assert.ok(ed25519.verify(sigNode, msg, k.publicKey));
    assert.ok(!ed25519.verify(sigNode, te.encode("MIMI user requesT"), k.publicKey), "another message does not verify");
    const otherKey = deriveUserAuthKey(rb(32), rb(16));
    assert.ok(!ed25519.verify(sigNode, msg, otherKey.publicKey), "another key does not verify");
  });

  it("wrong secret or salt lengths are refused with RangeError", () => {
    for (const n of [0, 16, 31, 33, 64]) assert.throws(() => deriveUserAuthKey(rb(n), rb(16)), RangeError, `secret ${n}`);
    for (const n of [0, 8, 15, 17, 32]) assert.throws(() => deriveUserAuthKey(rb(32), rb(n)), RangeError, `salt ${n}`);
  });

  it("userAuthKeyExtension -> userAuthKeyOf round-trips; none, two or a broken one give undefined", () => {
    const salt = rb(16);
    const key = deriveUserAuthKey(rb(32), salt);
    const ext = userAuthKeyExtension({ salt, publicKey: key.publicKey });
    assert.equal(ext.extensionType, EXTENSION_TYPE_USER_AUTH_KEY);
    assert.equal(ext.extensionData.length, 1 + 16 + 1 + 32);
    const other = { extensionType: 0xf0a0, extensionData: rb(10) };
    const b = userAuthKeyOf([other, ext]);
    assert.ok(b);
    assert.deepEqual(b.salt, salt);
    assert.deepEqual(b.publicKey, key.publicKey);
    assert.equal(userAuthKeyOf([]), undefined);
    assert.equal(userAuthKeyOf([other]), undefined);
    assert.equal(userAuthKeyOf([ext, ext]), undefined, "two bindings are malformed: none is trusted");
    assert.equal(userAuthKeyOf([{ extensionType: EXTENSION_TYPE_USER_AUTH_KEY, extensionData: ext.extensionData.subarray(1) }]), undefined);
    assert.throws(() => userAuthKeyExtension({ salt: rb(15), publicKey: key.publicKey }), RangeError);
  });

  it("the binding rides in a real KeyPackage's leaf and survives its wire encoding", async () => {
    cs ??= await getNodeCiphersuiteImpl(SUITE);
    const master = rb(32);
    const salt = rb(16);
    const key = deriveUserAuthKey(master, salt);
    const kp = await newKp([userAuthKeyExtension({ salt, publicKey: key.publicKey })]);
    const bytes = encodeMlsMessage({ version: "mls10", wireformat: "mls_key_package", keyPackage: kp.publicPackage });
    const m = decodeMlsMessage(bytes, 0)![0];
    assert.equal(m.wireformat, "mls_key_package");
    if (m.wireformat !== "mls_key_package") return;
    const b = userAuthKeyOf(m.keyPackage.leafNode.extensions);
    assert.ok(b, "found after decoding");
    assert.deepEqual(b.salt, salt);
    assert.deepEqual(b.publicKey, key.publicKey);
    // the owner re-derives the key from the salt alone
    assert.deepEqual(deriveUserAuthKey(master, b.salt).publicKey, b.publicKey);
    // a KeyPackage without the extension declares nothing
    assert.equal(userAuthKeyOf((await newKp()).publicPackage.leafNode.extensions), undefined);
  });
});
