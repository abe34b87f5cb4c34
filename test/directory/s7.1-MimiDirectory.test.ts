// draft-barnes-mimi-protocol s7.1 "MIMI URL directory": enum values as in the draft, the exact
// byte layout, round trips, and the error catalogue of strict decoding (one typed error per
// failure point, COMMON.md), plus a bounded mutation test: every mutated input either decodes to
// something that re-encodes to the same bytes or fails with a MimiDecodeError, nothing else.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import {
  DuplicateMimiPrimitiveError,
  HttpMethod,
  InvalidHttpsUriError,
  MAX_DIRECTORY_ENTRIES,
  MAX_HTTPS_URI_BYTES,
  MimiDecodeError,
  MimiDirectory,
  MimiDirectoryEntry,
  MimiInvalidUtf8Error,
  MimiLimitExceededError,
  MimiMalformedError,
  MimiPrimitive,
  MimiTrailingBytesError,
  MimiTruncatedError,
  UnknownHttpMethodError,
  UnknownMimiPrimitiveError,
} from "../../src/protocol/MimiDirectory.js";
import { bytes, opaque, prng, te, throwsDecode, vlen } from "./fixtures.js";

const IQ = "http://a.test/identifier_query";
const CK = "https://a.test/connection_key_packages";

/** A MimiDirectoryEntry written by hand: primitive(1) method(1) opaque uri<V>. */
const entryBytes = (p: number, m: number, uri: Uint8Array | string) => bytes(p, m, opaque(uri));
/** A MimiDirectory written by hand: MimiDirectoryEntry directory<V>. */
const dirBytes = (...entries: Uint8Array[]) => opaque(bytes(...entries));

describe("draft-barnes s7.1 MIMI URL directory", () => {
  it("HttpMethod and MimiPrimitive carry the draft's names and values", () => {
    assert.deepEqual({ get: HttpMethod.get, post: HttpMethod.post }, { get: 1, post: 2 });
    assert.deepEqual(
      Object.entries(MimiPrimitive).filter(([, v]) => typeof v === "number"),
      [
        ["requestConsent", 1],
        ["updateConsent", 2],
        ["claimKeyMaterial", 3],
        ["updateRoom", 4],
        ["provisionalMessage", 5],
        ["fanoutMessage", 6],
        ["claimGroupInfo", 7],
        ["downloadFile", 8],
        ["reportAbuse", 9],
        ["identifierQuery", 10],
      ],
    );
  });

  it("encodes MimiDirectory as directory<V> of (primitive, method, opaque uri<V>), byte for byte", () => {
    const d = new MimiDirectory([new MimiDirectoryEntry(MimiPrimitive.identifierQuery, HttpMethod.post, IQ), new MimiDirectoryEntry(MimiPrimitive.claimKeyMaterial, HttpMethod.post, CK)]);
    const expected = dirBytes(entryBytes(10, 2, IQ), entryBytes(3, 2, CK));
    assert.deepEqual(d.serialize(), expected);
    // a URI of 64+ bytes takes a two-byte length prefix
    const long = `https://a.test/${"x".repeat(100)}`;
    assert.deepEqual(new MimiDirectoryEntry(MimiPrimitive.downloadFile, HttpMethod.get, long).serialize(), bytes(8, 1, 0x40, long.length, te.encode(long)));
    assert.deepEqual(new MimiDirectory([]).serialize(), Uint8Array.of(0));
  });

  it("round-trips every primitive with both methods, keeps order, finds entries", () => {
    const prims = Object.values(MimiPrimitive).filter((v): v is MimiPrimitive => typeof v === "number");
    const entries = prims.map((p, i) => new MimiDirectoryEntry(p, i % 2 ? HttpMethod.get : HttpMethod.post, `https://p${p}.example/${MimiPrimitive[p]}?x=1#f`));
    const d = new MimiDirectory(entries.reverse());
    const back = MimiDirectory.deserialize(d.serialize());
    assert.deepEqual(back.entries, d.entries);
    assert.deepEqual(back.serialize(), d.serialize());
    assert.equal(back.find(MimiPrimitive.reportAbuse)?.uri, "https://p9.example/reportAbuse?x=1#f");
    assert.equal(new MimiDirectory([]).find(MimiPrimitive.identifierQuery), undefined);
    const e = MimiDirectoryEntry.deserialize(entries[0]!.serialize());
    assert.deepEqual(e, entries[0]);
    // non-ASCII text survives exactly (an IRI is carried as written, not punycoded or escaped)
    const u = "https://b\u00fccher.example/p\u00e5th";
    assert.equal(MimiDirectoryEntry.deserialize(new MimiDirectoryEntry(1, 1, u).serialize()).uri, u);
  });

  describe("error catalogue (decode)", () => {
    const good = dirBytes(entryBytes(10, 2, IQ));
    const cases: [string, Uint8Array, new (...a: never[]) => MimiDecodeError, string][] = [
      ["empty input", new Uint8Array(0), MimiTruncatedError, "truncated"],
      ["vector shorter than declared", bytes(vlen(40), entryBytes(10, 2, "http://a")), MimiTruncatedError, "truncated"],
      ["uri shorter than declared", dirBytes(bytes(10, 2, vlen(30), te.encode("http://a"))), MimiTruncatedError, "truncated"],
      ["trailing byte after the directory", bytes(good, 0), MimiTrailingBytesError, "trailing_bytes"],
      ["non-minimal length prefix", bytes(0x40, good.length - 1, good.subarray(1)), MimiMalformedError, "malformed"],
      ["invalid length prefix 0b11", bytes(0xc0, 0, 0, 0), MimiMalformedError, "malformed"],
      ["directory over its byte limit", bytes(0x80, 0x10, 0, 0), MimiLimitExceededError, "limit_exceeded"],
      ["uri over MAX_HTTPS_URI_BYTES", dirBytes(bytes(10, 2, vlen(MAX_HTTPS_URI_BYTES + 1), new Uint8Array(MAX_HTTPS_URI_BYTES + 1).fill(0x61))), MimiLimitExceededError, "limit_exceeded"],
      ["reserved primitive 0", dirBytes(entryBytes(0, 2, IQ)), UnknownMimiPrimitiveError, "unknown_enum_value"],
      ["undefined primitive 11", dirBytes(entryBytes(11, 2, IQ)), UnknownMimiPrimitiveError, "unknown_enum_value"],
      ["undefined primitive 255", dirBytes(entryBytes(255, 2, IQ)), UnknownMimiPrimitiveError, "unknown_enum_value"],
      ["undefined method 0", dirBytes(entryBytes(10, 0, IQ)), UnknownHttpMethodError, "unknown_enum_value"],
      ["undefined method 3", dirBytes(entryBytes(10, 3, IQ)), UnknownHttpMethodError, "unknown_enum_value"],
      ["uri not UTF-8", dirBytes(entryBytes(10, 2, bytes(te.encode("http://a.test/"), 0xff))), MimiInvalidUtf8Error, "invalid_utf8"],
      ["uri with an overlong UTF-8 sequence", dirBytes(entryBytes(10, 2, bytes(te.encode("http://a.test/"), 0xc0, 0xaf))), MimiInvalidUtf8Error, "invalid_utf8"],
      ["uri with a UTF-8 encoded surrogate", dirBytes(entryBytes(10, 2, bytes(te.encode("http://a.test/"), 0xed, 0xa0, 0x80))), MimiInvalidUtf8Error, "invalid_utf8"],
      ["empty uri", dirBytes(entryBytes(10, 2, "")), InvalidHttpsUriError, "invalid_uri"],
      ["relative uri", dirBytes(entryBytes(10, 2, "/identifier_query")), InvalidHttpsUriError, "invalid_uri"],
      ["ftp uri", dirBytes(entryBytes(10, 2, "ftp://a.test/x")), InvalidHttpsUriError, "invalid_uri"],
      ["mimi uri", dirBytes(entryBytes(10, 2, "mimi://a.test/x")), InvalidHttpsUriError, "invalid_uri"],
      ["uri without host", dirBytes(entryBytes(10, 2, "https://")), InvalidHttpsUriError, "invalid_uri"],
      ["uri with a leading space", dirBytes(entryBytes(10, 2, " http://a.test/x")), InvalidHttpsUriError, "invalid_uri"],
      ["uri with a tab inside", dirBytes(entryBytes(10, 2, "http://a.test/a\tb")), InvalidHttpsUriError, "invalid_uri"],
      ["uri with a NUL", dirBytes(entryBytes(10, 2, "http://a.test/\u0000")), InvalidHttpsUriError, "invalid_uri"],
      ["primitive listed twice", dirBytes(entryBytes(10, 2, IQ), entryBytes(3, 2, CK), entryBytes(10, 1, CK)), DuplicateMimiPrimitiveError, "duplicate_primitive"],
      ["more than MAX_DIRECTORY_ENTRIES entries", dirBytes(...Array.from({ length: MAX_DIRECTORY_ENTRIES + 1 }, () => entryBytes(10, 2, "http://a"))), MimiLimitExceededError, "limit_exceeded"],
    ];
    for (const [label, input, cls, reason] of cases) {
      it(`${label} -> ${cls.name}`, () => {
        const e = throwsDecode(() => MimiDirectory.deserialize(input), cls, reason, label);
        assert.equal(e.struct, "MimiDirectory");
      });
    }

    it("enum errors carry the field and the offending value", () => {
      const e = throwsDecode(() => MimiDirectory.deserialize(dirBytes(entryBytes(11, 2, IQ))), UnknownMimiPrimitiveError, "unknown_enum_value") as UnknownMimiPrimitiveError;
      assert.equal(e.field, "primitive");
      assert.equal(e.value, 11);
      const m = throwsDecode(() => MimiDirectoryEntry.deserialize(entryBytes(10, 9, IQ)), UnknownHttpMethodError, "unknown_enum_value") as UnknownHttpMethodError;
      assert.equal(m.field, "method");
      assert.equal(m.value, 9);
      assert.equal(m.struct, "MimiDirectoryEntry");
    });

    it("every strict prefix of a valid directory is truncated, never accepted", () => {
      const full = new MimiDirectory([new MimiDirectoryEntry(10, 2, IQ), new MimiDirectoryEntry(3, 2, CK)]).serialize();
      for (let n = 0; n < full.length; n++) throwsDecode(() => MimiDirectory.deserialize(full.subarray(0, n)), MimiTruncatedError, "truncated", `prefix ${n}`);
    });

    it("refuses a non-byte input with a typed error", () => {
      throwsDecode(() => MimiDirectory.deserialize("\x00" as unknown as Uint8Array), MimiMalformedError, "malformed");
      throwsDecode(() => MimiDirectoryEntry.deserialize(undefined as unknown as Uint8Array), MimiMalformedError, "malformed");
    });
  });

  describe("error catalogue (construct)", () => {
    it("refuses values that would not decode: the same typed errors", () => {
      throwsDecode(() => new MimiDirectoryEntry(0 as MimiPrimitive, HttpMethod.get, IQ), UnknownMimiPrimitiveError, "unknown_enum_value");
      throwsDecode(() => new MimiDirectoryEntry(1.5 as MimiPrimitive, HttpMethod.get, IQ), UnknownMimiPrimitiveError, "unknown_enum_value");
      throwsDecode(() => new MimiDirectoryEntry(MimiPrimitive.updateRoom, 7 as HttpMethod, IQ), UnknownHttpMethodError, "unknown_enum_value");
      throwsDecode(() => new MimiDirectoryEntry(MimiPrimitive.updateRoom, HttpMethod.get, "a.test/x"), InvalidHttpsUriError, "invalid_uri");
      throwsDecode(() => new MimiDirectoryEntry(MimiPrimitive.updateRoom, HttpMethod.get, "https://a.test/\ud800"), MimiInvalidUtf8Error, "invalid_utf8");
      throwsDecode(() => new MimiDirectoryEntry(MimiPrimitive.updateRoom, HttpMethod.get, `https://a.test/${"x".repeat(MAX_HTTPS_URI_BYTES)}`), MimiLimitExceededError, "limit_exceeded");
      const e = new MimiDirectoryEntry(MimiPrimitive.updateRoom, HttpMethod.get, IQ);
      throwsDecode(() => new MimiDirectory([e, e]), DuplicateMimiPrimitiveError, "duplicate_primitive");
      throwsDecode(() => new MimiDirectory([{ primitive: 1, method: 1, uri: IQ } as MimiDirectoryEntry]), MimiMalformedError, "malformed");
    });
  });

  it("bounded mutation: a mutated directory decodes canonically or fails with a MimiDecodeError", () => {
    const base = new MimiDirectory([new MimiDirectoryEntry(10, 2, IQ), new MimiDirectoryEntry(3, 2, CK), new MimiDirectoryEntry(7, 1, "https://x.example/gi")]).serialize();
    const rnd = prng(0x5eed);
    let decoded = 0;
    for (let i = 0; i < 3000; i++) {
      const m = base.slice();
      const flips = 1 + (rnd() % 3);
      for (let k = 0; k < flips; k++) m[rnd() % m.length] = rnd() & 0xff;
      const cut = rnd() % 4 === 0 ? m.subarray(0, rnd() % m.length) : m;
      try {
        const d = MimiDirectory.deserialize(cut);
        assert.deepEqual(d.serialize(), cut, "a decoded input re-encodes to the same bytes");
        decoded++;
      } catch (e) {
        assert.ok(e instanceof MimiDecodeError, `unexpected ${(e as Error).constructor.name}: ${(e as Error).message}`);
      }
    }
    assert.ok(decoded > 0, "some mutations (inside URIs) still decode");
  });
});
