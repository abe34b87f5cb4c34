// RFC 9292 s4 (invalid messages): every decoding failure is a DecodeError, and each failure
// point has its own class.
import { splitmix32 } from "../helpers/prng.js";
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  BinaryRequest,
  BinaryResponse,
  DecodeError,
  DEFAULT_LIMITS,
  InvalidControlDataError,
  InvalidFieldError,
  InvalidFramingIndicatorError,
  InvalidStatusError,
  LimitExceededError,
  NonZeroPaddingError,
  TruncatedError,
  VarintError,
} from "../../src/bhttp/index.js";
import type { BhttpLimits, Field } from "../../src/bhttp/index.js";
import { encodeVarint } from "../../src/codec/varint.js";

const enc = new TextEncoder();
const vi = (n: number): number[] => [...encodeVarint(n)];
const raw = (b: number[] | Uint8Array): number[] => [...vi(b.length), ...b];
const str = (s: string): number[] => raw(enc.encode(s));
const line = (name: string | number[], value: string | number[]): number[] => [
  ...(typeof name === "string" ? str(name) : raw(name)),
  ...(typeof value === "string" ? str(value) : raw(value)),
];
const u8 = (...parts: number[][]): Uint8Array => Uint8Array.from(parts.flat());
const CONTROL = [...str("GET"), ...str("https"), ...str("example.com"), ...str("/a?b=c")];

type Decoder = { name: string; decode: (b: Uint8Array, l?: Partial<BhttpLimits>) => BinaryRequest | BinaryResponse };
const REQUEST: Decoder = { name: "BinaryRequest", decode: (b, l) => BinaryRequest.deserialize(b, l) };
const RESPONSE: Decoder = { name: "BinaryResponse", decode: (b, l) => BinaryResponse.deserialize(b, l) };


const fields: Field[] = [
  { name: "content-type", value: "text/plain" },
  { name: "x-e", value: "\u00e9\u{1f600}" },
  { name: "x-e", value: "two" },
];

const requests = [
  new BinaryRequest({ method: "GET", scheme: "https", authority: "example.com", path: "/" }),
  new BinaryRequest({
    method: "POST",
    scheme: "https",
    authority: "ds.example:8443",
    path: "/v1/x?y=1",
    headers: fields,
    content: enc.encode("hello world"),
    trailers: [{ name: "t", value: "v" }],
  }),
];
const responses = [
  new BinaryResponse({ status: 200 }),
  new BinaryResponse({
    informational: [{ status: 103, headers: [{ name: "link", value: "</a>" }] }],
    status: 404,
    headers: fields,
    content: enc.encode("not found"),
    trailers: [{ name: "t", value: "v" }],
  }),
];
const FORMS = [{}, { truncate: true }, { indeterminate: true }, { indeterminate: true, truncate: true }, { padding: 2 }];
const samples: [Decoder, Uint8Array, boolean][] = [
  ...requests.flatMap((m) => FORMS.map((f) => [REQUEST, m.serialize(f), f.truncate !== true] as [Decoder, Uint8Array, boolean])),
  ...responses.flatMap((m) => FORMS.map((f) => [RESPONSE, m.serialize(f), f.truncate !== true] as [Decoder, Uint8Array, boolean])),
];

/** Decodes to a message that re-encodes to an equal message, or throws a DecodeError. */
function decodesOrDecodeError(d: Decoder, bytes: Uint8Array, note: string): "ok" | "error" {
  let m: BinaryRequest | BinaryResponse;
  try {
    m = d.decode(bytes);
  } catch (e) {
    assert.ok(e instanceof DecodeError, `${d.name} ${note}: ${String(e)}`);
    assert.equal(typeof e.reason, "string");
    return "error";
  }
  assert.deepEqual(d.decode(m.serialize()), m, `${d.name} ${note}: re-encoding`);
  return "ok";
}

test("RFC 9292 s4: samples truncated at every length decode or throw DecodeError", () => {
  let errors = 0;
  for (const [d, bytes] of samples) {
    for (let n = 0; n < bytes.length; n++) if (decodesOrDecodeError(d, bytes.subarray(0, n), `prefix ${n}`) === "error") errors++;
  }
  assert.ok(errors > 0);
});

test("RFC 9292 s4: samples extended with a non-zero byte decode or throw DecodeError", () => {
  for (const [d, bytes, complete] of samples) {
    for (const extra of [1, 0x40, 0x80, 0xff]) {
      const extended = u8([...bytes, extra]);
      decodesOrDecodeError(d, extended, `+${extra}`);
      // after a complete message the byte is padding, and non-zero padding is invalid (s3.8)
      if (complete) assert.throws(() => d.decode(extended), NonZeroPaddingError);
    }
  }
});

test("RFC 9292 s4: samples with any single bit flipped decode or throw DecodeError", () => {
  for (const [d, bytes] of samples) {
    for (let bit = 0; bit < bytes.length * 8; bit++) {
      const m = bytes.slice();
      m[bit >> 3]! ^= 1 << (bit & 7);
      decodesOrDecodeError(d, m, `bit ${bit}`);
    }
  }
});

test("RFC 9292 s4: random inputs decode or throw DecodeError", () => {
  const rnd = splitmix32(0x9292);
  for (let i = 0; i < 4000; i++) {
    const n = rnd() % 48;
    const b = new Uint8Array(n);
    for (let j = 0; j < n; j++) b[j] = rnd() & 0xff;
    // half of them start with a plausible framing indicator to get past the first byte
    if (n > 0 && i % 2 === 0) b[0] = i % 8 < 4 ? (i >> 1) % 4 : 0x40;
    decodesOrDecodeError(REQUEST, b, `random ${i}`);
    decodesOrDecodeError(RESPONSE, b, `random ${i}`);
  }
});

test("RFC 9292 s3.3: framing indicators other than the decoder's own are rejected", () => {
  for (const f of [[1], [3], [4], [0x3f], [0x40, 0x05], [0x80, 0, 0, 1]]) {
    assert.throws(() => BinaryRequest.deserialize(u8(f, CONTROL)), InvalidFramingIndicatorError, JSON.stringify(f));
  }
  for (const f of [[0], [2], [4], [0x40, 0x00]]) {
    assert.throws(() => BinaryResponse.deserialize(u8(f, vi(200))), InvalidFramingIndicatorError, JSON.stringify(f));
  }
  assert.throws(() => BinaryRequest.deserialize(new Uint8Array(0)), TruncatedError);
  assert.throws(() => BinaryResponse.deserialize(new Uint8Array(0)), TruncatedError);
});

test("RFC 9292 s3.8: non-zero padding is rejected and its offset reported", () => {
  const bytes = u8([0], CONTROL, [0, 0, 0], [0, 0, 7, 0]);
  assert.throws(
    () => BinaryRequest.deserialize(bytes),
    (e: unknown) => e instanceof NonZeroPaddingError && e.offset === bytes.length - 2,
  );
  assert.throws(() => BinaryResponse.deserialize(u8([1], vi(200), [0, 0, 0, 1])), NonZeroPaddingError);
});

function limitError(limit: keyof BhttpLimits) {
  return (e: unknown) => e instanceof LimitExceededError && e.limit === limit;
}

test("RFC 9292 s8: limits are enforced with LimitExceededError", () => {
  // content length over the default limit, with no content following: the limit, not truncation
  const bigContent = u8([0], CONTROL, [0], vi(DEFAULT_LIMITS.maxContentBytes + 1));
  assert.throws(() => BinaryRequest.deserialize(bigContent), limitError("maxContentBytes"));
  // exactly at a small limit is fine, one over is not
  const five = u8([0], CONTROL, [0], raw(enc.encode("12345")), [0]);
  assert.equal(BinaryRequest.deserialize(five, { maxContentBytes: 5 }).content.length, 5);
  assert.throws(() => BinaryRequest.deserialize(five, { maxContentBytes: 4 }), limitError("maxContentBytes"));
  // indeterminate content counts all chunks together
  const chunks = u8([2], CONTROL, [0], str("abc"), str("def"), [0, 0]);
  assert.equal(BinaryRequest.deserialize(chunks, { maxContentBytes: 6 }).content.length, 6);
  assert.throws(() => BinaryRequest.deserialize(chunks, { maxContentBytes: 5 }), limitError("maxContentBytes"));

  // field lines per section, known and indeterminate length
  const three = [...line("a", "1"), ...line("b", "2"), ...line("c", "3")];
  const known3 = u8([0], CONTROL, raw(three), [0, 0]);
  const indet3 = u8([2], CONTROL, three, [0, 0, 0]);
  for (const b of [known3, indet3]) {
    assert.equal(BinaryRequest.deserialize(b, { maxFieldLines: 3 }).headers.length, 3);
    assert.throws(() => BinaryRequest.deserialize(b, { maxFieldLines: 2 }), limitError("maxFieldLines"));
  }
  const limitsFor = (n: number) => ({ maxFieldBytes: n });
  // field bytes across the message: headers (12 bytes) plus trailers (12 bytes)
  const both = u8([0], CONTROL, raw(three), [0], raw(three));
  const indetBoth = u8([2], CONTROL, three, [0, 0], three, [0]);
  for (const b of [both, indetBoth]) {
    assert.equal(BinaryRequest.deserialize(b, limitsFor(24)).trailers.length, 3);
    assert.throws(() => BinaryRequest.deserialize(b, limitsFor(23)), limitError("maxFieldBytes"));
  }
  // a field section length over the default limit is rejected before it is read
  assert.throws(() => BinaryRequest.deserialize(u8([0], CONTROL, vi(64 * 1024 + 1))), limitError("maxFieldBytes"));
  // informational sections count too
  const info = u8([1], vi(100), raw(three), vi(200), raw(three));
  assert.throws(() => BinaryResponse.deserialize(info, limitsFor(23)), limitError("maxFieldBytes"));
  assert.throws(() => BinaryResponse.deserialize(info, { maxFieldLines: 2 }), limitError("maxFieldLines"));

  // control data: each of method, scheme, authority, path
  const longPath = "/" + "a".repeat(DEFAULT_LIMITS.maxControlDataLength);
  const longReq = u8([0], str("GET"), str("https"), str("a"), str(longPath));
  assert.throws(() => BinaryRequest.deserialize(longReq), limitError("maxControlDataLength"));
  assert.equal(BinaryRequest.deserialize(longReq, { maxControlDataLength: longPath.length }).path, longPath);
  assert.throws(() => BinaryRequest.deserialize(u8([0], vi(1 << 20))), limitError("maxControlDataLength"));

  // informational responses
  const manyInfo = (n: number) => u8([1], ...Array.from({ length: n }, () => [...vi(100), 0]), vi(200));
  assert.equal(BinaryResponse.deserialize(manyInfo(16)).informational.length, 16);
  assert.throws(() => BinaryResponse.deserialize(manyInfo(17)), limitError("maxInformationalResponses"));

  assert.throws(() => BinaryRequest.deserialize(five, { maxContentBytes: -1 }), RangeError);
});

test("RFC 9292 s8: a hostile length allocates nothing even when limits allow it", () => {
  const limits = { maxContentBytes: Number.MAX_SAFE_INTEGER, maxFieldBytes: Number.MAX_SAFE_INTEGER };
  const before = process.memoryUsage().arrayBuffers;
  for (const len of [2 ** 50, 2 ** 40, 2 ** 31]) {
    assert.throws(() => BinaryRequest.deserialize(u8([0], CONTROL, [0], vi(len), [1, 2, 3]), limits), TruncatedError);
    assert.throws(() => BinaryRequest.deserialize(u8([0], CONTROL, vi(len), [1, 2, 3]), limits), TruncatedError);
    assert.throws(() => BinaryRequest.deserialize(u8([2], CONTROL, [0], vi(len), [1, 2, 3]), limits), TruncatedError);
  }
  assert.ok(process.memoryUsage().arrayBuffers - before < 1 << 20);
  // 8-byte varints at or above 2^53 cannot be represented
  const huge = [0xc0 | 0x3f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
  assert.throws(() => BinaryRequest.deserialize(u8([0], CONTROL, [0], huge)), VarintError);
  assert.throws(() => BinaryResponse.deserialize(u8([1], huge)), VarintError);
});

test("RFC 9292 s3.6: invalid field names and values are rejected with InvalidFieldError", () => {
  const badNames: (string | number[])[] = ["Host", ":path", ":status", "a b", "a:b", "(x)", "\u00e9", [0x7f], [0], [0xff]];
  const badValues: (string | number[])[] = [
    "a\rb", "a\nb", "a\u0000b", " lead", "trail ", "\tlead", "trail\t",
    [0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0x61, 0xf8, 0x88, 0x80, 0x80, 0x80],
  ];
  const cases = [...badNames.map((n) => line(n, "v")), ...badValues.map((v) => line("x", v)), [0, 0]];
  for (const l of cases) {
    const note = JSON.stringify(l);
    assert.throws(() => BinaryRequest.deserialize(u8([0], CONTROL, raw(l))), InvalidFieldError, note);
    assert.throws(() => BinaryRequest.deserialize(u8([0], CONTROL, [0, 0], raw(l))), InvalidFieldError, `trailer ${note}`);
    assert.throws(() => BinaryResponse.deserialize(u8([1], vi(103), raw(l), vi(200))), InvalidFieldError, `1xx ${note}`);
    if (l[0] !== 0) assert.throws(() => BinaryResponse.deserialize(u8([3], vi(200), l, [0])), InvalidFieldError, `indet ${note}`);
  }
  // a field line that runs past the end of its known-length section
  const l = line("abc", "def");
  assert.throws(() => BinaryRequest.deserialize(u8([0], CONTROL, vi(l.length - 1), l)), TruncatedError);
});

test("RFC 9292 s3.4: invalid control data is rejected with InvalidControlDataError", () => {
  const cd = (m: string | number[], s: string | number[], a: string | number[], p: string | number[]) =>
    u8([0], ...[m, s, a, p].map((x) => (typeof x === "string" ? str(x) : raw(x))));
  const cases = [
    cd("", "https", "a", "/"),
    cd("G T", "https", "a", "/"),
    cd([0x47, 0xc3, 0x89], "https", "a", "/"),
    cd("GET", "", "a", "/"),
    cd("GET", "ht\ttp", "a", "/"),
    cd("GET", "https", "a/b", "/"),
    cd("GET", "https", "u@a", "/"),
    cd("GET", "https", [0x61, 0x00], "/"),
    cd("GET", "https", "a", ""),
    cd("GET", "https", "a", "x"),
    cd("GET", "https", "a", "/a b"),
    cd("GET", "https", "a", "/a\r\n"),
    cd("GET", "https", "a", [0x2f, 0xc3, 0xa9]),
    cd("GET", "https", "a", "/#f"),
    cd("GET", "https", "a", "*"),
    cd("CONNECT", "", "", ""),
  ];
  for (const b of cases) assert.throws(() => BinaryRequest.deserialize(b), InvalidControlDataError, Buffer.from(b).toString("hex"));
  assert.equal(BinaryRequest.deserialize(cd("OPTIONS", "https", "a", "*")).path, "*");
  assert.equal(BinaryRequest.deserialize(cd("CONNECT", "", "a:443", "")).url, "a:443");
});

test("RFC 9292 s3.5: status codes outside 100..599 are rejected with InvalidStatusError", () => {
  for (const s of [0, 99, 600, 999, 2 ** 30]) {
    assert.throws(() => BinaryResponse.deserialize(u8([1], vi(s), [0, 0, 0])), InvalidStatusError, `${s}`);
    assert.throws(() => BinaryResponse.deserialize(u8([1], vi(103), [0], vi(s), [0, 0, 0])), InvalidStatusError, `1xx then ${s}`);
    assert.throws(() => BinaryResponse.deserialize(u8([3], vi(s), [0, 0, 0])), InvalidStatusError, `indet ${s}`);
  }
  // zero padding where the final status should be is status 0, not truncation
  assert.throws(() => BinaryResponse.deserialize(u8([1], vi(100), [0], [0, 0])), InvalidStatusError);
});

test("RFC 9292 s4: truncation inside a part is TruncatedError", () => {
  const cases = [
    u8([0], str("GET"), [5], [...enc.encode("htt")]),
    u8([0], CONTROL, [0], vi(10), [...enc.encode("short")]),
    u8([2], CONTROL, str("a"), str("b")), // no terminator
    u8([2], CONTROL, [0], str("chunk")), // no content terminator
    u8([2], CONTROL, [0, 0], str("a")), // trailer line without value
  ];
  for (const b of cases) assert.throws(() => BinaryRequest.deserialize(b), TruncatedError, Buffer.from(b).toString("hex"));
});
