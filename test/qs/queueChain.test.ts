// The ratchet's fast implementation equals the schedule written in QueueChain.ts's header,
// computed here the plain way (HKDF-Expand over the TLS-encoded Info).
import assert from "node:assert/strict";
import { createDecipheriv, randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { hkdfExpand } from "../../src/hpke/NodeHkdf.js";
import { TlsWriter } from "../../src/protocol/tls.js";
import { initialChainKey, messageAad, messageKey, nextChainKey, openWithKey, sealWithChain } from "../../src/qs/QueueChain.js";
import * as reference from "../../src/qs/QueueKeySchedule.js";

const enc = new TextEncoder();
const info = (l: string, q: Uint8Array, n: bigint) => new TlsWriter().opaque(enc.encode(`MIMI QS ${l}`)).opaque(q).u64(n).finish();
const expand = (prk: Uint8Array, i: Uint8Array, len: number) => new Uint8Array(hkdfExpand("sha256", 32, prk, i, len));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("queue key ratchet (QueueChain.ts schedule)", () => {
  it("matches HKDF-Expand over Info(label, queue_id, n) for every derivation", () => {
    for (let t = 0; t < 50; t++) {
      const secret = randomBytes(32);
      const q = randomBytes(t % 2 ? 16 : 70);
      const n = BigInt(t * 1_000_003);
      const chain = initialChainKey(secret, q);
      assert.equal(hex(chain), hex(expand(secret, info("chain init", q, 0n), 32)));
      assert.equal(hex(nextChainKey(chain, q, n)), hex(expand(chain, info("chain", q, n), 32)));
      const mk = messageKey(chain, q, n);
      assert.equal(hex(mk.key), hex(expand(chain, info("message key", q, n), 32)));
      assert.equal(hex(messageAad(q, n)), hex(new TlsWriter().opaque(enc.encode("MIMI QS message")).opaque(q).u64(n).finish()));
      const sealed = sealWithChain(chain, q, n, enc.encode(`m${t}`));
      assert.equal(hex(sealed.nextChainKey), hex(nextChainKey(chain, q, n)));
      assert.equal(new TextDecoder().decode(openWithKey(messageKey(chain, q, n), q, n, sealed.ciphertext)), `m${t}`);
    }
  });

  it("queue ids of every length 1..80 and sequence numbers up to 2^64 - 1 (one-block and two-block HMAC inputs, 1- and 2-byte length prefixes)", () => {
    const seqs = [0n, 1n, 255n, 1n << 32n, (1n << 64n) - 1n];
    for (let len = 1; len <= 80; len++) {
      const q = randomBytes(len);
      const secret = randomBytes(32);
      const chain = initialChainKey(secret, q);
      assert.equal(hex(chain), hex(expand(secret, info("chain init", q, 0n), 32)), `length ${len}`);
      for (const n of seqs) {
        const mk = messageKey(chain, q, n);
        assert.equal(hex(mk.key), hex(expand(chain, info("message key", q, n), 32)));
        const sealed = sealWithChain(chain, q, n, enc.encode("x"));
        assert.equal(hex(sealed.nextChainKey), hex(expand(chain, info("chain", q, n), 32)));
        // the ciphertext is nonce || AES-256-GCM under (key_n, nonce) with the documented AAD
        assert.equal(sealed.ciphertext.length, 12 + 1 + 16);
        const d = createDecipheriv("aes-256-gcm", mk.key, sealed.ciphertext.subarray(0, 12));
        d.setAAD(new TlsWriter().opaque(enc.encode("MIMI QS message")).opaque(q).u64(n).finish());
        d.setAuthTag(sealed.ciphertext.subarray(sealed.ciphertext.length - 16));
        assert.equal(Buffer.concat([d.update(sealed.ciphertext.subarray(12, sealed.ciphertext.length - 16)), d.final()]).toString(), "x");
      }
    }
  });

  it("the QS's sealWithChain and the owner's QueueKeySchedule (what the client decryptor runs) interoperate both ways", () => {
    for (let len = 1; len <= 70; len += 3) {
      const q = randomBytes(len);
      const secret = randomBytes(32);
      let chain = initialChainKey(secret, q);
      assert.equal(hex(chain), hex(reference.initialChainKey(secret, q)));
      for (let n = 0n; n < 4n; n++) {
        const pt = randomBytes(Number(n) * 40);
        const mine = sealWithChain(chain, q, n, pt);
        const theirs = reference.sealWithKeySchedule(chain, q, n, pt);
        assert.equal(mine.ciphertext.length, theirs.ciphertext.length, `queue id length ${len}, message ${n}`);
        assert.equal(hex(mine.nextChainKey), hex(theirs.nextChainKey));
        assert.equal(hex(reference.messageKey(chain, q, n).key), hex(messageKey(chain, q, n).key));
        assert.equal(hex(reference.openWithKey(reference.messageKey(chain, q, n), q, n, mine.ciphertext)), hex(pt));
        assert.equal(hex(openWithKey(messageKey(chain, q, n), q, n, theirs.ciphertext)), hex(pt));
        chain = mine.nextChainKey;
      }
    }
  });

  it("a message sealed twice as number n (a batch that failed and was redone) never repeats a nonce", () => {
    const q = randomBytes(16);
    const chain = initialChainKey(randomBytes(32), q);
    const nonces = new Set<string>();
    for (let i = 0; i < 200; i++) nonces.add(hex(sealWithChain(chain, q, 5n, enc.encode(`attempt ${i}`)).ciphertext.subarray(0, 12)));
    assert.equal(nonces.size, 200);
    assert.throws(() => openWithKey(messageKey(chain, q, 5n), q, 5n, randomBytes(27)), /shorter than nonce and tag/);
  });

  it("a sequence number that is not a uint64 is refused", () => {
    const chain = randomBytes(32);
    const q = randomBytes(16);
    for (const bad of [-1n, 1n << 64n]) {
      assert.throws(() => sealWithChain(chain, q, bad, enc.encode("x")), RangeError);
      assert.throws(() => nextChainKey(chain, q, bad), RangeError);
      assert.throws(() => messageKey(chain, q, bad), RangeError);
    }
    assert.throws(() => sealWithChain(randomBytes(31), q, 0n, enc.encode("x")), RangeError);
  });
});
