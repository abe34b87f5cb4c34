// The QS wire profile "mimi-qs/1" (src/protocol/Qs*.ts, DSFanout*.ts, VerificationKeyResponse.ts,
// QueueReference.ts, QueuedMessage.ts): every struct round-trips field by field and byte for
// byte, signatures cover exactly the TBS, and every malformed input is a typed QsMalformedError.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { randomBytes } from "node:crypto";
import { verifyWithLabelEd25519 } from "../../src/ds/signatures.js";
import { DSFanoutRequest } from "../../src/protocol/DSFanoutRequest.js";
import { DSFanoutResponse } from "../../src/protocol/DSFanoutResponse.js";
import { DS_FANOUT_SIGNATURE_LABEL, DSFanoutResponseType, QS_REQUEST_SIGNATURE_LABEL, QsRequestType, QsResponseType, QueueingServiceResponse } from "../../src/protocol/QsConstants.js";
import * as E from "../../src/protocol/QsErrors.js";
import { QsRequest } from "../../src/protocol/QsRequest.js";
import { QsResponse } from "../../src/protocol/QsResponse.js";
import { QueuedContentType, QueuedMessage } from "../../src/protocol/QueuedMessage.js";
import { QueueReference, SealedQueueReference } from "../../src/protocol/QueueReference.js";
import { VerificationKeyResponse } from "../../src/protocol/VerificationKeyResponse.js";
import { TlsWriter } from "../../src/protocol/tls.js";
import { DsFanoutSigner, QueueOwner } from "../../src/qs/index.js";
import { codecs } from "./wireSamples.js";

const rb = (n: number) => new Uint8Array(randomBytes(n));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const malformed = (f: () => unknown, re?: RegExp) =>
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof E.QsMalformedError, `expected QsMalformedError, got ${String(e)}`);
    assert.equal(e.code, E.QSErrorCode.malformed);
    if (re) assert.match(e.message, re);
    return true;
  });

describe("mimi-qs/1 wire structs round-trip", () => {
  it("every sample of every struct re-serializes to the same bytes", () => {
    let n = 0;
    for (const c of codecs()) {
      for (const s of c.samples) {
        assert.equal(hex(c.decode(s).serialize()), hex(s), c.name);
        n++;
      }
    }
    assert.ok(n >= 25);
  });

  it("QsRequest: every body field survives, and the signature covers the TBS with label 'MIMI QS request'", () => {
    const owner = QueueOwner.generate(() => 1234);
    const qid = rb(16);
    const reqs = [owner.createQueue(rb(32)), owner.fetch(qid, 77n, { maxMessages: 5, waitMs: 900 }), owner.ack(qid, 9n), owner.deleteQueue(qid), owner.referenceKey(qid)];
    for (const r of reqs) {
      const d = QsRequest.deserialize(r.serialize());
      assert.deepEqual({ ...d.body }, { ...r.body });
      assert.equal(d.timestampMs, 1234);
      assert.equal(d.version, 1);
      assert.deepEqual(d.nonce, r.nonce);
      assert.ok(verifyWithLabelEd25519(owner.publicKey, QS_REQUEST_SIGNATURE_LABEL, d.tbs(), d.signature));
      assert.ok(!verifyWithLabelEd25519(owner.publicKey, DS_FANOUT_SIGNATURE_LABEL, d.tbs(), d.signature));
    }
    const f = QsRequest.deserialize(reqs[1]!.serialize());
    assert.equal(f.body.type, QsRequestType.fetch);
    assert.deepEqual(f.queueId, qid);
    assert.equal(QsRequest.deserialize(reqs[0]!.serialize()).queueId, undefined);
  });

  it("QsResponse bodies survive", () => {
    const refKey = { keyId: 3, publicKey: rb(32) };
    const m = new QsResponse(1, { type: QsResponseType.messages, messages: [{ sequence: 2n, ciphertext: rb(17) }], nextSequence: 3n });
    assert.deepEqual(QsResponse.deserialize(m.serialize()), m);
    const c = new QsResponse(1, { type: QsResponseType.queue_created, queueId: rb(16), referenceKey: refKey });
    assert.deepEqual(QsResponse.deserialize(c.serialize()), c);
    const e = new QsResponse(1, { type: QsResponseType.error, code: E.QSErrorCode.unsupported_version, supportedVersions: [1] });
    assert.deepEqual(QsResponse.deserialize(e.serialize()), e);
  });

  it("DSFanoutRequest: fields survive, and the DS signature covers everything but itself", () => {
    const signer = DsFanoutSigner.generate("ds.a.test");
    const r = signer.sign({ messageId: rb(32), recipients: [{ sealedReference: rb(68) }, { sealedReference: rb(68), sealedJoinerKey: rb(77) }], message: rb(123), hubTimestampMs: 42 });
    const d = DSFanoutRequest.deserialize(r.serialize());
    assert.equal(d.senderDomain, "ds.a.test");
    assert.deepEqual(d.recipients, r.recipients);
    assert.equal(d.recipients[0]!.sealedJoinerKey, undefined);
    assert.deepEqual(d.message, r.message);
    assert.equal(d.hubTimestampMs, 42);
    assert.ok(verifyWithLabelEd25519(signer.currentPublicKey, DS_FANOUT_SIGNATURE_LABEL, d.tbs(), d.signature));
    // TBS = serialization minus the trailing opaque signature<V> (2-byte length prefix for 64 bytes)
    assert.equal(hex(d.tbs()), hex(r.serialize().subarray(0, r.serialize().length - 66)));
  });

  it("DSFanoutResponse, VerificationKeyResponse, QueuedMessage, QueueReference and SealedQueueReference survive", () => {
    const ok = new DSFanoutResponse(1, { type: DSFanoutResponseType.ok, results: [QueueingServiceResponse.queue_full, QueueingServiceResponse.ok] });
    assert.deepEqual(DSFanoutResponse.deserialize(ok.serialize()), ok);
    const v = new VerificationKeyResponse(1, [{ signatureScheme: 0x0807, publicKey: rb(32) }]);
    assert.deepEqual(VerificationKeyResponse.deserialize(v.serialize()), v);
    const q = new QueuedMessage(rb(10), rb(20), 99, "ds.a.test");
    assert.deepEqual(QueuedMessage.deserialize(q.serialize()), q);
    const offer = new QueuedMessage(rb(40), undefined, 7, "qs.b.test", QueuedContentType.connection_offer);
    assert.deepEqual(QueuedMessage.deserialize(offer.serialize()), offer);
    assert.equal(offer.serialize()[0], QueuedContentType.connection_offer);
    const qr = new QueueReference(rb(16));
    assert.deepEqual(QueueReference.deserialize(qr.serialize()).queueId, qr.queueId);
    const s = new SealedQueueReference(9, rb(32), rb(49));
    assert.deepEqual(SealedQueueReference.deserialize(s.serialize()), s);
  });
});

describe("mimi-qs/1 malformed inputs: error catalogue", () => {
  const owner = QueueOwner.generate();
  const good = owner.fetch(rb(16), 1n).serialize();

  it("truncation at every length and trailing bytes", () => {
    for (const c of codecs()) {
      for (const s of c.samples) {
        for (let n = 0; n < s.length; n++) malformed(() => c.decode(s.subarray(0, n)));
        malformed(() => c.decode(Uint8Array.from([...s, 0])), /trailing/);
      }
    }
  });

  it("QsRequest field rules", () => {
    const body = (write: (w: TlsWriter) => void) => {
      const w = new TlsWriter().u16(1);
      write(w);
      return w.u64(1n).opaque(rb(16)).opaque(rb(64)).finish();
    };
    malformed(() => QsRequest.deserialize(body((w) => w.u8(9).opaque(rb(16)))), /unknown request_type 9/);
    malformed(() => QsRequest.deserialize(body((w) => w.u8(QsRequestType.create_queue).opaque(rb(31)).opaque(rb(32)))), /owner_key must be 32/);
    malformed(() => QsRequest.deserialize(body((w) => w.u8(QsRequestType.create_queue).opaque(rb(32)).opaque(rb(16)))), /initial_secret must be 32/);
    malformed(() => QsRequest.deserialize(body((w) => w.u8(QsRequestType.delete_queue).opaque(new Uint8Array(0)))), /queue_id is empty/);
    malformed(() => QsRequest.deserialize(body((w) => w.u8(QsRequestType.delete_queue).opaque(rb(65)))), /exceeds the limit/);
    // nonce of 15 bytes
    const w = new TlsWriter().u16(1).u8(QsRequestType.delete_queue).opaque(rb(16)).u64(1n).opaque(rb(15)).opaque(rb(64));
    malformed(() => QsRequest.deserialize(w.finish()), /nonce must be 16/);
    // timestamp beyond 2^53
    const big = new TlsWriter().u16(1).u8(QsRequestType.delete_queue).opaque(rb(16)).u64(1n << 60n).opaque(rb(16)).opaque(rb(64));
    malformed(() => QsRequest.deserialize(big.finish()), /timestamp_ms is out of range/);
    // non-minimal length prefix (0x40 0x10 for 16)
    const nm = Uint8Array.from([0, 1, QsRequestType.delete_queue, 0x40, 16, ...rb(16)]);
    malformed(() => QsRequest.deserialize(Uint8Array.from([...nm, ...good.subarray(nm.length)])), /non-minimal/);
    // the 0b11 length prefix
    malformed(() => QsRequest.deserialize(Uint8Array.from([0, 1, QsRequestType.delete_queue, 0xc0, 0, 0, 0])), /invalid variable-length prefix/);
  });

  it("QsResponse / DSFanoutResponse enum rules", () => {
    malformed(() => QsResponse.deserialize(Uint8Array.from([0, 1, 9])), /unknown response_type/);
    malformed(() => QsResponse.deserialize(Uint8Array.from([0, 1, QsResponseType.error, 0x12, 0x34, 0])), /unknown error code/);
    malformed(() => QsResponse.deserialize(new TlsWriter().u16(1).u8(QsResponseType.reference_key).u8(1).opaque(rb(31)).finish()), /32 bytes/);
    malformed(() => DSFanoutResponse.deserialize(Uint8Array.from([0, 1, 0, 1, 3])), /unknown QueueingServiceResponse 3/);
    malformed(() => DSFanoutResponse.deserialize(Uint8Array.from([0, 1, 1, 0, 99])), /unknown error code/);
    malformed(() => DSFanoutResponse.deserialize(Uint8Array.from([0, 1, 2])), /unknown response_type/);
  });

  it("DSFanoutRequest field rules", () => {
    const enc = new TextEncoder();
    const build = (o: { domain?: Uint8Array; mid?: Uint8Array; recipients?: (w: TlsWriter) => void; ts?: bigint }) => {
      const w = new TlsWriter().u16(1).opaque(o.domain ?? enc.encode("ds.a.test")).opaque(o.mid ?? rb(32));
      const inner = new TlsWriter();
      (o.recipients ?? ((iw: TlsWriter) => iw.opaque(rb(68)).u8(0)))(inner);
      return w.opaque(inner.finish()).opaque(rb(10)).u64(o.ts ?? 5n).opaque(rb(64)).finish();
    };
    assert.equal(DSFanoutRequest.deserialize(build({})).recipients.length, 1);
    malformed(() => DSFanoutRequest.deserialize(build({ domain: enc.encode("DS.A.TEST") })), /lowercase domain/);
    malformed(() => DSFanoutRequest.deserialize(build({ domain: enc.encode("a/b") })), /lowercase domain/);
    malformed(() => DSFanoutRequest.deserialize(build({ domain: Uint8Array.of(0xff, 0xfe) })), /not UTF-8/);
    malformed(() => DSFanoutRequest.deserialize(build({ domain: new Uint8Array(0) })), /lowercase domain/);
    malformed(() => DSFanoutRequest.deserialize(build({ mid: rb(31) })), /message_id must be 32/);
    malformed(() => DSFanoutRequest.deserialize(build({ recipients: (w) => w.opaque(rb(68)).u8(2) })), /presence byte/);
    malformed(() => DSFanoutRequest.deserialize(build({ recipients: (w) => w.opaque(rb(1025)).u8(0) })), /exceeds the limit/);
    malformed(() => DSFanoutRequest.deserialize(build({ recipients: (w) => w.opaque(rb(68)) })), /truncated/);
    malformed(() => DSFanoutRequest.deserialize(build({ ts: 1n << 63n })), /hub_timestamp_ms is out of range/);
    malformed(() => DSFanoutRequest.deserialize(build({ recipients: (w) => { for (let i = 0; i < 10_001; i++) w.opaque(new Uint8Array(0)).u8(0); } })), /more than 10000 items/);
    // the constructor enforces the same rules on locally built requests
    malformed(() => new DSFanoutRequest({ version: 1, senderDomain: "Bad Domain", messageId: rb(32), recipients: [], message: rb(1), hubTimestampMs: 0 }, rb(64)));
    malformed(() => new DSFanoutRequest({ version: 1, senderDomain: "a.test", messageId: rb(32), recipients: [], message: rb(1), hubTimestampMs: -1 }, rb(64)));
  });

  it("reference, verification-key and queued-message rules", () => {
    malformed(() => QueueReference.deserialize(Uint8Array.of(0)), /queue_id is empty/);
    malformed(() => SealedQueueReference.deserialize(new TlsWriter().u8(1).opaque(rb(31)).opaque(rb(33)).finish()), /enc must be 32/);
    malformed(() => SealedQueueReference.deserialize(new TlsWriter().u8(1).opaque(rb(32)).opaque(rb(16)).finish()), /too short/);
    malformed(() => VerificationKeyResponse.deserialize(new TlsWriter().u16(1).vector(Array.from({ length: 17 }), (w) => w.u16(0x0807).opaque(rb(32))).finish()), /more than 16 items/);
    malformed(() => QueuedMessage.deserialize(new TlsWriter().u8(1).opaque(rb(3)).u8(0).u64(1n).opaque(new TextEncoder().encode("UPPER")).finish()), /lowercase domain/);
    malformed(() => QueuedMessage.deserialize(new TlsWriter().u8(9).opaque(rb(3)).u8(0).u64(1n).opaque(new TextEncoder().encode("a.test")).finish()), /content_type/);
    malformed(() => QueuedMessage.deserialize(new TlsWriter().u8(2).opaque(rb(3)).u8(1).opaque(rb(2)).u64(1n).opaque(new TextEncoder().encode("a.test")).finish()), /joiner key/);
    malformed(() => QsRequest.deserialize("not bytes" as unknown as Uint8Array), /not a byte array/);
  });
});

describe("QS error hierarchy: stable codes", () => {
  it("each error class carries its documented wire code and is a QsError", () => {
    const table: [new (m: string) => E.QsError, E.QSErrorCode, number][] = [
      [E.QsMalformedError, E.QSErrorCode.malformed, 0],
      [E.QsBadSignatureError, E.QSErrorCode.bad_signature, 2],
      [E.UnknownQueueError, E.QSErrorCode.unknown_queue, 3],
      [E.StaleRequestError, E.QSErrorCode.stale_request, 4],
      [E.ReplayedRequestError, E.QSErrorCode.replayed_request, 5],
      [E.SenderNotAllowedError, E.QSErrorCode.sender_not_allowed, 6],
      [E.VerificationKeyUnavailableError, E.QSErrorCode.verification_key_unavailable, 7],
      [E.QsNotAllowedError, E.QSErrorCode.not_allowed, 8],
      [E.LimitExceededError, E.QSErrorCode.limit_exceeded, 9],
      [E.QsTemporarilyUnavailableError, E.QSErrorCode.temporarily_unavailable, 10],
      [E.InvalidQueueReferenceError, E.QSErrorCode.invalid_client_queue_information, 11],
      [E.QueueDecryptionError, E.QSErrorCode.decryption_failed, 12],
    ];
    for (const [cls, code, value] of table) {
      const e = new cls("x");
      assert.ok(e instanceof E.QsError);
      assert.equal(e.code, code);
      assert.equal(code, value);
      assert.equal(e.name, cls.name);
      assert.equal(E.qsErrorCodeOf(e), value);
    }
    const v = new E.QsUnsupportedVersionError(7, [1]);
    assert.equal(v.code, 1);
    assert.deepEqual(v.supported, [1]);
    assert.equal(E.qsErrorCodeOf(new Error("boom")), E.QSErrorCode.temporarily_unavailable);
    assert.ok(E.isQsErrorCode(12) && !E.isQsErrorCode(13));
  });
});
