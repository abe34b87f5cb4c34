// RFC 9458 Appendix A and draft-ietf-ohai-chunked-ohttp-08 Appendix A, byte for byte, on both
// the fast (node:crypto) and the reference (@hpke/core stock) suites. The client's ephemeral key
// and the gateway's response nonce are injected through the test-only hooks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { GatewayKeyPair } from "../../src/ohttp/GatewayKeyPair.js";
import { KeyConfig, KeyConfigList } from "../../src/ohttp/KeyConfig.js";
import { OhttpClient } from "../../src/ohttp/OhttpClient.js";
import { GatewayExchange, OhttpGateway } from "../../src/ohttp/OhttpGateway.js";
import { LABEL_CHUNKED_REQUEST, LABEL_REQUEST, requestHeader, requestInfo } from "../../src/ohttp/labels.js";
import { ResponseCipher } from "../../src/ohttp/ResponseCipher.js";
import { NodeAes128Gcm } from "../../src/hpke/NodeAeadAesGcm.js";
import { hex, readJson, toHex } from "../hpke/testUtil.js";

const A = readJson<Record<string, string>>("test/vectors/ohttp/rfc9458-appendix-a.json");
const C = readJson<Record<string, string | number | number[] | string[]>>("test/ohttp/fixtures/chunked-ohttp-08-appendix-a.json");
const SYMMETRIC = [
  { kdfId: 1, aeadId: 1 },
  { kdfId: 1, aeadId: 3 },
];

function pieces(data: Uint8Array, sizes: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let o = 0;
  for (const s of sizes) {
    out.push(data.subarray(o, o + s));
    o += s;
  }
  assert.equal(o, data.length, "fixture chunk sizes cover the message");
  return out;
}

test("RFC 9458 s3.1/s3.2 (Appendix A): key configuration and application/ohttp-keys encode byte for byte", async () => {
  const kp = await GatewayKeyPair.fromPrivateKey(A.key_id as unknown as number, hex(A.gateway_private_key!), SYMMETRIC);
  assert.equal(toHex(kp.config.publicKey), A.gateway_public_key);
  assert.equal(toHex(kp.config.serialize()), A.key_config);
  assert.equal(toHex(new KeyConfigList([kp.config]).serialize()), A.key_config_list_application_ohttp_keys);
  const parsed = KeyConfig.deserialize(hex(A.key_config!));
  assert.deepEqual([parsed.keyId, parsed.kemId, toHex(parsed.publicKey)], [1, 0x20, A.gateway_public_key]);
  assert.deepEqual(parsed.symmetricAlgorithms, SYMMETRIC);
  const list = KeyConfigList.deserialize(hex(A.key_config_list_application_ohttp_keys!));
  assert.equal(list.configs.length, 1);
  assert.equal(toHex(list.configs[0]!.serialize()), A.key_config);
});

test("RFC 9458 s4.3 (Appendix A): hpke_info = \"message/bhttp request\" || 0x00 || hdr", () => {
  assert.equal(toHex(requestInfo(LABEL_REQUEST, requestHeader(1, 0x20, 1, 1))), A.hpke_info);
  assert.equal(toHex(requestInfo(LABEL_CHUNKED_REQUEST, requestHeader(1, 0x20, 1, 1))), C.hpke_info);
});

for (const fast of [true, false]) {
  const name = fast ? "fast" : "reference";

  test(`RFC 9458 s4.3/s4.4 Appendix A end to end [${name}]`, async () => {
    const kp = await GatewayKeyPair.fromPrivateKey(1, hex(A.gateway_private_key!), SYMMETRIC);
    const client = new OhttpClient(KeyConfig.deserialize(hex(A.key_config!)), {
      fast,
      unsafeEphemeralPrivateKeyForTesting: () => hex(A.client_ephemeral_private_key!),
    });
    assert.deepEqual([client.kdfId, client.aeadId], [1, 1], "first supported algorithm is picked");
    const handle = await client.encapsulateRequest(hex(A.bhttp_request!));
    assert.equal(toHex(handle.encapsulatedRequest.subarray(7, 39)), A.client_ephemeral_public_key_enc);
    assert.equal(toHex(handle.encapsulatedRequest), A.encapsulated_request);

    const gateway = new OhttpGateway([kp], { fast, randomBytes: () => hex(A.response_nonce!) });
    const decap = await gateway.decapsulateRequest(hex(A.encapsulated_request!));
    assert.equal(decap.keyId, 1);
    assert.equal(toHex(decap.enc), A.client_ephemeral_public_key_enc);
    assert.equal(toHex(decap.request), A.bhttp_request);

    assert.ok(decap instanceof GatewayExchange);
    const keys = await decap.responseKeys(hex(A.response_nonce!));
    assert.equal(toHex(keys.secret), A.exported_secret);
    assert.equal(toHex(keys.prk), A.prk);
    assert.equal(toHex(keys.key), A.aead_key);
    assert.equal(toHex(keys.nonce), A.aead_nonce);

    const res = await decap.encapsulateResponse(hex(A.bhttp_response!));
    assert.equal(toHex(res), A.encapsulated_response);
    assert.equal(toHex(await handle.decapsulateResponse(res)), A.bhttp_response);
  });

  test(`draft-ietf-ohai-chunked-ohttp-08 Appendix A end to end [${name}]`, async () => {
    const kp = await GatewayKeyPair.fromPrivateKey(1, hex(C.gateway_private_key as string), SYMMETRIC);
    assert.equal(toHex(kp.config.serialize()), C.key_config);
    const client = new OhttpClient(KeyConfig.deserialize(hex(C.key_config as string)), {
      fast,
      unsafeEphemeralPrivateKeyForTesting: () => hex(C.client_ephemeral_private_key as string),
    });
    const request = hex(C.bhttp_request as string);
    const handle = await client.encapsulateChunkedRequest(pieces(request, C.request_chunk_sizes as number[]));
    assert.equal(toHex(handle.encapsulatedRequest), C.encapsulated_request);

    const gateway = new OhttpGateway([kp], { fast, randomBytes: () => hex(C.response_nonce as string) });
    const decap = await gateway.decapsulateChunkedRequest(hex(C.encapsulated_request as string));
    assert.equal(toHex(decap.request), C.bhttp_request);
    assert.equal(toHex(decap.enc), C.client_ephemeral_public_key_enc);

    assert.ok(decap instanceof GatewayExchange);
    const keys = await decap.responseKeys(hex(C.response_nonce as string));
    assert.equal(toHex(keys.secret), C.exported_secret);
    assert.equal(toHex(keys.prk), C.prk);
    assert.equal(toHex(keys.key), C.aead_key);
    assert.equal(toHex(keys.nonce), C.aead_nonce);
    const cipher = new ResponseCipher(new NodeAes128Gcm(), keys);
    assert.deepEqual([0, 1, 2].map((i) => toHex(cipher.nonceFor(i))), C.chunk_nonces);

    const response = hex(C.bhttp_response as string);
    const res = await decap.encapsulateResponse(pieces(response, C.response_chunk_sizes as number[]));
    assert.equal(toHex(res), C.encapsulated_response);
    assert.equal(toHex(await handle.decapsulateResponse(res)), C.bhttp_response);
  });
}
