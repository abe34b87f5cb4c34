// The SHA-256 and HMAC-SHA-256 (RFC 2104) helpers of src/qs/Sha256.ts (node:crypto hash() with
// RFC 2104 around it) equal createHash/createHmac for every length around the block boundaries.
import { strict as assert } from "node:assert";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { dedupKey, fanoutId, queueStorageKey } from "../../src/qs/queueStoreCodec.js";
import { HmacSha256, Sha256, sha256Into } from "../../src/qs/Sha256.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const te = new TextEncoder();
const nodeHash = (m: Uint8Array) => createHash("sha256").update(m).digest("hex");
const nodeHmac = (k: Uint8Array, m: Uint8Array) => createHmac("sha256", k).update(m).digest("hex");

describe("SHA-256 (FIPS 180-4 s6.2)", () => {
  it("known answers: FIPS 180-2 appendix B.1 and B.2", () => {
    assert.equal(hex(new Sha256().update(te.encode("abc")).digest()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const two = te.encode("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq");
    assert.equal(hex(new Sha256().update(two).digest()), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  });

  it("streaming: every length 0..300, split at random points, equals node:crypto", () => {
    const s = new Sha256();
    for (let n = 0; n <= 300; n++) {
      const m = randomBytes(n);
      s.reset();
      for (let i = 0; i < n; ) {
        const k = Math.min(n - i, 1 + Math.floor(Math.random() * 80));
        s.update(m.subarray(i, i + k));
        i += k;
      }
      assert.equal(hex(s.digest()), nodeHash(m), `length ${n}`);
    }
  });

  it("copyFrom resumes a midstate; digestInto writes a prefix at an offset", () => {
    const prefix = randomBytes(77);
    const mid = new Sha256().update(prefix);
    const s = new Sha256();
    for (let t = 0; t < 20; t++) {
      const tail = randomBytes(t * 7);
      const out = new Uint8Array(40);
      s.copyFrom(mid).update(tail).digestInto(out, 8, 16);
      assert.equal(hex(out.subarray(8, 24)), nodeHash(Buffer.concat([prefix, tail])).slice(0, 32));
      assert.ok(out.subarray(0, 8).every((b) => b === 0) && out.subarray(24).every((b) => b === 0), "nothing outside the range");
    }
    assert.throws(() => s.reset().digestInto(new Uint8Array(16)), RangeError);
  });

  it("sha256Into: a prefix of the scratch array, lengths 0..200; a length past it or no room for the digest is a RangeError", () => {
    for (let n = 0; n <= 200; n++) {
      const m = randomBytes(n);
      const scratch = new Uint8Array(Math.ceil((n + 9) / 64) * 64);
      scratch.set(m);
      const out = new Uint8Array(32);
      sha256Into(scratch, n, out);
      assert.equal(hex(out), nodeHash(m), `length ${n}`);
    }
    assert.throws(() => sha256Into(new Uint8Array(64), 65, new Uint8Array(32)), RangeError);
    assert.throws(() => sha256Into(new Uint8Array(64), 10, new Uint8Array(31)), RangeError);
  });
});

describe("HMAC-SHA-256 (RFC 2104, RFC 4231)", () => {
  it("RFC 4231 test cases 1, 2 and 6 (a key longer than the block)", () => {
    const mac = (k: Uint8Array, m: Uint8Array) => {
      const out = new Uint8Array(32);
      new HmacSha256(k).macInto(out, 0, 32, m);
      return hex(out);
    };
    assert.equal(mac(new Uint8Array(20).fill(0x0b), te.encode("Hi There")), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    assert.equal(mac(te.encode("Jefe"), te.encode("what do ya want for nothing?")), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    assert.equal(
      mac(new Uint8Array(131).fill(0xaa), te.encode("Test Using Larger Than Block-Size Key - Hash Key First")),
      "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    );
  });

  it("every key length 0..100 and message length 0..160, one HMAC object rekeyed, equals node:crypto", () => {
    const h = new HmacSha256();
    for (let k = 0; k <= 100; k += 3) {
      const key = randomBytes(k);
      h.setKey(key);
      for (let n = 0; n <= 160; n++) {
        const m = randomBytes(n);
        const cut1 = Math.floor(n / 3);
        const cut2 = Math.floor((2 * n) / 3);
        const out = new Uint8Array(32);
        h.macInto(out, 0, 32, m.subarray(0, cut1), m.subarray(cut1, cut2), m.subarray(cut2));
        assert.equal(hex(out), nodeHmac(key, m), `key ${k}, message ${n}`);
        if (n <= 55) {
          const block = new Uint8Array(64);
          block.set(m);
          const out2 = new Uint8Array(12);
          h.macBlockInto(out2, 0, 12, block, n);
          assert.equal(hex(out2), nodeHmac(key, m).slice(0, 24), `one-block form, key ${k}, message ${n}`);
        }
      }
      h.wipe();
    }
  });

  it("macBlockInto leaves the caller's block intact and refuses lengths past it; no key or no room is a RangeError", () => {
    const key = randomBytes(32);
    const h = new HmacSha256(key);
    const block = new Uint8Array(randomBytes(64));
    const before = Uint8Array.from(block);
    const out = new Uint8Array(32);
    h.macBlockInto(out, 0, 32, block, 40);
    assert.equal(hex(out), createHmac("sha256", key).update(block.subarray(0, 40)).digest("hex"));
    assert.deepEqual(block, before);
    assert.throws(() => h.macBlockInto(new Uint8Array(32), 0, 32, new Uint8Array(64), 65), RangeError);
    assert.throws(() => h.macInto(new Uint8Array(32), 0, 33, new Uint8Array(3)), RangeError);
    assert.throws(() => new HmacSha256().macInto(new Uint8Array(32), 0, 32, new Uint8Array(3)), RangeError);
    const long = randomBytes(500);
    h.macInto(out, 0, 32, long, long, long);
    assert.equal(hex(out), createHmac("sha256", key).update(Buffer.concat([long, long, long])).digest("hex"), "messages longer than the scratch block grow it");
  });
});

describe("hashed store keys (queueStoreCodec.ts header): the documented SHA-256 constructions", () => {
  it("storageKey, dedupKey and fanoutId equal node:crypto over the documented inputs, so records written before stay found", () => {
    const opaque = (b: Uint8Array) => Buffer.concat([Uint8Array.of(b.length), b]);
    for (let len = 1; len <= 64; len++) {
      const q = randomBytes(len);
      const m = randomBytes(32);
      const sk = queueStorageKey(q);
      assert.equal(hex(sk), nodeHash(Buffer.concat([te.encode("mimi-qs queue storage key v1"), opaque(q)])));
      assert.equal(hex(dedupKey(m, sk)), nodeHash(Buffer.concat([te.encode("mimi-qs dedup key v1"), opaque(m), sk])));
      assert.equal(hex(fanoutId(m)), nodeHash(Buffer.concat([te.encode("mimi-qs fanout id v1"), opaque(m)])));
    }
  });
});
