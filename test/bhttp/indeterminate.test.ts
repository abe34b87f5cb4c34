// Indeterminate-length messages (RFC 9292 s3.2) and truncation (s3.8), on bytes built by hand
// from the RFC's message layouts.
import assert from "node:assert/strict";
import { test } from "node:test";
import { BinaryRequest, BinaryResponse, InvalidFieldError, TruncatedError } from "../../src/bhttp/index.js";
import type { Field } from "../../src/bhttp/index.js";
import { encodeVarint } from "../../src/codec/varint.js";

const enc = new TextEncoder();
const vi = (n: number): number[] => [...encodeVarint(n)];
const str = (s: string): number[] => {
  const b = enc.encode(s);
  return [...vi(b.length), ...b];
};
const line = (f: Field): number[] => [...str(f.name), ...str(f.value)];
const lines = (fs: Field[]): number[] => fs.flatMap(line);
const TERMINATOR = [0];

const CONTROL = [...str("POST"), ...str("https"), ...str("example.com"), ...str("/p?q=%C3%A9")];
const HEADERS: Field[] = [
  { name: "a", value: "1" },
  { name: "content-type", value: "text/plain; charset=utf-8" },
  { name: "a", value: "\u00e9t\u00e9" },
];
const CHUNKS = ["hel", "lo", " w\u00f6rld"];
const TRAILERS: Field[] = [{ name: "t", value: "v" }];
const CONTENT = enc.encode(CHUNKS.join(""));

/** The request as sections, so that the test knows where each part ends. */
function indeterminateRequestParts(): number[][] {
  return [
    [2, ...CONTROL],
    [...lines(HEADERS), ...TERMINATOR],
    [...CHUNKS.flatMap(str), ...TERMINATOR],
    [...lines(TRAILERS), ...TERMINATOR],
  ];
}

function knownLengthRequestParts(): number[][] {
  const h = lines(HEADERS);
  const t = lines(TRAILERS);
  return [
    [0, ...CONTROL],
    [...vi(h.length), ...h],
    [...vi(CONTENT.length), ...CONTENT],
    [...vi(t.length), ...t],
  ];
}

test("RFC 9292 s3.2: indeterminate-length request with chunked content and trailers", () => {
  const bytes = Uint8Array.from(indeterminateRequestParts().flat());
  const req = BinaryRequest.deserialize(bytes);
  assert.equal(req.method, "POST");
  assert.equal(req.url, "https://example.com/p?q=%C3%A9");
  assert.deepEqual(req.headers, HEADERS);
  assert.deepEqual(req.content, CONTENT);
  assert.deepEqual(req.trailers, TRAILERS);
  // the same message in known-length form decodes to an equal value
  assert.deepEqual(BinaryRequest.deserialize(Uint8Array.from(knownLengthRequestParts().flat())), req);
});

test("RFC 9292 s3: varints need not be minimal (framing, lengths, chunk sizes)", () => {
  const bytes = Uint8Array.from([
    0x40, 0x02, // framing indicator 2 on two bytes
    0x40, 3, ...enc.encode("GET"),
    0x80, 0, 0, 5, ...enc.encode("https"),
    0, // empty authority
    0xc0, 0, 0, 0, 0, 0, 0, 1, ...enc.encode("/"),
    0x40, 1, ...enc.encode("x"), 0x40, 1, ...enc.encode("y"),
    0x40, 0, // header terminator on two bytes
    0x40, 2, ...enc.encode("ab"),
    0x80, 0, 0, 0, // content terminator on four bytes
    0, // trailer section
  ]);
  const req = BinaryRequest.deserialize(bytes);
  assert.equal(req.url, "https:///");
  assert.deepEqual(req.headers, [{ name: "x", value: "y" }]);
  assert.deepEqual(req.content, enc.encode("ab"));
  // re-encoding uses minimal varints
  // saved: framing 1, method 1, scheme 3, path 7, name and value 1 + 1, header terminator 1,
  // chunk length 1, content terminator 3
  assert.equal(req.serialize({ indeterminate: true }).length, bytes.length - 19);
});

test("RFC 9292 s3.2: a zero-length name ends an indeterminate field section; empty values are fine", () => {
  const bytes = Uint8Array.from([2, ...CONTROL, ...str("e"), ...str(""), 0, 0, 0]);
  const req = BinaryRequest.deserialize(bytes);
  assert.deepEqual(req.headers, [{ name: "e", value: "" }]);
  assert.equal(req.content.length, 0);
  // the same zero in a known-length section is a field line with an empty name: invalid
  const known = Uint8Array.from([0, ...CONTROL, 2, 0, 0, 0, 0]);
  assert.throws(() => BinaryRequest.deserialize(known), InvalidFieldError);
});

test("RFC 9292 s3.5.1: indeterminate-length response with informational responses", () => {
  const info: Field[] = [{ name: "link", value: "</a.css>; rel=preload" }];
  const bytes = Uint8Array.from([
    3,
    ...vi(100), 0,
    ...vi(103), ...lines(info), 0,
    ...vi(404), ...lines(HEADERS), 0,
    ...CHUNKS.flatMap(str), 0,
    ...lines(TRAILERS), 0,
    0, 0, 0, // padding
  ]);
  const res = BinaryResponse.deserialize(bytes);
  assert.deepEqual(res.informational, [
    { status: 100, headers: [] },
    { status: 103, headers: info },
  ]);
  assert.equal(res.status, 404);
  assert.deepEqual(res.headers, HEADERS);
  assert.deepEqual(res.content, CONTENT);
  assert.deepEqual(res.trailers, TRAILERS);
});

/**
 * s3.8: a message may end after the control data or after any complete part; a missing part is
 * read as empty. Ending anywhere else is invalid. Checked at every prefix length.
 */
function checkTruncation(parts: number[][], decode: (b: Uint8Array) => BinaryRequest | BinaryResponse, firstPart: number) {
  const all = Uint8Array.from(parts.flat());
  const full = decode(all);
  const ends = new Map<number, number>(); // prefix length -> number of parts present
  let at = 0;
  parts.forEach((p, i) => {
    at += p.length;
    if (i >= firstPart) ends.set(at, i - firstPart);
  });
  for (let n = 0; n <= all.length; n++) {
    const present = ends.get(n);
    const prefix = all.subarray(0, n);
    if (present === undefined) {
      assert.throws(() => decode(prefix), TruncatedError, `prefix ${n}`);
      continue;
    }
    const m = decode(prefix);
    assert.deepEqual(m.headers, present >= 1 ? full.headers : [], `headers at ${n}`);
    assert.deepEqual(m.content, present >= 2 ? full.content : new Uint8Array(0), `content at ${n}`);
    assert.deepEqual(m.trailers, present >= 3 ? full.trailers : [], `trailers at ${n}`);
    // zero padding after a truncation point reads as empty parts (s3.8)
    const padded = new Uint8Array(n + 5);
    padded.set(prefix);
    assert.deepEqual(decode(padded), m, `padded prefix ${n}`);
  }
}

test("RFC 9292 s3.8: indeterminate-length request truncated at every length", () => {
  checkTruncation(indeterminateRequestParts(), (b) => BinaryRequest.deserialize(b), 0);
});

test("RFC 9292 s3.8: known-length request truncated at every length", () => {
  checkTruncation(knownLengthRequestParts(), (b) => BinaryRequest.deserialize(b), 0);
});

test("RFC 9292 s3.8: indeterminate-length response truncated at every length", () => {
  const parts = [
    [3, ...vi(102), ...str("running"), ...str('"sleep 15"'), 0, ...vi(200)],
    [...lines(HEADERS), 0],
    [...CHUNKS.flatMap(str), 0],
    [...lines(TRAILERS), 0],
  ];
  checkTruncation(parts, (b) => BinaryResponse.deserialize(b), 0);
  // the informational response survives every valid truncation
  assert.equal(BinaryResponse.deserialize(Uint8Array.from(parts[0]!)).informational[0]!.status, 102);
});

test("RFC 9292 s3.8: known-length response truncated at every length", () => {
  const h = lines(HEADERS);
  const t = lines(TRAILERS);
  const info = line({ name: "x", value: "y" });
  const parts = [
    [1, ...vi(103), ...vi(info.length), ...info, ...vi(299)],
    [...vi(h.length), ...h],
    [...vi(CONTENT.length), ...CONTENT],
    [...vi(t.length), ...t],
  ];
  checkTruncation(parts, (b) => BinaryResponse.deserialize(b), 0);
});

test("RFC 9292 s3.8: a response cannot end before its final status code", () => {
  for (const bytes of [[1], [3], [1, ...vi(100), 0], [3, ...vi(100), 0], [3, ...vi(101), ...str("a"), ...str("b"), 0]]) {
    assert.throws(() => BinaryResponse.deserialize(Uint8Array.from(bytes)), TruncatedError, JSON.stringify(bytes));
  }
});
