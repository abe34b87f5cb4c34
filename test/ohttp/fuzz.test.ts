// Seeded mutation fuzzing of every OHTTP decoder: at least 40,000 mutated inputs, reproducible
// from the seed (OHTTP_FUZZ_SEED overrides it), bounded in time. Every outcome must be success
// or a DecodeError; no other exception, no unhandled rejection, no hang.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DecodeError } from "../../src/codec/errors.js";
import { SeededRandom } from "../hpke/testUtil.js";
import { makeDecoders } from "./corpus.js";

const ITERATIONS = 42_000;
const TIME_LIMIT_MS = 30_000;
const BOUNDARY_VARINTS = [
  [0x00],
  [0x3f],
  [0x40, 0x00],
  [0x7f, 0xff],
  [0x80, 0x00, 0x40, 0x00],
  [0x80, 0x10, 0x00, 0x11], // 2^20 + 17
  [0xbf, 0xff, 0xff, 0xff],
  [0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10],
  [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
];

function mutate(rnd: SeededRandom, input: Uint8Array, other: Uint8Array): Uint8Array {
  const b = Buffer.from(input);
  const pos = () => rnd.int(b.length + 1);
  switch (rnd.int(10)) {
    case 0: {
      const out = Buffer.from(b);
      for (let k = 1 + rnd.int(4); k > 0 && out.length > 0; k--) out[rnd.int(out.length)]! ^= 1 << rnd.int(8);
      return out;
    }
    case 1: {
      const out = Buffer.from(b);
      if (out.length > 0) out[rnd.int(out.length)] = rnd.int(256);
      return out;
    }
    case 2:
      return b.subarray(0, rnd.int(b.length));
    case 3:
      return Buffer.concat([b, rnd.bytes(1 + rnd.int(32))]);
    case 4: {
      const p = pos();
      return Buffer.concat([b.subarray(0, p), rnd.bytes(1 + rnd.int(16)), b.subarray(p)]);
    }
    case 5: {
      const p = pos();
      return Buffer.concat([b.subarray(0, p), b.subarray(Math.min(b.length, p + 1 + rnd.int(40)))]);
    }
    case 6: {
      const p = rnd.int(Math.max(1, b.length));
      const q = Math.min(b.length, p + 1 + rnd.int(64));
      return Buffer.concat([b.subarray(0, q), b.subarray(p, q), b.subarray(q)]);
    }
    case 7: {
      const p = pos();
      const n = rnd.int(24);
      return Buffer.concat([b.subarray(0, p), rnd.bytes(n), b.subarray(Math.min(b.length, p + n))]);
    }
    case 8: {
      const v = BOUNDARY_VARINTS[rnd.int(BOUNDARY_VARINTS.length)]!;
      const p = pos();
      return Buffer.concat([b.subarray(0, p), Buffer.from(v), b.subarray(Math.min(b.length, p + v.length))]);
    }
    default:
      return Buffer.concat([b.subarray(0, pos()), other.subarray(rnd.int(other.length + 1))]);
  }
}

test(`fuzz: ${ITERATIONS} seeded mutations over all OHTTP decoders give only DecodeErrors`, async (t) => {
  const seed = Number(process.env.OHTTP_FUZZ_SEED ?? 0x5eed0472);
  t.diagnostic(`seed ${seed}`);
  const rnd = new SeededRandom(seed);
  const decoders = await makeDecoders();
  const expected = await Promise.all(decoders.map((d) => d.run(d.valid)));
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on("unhandledRejection", onUnhandled);
  const started = Date.now();
  const tally = decoders.map(() => ({ ok: 0, failed: 0 }));
  try {
    for (let i = 0; i < ITERATIONS; i++) {
      const di = rnd.int(decoders.length);
      const d = decoders[di]!;
      // Mostly mutate the valid input; sometimes stack a second mutation.
      let input = mutate(rnd, d.valid, decoders[rnd.int(decoders.length)]!.valid);
      if (rnd.int(4) === 0) input = mutate(rnd, input, d.valid);
      try {
        const out = await d.run(input);
        // Framing is not authenticated (draft s6), so a re-framed chunked message may decode,
        // but never to anything other than the original content.
        if (d.authenticated) assert.equal(out, expected[di], `iteration ${i} (seed ${seed}) ${d.name}: tampered input decoded to different content`);
        tally[di]!.ok++;
      } catch (e) {
        if (!(e instanceof DecodeError)) {
          assert.fail(`iteration ${i} (seed ${seed}) ${d.name}: ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}\ninput ${Buffer.from(input).toString("hex")}`);
        }
        tally[di]!.failed++;
      }
      if ((i & 1023) === 0) assert.ok(Date.now() - started < TIME_LIMIT_MS, `fuzz exceeded ${TIME_LIMIT_MS} ms at iteration ${i}`);
    }
  } finally {
    process.off("unhandledRejection", onUnhandled);
  }
  const elapsed = Date.now() - started;
  t.diagnostic(`${ITERATIONS} inputs in ${elapsed} ms; ${decoders.map((d, i) => `${d.name} ok=${tally[i]!.ok} failed=${tally[i]!.failed}`).join("; ")}`);
  assert.ok(elapsed < TIME_LIMIT_MS, `fuzz took ${elapsed} ms`);
  assert.equal(unhandled.length, 0, "no unhandled rejections");
  for (const [i, d] of decoders.entries()) {
    assert.ok(tally[i]!.failed > 1000, `${d.name} saw too few failing inputs`);
    await d.run(d.valid);
  }
});
