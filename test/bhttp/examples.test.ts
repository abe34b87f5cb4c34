// RFC 9292 s5 examples and the Binary HTTP messages of RFC 9458 Appendix A: decoded parts and
// byte-for-byte re-encoding.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { BinaryRequest, BinaryResponse } from "../../src/bhttp/index.js";

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 20; i++) {
    if (existsSync(join(dir, "package.json"))) return dir;
    dir = dirname(dir);
  }
  throw new Error("package.json not found above the test file");
}

function vectors(name: string): Record<string, string> {
  return JSON.parse(readFileSync(join(repoRoot(), "test", "vectors", "ohttp", name), "utf8")) as Record<string, string>;
}

const fromHex = (h: string) => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ""), "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const text = (b: Uint8Array) => new TextDecoder().decode(b);

const rfc9292 = vectors("rfc9292-examples.json");
const rfc9458 = vectors("rfc9458-appendix-a.json");

const HELLO_HEADERS = [
  { name: "user-agent", value: "curl/7.16.3 libcurl/7.16.3 OpenSSL/0.9.7l zlib/1.2.3" },
  { name: "host", value: "www.example.com" },
  { name: "accept-language", value: "en, mi" },
];

test("RFC 9292 s5.1: known-length request example decodes to its parts", () => {
  const hex = rfc9292.known_length_request_get_hello_txt!;
  const req = BinaryRequest.deserialize(fromHex(hex));
  assert.equal(req.method, "GET");
  assert.equal(req.scheme, "https");
  assert.equal(req.authority, "");
  assert.equal(req.path, "/hello.txt");
  assert.equal(req.url, "https:///hello.txt");
  assert.deepEqual(req.headers, HELLO_HEADERS);
  assert.equal(req.content.length, 0);
  assert.deepEqual(req.trailers, []);
});

test("RFC 9292 s5.1: known-length request example re-encodes byte for byte", () => {
  const hex = rfc9292.known_length_request_get_hello_txt!;
  assert.equal(toHex(BinaryRequest.deserialize(fromHex(hex)).serialize()), hex);
  const built = new BinaryRequest({ method: "GET", scheme: "https", authority: "", path: "/hello.txt", headers: HELLO_HEADERS });
  assert.equal(toHex(built.serialize()), hex);
});

test("RFC 9292 s5.1: the last two bytes of the request example can be removed without effect", () => {
  const bytes = fromHex(rfc9292.known_length_request_get_hello_txt!);
  const full = BinaryRequest.deserialize(bytes);
  assert.deepEqual(BinaryRequest.deserialize(bytes.subarray(0, bytes.length - 1)), full);
  assert.deepEqual(BinaryRequest.deserialize(bytes.subarray(0, bytes.length - 2)), full);
});

// RFC 9292 Figure 3 (hex dump copied from the RFC): indeterminate length, 10 bytes of padding.
const INDETERMINATE_REQUEST = `
02034745 54056874 74707300 0a2f6865 6c6c6f2e 7478740a 75736572 2d616765
6e743463 75726c2f 372e3136 2e33206c 69626375 726c2f37 2e31362e 33204f70
656e5353 4c2f302e 392e376c 207a6c69 622f312e 322e3304 686f7374 0f777777
2e657861 6d706c65 2e636f6d 0f616363 6570742d 6c616e67 75616765 06656e2c
206d6900 00000000 00000000 00000000`;

test("RFC 9292 s5.1: indeterminate-length request example decodes like the known-length one", () => {
  const bytes = fromHex(INDETERMINATE_REQUEST);
  const known = BinaryRequest.deserialize(fromHex(rfc9292.known_length_request_get_hello_txt!));
  const req = BinaryRequest.deserialize(bytes);
  assert.deepEqual(req, known);
  // "anything up to 12 bytes can be removed from this message without affecting its meaning"
  for (let cut = 1; cut <= 12; cut++) assert.deepEqual(BinaryRequest.deserialize(bytes.subarray(0, bytes.length - cut)), known);
  // re-encoded in the same form with the same padding it is byte-identical
  assert.equal(toHex(req.serialize({ indeterminate: true, padding: 10 })), toHex(bytes));
});

// RFC 9292 Figure 5 (hex dump copied from the RFC): informational responses 102 and 103.
const INDETERMINATE_RESPONSE = `
03406607 72756e6e 696e670a 22736c65 65702031 35220040 67046c69 6e6b233c
2f737479 6c652e63 73733e3b 2072656c 3d707265 6c6f6164 3b206173 3d737479
6c65046c 696e6b24 3c2f7363 72697074 2e6a733e 3b207265 6c3d7072 656c6f61
643b2061 733d7363 72697074 0040c804 64617465 1d4d6f6e 2c203237 204a756c
20323030 39203132 3a32383a 35332047 4d540673 65727665 72064170 61636865
0d6c6173 742d6d6f 64696669 65641d57 65642c20 3232204a 756c2032 30303920
31393a31 353a3536 20474d54 04657461 67142233 34616133 38372d64 2d313536
38656230 30220d61 63636570 742d7261 6e676573 05627974 65730e63 6f6e7465
6e742d6c 656e6774 68023531 04766172 790f4163 63657074 2d456e63 6f64696e
670c636f 6e74656e 742d7479 70650a74 6578742f 706c6169 6e003348 656c6c6f
20576f72 6c642120 4d792063 6f6e7465 6e742069 6e636c75 64657320 61207472
61696c69 6e672043 524c462e 0d0a0000`;

test("RFC 9292 s5.2: indeterminate-length response example with informational responses", () => {
  const bytes = fromHex(INDETERMINATE_RESPONSE);
  const res = BinaryResponse.deserialize(bytes);
  assert.deepEqual(res.informational, [
    { status: 102, headers: [{ name: "running", value: '"sleep 15"' }] },
    {
      status: 103,
      headers: [
        { name: "link", value: "</style.css>; rel=preload; as=style" },
        { name: "link", value: "</script.js>; rel=preload; as=script" },
      ],
    },
  ]);
  assert.equal(res.status, 200);
  assert.deepEqual(res.headers, [
    { name: "date", value: "Mon, 27 Jul 2009 12:28:53 GMT" },
    { name: "server", value: "Apache" },
    { name: "last-modified", value: "Wed, 22 Jul 2009 19:15:56 GMT" },
    { name: "etag", value: '"34aa387-d-1568eb00"' },
    { name: "accept-ranges", value: "bytes" },
    { name: "content-length", value: "51" },
    { name: "vary", value: "Accept-Encoding" },
    { name: "content-type", value: "text/plain" },
  ]);
  assert.equal(text(res.content), "Hello World! My content includes a trailing CRLF.\r\n");
  assert.deepEqual(res.trailers, []);
  // one chunk in the example, so the indeterminate re-encoding is byte-identical
  assert.equal(toHex(res.serialize({ indeterminate: true })), toHex(bytes));
  // and the known-length form carries the same message
  assert.deepEqual(BinaryResponse.deserialize(res.serialize()), res);
});

test("RFC 9292 s5.2: known-length response with trailer decodes and re-encodes byte for byte", () => {
  const hex = rfc9292.known_length_response_with_trailer!;
  const res = BinaryResponse.deserialize(fromHex(hex));
  assert.deepEqual(res.informational, []);
  assert.equal(res.status, 200);
  assert.deepEqual(res.headers, []);
  assert.equal(text(res.content), "This content contains CRLF.\r\n");
  assert.deepEqual(res.trailers, [{ name: "trailer", value: "text" }]);
  assert.equal(toHex(res.serialize()), hex);
  const built = new BinaryResponse({
    status: 200,
    content: new TextEncoder().encode("This content contains CRLF.\r\n"),
    trailers: [{ name: "trailer", value: "text" }],
  });
  assert.equal(toHex(built.serialize()), hex);
});

test("RFC 9458 Appendix A: bhttp_request (truncated after control data) decodes and re-encodes", () => {
  const hex = rfc9458.bhttp_request!;
  const req = BinaryRequest.deserialize(fromHex(hex));
  assert.equal(req.method, "GET");
  assert.equal(req.url, "https://example.com/");
  assert.deepEqual(req.headers, []);
  assert.equal(req.content.length, 0);
  assert.deepEqual(req.trailers, []);
  assert.equal(toHex(req.serialize({ truncate: true })), hex);
  assert.equal(toHex(BinaryRequest.fromUrl("GET", "https://example.com").serialize({ truncate: true })), hex);
  // untruncated: three zero-length parts follow
  assert.equal(toHex(req.serialize()), `${hex}000000`);
});

test("RFC 9458 Appendix A: bhttp_response (status 200 only) decodes and re-encodes", () => {
  const hex = rfc9458.bhttp_response!;
  const res = BinaryResponse.deserialize(fromHex(hex));
  assert.equal(res.status, 200);
  assert.deepEqual(res.informational, []);
  assert.deepEqual(res.headers, []);
  assert.equal(res.content.length, 0);
  assert.equal(toHex(res.serialize({ truncate: true })), hex);
  assert.equal(toHex(new BinaryResponse({ status: 200 }).serialize({ truncate: true })), hex);
});
