// draft-barnes-mimi-protocol s7.10 "Find internal address": enum values as in the draft, the
// exact layout of IdentifierRequest (with its select arms), ProfileField, UserProfile and
// IdentifierResponse, round trips, our profile's stable URIs, the answer-code errors, and the
// error catalogue of strict decoding, with a bounded mutation test per struct.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import {
  AmbiguousIdentifierError,
  FIELD_SOURCE_MIMI_DS,
  FieldSource,
  IDENTIFIER_QUERY_ERRORS,
  IdentifierNotFoundError,
  IdentifierQueryCode,
  IdentifierQueryError,
  IdentifierQueryForbiddenError,
  IdentifierRequest,
  IdentifierResponse,
  InconsistentIdentifierResponseError,
  InvalidIdentifierUriError,
  KEY_PACKAGE_TOKEN_FIELD,
  MAX_FIELD_VALUE_BYTES,
  MAX_FOUND_PROFILES,
  MAX_NAME_BYTES,
  MAX_PROFILE_FIELDS,
  MAX_RESPONSE_URIS,
  MAX_SEARCH_VALUE_BYTES,
  ProfileField,
  SearchIdentifierType,
  UnknownFieldSourceError,
  UnknownIdentifierQueryCodeError,
  UnknownSearchIdentifierTypeError,
  UnsupportedSearchFieldError,
  UserProfile,
  identifierQueryCodeOf,
  identifierQueryErrorFor,
  mimiUserUri,
  parseMimiUserUri,
} from "../../src/protocol/IdentifierQuery.js";
import {
  MimiDecodeError,
  MimiInvalidUtf8Error,
  MimiLimitExceededError,
  MimiMalformedError,
  MimiTrailingBytesError,
  MimiTruncatedError,
} from "../../src/protocol/MimiDirectory.js";
import { TruncatedError } from "../../src/codec/errors.js";
import { bytes, opaque, prng, te, throwsDecode, vlen } from "./fixtures.js";

const TOKEN = Uint8Array.from({ length: 32 }, (_, i) => i);
const URI = "mimi://a.test/u/alice%40a.test";
const fieldBytes = (src: number, name: string | Uint8Array, value: Uint8Array) => bytes(src, opaque(name), opaque(value));
const profileBytes = (uri: string | Uint8Array, ...fields: Uint8Array[]) => bytes(opaque(uri), opaque(bytes(...fields)));
const responseBytes = (code: number, uris: Uint8Array[], profiles: Uint8Array[]) => bytes(code, opaque(bytes(...uris)), opaque(bytes(...profiles)));

const tokenProfile = () => new UserProfile(URI, [new ProfileField(FIELD_SOURCE_MIMI_DS, KEY_PACKAGE_TOKEN_FIELD, TOKEN)]);

describe("draft-barnes s7.10 Find internal address", () => {
  it("SearchIdentifierType, IdentifierQueryCode and FieldSource carry the draft's names and values", () => {
    const named = (e: object) => Object.entries(e).filter(([, v]) => typeof v === "number");
    assert.deepEqual(named(SearchIdentifierType), [
      ["reserved", 0],
      ["handle", 1],
      ["nick", 2],
      ["email", 3],
      ["phone", 4],
      ["partialName", 5],
      ["wholeProfile", 6],
      ["oidcStdClaim", 7],
      ["vcardField", 8],
    ]);
    assert.deepEqual(named(IdentifierQueryCode), [
      ["success", 0],
      ["notFound", 1],
      ["ambiguous", 2],
      ["forbidden", 3],
      ["unsupportedField", 4],
    ]);
    assert.deepEqual(named(FieldSource), [
      ["reserved", 0],
      ["oidcStdClaim", 7],
      ["vcardField", 8],
    ]);
    assert.equal(FIELD_SOURCE_MIMI_DS, 0xf0);
    assert.equal(KEY_PACKAGE_TOKEN_FIELD, "key_package_token");
  });

  describe("layout, byte for byte", () => {
    it("IdentifierRequest: searchType, searchValue, and the select arm only for oidcStdClaim / vcardField", () => {
      assert.deepEqual(IdentifierRequest.handle("alice").serialize(), bytes(1, opaque("alice")));
      assert.deepEqual(new IdentifierRequest(SearchIdentifierType.email, "a@b.example").serialize(), bytes(3, opaque("a@b.example")));
      assert.deepEqual(new IdentifierRequest(SearchIdentifierType.oidcStdClaim, "Alice", "given_name").serialize(), bytes(7, opaque("Alice"), opaque("given_name")));
      assert.deepEqual(new IdentifierRequest(SearchIdentifierType.vcardField, "+1 555", "TEL").serialize(), bytes(8, opaque("+1 555"), opaque("TEL")));
    });

    it("ProfileField, UserProfile and IdentifierResponse", () => {
      const f = fieldBytes(0xf0, "key_package_token", TOKEN);
      assert.deepEqual(new ProfileField(FIELD_SOURCE_MIMI_DS, KEY_PACKAGE_TOKEN_FIELD, TOKEN).serialize(), f);
      assert.deepEqual(tokenProfile().serialize(), profileBytes(URI, f));
      assert.deepEqual(IdentifierResponse.success(tokenProfile()).serialize(), responseBytes(0, [opaque(URI)], [profileBytes(URI, f)]));
      assert.deepEqual(IdentifierResponse.error(IdentifierQueryCode.notFound).serialize(), Uint8Array.of(1, 0, 0));
      assert.deepEqual(IdentifierResponse.error(IdentifierQueryCode.forbidden).serialize(), Uint8Array.of(3, 0, 0));
    });
  });

  it("round-trips every search type, profiles with many fields, and ambiguous answers", () => {
    for (const t of Object.values(SearchIdentifierType).filter((v): v is SearchIdentifierType => typeof v === "number" && v !== 0)) {
      const sel = t === SearchIdentifierType.oidcStdClaim || t === SearchIdentifierType.vcardField ? "name" : undefined;
      const r = new IdentifierRequest(t, "z\u00f6e \ud83d\ude00", sel);
      const back = IdentifierRequest.deserialize(r.serialize());
      assert.deepEqual(back, r);
      assert.equal(back.claimName, t === SearchIdentifierType.oidcStdClaim ? "name" : undefined);
      assert.equal(back.fieldName, t === SearchIdentifierType.vcardField ? "name" : undefined);
    }
    // a leading BOM and an empty value are kept as sent
    assert.equal(IdentifierRequest.deserialize(IdentifierRequest.handle("\ufeffx").serialize()).searchValue, "\ufeffx");
    assert.equal(IdentifierRequest.deserialize(IdentifierRequest.handle("").serialize()).searchValue, "");
    const fields = [
      new ProfileField(FieldSource.oidcStdClaim, "name", te.encode("Alice")),
      new ProfileField(FieldSource.vcardField, "TEL", new Uint8Array(0)),
      new ProfileField(FIELD_SOURCE_MIMI_DS, KEY_PACKAGE_TOKEN_FIELD, TOKEN),
    ];
    const p1 = new UserProfile("mimi://a.test/u/alice", fields);
    const p2 = new UserProfile("im:bob@b.example", []);
    const amb = new IdentifierResponse(IdentifierQueryCode.ambiguous, [p1.stableUri, p2.stableUri], [p1, p2]);
    const back = IdentifierResponse.deserialize(amb.serialize());
    assert.deepEqual(back, amb);
    assert.deepEqual(back.foundProfiles[0]!.field(FIELD_SOURCE_MIMI_DS, KEY_PACKAGE_TOKEN_FIELD)?.fieldValue, TOKEN);
    assert.equal(back.foundProfiles[0]!.field(FieldSource.vcardField, KEY_PACKAGE_TOKEN_FIELD), undefined);
    assert.deepEqual(UserProfile.deserialize(p1.serialize()), p1);
    assert.deepEqual(ProfileField.deserialize(fields[1]!.serialize()), fields[1]);
    // a profile field copies its value: the caller's buffer can be reused
    const buf = TOKEN.slice();
    const f = new ProfileField(FIELD_SOURCE_MIMI_DS, "x", buf);
    buf.fill(0);
    assert.deepEqual(f.fieldValue, TOKEN);
  });

  describe("answer codes are typed errors", () => {
    it("one error class per non-success code, and back from the wire", () => {
      const expect: [IdentifierQueryCode, new (m: string) => IdentifierQueryError][] = [
        [IdentifierQueryCode.notFound, IdentifierNotFoundError],
        [IdentifierQueryCode.ambiguous, AmbiguousIdentifierError],
        [IdentifierQueryCode.forbidden, IdentifierQueryForbiddenError],
        [IdentifierQueryCode.unsupportedField, UnsupportedSearchFieldError],
      ];
      assert.equal(Object.keys(IDENTIFIER_QUERY_ERRORS).length, expect.length);
      for (const [code, cls] of expect) {
        const e = identifierQueryErrorFor(code as Exclude<IdentifierQueryCode, 0>);
        assert.ok(e instanceof cls && e instanceof IdentifierQueryError);
        assert.equal(e.code, code);
        assert.equal(e.reason, IdentifierQueryCode[code]);
        assert.equal(e.name, cls.name);
        const r = IdentifierResponse.deserialize(IdentifierResponse.error(code as Exclude<IdentifierQueryCode, 0>).serialize());
        assert.ok(r.toError() instanceof cls);
      }
      assert.equal(IdentifierResponse.success(tokenProfile()).toError(), undefined);
    });

    it("a server maps what it caught to a code: typed keep theirs, undecodable is unsupportedField, the rest forbidden", () => {
      assert.equal(identifierQueryCodeOf(new IdentifierNotFoundError("x")), IdentifierQueryCode.notFound);
      assert.equal(identifierQueryCodeOf(new TruncatedError("x")), IdentifierQueryCode.unsupportedField);
      let decodeErr: unknown;
      try {
        IdentifierRequest.deserialize(Uint8Array.of(1));
      } catch (e) {
        decodeErr = e;
      }
      assert.equal(identifierQueryCodeOf(decodeErr), IdentifierQueryCode.unsupportedField);
      assert.equal(identifierQueryCodeOf(new Error("store down")), IdentifierQueryCode.forbidden);
      assert.equal(identifierQueryCodeOf(undefined), IdentifierQueryCode.forbidden);
    });
  });

  describe("stable URIs of this profile: mimi://<domain>/u/<userId>", () => {
    it("percent-encodes the user id and parses back only the canonical spelling", () => {
      for (const id of ["alice", "bob@b.example", "z\u00f6e/x?y#z", "a b%20"]) {
        const uri = mimiUserUri("A.Test", id);
        assert.ok(uri.startsWith("mimi://a.test/u/"));
        assert.deepEqual(parseMimiUserUri(uri), { domain: "a.test", userId: id });
        // and the URI is a valid IdentifierUri
        assert.equal(UserProfile.deserialize(new UserProfile(uri, []).serialize()).stableUri, uri);
      }
      assert.equal(mimiUserUri("a.test:8443", "x"), "mimi://a.test:8443/u/x");
      for (const bad of ["mimi://a.test/u/", "mimi://a.test/u/a/b", "mimi://a.test/x/alice", "https://a.test/u/alice", "mimi://a.test/u/alice?x", "mimi://a.test/u/alice#f", "mimi://A.test/u/alice", "mimi://a.test/u/%61lice", "mimi://a.test/u/%zz", "mimi://u@a.test/u/alice", "mimi:///u/alice", "alice", ""]) {
        assert.equal(parseMimiUserUri(bad), undefined, bad);
      }
      throwsDecode(() => mimiUserUri("a test", "x"), InvalidIdentifierUriError, "invalid_uri");
      throwsDecode(() => mimiUserUri("a.test", ""), InvalidIdentifierUriError, "invalid_uri");
    });
  });

  describe("error catalogue (decode)", () => {
    const f = fieldBytes(0xf0, "key_package_token", TOKEN);
    const goodProfile = profileBytes(URI, f);
    type Case = [string, (b: Uint8Array) => unknown, Uint8Array, new (...a: never[]) => MimiDecodeError, string];
    const req = (b: Uint8Array) => IdentifierRequest.deserialize(b);
    const res = (b: Uint8Array) => IdentifierResponse.deserialize(b);
    const prof = (b: Uint8Array) => UserProfile.deserialize(b);
    const fld = (b: Uint8Array) => ProfileField.deserialize(b);
    const cases: Case[] = [
      // IdentifierRequest
      ["request: empty", req, new Uint8Array(0), MimiTruncatedError, "truncated"],
      ["request: no searchValue", req, Uint8Array.of(1), MimiTruncatedError, "truncated"],
      ["request: oidcStdClaim without claimName", req, bytes(7, opaque("x")), MimiTruncatedError, "truncated"],
      ["request: vcardField without fieldName", req, bytes(8, opaque("x")), MimiTruncatedError, "truncated"],
      ["request: handle followed by a selector", req, bytes(1, opaque("x"), opaque("y")), MimiTrailingBytesError, "trailing_bytes"],
      ["request: reserved searchType 0", req, bytes(0, opaque("x")), UnknownSearchIdentifierTypeError, "unknown_enum_value"],
      ["request: undefined searchType 9", req, bytes(9, opaque("x")), UnknownSearchIdentifierTypeError, "unknown_enum_value"],
      ["request: undefined searchType 255", req, bytes(255, opaque("x")), UnknownSearchIdentifierTypeError, "unknown_enum_value"],
      ["request: searchValue not UTF-8", req, bytes(1, opaque(Uint8Array.of(0x61, 0x80))), MimiInvalidUtf8Error, "invalid_utf8"],
      ["request: claimName not UTF-8", req, bytes(7, opaque("x"), opaque(Uint8Array.of(0xf8, 0x88, 0x80, 0x80, 0x80))), MimiInvalidUtf8Error, "invalid_utf8"],
      ["request: searchValue over its limit", req, bytes(1, vlen(MAX_SEARCH_VALUE_BYTES + 1), new Uint8Array(MAX_SEARCH_VALUE_BYTES + 1).fill(0x61)), MimiLimitExceededError, "limit_exceeded"],
      ["request: fieldName over its limit", req, bytes(8, opaque("x"), vlen(MAX_NAME_BYTES + 1), new Uint8Array(MAX_NAME_BYTES + 1).fill(0x61)), MimiLimitExceededError, "limit_exceeded"],
      ["request: non-minimal length", req, bytes(1, 0x40, 0x01, 0x61), MimiMalformedError, "malformed"],
      // ProfileField
      ["field: reserved fieldSource 0", fld, fieldBytes(0, "n", TOKEN), UnknownFieldSourceError, "unknown_enum_value"],
      ["field: undefined fieldSource 1", fld, fieldBytes(1, "n", TOKEN), UnknownFieldSourceError, "unknown_enum_value"],
      ["field: undefined fieldSource 0xF1", fld, fieldBytes(0xf1, "n", TOKEN), UnknownFieldSourceError, "unknown_enum_value"],
      ["field: fieldName not UTF-8", fld, fieldBytes(0xf0, Uint8Array.of(0xc3), TOKEN), MimiInvalidUtf8Error, "invalid_utf8"],
      ["field: fieldValue over its limit", fld, bytes(0xf0, opaque("n"), vlen(MAX_FIELD_VALUE_BYTES + 1), new Uint8Array(MAX_FIELD_VALUE_BYTES + 1)), MimiLimitExceededError, "limit_exceeded"],
      ["field: fieldValue cut short", fld, bytes(0xf0, opaque("n"), vlen(32), TOKEN.subarray(0, 31)), MimiTruncatedError, "truncated"],
      // UserProfile
      ["profile: relative stableUri", prof, profileBytes("alice", f), InvalidIdentifierUriError, "invalid_uri"],
      ["profile: empty stableUri", prof, profileBytes("", f), InvalidIdentifierUriError, "invalid_uri"],
      ["profile: stableUri with a space", prof, profileBytes("mimi://a.test/u/a b", f), InvalidIdentifierUriError, "invalid_uri"],
      ["profile: stableUri not UTF-8", prof, profileBytes(bytes(te.encode("mimi://a.test/"), 0xff), f), MimiInvalidUtf8Error, "invalid_utf8"],
      ["profile: too many fields", prof, profileBytes(URI, ...Array.from({ length: MAX_PROFILE_FIELDS + 1 }, () => fieldBytes(7, "n", new Uint8Array(0)))), MimiLimitExceededError, "limit_exceeded"],
      ["profile: trailing byte", prof, bytes(goodProfile, 0), MimiTrailingBytesError, "trailing_bytes"],
      // IdentifierResponse
      ["response: empty", res, new Uint8Array(0), MimiTruncatedError, "truncated"],
      ["response: code only", res, Uint8Array.of(1), MimiTruncatedError, "truncated"],
      ["response: undefined code 5", res, Uint8Array.of(5, 0, 0), UnknownIdentifierQueryCodeError, "unknown_enum_value"],
      ["response: undefined code 255", res, Uint8Array.of(255, 0, 0), UnknownIdentifierQueryCodeError, "unknown_enum_value"],
      ["response: trailing byte", res, Uint8Array.of(1, 0, 0, 0), MimiTrailingBytesError, "trailing_bytes"],
      ["response: notFound listing a uri", res, responseBytes(1, [opaque(URI)], []), InconsistentIdentifierResponseError, "inconsistent_response"],
      ["response: forbidden listing a profile", res, responseBytes(3, [], [goodProfile]), InconsistentIdentifierResponseError, "inconsistent_response"],
      ["response: unsupportedField listing a profile", res, responseBytes(4, [opaque(URI)], [goodProfile]), InconsistentIdentifierResponseError, "inconsistent_response"],
      ["response: relative uri", res, responseBytes(0, [opaque("u/alice")], [goodProfile]), InvalidIdentifierUriError, "invalid_uri"],
      ["response: too many uris", res, responseBytes(0, Array.from({ length: MAX_RESPONSE_URIS + 1 }, () => opaque(URI)), []), MimiLimitExceededError, "limit_exceeded"],
      ["response: too many profiles", res, responseBytes(2, [], Array.from({ length: MAX_FOUND_PROFILES + 1 }, () => goodProfile)), MimiLimitExceededError, "limit_exceeded"],
      ["response: bad field inside a profile", res, responseBytes(0, [opaque(URI)], [profileBytes(URI, fieldBytes(0, "n", TOKEN))]), UnknownFieldSourceError, "unknown_enum_value"],
      ["response: profile vector cut short", res, bytes(0, 0, vlen(goodProfile.length), goodProfile.subarray(0, goodProfile.length - 1)), MimiTruncatedError, "truncated"],
    ];
    for (const [label, decode, input, cls, reason] of cases) {
      it(`${label} -> ${cls.name}`, () => {
        throwsDecode(() => decode(input), cls, reason, label);
      });
    }

    it("names the outermost struct and the field", () => {
      const e = throwsDecode(() => res(responseBytes(0, [opaque(URI)], [profileBytes(URI, fieldBytes(9, "n", TOKEN))])), UnknownFieldSourceError, "unknown_enum_value") as UnknownFieldSourceError;
      assert.equal(e.struct, "IdentifierResponse");
      assert.equal(e.field, "fieldSource");
      assert.equal(e.value, 9);
      const r = throwsDecode(() => req(bytes(200, opaque("x"))), UnknownSearchIdentifierTypeError, "unknown_enum_value") as UnknownSearchIdentifierTypeError;
      assert.equal(r.struct, "IdentifierRequest");
      assert.equal(r.value, 200);
    });

    it("every strict prefix of a success response is truncated", () => {
      const full = IdentifierResponse.success(tokenProfile()).serialize();
      for (let n = 0; n < full.length; n++) throwsDecode(() => res(full.subarray(0, n)), MimiTruncatedError, "truncated", `prefix ${n}`);
    });
  });

  describe("error catalogue (construct)", () => {
    it("refuses values that would not decode", () => {
      throwsDecode(() => new IdentifierRequest(SearchIdentifierType.reserved, "x"), UnknownSearchIdentifierTypeError, "unknown_enum_value");
      throwsDecode(() => new IdentifierRequest(12 as SearchIdentifierType, "x"), UnknownSearchIdentifierTypeError, "unknown_enum_value");
      throwsDecode(() => new IdentifierRequest(SearchIdentifierType.handle, "x", "claim"), MimiMalformedError, "malformed");
      throwsDecode(() => new IdentifierRequest(SearchIdentifierType.oidcStdClaim, "x"), MimiMalformedError, "malformed");
      throwsDecode(() => IdentifierRequest.handle("a\udc00"), MimiInvalidUtf8Error, "invalid_utf8");
      throwsDecode(() => IdentifierRequest.handle("x".repeat(MAX_SEARCH_VALUE_BYTES + 1)), MimiLimitExceededError, "limit_exceeded");
      throwsDecode(() => IdentifierRequest.handle(42 as unknown as string), MimiMalformedError, "malformed");
      throwsDecode(() => new ProfileField(FieldSource.reserved as never, "n", TOKEN), UnknownFieldSourceError, "unknown_enum_value");
      throwsDecode(() => new ProfileField(FIELD_SOURCE_MIMI_DS, "n", new Uint8Array(MAX_FIELD_VALUE_BYTES + 1)), MimiLimitExceededError, "limit_exceeded");
      throwsDecode(() => new ProfileField(FIELD_SOURCE_MIMI_DS, "n", "token" as unknown as Uint8Array), MimiMalformedError, "malformed");
      throwsDecode(() => new UserProfile("not a uri", []), InvalidIdentifierUriError, "invalid_uri");
      throwsDecode(() => new IdentifierResponse(IdentifierQueryCode.notFound, [URI], []), InconsistentIdentifierResponseError, "inconsistent_response");
      throwsDecode(() => new IdentifierResponse(9 as IdentifierQueryCode, [], []), UnknownIdentifierQueryCodeError, "unknown_enum_value");
    });
  });

  it("bounded mutation: every struct decodes canonically or fails with a MimiDecodeError", () => {
    const samples: [string, Uint8Array, (b: Uint8Array) => { serialize(): Uint8Array }][] = [
      ["IdentifierRequest", new IdentifierRequest(SearchIdentifierType.vcardField, "alice", "NICKNAME").serialize(), (b) => IdentifierRequest.deserialize(b)],
      ["IdentifierResponse", IdentifierResponse.success(tokenProfile()).serialize(), (b) => IdentifierResponse.deserialize(b)],
      ["UserProfile", tokenProfile().serialize(), (b) => UserProfile.deserialize(b)],
    ];
    const rnd = prng(0xd15c);
    for (const [name, base, decode] of samples) {
      let decoded = 0;
      for (let i = 0; i < 2000; i++) {
        const m = base.slice();
        const flips = 1 + (rnd() % 3);
        for (let k = 0; k < flips; k++) m[rnd() % m.length] = rnd() & 0xff;
        const input = rnd() % 4 === 0 ? m.subarray(0, rnd() % m.length) : m;
        try {
          assert.deepEqual(decode(input).serialize(), input, `${name}: a decoded input re-encodes to the same bytes`);
          decoded++;
        } catch (e) {
          assert.ok(e instanceof MimiDecodeError, `${name}: unexpected ${(e as Error).constructor.name}: ${(e as Error).message}`);
        }
      }
      assert.ok(decoded > 0, `${name}: some mutations still decode`);
    }
  });
});
