// RFC 9458 s4 and draft-ietf-ohai-chunked-ohttp-08 round trips: every supported (KDF, AEAD),
// fast and reference suites in every client/gateway combination, chunked messages over several
// chunk sizes (including the 16 KiB every receiver must accept) and an empty body; key
// configuration lists; key rotation.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  GatewayKeyPair,
  KeyConfig,
  KeyConfigList,
  OhttpClient,
  OhttpGateway,
  UnknownKeyIdError,
  UnsupportedKemError,
  UnsupportedSymmetricAlgorithmError,
  MalformedKeyConfigError,
} from "../../src/ohttp/index.js";
import { toHex } from "../hpke/testUtil.js";

const ALL_SYMMETRIC = [1, 2, 3].flatMap((kdfId) => [1, 2, 3].map((aeadId) => ({ kdfId, aeadId })));

test("RFC 9458 s4.3/s4.4: round trip for every KDF x AEAD, fast and reference suites on both sides", async () => {
  const kp = await GatewayKeyPair.generate(7, ALL_SYMMETRIC);
  const gateways = [new OhttpGateway([kp]), new OhttpGateway([kp], { fast: false })];
  for (const { kdfId, aeadId } of ALL_SYMMETRIC) {
    for (const fast of [true, false]) {
      const client = new OhttpClient(kp.config, { kdfId, aeadId, fast });
      for (const gateway of gateways) {
        const req = randomBytes(1 + ((kdfId * 31 + aeadId * 7) % 300));
        const resp = randomBytes((kdfId * 13 + aeadId) % 50);
        const h = await client.encapsulateRequest(req);
        assert.deepEqual([...h.encapsulatedRequest.subarray(0, 7)], [7, 0, 0x20, 0, kdfId, 0, aeadId]);
        assert.equal(h.encapsulatedRequest.length, 7 + 32 + req.length + 16);
        const d = await gateway.decapsulateRequest(h.encapsulatedRequest);
        assert.equal(d.keyId, 7);
        assert.equal(toHex(d.enc), toHex(h.encapsulatedRequest.subarray(7, 39)));
        assert.equal(toHex(d.request), toHex(req));
        const res = await d.encapsulateResponse(resp);
        // response_nonce is max(Nn, Nk): 16 for AES-128-GCM, 32 for AES-256-GCM and ChaCha20-Poly1305
        assert.equal(res.length, (aeadId === 1 ? 16 : 32) + resp.length + 16);
        assert.equal(toHex(await h.decapsulateResponse(res)), toHex(resp));
      }
    }
  }
});

test("draft-ietf-ohai-chunked-ohttp-08 s6: chunked round trips over chunk sizes and body sizes, every AEAD", async () => {
  const kp = await GatewayKeyPair.generate(3, ALL_SYMMETRIC);
  const gateway = new OhttpGateway([kp]);
  const cases: [number, number][] = [
    [0, 16384],
    [1, 16384],
    [16383, 16384],
    [16384, 16384],
    [16385, 16384],
    [70000, 16384],
    [1000, 1],
    [1000, 7],
    [5000, 1024],
    [200000, 65536],
  ];
  for (const aeadId of [1, 2, 3]) {
    const client = new OhttpClient(kp.config, { kdfId: 1, aeadId });
    for (const [size, chunk] of cases) {
      const req = randomBytes(size);
      const resp = randomBytes(size);
      const h = await client.encapsulateChunkedRequest(req, chunk);
      const d = await gateway.decapsulateChunkedRequest(h.encapsulatedRequest);
      assert.equal(toHex(d.request), toHex(req), `request ${size}/${chunk}`);
      const res = await d.encapsulateResponse(resp, chunk);
      assert.equal(toHex(await h.decapsulateResponse(res)), toHex(resp), `response ${size}/${chunk}`);
    }
  }
});

test("draft-ietf-ohai-chunked-ohttp-08 s4: an empty body is one final chunk holding only the tag", async () => {
  const kp = await GatewayKeyPair.generate(3);
  const client = new OhttpClient(kp.config);
  const h = await client.encapsulateChunkedRequest(new Uint8Array(0));
  assert.equal(h.encapsulatedRequest.length, 7 + 32 + 1 + 16);
  assert.equal(h.encapsulatedRequest[39], 0, "final chunk indicator");
  const d = await new OhttpGateway([kp]).decapsulateChunkedRequest(h.encapsulatedRequest);
  assert.equal(d.request.length, 0);
  const res = await d.encapsulateResponse(new Uint8Array(0));
  assert.equal(res.length, 16 + 1 + 16);
  assert.equal((await h.decapsulateResponse(res)).length, 0);
});

test("draft-ietf-ohai-chunked-ohttp-08: explicit chunk boundaries, fast and reference suites interoperate", async () => {
  const kp = await GatewayKeyPair.generate(9);
  const pieces = [randomBytes(5), randomBytes(16384), randomBytes(1), new Uint8Array(0)];
  for (const [cf, gf] of [
    [true, false],
    [false, true],
  ]) {
    const h = await new OhttpClient(kp.config, { fast: cf }).encapsulateChunkedRequest(pieces);
    const d = await new OhttpGateway([kp], { fast: gf }).decapsulateChunkedRequest(h.encapsulatedRequest);
    assert.equal(toHex(d.request), toHex(Buffer.concat(pieces)));
    const res = await d.encapsulateResponse([randomBytes(3), randomBytes(4)]);
    assert.equal((await h.decapsulateResponse(res)).length, 7);
  }
  await assert.rejects(new OhttpClient(kp.config).encapsulateChunkedRequest([new Uint8Array(0), randomBytes(3)]), RangeError);
  await assert.rejects(new OhttpClient(kp.config).encapsulateChunkedRequest(randomBytes(3), 0), RangeError);
  await assert.rejects(new OhttpClient(kp.config).encapsulateChunkedRequest(randomBytes(3), (1 << 20) + 1), RangeError);
});

test("RFC 9458 s3.1: the client picks the first supported algorithm, or the requested one if offered", async () => {
  const kp = await GatewayKeyPair.generate(1, [
    { kdfId: 1, aeadId: 3 },
    { kdfId: 1, aeadId: 1 },
  ]);
  const foreign = new KeyConfig(1, 0x20, kp.config.publicKey, [{ kdfId: 9, aeadId: 9 }, ...kp.config.symmetricAlgorithms]);
  assert.deepEqual([new OhttpClient(foreign).kdfId, new OhttpClient(foreign).aeadId], [1, 3]);
  assert.equal(new OhttpClient(kp.config, { aeadId: 1 }).aeadId, 1);
  assert.throws(() => new OhttpClient(kp.config, { aeadId: 2 }), UnsupportedSymmetricAlgorithmError);
  assert.throws(() => new OhttpClient(new KeyConfig(1, 0x20, kp.config.publicKey, [{ kdfId: 9, aeadId: 1 }])), UnsupportedSymmetricAlgorithmError);
  assert.throws(() => new OhttpClient(new KeyConfig(1, 0x10, new Uint8Array(65), [{ kdfId: 1, aeadId: 1 }])), UnsupportedKemError);
  // A gateway refuses an algorithm its key does not offer, even one it could run.
  const h = await new OhttpClient(new KeyConfig(1, 0x20, kp.config.publicKey, [{ kdfId: 1, aeadId: 2 }])).encapsulateRequest(randomBytes(4));
  await assert.rejects(new OhttpGateway([kp]).decapsulateRequest(h.encapsulatedRequest), UnsupportedSymmetricAlgorithmError);
  await assert.rejects(GatewayKeyPair.generate(1, [{ kdfId: 1, aeadId: 0xffff }]), UnsupportedSymmetricAlgorithmError);
});

test("RFC 9458 s3.2: application/ohttp-keys with several configs round-trips; unknown KEMs are skipped", async () => {
  const a = await GatewayKeyPair.generate(1);
  const b = await GatewayKeyPair.generate(2, [{ kdfId: 2, aeadId: 2 }]);
  const p256 = new KeyConfig(3, 0x10, randomBytes(65), [{ kdfId: 1, aeadId: 1 }]);
  const list = new KeyConfigList([a.config, b.config, p256]);
  const back = KeyConfigList.deserialize(list.serialize());
  assert.deepEqual(
    back.configs.map((c) => toHex(c.serialize())),
    [a.config, b.config, p256].map((c) => toHex(c.serialize())),
  );
  // An entry for KEM 0x7777 (size unknown here) is delimited by its length prefix and skipped.
  const unknown = Buffer.from("000b" + "05" + "7777" + "aabbccdd" + "0001" + "0001", "hex");
  const mixed = Buffer.concat([unknown, list.serialize()]);
  assert.equal(KeyConfigList.deserialize(mixed).configs.length, 3);
  assert.throws(() => KeyConfigList.deserialize(unknown), UnsupportedKemError);
  assert.throws(() => KeyConfigList.deserialize(new Uint8Array(0)), MalformedKeyConfigError);
});

test("RFC 9458 s3 (key rotation): setKeys swaps the live set; a retired key id is unknown", async () => {
  const oldKey = await GatewayKeyPair.generate(1);
  const newKey = await GatewayKeyPair.generate(2);
  const gateway = new OhttpGateway([oldKey]);
  const viaOld = await new OhttpClient(oldKey.config).encapsulateRequest(randomBytes(10));
  const viaNew = await new OhttpClient(newKey.config).encapsulateRequest(randomBytes(10));
  await gateway.decapsulateRequest(viaOld.encapsulatedRequest);
  await assert.rejects(gateway.decapsulateRequest(viaNew.encapsulatedRequest), UnknownKeyIdError);
  gateway.setKeys([oldKey, newKey]);
  await gateway.decapsulateRequest(viaOld.encapsulatedRequest);
  await gateway.decapsulateRequest(viaNew.encapsulatedRequest);
  gateway.setKeys([newKey]);
  await assert.rejects(gateway.decapsulateRequest(viaOld.encapsulatedRequest), UnknownKeyIdError);
  assert.throws(() => gateway.setKeys([newKey, newKey]), RangeError);
  await gateway.decapsulateRequest(viaNew.encapsulatedRequest); // a refused setKeys leaves the set intact
  const empty = new OhttpGateway([]);
  await assert.rejects(empty.decapsulateRequest(viaNew.encapsulatedRequest), UnknownKeyIdError);
});

test("GatewayKeyPair: fromPrivateKey restores the same key configuration and decapsulates", async () => {
  const kp = await GatewayKeyPair.generate(200);
  const restored = await GatewayKeyPair.fromPrivateKey(200, kp.privateKey);
  assert.equal(toHex(restored.config.serialize()), toHex(kp.config.serialize()));
  const h = await new OhttpClient(kp.config).encapsulateRequest(randomBytes(3));
  assert.equal((await new OhttpGateway([restored]).decapsulateRequest(h.encapsulatedRequest)).request.length, 3);
  await assert.rejects(GatewayKeyPair.fromPrivateKey(1, new Uint8Array(31)), RangeError);
  await assert.rejects(GatewayKeyPair.generate(256), MalformedKeyConfigError);
});

test("RFC 9458 s4: 96 concurrent exchanges over two keys and three AEADs stay independent", async () => {
  const a = await GatewayKeyPair.generate(1, ALL_SYMMETRIC);
  const b = await GatewayKeyPair.generate(2, ALL_SYMMETRIC);
  const gateway = new OhttpGateway([a, b]);
  await Promise.all(
    Array.from({ length: 96 }, async (_, i) => {
      const kp = i % 2 === 0 ? a : b;
      const client = new OhttpClient(kp.config, { kdfId: 1 + (i % 3), aeadId: 1 + ((i >> 1) % 3) });
      const req = randomBytes(i);
      const resp = randomBytes(96 - i);
      const chunked = i % 4 === 3;
      const h = chunked ? await client.encapsulateChunkedRequest(req, 7) : await client.encapsulateRequest(req);
      const d = chunked ? await gateway.decapsulateChunkedRequest(h.encapsulatedRequest) : await gateway.decapsulateRequest(h.encapsulatedRequest);
      assert.equal(toHex(d.request), toHex(req));
      assert.equal(toHex(await h.decapsulateResponse(await d.encapsulateResponse(resp))), toHex(resp));
    }),
  );
});
