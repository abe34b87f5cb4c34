// Seeded mutation fuzzing of both decoders (RFC 9292 s4, s8): no input may cause anything but a
// DecodeError, and whatever decodes must re-encode and decode again to an equal value.
import { splitmix32 } from "../helpers/prng.js";
import assert from "node:assert/strict";
import { test } from "node:test";
import { BinaryRequest, BinaryResponse, DecodeError } from "../../src/bhttp/index.js";
import type { BhttpLimits, Field, SerializeOptions } from "../../src/bhttp/index.js";
import { writeVarint } from "../../src/codec/varint.js";


const SEED = 0x5eed9292;
const INPUTS = 100_000;
const rnd = splitmix32(SEED);
const below = (n: number) => rnd() % n;
const pick = <T>(xs: readonly T[]): T => xs[below(xs.length)]!;
const chance = (p: number) => rnd() / 2 ** 32 < p;

const NAMES = ["content-type", "accept", "cookie", "x-a", "link", "date", "te", "!#$%&'*+-.^_`|~09az"];
const VALUES = ["", "text/plain", "a=1; b=2", "\u00e9t\u00e9", "\u65e5\u672c\u8a9e", "\u{1f600}x", "\ufeffbom", "a \t b", "42"];
const PATHS = ["/", "/a/b", "/x?y=1&z=%20", "/groups/abc/messages?since=7", "/?", "/%C3%A9"];

function randomFields(max: number): Field[] {
  return Array.from({ length: below(max + 1) }, () => ({ name: pick(NAMES), value: pick(VALUES) }));
}

function randomContent(): Uint8Array {
  const n = chance(0.4) ? 0 : chance(0.8) ? below(40) : below(400);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = rnd() & 0xff;
  return b;
}

function randomOptions(): SerializeOptions {
  return { truncate: chance(0.5), indeterminate: chance(0.5), padding: chance(0.7) ? 0 : below(9) };
}

function randomRequest(): BinaryRequest {
  return new BinaryRequest({
    method: pick(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    scheme: pick(["https", "http"]),
    authority: pick(["", "example.com", "ds.example:8443", "[::1]:80"]),
    path: pick(PATHS),
    headers: randomFields(5),
    content: randomContent(),
    trailers: chance(0.3) ? randomFields(2) : [],
  });
}

function randomResponse(): BinaryResponse {
  return new BinaryResponse({
    informational: Array.from({ length: chance(0.6) ? 0 : below(3) + 1 }, () => ({
      status: 100 + below(100),
      headers: randomFields(2),
    })),
    status: 200 + below(400),
    headers: randomFields(5),
    content: randomContent(),
    trailers: chance(0.3) ? randomFields(2) : [],
  });
}

/** Writes a random varint (any size, biased to small and boundary values). */
function randomVarint(): Uint8Array {
  const v = pick([0, 1, 2, 63, 64, 16383, 16384, 2 ** 30 - 1, 2 ** 30, 2 ** 53 - 1, below(64), below(300), rnd()]);
  const sizes = [1, 2, 4, 8].filter((s) => v < 2 ** (8 * s - 2));
  const size = chance(0.7) ? sizes[0]! : pick(sizes);
  const out = new Uint8Array(size);
  const min = new Uint8Array(8);
  const n = writeVarint(min, 0, v);
  if (n === size) return min.subarray(0, n);
  // a longer, non-minimal form of the same value
  let x = v;
  for (let i = size - 1; i >= 0; i--) {
    out[i] = x % 256;
    x = Math.floor(x / 256);
  }
  out[0]! |= [0, 0x40, 0x80, 0, 0xc0][size >> 1]!;
  return out;
}

function mutate(input: Uint8Array, pool: Uint8Array[]): Uint8Array {
  let b = input;
  const rounds = 1 + below(4);
  for (let r = 0; r < rounds; r++) {
    const at = below(b.length + 1);
    switch (below(9)) {
      case 0: // bit flip
        if (b.length > 0) {
          b = b.slice();
          b[at % b.length]! ^= 1 << below(8);
        }
        break;
      case 1: // random byte
        if (b.length > 0) {
          b = b.slice();
          b[at % b.length] = rnd() & 0xff;
        }
        break;
      case 2: // insert a byte
        b = concat(b.subarray(0, at), Uint8Array.of(rnd() & 0xff), b.subarray(at));
        break;
      case 3: // delete a run
        b = concat(b.subarray(0, at), b.subarray(at + 1 + below(4)));
        break;
      case 4: // truncate
        b = b.subarray(0, at);
        break;
      case 5: {
        // splice with another valid encoding
        const other = pick(pool);
        b = concat(b.subarray(0, at), other.subarray(below(other.length + 1)));
        break;
      }
      case 6: // insert a random varint
        b = concat(b.subarray(0, at), randomVarint(), b.subarray(at));
        break;
      case 7: {
        // overwrite with a random varint (e.g. a length prefix)
        const v = randomVarint();
        b = concat(b.subarray(0, at), v, b.subarray(Math.min(b.length, at + v.length)));
        break;
      }
      default: // append zero or non-zero tail
        b = concat(b, new Uint8Array(1 + below(3)).fill(chance(0.5) ? 0 : 1 + below(255)));
    }
  }
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

test(`RFC 9292 s4: ${INPUTS} seeded mutations (seed ${SEED.toString(16)}) throw only DecodeError and re-encode`, (t) => {
  const started = performance.now();
  const requests = Array.from({ length: 150 }, randomRequest);
  const responses = Array.from({ length: 150 }, randomResponse);
  const requestPool = requests.map((m) => m.serialize(randomOptions()));
  const responsePool = responses.map((m) => m.serialize(randomOptions()));
  const pool = [...requestPool, ...responsePool];
  const decoders: [string, (b: Uint8Array, l?: Partial<BhttpLimits>) => BinaryRequest | BinaryResponse][] = [
    ["request", (b, l) => BinaryRequest.deserialize(b, l)],
    ["response", (b, l) => BinaryResponse.deserialize(b, l)],
  ];
  const outcomes = new Map<string, number>();
  const count = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
  for (let i = 0; i < INPUTS; i++) {
    const [name, decode] = decoders[i & 1]!;
    // mostly mutate inputs of the decoder's own kind; sometimes the other kind
    const input = mutate(pick(chance(0.9) ? ((i & 1) === 0 ? requestPool : responsePool) : pool), pool);
    const limits = chance(0.1) ? { maxFieldLines: below(4), maxFieldBytes: below(64), maxContentBytes: below(64) } : undefined;
    let m: BinaryRequest | BinaryResponse;
    try {
      m = decode(input, limits);
    } catch (e) {
      if (!(e instanceof DecodeError)) {
        assert.fail(`${name} #${i} threw ${String(e)} for ${Buffer.from(input).toString("hex")}`);
      }
      count(e.name);
      continue;
    }
    count("decoded");
    const again = decode(m.serialize(randomOptions()), limits);
    assert.deepEqual(again, m, `${name} #${i} ${Buffer.from(input).toString("hex")}`);
  }
  const ms = performance.now() - started;
  // not vacuous: many inputs decode, many fail, and failures reach many distinct error classes
  assert.ok((outcomes.get("decoded") ?? 0) > INPUTS / 50, JSON.stringify([...outcomes]));
  assert.ok([...outcomes.keys()].length >= 8, JSON.stringify([...outcomes]));
  t.diagnostic(`${INPUTS} inputs in ${ms.toFixed(0)} ms: ${JSON.stringify(Object.fromEntries(outcomes))}`);
});
