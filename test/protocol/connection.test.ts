// The wire structs of the reduced-metadata connection flow (draft-robert-mimi-delivery-service
// s"Privacy preserving message delivery", draft-kohbrok-mimi-moh s"Deliver Connection Request"):
// ConnectionRequest, ConnectionOffer, SealedConnectionOffer (src/protocol/ConnectionRequest.ts,
// ConnectionOffer.ts) and the user_auth_key leaf extension (src/protocol/UserAuthKeyExtension.ts).
// Field-by-field round trips, the exact bytes of small examples (TLS presentation language with
// MLS varint length prefixes, RFC 9420 s2.1.2), and an error catalogue: every bad input is the
// family's typed error (QsMalformedError for the QS structs, MalformedError for the extension,
// which decodes through decodeExact), never a raw RangeError or TypeError.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DecodeError } from "../../src/codec/errors.js";
import { CONNECTION_OFFER_HPKE_INFO, ConnectionOffer, SealedConnectionOffer } from "../../src/protocol/ConnectionOffer.js";
import { ConnectionRequest } from "../../src/protocol/ConnectionRequest.js";
import { EXTENSION_TYPE_USER_AUTH_KEY } from "../../src/protocol/constants.js";
import { MalformedError } from "../../src/protocol/errors.js";
import { CONNECTION_REQUEST_VERSION, MAX_SEALED_OFFER_BYTES, MAX_SEALED_REFERENCE_BYTES } from "../../src/protocol/QsConstants.js";
import { QSErrorCode, QsMalformedError } from "../../src/protocol/QsErrors.js";
import { TlsWriter } from "../../src/protocol/tls.js";
import { decodeUserAuthKeyBinding, encodeUserAuthKeyBinding, findUserAuthKeyBinding } from "../../src/protocol/UserAuthKeyExtension.js";
import { mulberry32 } from "../helpers/prng.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const unhex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const fill = (n: number, v: number) => new Uint8Array(n).fill(v);
const seq = (n: number, from = 0) => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);
const te = new TextEncoder();
const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

/** Runs `f` and requires it to throw exactly an instance of `cls` (and no raw RangeError/TypeError). */
function throwsTyped(f: () => unknown, cls: abstract new (...a: never[]) => Error, what: string): Error {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof cls, `${what}: threw ${(e as Error)?.name} (${(e as Error)?.message}), expected ${cls.name}`);
    assert.ok(!(e.constructor === RangeError || e.constructor === TypeError), `${what}: a raw ${e.name}`);
    return e;
  }
  assert.fail(`${what}: no error`);
}

const qsFails = (bytes: Uint8Array, decode: (b: Uint8Array) => unknown, what: string) => {
  const e = throwsTyped(() => decode(bytes), QsMalformedError, what) as QsMalformedError;
  assert.equal(e.code, QSErrorCode.malformed, what);
};

// Small hand-built examples (values chosen so every length prefix is a 1-byte varint).
const EX_REQUEST = { ref: unhex("aabb"), offer: unhex("010203") };
const EX_OFFER = { hub: "b.test", groupId: unhex("0102"), earKey: fill(32, 0x11), uri: "mimi://a.test/u/alice" };
const EX_SEALED = { ref: fill(2, 0xab), kem: fill(3, 0xcd), ct: fill(4, 0xef) };
const EX_BINDING = { salt: seq(16, 0x00), publicKey: seq(32, 0x20) };

const exRequest = () => new ConnectionRequest(EX_REQUEST.ref, EX_REQUEST.offer);
const exOffer = () => new ConnectionOffer(EX_OFFER.hub, EX_OFFER.groupId, EX_OFFER.earKey, EX_OFFER.uri);
const exSealed = () => new SealedConnectionOffer(EX_SEALED.ref, EX_SEALED.kem, EX_SEALED.ct);

const decoders = {
  ConnectionRequest: (b: Uint8Array) => ConnectionRequest.deserialize(b),
  ConnectionOffer: (b: Uint8Array) => ConnectionOffer.deserialize(b),
  SealedConnectionOffer: (b: Uint8Array) => SealedConnectionOffer.deserialize(b),
};

describe("ConnectionRequest (draft-kohbrok-mimi-moh s\"Deliver Connection Request\")", () => {
  it("encodes the example byte for byte: uint16 version, sealed_reference<V>, sealed_offer<V>", () => {
    assert.equal(CONNECTION_REQUEST_VERSION, 1);
    assert.equal(hex(exRequest().serialize()), "0001" + "02aabb" + "03010203");
    // a 64-byte field takes the 2-byte varint form 0x4040 (0x40 is the first length that needs it)
    const long = new ConnectionRequest(fill(64, 0x5a), unhex("ff"));
    assert.equal(hex(long.serialize()), "0001" + "4040" + "5a".repeat(64) + "01ff");
    // the largest sealed_offer takes the 2-byte form as well: 4096 = 0x1000 -> 0x5000
    const max = new ConnectionRequest(unhex("01"), fill(MAX_SEALED_OFFER_BYTES, 7)).serialize();
    assert.equal(hex(max.subarray(0, 6)), "0001" + "0101" + "5000");
    assert.equal(max.length, 2 + 2 + 2 + MAX_SEALED_OFFER_BYTES);
  });

  it("round-trips field by field, including the largest allowed fields and a foreign version", () => {
    const cases = [
      exRequest(),
      new ConnectionRequest(fill(MAX_SEALED_REFERENCE_BYTES, 1), fill(MAX_SEALED_OFFER_BYTES, 2)),
      new ConnectionRequest(seq(63), seq(64)),
      // the decoder carries any version; the QS refuses unknown ones (unsupported_version)
      new ConnectionRequest(unhex("01"), unhex("02"), 0xbeef),
    ];
    for (const c of cases) {
      const bytes = c.serialize();
      const d = ConnectionRequest.deserialize(bytes);
      assert.equal(d.version, c.version);
      assert.deepEqual(d.sealedReference, c.sealedReference);
      assert.deepEqual(d.sealedOffer, c.sealedOffer);
      assert.equal(hex(d.serialize()), hex(bytes), "the encoding is canonical");
    }
    assert.equal(exRequest().version, CONNECTION_REQUEST_VERSION, "the default version");
  });

  it("refuses empty and over-long fields in the constructor and on the wire (QsMalformedError)", () => {
    throwsTyped(() => new ConnectionRequest(new Uint8Array(0), unhex("01")), QsMalformedError, "empty sealed_reference");
    throwsTyped(() => new ConnectionRequest(unhex("01"), new Uint8Array(0)), QsMalformedError, "empty sealed_offer");
    throwsTyped(() => new ConnectionRequest(fill(MAX_SEALED_REFERENCE_BYTES + 1, 0), unhex("01")), QsMalformedError, "long sealed_reference");
    throwsTyped(() => new ConnectionRequest(unhex("01"), fill(MAX_SEALED_OFFER_BYTES + 1, 0)), QsMalformedError, "long sealed_offer");
    const wire = (ref: Uint8Array, offer: Uint8Array) => new TlsWriter().u16(1).opaque(ref).opaque(offer).finish();
    qsFails(wire(new Uint8Array(0), unhex("01")), decoders.ConnectionRequest, "empty sealed_reference on the wire");
    qsFails(wire(unhex("01"), new Uint8Array(0)), decoders.ConnectionRequest, "empty sealed_offer on the wire");
    qsFails(wire(fill(MAX_SEALED_REFERENCE_BYTES + 1, 0), unhex("01")), decoders.ConnectionRequest, "long sealed_reference on the wire");
    qsFails(wire(unhex("01"), fill(MAX_SEALED_OFFER_BYTES + 1, 0)), decoders.ConnectionRequest, "long sealed_offer on the wire");
  });
});

describe("ConnectionOffer and SealedConnectionOffer (draft-robert-mimi-delivery-service s\"Privacy preserving message delivery\")", () => {
  it("encodes the offer example byte for byte: hub_domain<V>, group_id<V>, ear_key<V>, initiator_uri<V>", () => {
    const expected =
      "06" + "622e74657374" + // "b.test"
      "02" + "0102" +
      "20" + "11".repeat(32) +
      "15" + "6d696d693a2f2f" + "612e74657374" + "2f752f" + "616c696365"; // "mimi://a.test/u/alice" (21 bytes)
    assert.equal(hex(exOffer().serialize()), expected);
    assert.equal(hex(te.encode(EX_OFFER.uri)), expected.slice(-42));
  });

  it("encodes the sealed example byte for byte: key_package_ref<V>, kem_output<V>, ciphertext<V>", () => {
    assert.equal(hex(exSealed().serialize()), "02abab" + "03cdcdcd" + "04efefefef");
    assert.equal(CONNECTION_OFFER_HPKE_INFO, "MIMI connection offer");
  });

  it("round-trips offers field by field (ports, non-ASCII URIs, empty URI, longest fields)", () => {
    const cases = [
      exOffer(),
      new ConnectionOffer("hub.example.org:8443", seq(255), seq(32, 100), "mimi://a.test/u/\u00e9l\u00e8ve-\u{1f600}"),
      new ConnectionOffer("x", unhex("00"), fill(32, 0), ""),
      new ConnectionOffer("a".repeat(253), seq(64), fill(32, 9), "u".repeat(1024)),
    ];
    for (const c of cases) {
      const bytes = c.serialize();
      const d = ConnectionOffer.deserialize(bytes);
      assert.equal(d.hubDomain, c.hubDomain);
      assert.deepEqual(d.groupId, c.groupId);
      assert.deepEqual(d.earKey, c.earKey);
      assert.equal(d.initiatorUri, c.initiatorUri);
      assert.equal(hex(d.serialize()), hex(bytes));
    }
  });

  it("round-trips sealed offers field by field", () => {
    const cases = [exSealed(), new SealedConnectionOffer(seq(64), seq(256), seq(1789)), new SealedConnectionOffer(seq(32), seq(32), new Uint8Array(0))];
    for (const c of cases) {
      const bytes = c.serialize();
      const d = SealedConnectionOffer.deserialize(bytes);
      assert.deepEqual(d.keyPackageRef, c.keyPackageRef);
      assert.deepEqual(d.kemOutput, c.kemOutput);
      assert.deepEqual(d.ciphertext, c.ciphertext);
      assert.equal(hex(d.serialize()), hex(bytes));
    }
  });

  it("refuses a bad hub_domain: uppercase, empty, non-UTF-8, too long, with a path (QsMalformedError)", () => {
    for (const d of ["B.test", "b.TEST", "", "-b.test", "b.test/x", "b test", "a".repeat(254)]) {
      throwsTyped(() => new ConnectionOffer(d, EX_OFFER.groupId, EX_OFFER.earKey, EX_OFFER.uri), QsMalformedError, `constructor hub_domain ${JSON.stringify(d).slice(0, 20)}`);
    }
    const wire = (domain: Uint8Array) => new TlsWriter().opaque(domain).opaque(EX_OFFER.groupId).opaque(EX_OFFER.earKey).opaque(te.encode(EX_OFFER.uri)).finish();
    for (const d of [te.encode("B.test"), te.encode("b.Test"), new Uint8Array(0), unhex("ff2e74657374"), unhex("c0ae"), fill(254, 0x61)]) {
      qsFails(wire(d), decoders.ConnectionOffer, `wire hub_domain ${hex(d).slice(0, 16)}`);
    }
    // the lowercase form of the same name is fine
    assert.equal(ConnectionOffer.deserialize(wire(te.encode("b.test"))).hubDomain, "b.test");
  });

  it("refuses a wrong ear_key length, a bad group_id, a non-UTF-8 or over-long initiator_uri (QsMalformedError)", () => {
    for (const n of [0, 16, 31, 33, 64]) {
      throwsTyped(() => new ConnectionOffer(EX_OFFER.hub, EX_OFFER.groupId, fill(n, 1), EX_OFFER.uri), QsMalformedError, `constructor ear_key ${n}`);
    }
    throwsTyped(() => new ConnectionOffer(EX_OFFER.hub, new Uint8Array(0), EX_OFFER.earKey, EX_OFFER.uri), QsMalformedError, "empty group_id");
    throwsTyped(() => new ConnectionOffer(EX_OFFER.hub, fill(256, 1), EX_OFFER.earKey, EX_OFFER.uri), QsMalformedError, "long group_id");
    throwsTyped(() => new ConnectionOffer(EX_OFFER.hub, EX_OFFER.groupId, EX_OFFER.earKey, "u".repeat(1025)), QsMalformedError, "long initiator_uri");
    // 342 three-byte characters: 1026 UTF-8 bytes, under 1025 UTF-16 units
    throwsTyped(() => new ConnectionOffer(EX_OFFER.hub, EX_OFFER.groupId, EX_OFFER.earKey, "\u20ac".repeat(342)), QsMalformedError, "long initiator_uri in bytes");

    const wire = (o: { groupId?: Uint8Array; earKey?: Uint8Array; uri?: Uint8Array }) =>
      new TlsWriter()
        .opaque(te.encode(EX_OFFER.hub))
        .opaque(o.groupId ?? EX_OFFER.groupId)
        .opaque(o.earKey ?? EX_OFFER.earKey)
        .opaque(o.uri ?? te.encode(EX_OFFER.uri))
        .finish();
    for (const n of [0, 1, 31, 33, 255]) qsFails(wire({ earKey: fill(n, 1) }), decoders.ConnectionOffer, `wire ear_key ${n}`);
    qsFails(wire({ groupId: new Uint8Array(0) }), decoders.ConnectionOffer, "wire empty group_id");
    qsFails(wire({ groupId: fill(256, 1) }), decoders.ConnectionOffer, "wire long group_id");
    qsFails(wire({ uri: fill(1025, 0x61) }), decoders.ConnectionOffer, "wire long initiator_uri");
    // invalid UTF-8: a lone continuation byte, an overlong "/", a truncated sequence, a surrogate
    for (const bad of [unhex("ff"), unhex("80"), unhex("6d69c0af"), unhex("e282"), unhex("eda080")]) {
      const e = throwsTyped(() => ConnectionOffer.deserialize(wire({ uri: bad })), QsMalformedError, `initiator_uri ${hex(bad)}`);
      assert.match(e.message, /initiator_uri/);
    }
    // exactly 1024 bytes is the limit, and fine
    assert.equal(ConnectionOffer.deserialize(wire({ uri: fill(1024, 0x61) })).initiatorUri.length, 1024);
  });

  it("refuses bad sealed-offer field lengths (QsMalformedError)", () => {
    throwsTyped(() => new SealedConnectionOffer(new Uint8Array(0), EX_SEALED.kem, EX_SEALED.ct), QsMalformedError, "empty key_package_ref");
    throwsTyped(() => new SealedConnectionOffer(fill(65, 0), EX_SEALED.kem, EX_SEALED.ct), QsMalformedError, "long key_package_ref");
    const wire = (ref: Uint8Array, kem: Uint8Array, ct: Uint8Array) => new TlsWriter().opaque(ref).opaque(kem).opaque(ct).finish();
    qsFails(wire(new Uint8Array(0), EX_SEALED.kem, EX_SEALED.ct), decoders.SealedConnectionOffer, "wire empty key_package_ref");
    qsFails(wire(fill(65, 0), EX_SEALED.kem, EX_SEALED.ct), decoders.SealedConnectionOffer, "wire long key_package_ref");
    qsFails(wire(EX_SEALED.ref, fill(257, 0), EX_SEALED.ct), decoders.SealedConnectionOffer, "wire long kem_output");
    qsFails(wire(EX_SEALED.ref, EX_SEALED.kem, fill(1790, 0)), decoders.SealedConnectionOffer, "wire long ciphertext");
  });
});

describe("error catalogue: truncation, trailing bytes, bad length prefixes, mutations", () => {
  const samples: { name: keyof typeof decoders; bytes: Uint8Array }[] = [
    { name: "ConnectionRequest", bytes: exRequest().serialize() },
    { name: "ConnectionRequest", bytes: new ConnectionRequest(fill(70, 3), fill(300, 4)).serialize() },
    { name: "ConnectionOffer", bytes: exOffer().serialize() },
    { name: "SealedConnectionOffer", bytes: exSealed().serialize() },
    { name: "SealedConnectionOffer", bytes: new SealedConnectionOffer(seq(32), seq(32), seq(100)).serialize() },
  ];

  it("every proper prefix of a valid encoding is refused (QsMalformedError), the whole is accepted", () => {
    for (const s of samples) {
      const decode = decoders[s.name];
      decode(s.bytes);
      for (let n = 0; n < s.bytes.length; n++) qsFails(s.bytes.subarray(0, n), decode, `${s.name} cut to ${n}/${s.bytes.length}`);
    }
  });

  it("trailing bytes are refused (QsMalformedError)", () => {
    for (const s of samples) {
      for (const tail of [unhex("00"), unhex("ff"), fill(5, 0)]) qsFails(cat(s.bytes, tail), decoders[s.name], `${s.name} + ${hex(tail)}`);
    }
  });

  it("non-minimal and invalid varint length prefixes are refused (QsMalformedError)", () => {
    // sealed_reference "aabb" as 0x4002 (2-byte form of 2) and 0x80000002 (4-byte form), and the reserved 0b11 prefix
    for (const prefix of ["4002", "80000002", "c0000002"]) {
      qsFails(unhex("0001" + prefix + "aabb" + "03010203"), decoders.ConnectionRequest, `prefix ${prefix}`);
    }
    qsFails(unhex("4006" + "622e74657374" + hex(exOffer().serialize()).slice(14)), decoders.ConnectionOffer, "hub_domain prefix 0x4006");
    // a length that runs past the end
    qsFails(unhex("0001" + "7f" + "aabb"), decoders.ConnectionRequest, "length past the end");
  });

  it("a non-byte-array input is refused with QsMalformedError", () => {
    for (const bad of ["0001", [0, 1, 1, 1, 1, 1], undefined, null, 5]) {
      for (const [name, decode] of Object.entries(decoders)) throwsTyped(() => decode(bad as unknown as Uint8Array), QsMalformedError, `${name}(${String(bad)})`);
    }
  });

  it("seeded mutations: each decoder either accepts canonically or throws QsMalformedError", () => {
    const rnd = mulberry32(0xc0ffee);
    let accepted = 0;
    let refused = 0;
    for (const s of samples) {
      for (let i = 0; i < 400; i++) {
        const m = Uint8Array.from(s.bytes);
        const flips = 1 + Math.floor(rnd() * 3);
        for (let k = 0; k < flips; k++) m[Math.floor(rnd() * m.length)] = Math.floor(rnd() * 256);
        const input = rnd() < 0.2 ? m.subarray(0, Math.floor(rnd() * m.length)) : m;
        let v: { serialize(): Uint8Array };
        try {
          v = decoders[s.name](input);
        } catch (e) {
          assert.ok(e instanceof QsMalformedError, `${s.name} ${hex(input)}: threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
          refused++;
          continue;
        }
        assert.equal(hex(v.serialize()), hex(input), `${s.name}: accepted input re-encodes to itself`);
        accepted++;
      }
    }
    assert.ok(refused > 0 && accepted > 0, `both outcomes occur (accepted ${accepted}, refused ${refused})`);
  });
});

describe("user_auth_key leaf extension (UserAuthKeyBinding, type 0xF0A3)", () => {
  it("encodes the example byte for byte: salt<V> (16 bytes), user_auth_key<V> (32 bytes)", () => {
    assert.equal(EXTENSION_TYPE_USER_AUTH_KEY, 0xf0a3);
    const bytes = encodeUserAuthKeyBinding(EX_BINDING);
    assert.equal(hex(bytes), "10" + "000102030405060708090a0b0c0d0e0f" + "20" + "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f");
    assert.equal(bytes.length, 50);
  });

  it("round-trips field by field", () => {
    for (let i = 0; i < 8; i++) {
      const b = { salt: seq(16, i * 31), publicKey: seq(32, i * 17 + 3) };
      const d = decodeUserAuthKeyBinding(encodeUserAuthKeyBinding(b));
      assert.deepEqual(d.salt, b.salt);
      assert.deepEqual(d.publicKey, b.publicKey);
    }
  });

  it("the encoder refuses wrong lengths with a RangeError (caller error, not wire input)", () => {
    for (const [s, k] of [[15, 32], [17, 32], [16, 31], [16, 33], [0, 0]] as const) {
      assert.throws(() => encodeUserAuthKeyBinding({ salt: fill(s, 1), publicKey: fill(k, 2) }), RangeError, `salt ${s} key ${k}`);
    }
  });

  it("the decoder refuses truncation, trailing bytes and wrong lengths with MalformedError (decodeExact), never a RangeError", () => {
    const good = encodeUserAuthKeyBinding(EX_BINDING);
    const bad: [string, Uint8Array][] = [];
    for (let n = 0; n < good.length; n++) bad.push([`cut to ${n}`, good.subarray(0, n)]);
    bad.push(["trailing byte", cat(good, unhex("00"))]);
    const w = (salt: Uint8Array, key: Uint8Array) => new TlsWriter().opaque(salt).opaque(key).finish();
    bad.push(["salt 15", w(fill(15, 1), fill(32, 2))], ["salt 17", w(fill(17, 1), fill(32, 2))], ["key 31", w(fill(16, 1), fill(31, 2))], ["key 33", w(fill(16, 1), fill(33, 2))]);
    bad.push(["empty fields", w(new Uint8Array(0), new Uint8Array(0))], ["non-minimal salt length", unhex("4010" + hex(good).slice(2))]);
    for (const [what, b] of bad) {
      const e = throwsTyped(() => decodeUserAuthKeyBinding(b), MalformedError, what);
      assert.ok(e instanceof DecodeError, `${what}: MalformedError is a DecodeError`);
    }
  });

  it("findUserAuthKeyBinding: undefined without the extension, the binding with one, \"malformed\" otherwise", () => {
    const good = { extensionType: EXTENSION_TYPE_USER_AUTH_KEY, extensionData: encodeUserAuthKeyBinding(EX_BINDING) };
    const other = [
      { extensionType: 0xf0a0, extensionData: unhex("0102") },
      { extensionType: "application_id", extensionData: unhex("03") },
      // the type as a string is not the private-use number
      { extensionType: String(EXTENSION_TYPE_USER_AUTH_KEY), extensionData: good.extensionData },
    ];
    assert.equal(findUserAuthKeyBinding([]), undefined);
    assert.equal(findUserAuthKeyBinding(other), undefined);
    const found = findUserAuthKeyBinding([...other, good]);
    assert.ok(found !== undefined && found !== "malformed");
    assert.deepEqual(found.salt, EX_BINDING.salt);
    assert.deepEqual(found.publicKey, EX_BINDING.publicKey);

    // two extensions: malformed, even when both are valid (and identical)
    assert.equal(findUserAuthKeyBinding([good, good]), "malformed");
    assert.equal(findUserAuthKeyBinding([good, ...other, { extensionType: EXTENSION_TYPE_USER_AUTH_KEY, extensionData: encodeUserAuthKeyBinding({ salt: fill(16, 9), publicKey: fill(32, 9) }) }]), "malformed");
    // one extension that does not decode: malformed
    const data = (b: Uint8Array) => [...other, { extensionType: EXTENSION_TYPE_USER_AUTH_KEY, extensionData: b }];
    const w = (s: number, k: number) => new TlsWriter().opaque(fill(s, 1)).opaque(fill(k, 2)).finish();
    for (const b of [new Uint8Array(0), w(15, 32), w(17, 32), w(16, 31), w(16, 33), cat(good.extensionData, unhex("00")), good.extensionData.subarray(0, 49), unhex("ff")]) {
      assert.equal(findUserAuthKeyBinding(data(b)), "malformed", `data ${hex(b).slice(0, 20)}`);
    }
  });
});
