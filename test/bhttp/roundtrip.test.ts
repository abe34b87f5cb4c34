// Round trips through serialize()/deserialize() for the parts RFC 9292 s3 defines.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  BinaryRequest,
  BinaryResponse,
  InvalidControlDataError,
  InvalidFieldError,
  InvalidStatusError,
} from "../../src/bhttp/index.js";
import type { SerializeOptions } from "../../src/bhttp/index.js";
import { encodeVarint } from "../../src/codec/varint.js";

const enc = new TextEncoder();
const FORMS: SerializeOptions[] = [
  {},
  { truncate: true },
  { indeterminate: true },
  { indeterminate: true, truncate: true },
  { padding: 7 },
  { indeterminate: true, truncate: true, padding: 33 },
];

function roundTripRequest(req: BinaryRequest): void {
  for (const opts of FORMS) {
    const bytes = req.serialize(opts);
    assert.deepEqual(BinaryRequest.deserialize(bytes), req, JSON.stringify(opts));
  }
}

function roundTripResponse(res: BinaryResponse): void {
  for (const opts of FORMS) {
    const bytes = res.serialize(opts);
    assert.deepEqual(BinaryResponse.deserialize(bytes), res, JSON.stringify(opts));
  }
}

test("RFC 9292 s3.4: the path carries the query string (fromUrl / url)", () => {
  const req = BinaryRequest.fromUrl("POST", "https://ds.example:8443/v1/groups/abc?since=42&limit=10#frag", [
    { name: "content-type", value: "application/mls-message" },
  ]);
  assert.equal(req.scheme, "https");
  assert.equal(req.authority, "ds.example:8443");
  assert.equal(req.path, "/v1/groups/abc?since=42&limit=10");
  assert.equal(req.url, "https://ds.example:8443/v1/groups/abc?since=42&limit=10");
  roundTripRequest(req);
  // an empty query is kept too, and a default port is not
  const bare = BinaryRequest.fromUrl("GET", "https://a.example:443/x?");
  assert.equal(bare.path, "/x?");
  assert.equal(bare.authority, "a.example");
  assert.equal(BinaryRequest.deserialize(bare.serialize()).url, "https://a.example/x?");
  // non-ASCII in the URL is percent-encoded by the URL parser, so the path stays ASCII
  const intl = BinaryRequest.fromUrl("GET", "https://b\u00fccher.example/\u00e9t\u00e9?q=\u2713");
  assert.equal(intl.authority, "xn--bcher-kva.example");
  assert.equal(intl.path, "/%C3%A9t%C3%A9?q=%E2%9C%93");
  roundTripRequest(intl);
});

test("RFC 9292 s3.4: fromUrl rejects URLs that have no request-target form", () => {
  assert.throws(() => BinaryRequest.fromUrl("GET", "not a url"), InvalidControlDataError);
  assert.throws(() => BinaryRequest.fromUrl("GET", "https://user:pw@a.example/"), InvalidControlDataError);
  assert.throws(() => BinaryRequest.fromUrl("GET", "mailto:someone@example.com"), InvalidControlDataError);
  assert.throws(() => BinaryRequest.fromUrl("G T", "https://a.example/"), InvalidControlDataError);
});

test("RFC 9292 s3.6: UTF-8 values are length-prefixed by their UTF-8 byte length", () => {
  // 13 UTF-16 units but 23 bytes per copy: three copies stay under 64 units yet need a 2-byte varint
  const value = "gr\u00fc\u00dfe \u65e5\u672c \u{1f600} \ufeff".repeat(3);
  assert.ok(value.length < 64);
  const req = new BinaryRequest({
    method: "GET",
    scheme: "https",
    authority: "example.com",
    path: "/",
    headers: [{ name: "x-greeting", value }],
  });
  const bytes = req.serialize();
  const utf8 = enc.encode(value);
  // the value is stored as its UTF-8 bytes right after its varint length
  const at = Buffer.from(bytes).indexOf(Buffer.from(utf8));
  assert.ok(at > 0);
  assert.ok(utf8.length >= 64);
  assert.deepEqual(bytes.subarray(at - 2, at), encodeVarint(utf8.length));
  assert.equal(BinaryRequest.deserialize(bytes).headers[0]!.value, value);
  roundTripRequest(req);
});

test("RFC 9292 s3.6: repeated field names keep their order", () => {
  const headers = [
    { name: "cookie", value: "a=1" },
    { name: "accept", value: "text/plain" },
    { name: "cookie", value: "b=2" },
    { name: "cookie", value: "" },
    { name: "x-empty", value: "" },
  ];
  const req = new BinaryRequest({ method: "PUT", scheme: "https", authority: "example.com", path: "/c", headers });
  assert.deepEqual(BinaryRequest.deserialize(req.serialize()).headers, headers);
  roundTripRequest(req);
});

test("RFC 9292 s3.1: content and trailers round trip", () => {
  const content = new Uint8Array(70000).map((_, i) => (i * 31) & 0xff);
  const req = new BinaryRequest({
    method: "POST",
    scheme: "https",
    authority: "example.com",
    path: "/upload?x=1",
    headers: [{ name: "content-type", value: "application/octet-stream" }],
    content,
    trailers: [
      { name: "digest", value: "sha-256=abc" },
      { name: "x-t", value: "1" },
    ],
  });
  roundTripRequest(req);
  const decoded = BinaryRequest.deserialize(req.serialize());
  assert.deepEqual(decoded.content, content);
  assert.notEqual(decoded.content.buffer, content.buffer);
  // content with no headers, and trailers with no content: nothing may be truncated away
  roundTripRequest(new BinaryRequest({ method: "POST", scheme: "https", authority: "a", path: "/", content: enc.encode("x") }));
  roundTripRequest(
    new BinaryRequest({ method: "POST", scheme: "https", authority: "a", path: "/", trailers: [{ name: "t", value: "v" }] }),
  );
});

test("RFC 9292 s3.5.1: informational responses precede the final response", () => {
  const res = new BinaryResponse({
    informational: [
      { status: 100, headers: [] },
      { status: 103, headers: [{ name: "link", value: "</a.css>; rel=preload" }, { name: "link", value: "</b.js>" }] },
      { status: 199, headers: [{ name: "x-i", value: "\u00e9" }] },
    ],
    status: 201,
    headers: [{ name: "location", value: "/x/1" }],
    content: enc.encode("created"),
    trailers: [{ name: "x-done", value: "yes" }],
  });
  roundTripResponse(res);
  const decoded = BinaryResponse.deserialize(res.serialize({ padding: 3 }));
  assert.deepEqual(
    decoded.informational.map((i) => i.status),
    [100, 103, 199],
  );
  assert.equal(decoded.status, 201);
  for (const status of [200, 204, 304, 404, 599]) roundTripResponse(new BinaryResponse({ status }));
});

test("RFC 9292 s3.5: status codes out of range are rejected when constructing", () => {
  for (const status of [0, 99, 100, 199, 600, 200.5, NaN]) {
    assert.throws(() => new BinaryResponse({ status }), InvalidStatusError, String(status));
  }
  for (const status of [99, 200, 0]) {
    assert.throws(() => new BinaryResponse({ status: 200, informational: [{ status, headers: [] }] }), InvalidStatusError);
  }
});

test("RFC 9292 s3.8: padding of any length is appended as zero bytes and ignored", () => {
  const res = new BinaryResponse({ status: 200, headers: [{ name: "a", value: "b" }] });
  const plain = res.serialize();
  for (const padding of [0, 1, 2, 63, 64, 1000]) {
    const bytes = res.serialize({ padding });
    assert.equal(bytes.length, plain.length + padding);
    assert.ok(bytes.subarray(plain.length).every((b) => b === 0));
    assert.deepEqual(BinaryResponse.deserialize(bytes), res);
  }
  assert.throws(() => res.serialize({ padding: -1 }), RangeError);
  assert.throws(() => res.serialize({ padding: 1.5 }), RangeError);
});

test("RFC 9292 s3.8: truncate omits only empty trailing parts", () => {
  const base = { method: "GET", scheme: "https", authority: "a", path: "/" } as const;
  const size = (r: BinaryRequest) => r.serialize({ truncate: true }).length;
  const full = (r: BinaryRequest) => r.serialize().length;
  const empty = new BinaryRequest(base);
  assert.equal(size(empty), full(empty) - 3); // header section, content, trailers
  const withHeader = new BinaryRequest({ ...base, headers: [{ name: "h", value: "v" }] });
  assert.equal(size(withHeader), full(withHeader) - 2);
  const withContent = new BinaryRequest({ ...base, content: enc.encode("c") });
  assert.equal(size(withContent), full(withContent) - 1);
  const withTrailer = new BinaryRequest({ ...base, trailers: [{ name: "t", value: "v" }] });
  assert.equal(size(withTrailer), full(withTrailer));
});

test("RFC 9292 s3.6: field names and values are validated when constructing", () => {
  const make = (name: string, value: string) => () =>
    new BinaryRequest({ method: "GET", scheme: "https", authority: "a", path: "/", headers: [{ name, value }] });
  for (const name of ["", "Host", ":path", ":authority", "a b", "a\u00e9", "x:y", "a\0", "(a)"]) {
    assert.throws(make(name, "v"), InvalidFieldError, JSON.stringify(name));
  }
  for (const value of ["a\r\nb", "a\nb", "a\0", " lead", "trail\t", "\ud800x"]) {
    assert.throws(make("x", value), InvalidFieldError, JSON.stringify(value));
  }
  // accepted: tchar punctuation in names, inner whitespace and non-ASCII in values
  make("!#$%&'*+-.^_`|~09az", "a \t b \u00ff \u{10ffff}")();
  // wrong JS types are caller bugs, reported as TypeError
  assert.throws(make(42 as unknown as string, "v"), TypeError);
  assert.throws(make("x", null as unknown as string), TypeError);
});

test("RFC 9292 s3.4: control data is validated when constructing", () => {
  const ok = { method: "GET", scheme: "https", authority: "example.com:443", path: "/a?b" };
  new BinaryRequest(ok);
  new BinaryRequest({ ...ok, method: "OPTIONS", path: "*" });
  new BinaryRequest({ ...ok, scheme: "coap+tcp", path: "" });
  new BinaryRequest({ method: "CONNECT", scheme: "", authority: "example.com:443", path: "" });
  const bad: Partial<typeof ok>[] = [
    { method: "" },
    { method: "GE T" },
    { method: "G\u00c9T" },
    { scheme: "" },
    { scheme: "1http" },
    { scheme: "ht tp" },
    { authority: "a/b" },
    { authority: "user@host" },
    { authority: "a\tb" },
    { path: "" },
    { path: "*" },
    { path: "relative" },
    { path: "/a b" },
    { path: "/a\u0000" },
    { path: "/a\u007f" },
    { path: "/\u00e9" },
    { path: "/a#frag" },
  ];
  for (const b of bad) assert.throws(() => new BinaryRequest({ ...ok, ...b }), InvalidControlDataError, JSON.stringify(b));
  assert.throws(() => new BinaryRequest({ method: "CONNECT", scheme: "", authority: "", path: "" }), InvalidControlDataError);
});

test("a message never changes after construction", () => {
  const headers = [{ name: "a", value: "1" }];
  const req = new BinaryRequest({ method: "GET", scheme: "https", authority: "x", path: "/", headers });
  headers[0]!.value = "\r\n";
  headers.push({ name: "B", value: "2" });
  assert.deepEqual(req.headers, [{ name: "a", value: "1" }]);
  assert.ok(Object.isFrozen(req.headers) && Object.isFrozen(req.headers[0]));
  const decoded = BinaryRequest.deserialize(req.serialize());
  assert.ok(Object.isFrozen(decoded.headers) && Object.isFrozen(decoded.trailers));
});
