// Shared helpers of the discovery tests: byte builders for hand-made encodings (so layout tests
// do not reuse the code under test), a typed-error assertion for the MimiDecodeError family, and
// a FetchLike over the global fetch (the HTTP test talks to the provider directly: OHTTP is
// proven elsewhere and is not what it tests).
import { strict as assert } from "node:assert";
import { DecodeError } from "../../src/codec/errors.js";
import { MalformedError } from "../../src/protocol/errors.js";
import { MimiDecodeError } from "../../src/protocol/MimiDirectory.js";

export const te = new TextEncoder();

/** Concatenates numbers (single bytes) and byte arrays. */
export function bytes(...parts: (number | Uint8Array | readonly number[])[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === "number") out.push(p);
    else out.push(...p);
  }
  return Uint8Array.from(out);
}

/** An MLS variable-length length prefix (RFC 9420 s2.1.2), written independently of tls.ts. */
export function vlen(n: number): number[] {
  if (n < 0x40) return [n];
  if (n < 0x4000) return [0x40 | (n >> 8), n & 0xff];
  return [0x80 | ((n >>> 24) & 0x3f), (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

/** opaque<V> of bytes or a UTF-8 string. */
export function opaque(v: Uint8Array | string): Uint8Array {
  const b = typeof v === "string" ? te.encode(v) : v;
  return bytes(vlen(b.length), b);
}

type Ctor = abstract new (...a: never[]) => Error;

/** Asserts fn throws exactly `cls` (a MimiDecodeError) with `reason`, and the family's bases. */
export function throwsDecode(fn: () => unknown, cls: Ctor, reason: string, label = ""): MimiDecodeError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught !== undefined, `${label}: expected ${cls.name}, nothing was thrown`);
  const e = caught as MimiDecodeError;
  assert.equal(e.constructor, cls, `${label}: expected ${cls.name}, got ${(e as Error).constructor?.name}: ${(e as Error).message}`);
  assert.ok(e instanceof MimiDecodeError && e instanceof MalformedError && e instanceof DecodeError, `${label}: not in the decode family`);
  assert.equal(e.reason, reason, `${label}: reason`);
  assert.ok(typeof e.struct === "string" && e.message.startsWith(e.struct), `${label}: message names the struct`);
  return e;
}

/** FetchLike over the global fetch (shared with the e2e tests). */
export { directTransport } from "../e2e/fanoutKit.js";

/** A deterministic uint32 PRNG for the bounded mutation tests (the shared seeded one). */
export { splitmix32 as prng } from "../helpers/prng.js";
