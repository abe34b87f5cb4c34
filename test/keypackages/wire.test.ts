// The directory's wire structs: KeyPackageRequest exactly as draft-mcmillion s3.1 lays it out,
// the transaction and its per-user/per-client response with draft-barnes s7.3 codes, and the
// upload and its response (our profile): byte-exact round trips and typed decode failures.
import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import { before, describe, it } from "node:test";
import { DecodeError } from "../../src/codec/errors.js";
import { signUpload } from "../../src/keypackages/index.js";
import { MalformedError } from "../../src/protocol/errors.js";
import { KeyMaterialClientCode, KeyMaterialUserCode, KeyPackagePool, KeyPackageStatus } from "../../src/protocol/KeyPackageConstants.js";
import { StaleSequenceError } from "../../src/protocol/KeyPackageErrors.js";
import { KeyPackageRequest } from "../../src/protocol/KeyPackageRequest.js";
import { KeyPackageTransaction } from "../../src/protocol/KeyPackageTransaction.js";
import { KeyPackageTransactionResponse, type UserKeyMaterial } from "../../src/protocol/KeyPackageTransactionResponse.js";
import { KeyPackageUpload } from "../../src/protocol/KeyPackageUpload.js";
import { KeyPackageUploadResponse } from "../../src/protocol/KeyPackageUploadResponse.js";
import { generateEd25519 } from "../../src/util/keygen.js";
import { Clock, newKeyPackages, te } from "./kpFixtures.js";

const malformed = (f: () => unknown) => assert.throws(f, (e: unknown) => e instanceof MalformedError && e instanceof DecodeError);

describe("draft-mcmillion s3.1 KeyPackageRequest", () => {
  it("is opaque user_id<V>, opaque bearer_token<V>, ProtocolVersion version, CipherSuite cipher_suite", () => {
    const token = new Uint8Array(randomBytes(32));
    const r = new KeyPackageRequest(te.encode("bob"), token, 1, 3);
    assert.deepEqual(r.serialize(), Uint8Array.from([3, 0x62, 0x6f, 0x62, 32, ...token, 0x00, 0x01, 0x00, 0x03]));
    // a 100-byte user id takes the two-byte MLS varint (RFC 9420 s2.1.2)
    const long = new KeyPackageRequest(new Uint8Array(100).fill(0x61), new Uint8Array(0), 0xabcd, 0x1234).serialize();
    assert.deepEqual(long.subarray(0, 2), Uint8Array.of(0x40, 100));
    assert.deepEqual(long.subarray(102), Uint8Array.of(0, 0xab, 0xcd, 0x12, 0x34));
    const back = KeyPackageRequest.deserialize(long);
    assert.equal(back.version, 0xabcd);
    assert.equal(back.cipherSuite, 0x1234);
  });

  it("refuses trailing bytes, truncation, non-minimal lengths and oversized fields", () => {
    const ok = new KeyPackageRequest(te.encode("bob"), new Uint8Array(32), 1, 1).serialize();
    malformed(() => KeyPackageRequest.deserialize(Uint8Array.from([...ok, 0])));
    malformed(() => KeyPackageRequest.deserialize(ok.subarray(0, ok.length - 1)));
    malformed(() => KeyPackageRequest.deserialize(Uint8Array.from([0x40, 3, ...ok.subarray(1)])));
    malformed(() => KeyPackageRequest.deserialize(new KeyPackageRequest(new Uint8Array(256), new Uint8Array(1), 1, 1).serialize()));
    malformed(() => KeyPackageRequest.deserialize(new KeyPackageRequest(new Uint8Array(1), new Uint8Array(256), 1, 1).serialize()));
  });
});

describe("KeyPackageTransaction (draft-mcmillion s3.1.1 bundling, draft-barnes lastResortAllowed)", () => {
  it("round-trips and refuses an empty transaction or a bad bool", () => {
    const reqs = [new KeyPackageRequest(te.encode("a"), new Uint8Array(32), 1, 1), new KeyPackageRequest(te.encode("b"), new Uint8Array(32).fill(7), 1, 2)];
    for (const lr of [false, true]) {
      const b = new KeyPackageTransaction(reqs, lr).serialize();
      const back = KeyPackageTransaction.deserialize(b);
      assert.equal(back.lastResortAllowed, lr);
      assert.deepEqual(back.requests.map((r) => r.serialize()), reqs.map((r) => r.serialize()));
      assert.deepEqual(back.serialize(), b);
      malformed(() => KeyPackageTransaction.deserialize(Uint8Array.from([...b.subarray(0, -1), 2])));
    }
    malformed(() => KeyPackageTransaction.deserialize(Uint8Array.of(0, 0)));
  });
});

describe("KeyPackageTransactionResponse (draft-barnes s7.3 codes)", () => {
  let kps: Uint8Array[];
  before(async () => {
    kps = await newKeyPackages(new Clock(), 2);
  });

  it("keeps draft-barnes's names and values", () => {
    assert.deepEqual(
      [KeyMaterialUserCode.success, KeyMaterialUserCode.partialSuccess, KeyMaterialUserCode.incompatibleProtocol, KeyMaterialUserCode.noCompatibleMaterial, KeyMaterialUserCode.userUnknown, KeyMaterialUserCode.noConsent, KeyMaterialUserCode.noConsentForThisRoom, KeyMaterialUserCode.userDeleted],
      [0, 1, 2, 3, 4, 5, 6, 7],
    );
    assert.deepEqual([KeyMaterialClientCode.success, KeyMaterialClientCode.keyMaterialExhausted, KeyMaterialClientCode.onlyLastResort, KeyMaterialClientCode.nothingCompatible], [0, 1, 2, 3]);
  });

  it("round-trips every user and client status byte for byte", () => {
    const users: UserKeyMaterial[] = [
      {
        status: KeyMaterialUserCode.partialSuccess,
        userId: te.encode("bob"),
        clients: [
          { status: KeyMaterialClientCode.success, clientId: te.encode("phone"), keyPackage: kps[0]! },
          { status: KeyMaterialClientCode.keyMaterialExhausted, clientId: te.encode("laptop") },
          { status: KeyMaterialClientCode.onlyLastResort, clientId: te.encode("tablet") },
          { status: KeyMaterialClientCode.nothingCompatible, clientId: te.encode("watch") },
        ],
      },
      { status: KeyMaterialUserCode.userUnknown, userId: te.encode("nobody"), clients: [] },
      { status: KeyMaterialUserCode.rateLimited, userId: te.encode("carol"), clients: [] },
      { status: KeyMaterialUserCode.success, userId: te.encode("dave"), clients: [{ status: KeyMaterialClientCode.success, clientId: te.encode("x"), keyPackage: kps[1]! }] },
    ];
    const b = new KeyPackageTransactionResponse(KeyPackageStatus.ok, users).serialize();
    const back = KeyPackageTransactionResponse.deserialize(b);
    assert.deepEqual(back.users, users);
    assert.deepEqual(back.serialize(), b);
    const err = KeyPackageTransactionResponse.error(KeyPackageStatus.too_many_requests).serialize();
    assert.deepEqual(err, Uint8Array.of(0, KeyPackageStatus.too_many_requests));
    assert.equal(KeyPackageTransactionResponse.deserialize(err).status, KeyPackageStatus.too_many_requests);
  });

  it("refuses clients under a failing user code, unknown codes, and a key_package that is not a KeyPackage", () => {
    const bad = new KeyPackageTransactionResponse(KeyPackageStatus.ok, [
      { status: KeyMaterialUserCode.success, userId: te.encode("u"), clients: [{ status: KeyMaterialClientCode.keyMaterialExhausted, clientId: te.encode("c") }] },
    ]).serialize();
    // status(2) users-len(1) user_status(1): turn success into userUnknown, which must list no clients
    const asUnknown = bad.slice();
    asUnknown[3] = KeyMaterialUserCode.userUnknown;
    malformed(() => KeyPackageTransactionResponse.deserialize(asUnknown));
    const unknownUserCode = bad.slice();
    unknownUserCode[3] = 9;
    malformed(() => KeyPackageTransactionResponse.deserialize(unknownUserCode));
    malformed(() => KeyPackageTransactionResponse.deserialize(Uint8Array.of(0, 99)));
    const withKp = new KeyPackageTransactionResponse(KeyPackageStatus.ok, [
      { status: KeyMaterialUserCode.success, userId: te.encode("u"), clients: [{ status: KeyMaterialClientCode.success, clientId: te.encode("c"), keyPackage: kps[0]! }] },
    ]).serialize();
    const at = withKp.length - kps[0]!.length;
    const notKp = withKp.slice();
    notKp[at + 3] = 1; // MLSMessage wire_format 5 (mls_key_package) -> 1 (mls_public_message)
    malformed(() => KeyPackageTransactionResponse.deserialize(notKp));
  });
});

describe("KeyPackageUpload and KeyPackageUploadResponse", () => {
  it("round-trips; the signed content is exactly the bytes before the signature", async () => {
    const kps = await newKeyPackages(new Clock(), 2);
    const key = generateEd25519();
    const bytes = signUpload({
      userId: te.encode("bob"),
      clientId: te.encode("phone"),
      sequence: 0xfedcba9876543210n,
      items: [
        { pool: KeyPackagePool.group, keyPackage: kps[0]! },
        { pool: KeyPackagePool.connection, keyPackage: kps[1]!, lastResort: true },
      ],
      privateKey: key.privateKey,
      publicKey: key.publicKey,
    });
    const up = KeyPackageUpload.deserialize(bytes);
    assert.equal(up.content.version, 1);
    assert.equal(up.content.sequence, 0xfedcba9876543210n);
    assert.deepEqual(
      up.content.entries.map((e) => [e.pool, e.lastResort, Buffer.from(e.keyPackage).toString("hex"), e.decoded?.cipherSuite]),
      [
        [KeyPackagePool.group, false, Buffer.from(kps[0]!).toString("hex"), "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519"],
        [KeyPackagePool.connection, true, Buffer.from(kps[1]!).toString("hex"), "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519"],
      ],
    );
    assert.equal(up.signature.length, 64);
    assert.deepEqual(up.tbs, bytes.subarray(0, bytes.length - 66)); // signature<V>: 2-byte length (64 >= 0x40) + 64
    assert.deepEqual(up.serialize(), bytes);
    assert.equal(KeyPackageUpload.peekVersion(bytes), 1);
    malformed(() => KeyPackageUpload.deserialize(Uint8Array.from([...bytes, 0])));
    const badPool = bytes.slice();
    badPool[2 + 4 + 6 + 8 + 2] = 7; // version(2) user_id(4) client_id(6) sequence(8) entries-len(2) -> pool
    malformed(() => KeyPackageUpload.deserialize(badPool));
  });

  it("answers counts on success and the status and entry index otherwise", () => {
    const ok = KeyPackageUploadResponse.ok({ group: 7, connection: 2, groupLastResort: true, connectionLastResort: false });
    const b = ok.serialize();
    assert.deepEqual(b, Uint8Array.of(0, 0, 0, 0, 0, 7, 0, 0, 0, 2, 1, 0));
    assert.deepEqual(KeyPackageUploadResponse.deserialize(b), ok);
    assert.equal(ok.toError(), undefined);
    const err = KeyPackageUploadResponse.error(new StaleSequenceError("x", 3));
    const eb = err.serialize();
    assert.deepEqual(eb, Uint8Array.of(0, KeyPackageStatus.stale_sequence, 0, 0, 0, 3));
    const back = KeyPackageUploadResponse.deserialize(eb);
    assert.ok(back.toError() instanceof StaleSequenceError);
    assert.equal(back.toError()?.entryIndex, 3);
    malformed(() => KeyPackageUploadResponse.deserialize(Uint8Array.of(0, 0, 0, 0, 0, 7, 0, 0, 0, 2, 2, 0)));
    malformed(() => KeyPackageUploadResponse.deserialize(Uint8Array.of(0, 200, 0, 0, 0, 0)));
  });
});
