// The DS wire protocol codec (README "Wire profile", draft-robert-mimi-delivery-service
// s"Framing and processing overview", s"Operations"): byte-exact round trips of every request,
// auth and response type; an error catalogue showing that decoding bad bytes only ever throws
// DecodeError subclasses; and a seeded fuzz run over DSRequest.deserialize and the DS itself.
import { mulberry32 } from "../helpers/prng.js";
export { mulberry32 };
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { DecodeError } from "../../src/codec/errors.js";
import { DSAuthType, DSRequestType, DSResponseType } from "../../src/protocol/constants.js";
import { DSRequest, type DSRequestBody } from "../../src/protocol/DSRequest.js";
import { DSResponse } from "../../src/protocol/DSResponse.js";
import { DSErrorCode, MalformedError } from "../../src/protocol/errors.js";
import { buildCorpus, type Corpus, type Sample } from "./corpus.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");


type Decoder = (b: Uint8Array) => { serialize(): Uint8Array };
const decodeRequest: Decoder = (b) => DSRequest.deserialize(b);
const decodeResponse: Decoder = (b) => DSResponse.deserialize(b);

/**
 * Decodes `input`: either it is accepted and re-encodes to exactly itself (the encoding is
 * canonical), or the decoder throws a DecodeError subclass. Anything else fails the test.
 * Returns whether it was accepted.
 */
function decodeOrDecodeError(decode: Decoder, input: Uint8Array, what: string): boolean {
  let v: { serialize(): Uint8Array };
  try {
    v = decode(input);
  } catch (e) {
    if (e instanceof DecodeError) return false;
    assert.fail(`${what}: threw ${(e as Error)?.name ?? typeof e} (${(e as Error)?.message}) instead of a DecodeError for ${hex(input).slice(0, 400)}`);
  }
  assert.equal(hex(v.serialize()), hex(input), `${what}: accepted input does not re-encode to itself`);
  return true;
}

function mustFail(decode: Decoder, input: Uint8Array, what: string): void {
  assert.equal(decodeOrDecodeError(decode, input, what), false, `${what}: accepted ${hex(input).slice(0, 200)}`);
}

let corpus: Corpus;
before(async () => {
  corpus = await buildCorpus();
});

const pick = (name: string): Sample => corpus.requests.find((s) => s.name === name)!;

describe("DSRequest / DSResponse encoding (README \"Wire profile\")", () => {
  it("round-trips every request type and every auth type byte-identically", () => {
    const types = new Set<DSRequestType>();
    const auths = new Set<DSAuthType>();
    let withPp = 0;
    let withoutPp = 0;
    for (const s of corpus.requests) {
      const d = DSRequest.deserialize(s.bytes);
      assert.equal(hex(d.serialize()), hex(s.bytes), s.name);
      assert.equal(hex(DSRequest.deserialize(d.serialize()).serialize()), hex(s.bytes), s.name);
      // re-encoding the decoded body (not its kept bytes) gives the same bytes too
      assert.equal(hex(new DSRequest(d.version, d.body, d.auth).serialize()), hex(s.bytes), `${s.name} re-encoded from its fields`);
      assert.equal(d.version, 1);
      types.add(d.body.type);
      auths.add(d.auth.type);
      if ("pp" in d.body) (d.body.pp === undefined ? withoutPp++ : withPp++);
    }
    const served = Object.values(DSRequestType).filter((v): v is DSRequestType => typeof v === "number" && v !== DSRequestType.key_packages && v !== DSRequestType.connection_key_packages);
    assert.deepEqual([...types].sort((a, b) => a - b), served.sort((a, b) => a - b), "every request type the DS decodes is in the corpus");
    assert.deepEqual([...auths].sort(), [DSAuthType.anonymous, DSAuthType.client_signature, DSAuthType.user_signature, DSAuthType.key_package_signature]);
    assert.ok(withPp > 0 && withoutPp > 0);
  });

  it("round-trips edge values: maximal ids, indexes and epochs, empty vectors and signatures", () => {
    const bodies: DSRequestBody[] = [
      { type: DSRequestType.welcome_info, groupId: new Uint8Array(255).fill(7), epoch: 0xffffffffffffffffn, pp: { earKey: new Uint8Array(64) } },
      { type: DSRequestType.welcome_info, groupId: new Uint8Array(0), epoch: 0n, pp: undefined },
      { type: DSRequestType.external_commit_info, groupId: new Uint8Array(63).fill(1), pp: { earKey: new Uint8Array(0) } },
    ];
    const auths = [
      { type: DSAuthType.anonymous } as const,
      { type: DSAuthType.client_signature, senderIndex: 0xffffffff, signature: new Uint8Array(255) } as const,
      { type: DSAuthType.user_signature, userKeyHash: new Uint8Array(64), signature: new Uint8Array(0) } as const,
      { type: DSAuthType.key_package_signature, keyPackageRef: new Uint8Array(0), signature: new Uint8Array(64).fill(0xff) } as const,
    ];
    for (const body of bodies) {
      for (const auth of auths) {
        const bytes = new DSRequest(1, body, auth).serialize();
        const d = DSRequest.deserialize(bytes);
        assert.deepEqual(d.body, body);
        assert.deepEqual(d.auth, auth);
        assert.equal(hex(d.serialize()), hex(bytes));
      }
    }
    // any version decodes (negotiation happens in the DS, which needs the number)
    assert.equal(DSRequest.deserialize(new DSRequest(0xffff, { type: DSRequestType.request_group_id }, { type: DSAuthType.anonymous }).serialize()).version, 0xffff);
    assert.equal(DSRequest.peekVersion(Uint8Array.of(0x12, 0x34)), 0x1234);
    assert.equal(DSRequest.peekVersion(Uint8Array.of(0x12)), undefined);
  });

  it("refuses the KeyPackage-directory request types and unknown request, auth and response types as MalformedError", () => {
    for (const t of [DSRequestType.key_packages, DSRequestType.connection_key_packages, 17, 0xff]) {
      assert.throws(() => DSRequest.deserialize(Uint8Array.of(0, 1, t, 0)), MalformedError, `request type ${t}`);
    }
    assert.throws(() => DSRequest.deserialize(Uint8Array.of(0, 1, DSRequestType.request_group_id, 4)), MalformedError);
    for (const t of [DSResponseType.key_packages, DSResponseType.connection_key_packages, 8, 0xff]) {
      assert.throws(() => DSResponse.deserialize(Uint8Array.of(0, 1, t)), MalformedError, `response type ${t}`);
    }
    // an optional's presence byte is 0 or 1, nothing else
    const wi = new DSRequest(1, { type: DSRequestType.external_commit_info, groupId: new Uint8Array(16) }, { type: DSAuthType.anonymous }).serialize();
    const bad = Uint8Array.from(wi);
    bad[bad.length - 2] = 2;
    assert.throws(() => DSRequest.deserialize(bad), MalformedError);
    // lengths must use the shortest varint form
    const long = Uint8Array.of(0, 1, DSRequestType.external_commit_info, 0x40, 0x00, 0, 0);
    assert.throws(() => DSRequest.deserialize(long), MalformedError);
  });

  it("round-trips every response type byte-identically", () => {
    const types = new Set<DSResponseType>();
    for (const s of corpus.responses) {
      const d = DSResponse.deserialize(s.bytes);
      assert.equal(hex(d.serialize()), hex(s.bytes), s.name);
      assert.equal(hex(new DSResponse(d.version, d.body).serialize()), hex(s.bytes), s.name);
      types.add(d.body.type);
    }
    const all = [DSResponseType.ok, DSResponseType.error, DSResponseType.group_id, DSResponseType.welcome_info, DSResponseType.external_commit_info, DSResponseType.signature_public_key];
    assert.deepEqual([...types].sort(), all.sort());
    const v = DSResponse.deserialize(corpus.responses.find((s) => s.name === "error unsupported_version")!.bytes).body;
    assert.ok(v.type === DSResponseType.error && v.code === DSErrorCode.unsupported_version);
    assert.deepEqual((v as { supportedVersions: readonly number[] }).supportedVersions, [1]);
  });
});

describe("decoding errors are typed (error catalogue: only DecodeError subclasses, never anything else)", () => {
  // small and medium encodings of several shapes (every flip of a commit costs a full MLS decode)
  const REQUESTS = ["send_message", "self_remove_client", "welcome_info (key_package_signature)", "set_role", "external_commit_info", "request_group_id"];
  const RESPONSES = ["error unsupported_version", "group_id", "external_commit_info without tree"];

  it("every proper prefix of a valid encoding is refused with a DecodeError", () => {
    for (const s of [...corpus.requests]) for (let n = 0; n < s.bytes.length; n++) mustFail(decodeRequest, s.bytes.subarray(0, n), `${s.name} prefix ${n}`);
    for (const s of corpus.responses) for (let n = 0; n < s.bytes.length; n++) mustFail(decodeResponse, s.bytes.subarray(0, n), `${s.name} prefix ${n}`);
  });

  it("one extra trailing byte is refused with a DecodeError", () => {
    for (const s of corpus.requests) for (const x of [0x00, 0x01, 0xff]) mustFail(decodeRequest, Uint8Array.from([...s.bytes, x]), `${s.name} + ${x}`);
    for (const s of corpus.responses) for (const x of [0x00, 0xff]) mustFail(decodeResponse, Uint8Array.from([...s.bytes, x]), `${s.name} + ${x}`);
  });

  it("every single-bit flip of several valid encodings either decodes canonically or throws a DecodeError", () => {
    let accepted = 0;
    let refused = 0;
    const flip = (decode: Decoder, s: Sample) => {
      const b = Uint8Array.from(s.bytes);
      for (let i = 0; i < b.length; i++) {
        for (let bit = 0; bit < 8; bit++) {
          b[i]! ^= 1 << bit;
          if (decodeOrDecodeError(decode, b, `${s.name} bit ${i}.${bit}`)) accepted++;
          else refused++;
          b[i]! ^= 1 << bit;
        }
      }
    };
    for (const n of REQUESTS) flip(decodeRequest, pick(n));
    for (const n of RESPONSES) flip(decodeResponse, corpus.responses.find((s) => s.name === n)!);
    assert.ok(accepted > 0 && refused > 0, `${accepted} flips decoded, ${refused} refused`);
  });

  it("random inputs (raw, and behind a valid version and request type) only ever throw DecodeError", () => {
    const rnd = mulberry32(0x5eed);
    const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(rnd() * 256));
    for (let i = 0; i < 20_000; i++) {
      const n = Math.floor(rnd() * 96);
      const r = bytes(n);
      decodeOrDecodeError(decodeRequest, r, "random request");
      decodeOrDecodeError(decodeResponse, r, "random response");
      const typed = Uint8Array.from([0, 1, i % 17, ...r]);
      decodeOrDecodeError(decodeRequest, typed, "random typed request");
      decodeOrDecodeError(decodeResponse, Uint8Array.from([0, 1, i % 8, ...r]), "random typed response");
    }
  });
});

describe("seeded fuzz of DSRequest.deserialize and DeliveryService.handle", () => {
  const SEED = 0x6d696d69; // "mimi"
  const INPUTS = 100_000;
  const HANDLED = 3_000;

  /** One mutation of `src` (bit flip, byte set, insert, delete, duplicate, truncate, splice). */
  function mutate(rnd: () => number, src: Uint8Array, other: Uint8Array): Uint8Array {
    const int = (n: number) => Math.floor(rnd() * n);
    const b = Array.from(src);
    const rounds = 1 + int(3);
    for (let r = 0; r < rounds; r++) {
      const at = int(b.length + 1);
      switch (int(8)) {
        case 0:
          if (b.length) b[at % b.length]! ^= 1 << int(8);
          break;
        case 1:
          if (b.length) b[at % b.length] = [0x00, 0x01, 0x3f, 0x40, 0x7f, 0x80, 0xbf, 0xc0, 0xff][int(9)]!;
          break;
        case 2:
          if (b.length) b[at % b.length] = int(256);
          break;
        case 3:
          b.splice(at, 0, ...Array.from({ length: 1 + int(4) }, () => int(256)));
          break;
        case 4:
          b.splice(at, 1 + int(8));
          break;
        case 5: {
          const len = 1 + int(16);
          b.splice(at, 0, ...b.slice(at, at + len));
          break;
        }
        case 6:
          b.length = Math.min(b.length, at);
          break;
        default: {
          const from = int(other.length + 1);
          b.splice(at, int(32), ...other.subarray(from, from + int(64)));
        }
      }
    }
    return Uint8Array.from(b);
  }

  it(`${INPUTS} mutated requests: deserialize throws only DecodeError and accepted inputs are canonical; ${HANDLED} of them through ds.handle() only get error responses`, async () => {
    const rnd = mulberry32(SEED);
    const reqs = corpus.requests;
    const t0 = performance.now();
    let accepted = 0;
    const toHandle: Uint8Array[] = [];
    const signed = reqs.filter((s) => s.signed);
    // most inputs come from the small encodings: a mutated commit costs a full MLS decode (~150 us)
    const small = reqs.filter((s) => s.bytes.length < 600);
    let undecodable = 0;
    for (let i = 0; i < INPUTS; i++) {
      const from = rnd() < 0.75 ? small : reqs;
      const s = from[Math.floor(rnd() * from.length)]!;
      const m = mutate(rnd, s.bytes, reqs[Math.floor(rnd() * reqs.length)]!.bytes);
      const ok = decodeOrDecodeError(decodeRequest, m, `fuzz #${i} (seed ${SEED}) from ${s.name}`);
      if (ok) accepted++;
      // Mutated signed requests go to the DS as well: mostly ones that still decode (they reach
      // the DS's checks), some that do not.
      if (toHandle.length < HANDLED && s.signed && hex(m) !== hex(s.bytes) && (ok || (undecodable++ % 8 === 0 && i % 5 === 0))) toHandle.push(m);
    }
    const decodeMs = performance.now() - t0;
    if (process.env.MIMI_FUZZ_STATS) process.stderr.write(`fuzz: ${INPUTS} inputs decoded in ${decodeMs.toFixed(0)} ms, ${accepted} accepted\n`);
    assert.ok(decodeMs < 30_000, `decoding took ${decodeMs.toFixed(0)} ms`);
    assert.ok(accepted > 100, `${accepted} mutated inputs still decoded (the fuzz reaches past the framing)`);
    assert.ok(signed.length >= 10);

    // The DS: the group is at the epoch of the "(current)" samples; nothing may be accepted.
    const { w } = corpus;
    const head = await w.h.store.getHead(w.groupId);
    const codes = new Map<string, number>();
    for (const [i, m] of toHandle.entries()) {
      const r = await w.h.ds.handle(m);
      const body = DSResponse.deserialize(r.response).body;
      assert.equal(body.type, DSResponseType.error, `fuzz handle #${i}: a mutated signed request was accepted: ${hex(m)}`);
      if (body.type === DSResponseType.error) codes.set(DSErrorCode[body.code]!, (codes.get(DSErrorCode[body.code]!) ?? 0) + 1);
      assert.deepEqual(await r.fanout(), []);
    }
    assert.equal(toHandle.length, HANDLED);
    assert.deepEqual(await w.h.store.getHead(w.groupId), head, "the group is untouched");
    assert.ok(!codes.has("temporarily_unavailable"), `no internal error surfaced: ${JSON.stringify(Object.fromEntries(codes))}`);
    assert.ok(codes.size >= 4, `the fuzz reaches several checks: ${JSON.stringify(Object.fromEntries(codes))}`);
    if (process.env.MIMI_FUZZ_STATS) process.stderr.write(`fuzz: ${HANDLED} handled in ${(performance.now() - t0 - decodeMs).toFixed(0)} ms: ${JSON.stringify(Object.fromEntries(codes))}\n`);
    // and the unmutated current requests are still valid: the DS kept serving
    await w.h.ok(pick("send_message (current)").bytes);
  });
});
