// The ratchet's fast implementation equals the schedule written in QueueChain.ts's header,
// computed here the plain way (HKDF-Expand over the TLS-encoded Info).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { hkdfExpand } from "../../src/hpke/NodeHkdf.js";
import { TlsWriter } from "../../src/protocol/tls.js";
import { initialChainKey, messageAad, messageKey, nextChainKey, openWithKey, sealWithChain } from "../../src/qs/QueueChain.js";

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
      assert.equal(hex(mk.nonce), hex(expand(chain, info("message nonce", q, n), 12)));
      assert.equal(hex(messageAad(q, n)), hex(new TlsWriter().opaque(enc.encode("MIMI QS message")).opaque(q).u64(n).finish()));
      const sealed = sealWithChain(chain, q, n, enc.encode(`m${t}`));
      assert.equal(hex(sealed.nextChainKey), hex(nextChainKey(chain, q, n)));
      assert.equal(new TextDecoder().decode(openWithKey(messageKey(chain, q, n), q, n, sealed.ciphertext)), `m${t}`);
    }
  });
});
