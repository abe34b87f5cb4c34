// The DS side of fanout: its Ed25519 fanout keys with rotation, the VerificationKeyResponse it
// publishes at /verification_key, and DSFanoutRequests built from a fanout plan, one per
// (destination QS domain, message), signed with SignWithLabel("MIMI DS fanout").
//
// Rotation: rotate() makes a new key current (it signs from then on); the previous key stays
// published for `overlapMs`, so a QS holding a cached key list keeps verifying requests signed
// just before the rotation and refreshes when it meets the new key. A retry must resend the
// same request bytes (same message_id and hub timestamp): that is what the QS deduplicates.
import { createHash, randomBytes } from "node:crypto";
import { decodeClientQueueConfig } from "../protocol/ClientQueueConfig.js";
import { DSFanoutRequest, type DSFanoutRequestFields, type FanoutRecipient } from "../protocol/DSFanoutRequest.js";
import type { DSFanoutResponse } from "../protocol/DSFanoutResponse.js";
import { DS_FANOUT_SIGNATURE_LABEL, DSFanoutResponseType, FANOUT_PROTOCOL_VERSION, MESSAGE_ID_LENGTH, QueueingServiceResponse, SIGNATURE_SCHEME_ED25519 } from "../protocol/QsConstants.js";
import { QsMalformedError } from "../protocol/QsErrors.js";
import { checkDomain } from "../protocol/qsCodec.js";
import { VerificationKeyResponse } from "../protocol/VerificationKeyResponse.js";
import { Ed25519SigningKey } from "./Ed25519SigningKey.js";

/** Structurally a ds/DeliveryService FanoutItem. */
export interface FanoutItemLike {
  readonly queueConfig: Uint8Array;
  readonly message: Uint8Array;
  readonly sealedJoinerKey?: Uint8Array;
}

/** A key as persisted: raw private key, and when it stopped signing (absent for the current key). */
export interface DsSigningKeyRecord {
  readonly privateKey: Uint8Array;
  readonly retiredAtMs?: number;
}

export interface DsFanoutSignerOptions {
  /** how long a replaced key stays published (default 24 h) */
  overlapMs?: number;
  /** recipients per request; a larger group is split into several requests (default 1000) */
  maxRecipientsPerRequest?: number;
  /**
   * what one request may expand to at the QS, recipients x (message + joiner key + 64) bytes
   * (default 32 MiB, half the QS's default maxFanoutBytes); large messages get fewer recipients
   */
  maxExpandedBytes?: number;
  now?: () => number;
}

/** One request to send, with the plan items it carries, in recipient order. */
export interface PlannedFanout {
  readonly qsDomain: string;
  readonly request: DSFanoutRequest;
  /** the plan items of the request's first recipients, in order */
  readonly itemIndexes: readonly number[];
  /** dummy recipients after them (recipient-count padding) */
  readonly padding: number;
}

/**
 * The padded recipient count for a request to another provider: the next power of two, at
 * least 4, so the provider-to-provider link (and its TLS lengths) shows only a size bucket.
 */
export function recipientBucket(n: number): number {
  let b = 4;
  while (b < n) b *= 2;
  return b;
}

export interface FanoutBatch {
  readonly requests: PlannedFanout[];
  /** plan items whose queue config does not decode: the DS treats them as rejected by the QS */
  readonly invalidItems: number[];
}

interface Held {
  key: Ed25519SigningKey;
  retiredAtMs?: number;
}

export class DsFanoutSigner {
  readonly domain: string;
  #current: Ed25519SigningKey;
  #previous: Held[] = [];
  readonly #overlapMs: number;
  readonly #maxRecipients: number;
  readonly #maxExpanded: number;
  readonly #now: () => number;

  constructor(domain: string, keys: readonly DsSigningKeyRecord[], opts: DsFanoutSignerOptions = {}) {
    this.domain = checkDomain(domain, "sender_domain");
    this.#overlapMs = opts.overlapMs ?? 86_400_000;
    this.#maxRecipients = opts.maxRecipientsPerRequest ?? 1000;
    this.#maxExpanded = opts.maxExpandedBytes ?? 32 << 20;
    this.#now = opts.now ?? Date.now;
    if (!Number.isInteger(this.#maxRecipients) || this.#maxRecipients < 1) throw new RangeError("maxRecipientsPerRequest must be positive");
    const current = keys.filter((k) => k.retiredAtMs === undefined);
    if (current.length !== 1) throw new RangeError("exactly one current (unretired) key is needed");
    this.#current = Ed25519SigningKey.fromPrivateKey(current[0]!.privateKey);
    for (const k of keys) if (k.retiredAtMs !== undefined) this.#previous.push({ key: Ed25519SigningKey.fromPrivateKey(k.privateKey), retiredAtMs: k.retiredAtMs });
  }

  static generate(domain: string, opts: DsFanoutSignerOptions = {}): DsFanoutSigner {
    return new DsFanoutSigner(domain, [{ privateKey: Ed25519SigningKey.generate().privateKey }], opts);
  }

  get currentPublicKey(): Uint8Array {
    return Uint8Array.from(this.#current.publicKey);
  }

  /** A new current key; the old one stays published for the overlap window. */
  rotate(next: Ed25519SigningKey = Ed25519SigningKey.generate()): void {
    this.#previous.push({ key: this.#current, retiredAtMs: this.#now() });
    this.#current = next;
    this.#prune();
  }

  #prune(): void {
    const now = this.#now();
    this.#previous = this.#previous.filter((h) => now - h.retiredAtMs! < this.#overlapMs);
  }

  /** The keys a QS may verify with now: the current one first, then those in their overlap window. */
  publishedKeys(): Uint8Array[] {
    this.#prune();
    return [this.#current.publicKey, ...this.#previous.map((h) => h.key.publicKey)].map((k) => Uint8Array.from(k));
  }

  /** The body of GET /verification_key. */
  verificationKeyResponse(): VerificationKeyResponse {
    return new VerificationKeyResponse(
      FANOUT_PROTOCOL_VERSION,
      this.publishedKeys().map((publicKey) => ({ signatureScheme: SIGNATURE_SCHEME_ED25519, publicKey })),
    );
  }

  /** What to persist (private keys: store them encrypted). */
  exportKeys(): DsSigningKeyRecord[] {
    this.#prune();
    return [{ privateKey: Uint8Array.from(this.#current.privateKey) }, ...this.#previous.map((h) => ({ privateKey: Uint8Array.from(h.key.privateKey), retiredAtMs: h.retiredAtMs! }))];
  }

  /** Signs one request with the current key. */
  sign(fields: Omit<DSFanoutRequestFields, "version" | "senderDomain"> & { version?: number }): DSFanoutRequest {
    const f: DSFanoutRequestFields = { ...fields, version: fields.version ?? FANOUT_PROTOCOL_VERSION, senderDomain: this.domain };
    return new DSFanoutRequest(f, this.#current.signWithLabel(DS_FANOUT_SIGNATURE_LABEL, DSFanoutRequest.tbs(f)));
  }

  /**
   * Turns a fanout plan into signed requests: one per (QS domain, message), split at
   * maxRecipientsPerRequest; each distinct message gets one random message_id.
   */
  buildRequests(
    items: readonly FanoutItemLike[],
    opts: {
      hubTimestampMs?: number;
      /**
       * the recipient count a request to `qsDomain` with `n` real recipients is padded to (dummy
       * references of the real length, which the QS refuses and the DS ignores); default: n
       */
      padRecipients?: (qsDomain: string, n: number) => number;
    } = {},
  ): FanoutBatch {
    const hubTimestampMs = opts.hubTimestampMs ?? this.#now();
    const invalidItems: number[] = [];
    // Messages are grouped by identity first (a plan shares one array), then by content.
    const idOfArray = new Map<Uint8Array, string>();
    const groups = new Map<string, { qsDomain: string; message: Uint8Array; messageKey: string; items: number[] }>();
    const messageIds = new Map<string, Uint8Array>();
    items.forEach((it, i) => {
      let qsDomain: string;
      let sealedReference: Uint8Array;
      try {
        ({ qsDomain, sealedReference } = decodeClientQueueConfig(it.queueConfig));
        if (sealedReference.length === 0) throw new Error("empty");
        checkDomain(qsDomain, "qs_domain");
      } catch {
        invalidItems.push(i);
        return;
      }
      let mk = idOfArray.get(it.message);
      if (mk === undefined) {
        mk = createHash("sha256").update(it.message).digest("hex");
        idOfArray.set(it.message, mk);
      }
      if (!messageIds.has(mk)) messageIds.set(mk, new Uint8Array(randomBytes(MESSAGE_ID_LENGTH)));
      const g = `${qsDomain} ${mk}`;
      let grp = groups.get(g);
      if (grp === undefined) groups.set(g, (grp = { qsDomain, message: it.message, messageKey: mk, items: [] }));
      grp.items.push(i);
    });
    const requests: PlannedFanout[] = [];
    for (const grp of groups.values()) {
      // Cut the group into requests by recipient count and by expanded size.
      let chunk: number[] = [];
      let bytes = 0;
      const flush = () => {
        if (chunk.length === 0) return;
        const recipients: FanoutRecipient[] = chunk.map((i) => {
          const it = items[i]!;
          const sealedReference = decodeClientQueueConfig(it.queueConfig).sealedReference;
          return it.sealedJoinerKey === undefined ? { sealedReference } : { sealedReference, sealedJoinerKey: it.sealedJoinerKey };
        });
        // Padding stays within the request limits (count, and expanded size at the QS).
        const perRecipient = grp.message.length + 64;
        const cap = Math.min(this.#maxRecipients, Math.max(recipients.length, Math.floor(this.#maxExpanded / perRecipient)));
        const target = Math.min(cap, Math.max(recipients.length, opts.padRecipients?.(grp.qsDomain, recipients.length) ?? recipients.length));
        const refLength = recipients[0]!.sealedReference.length;
        const padding = target - recipients.length;
        for (let d = 0; d < padding; d++) recipients.push({ sealedReference: new Uint8Array(randomBytes(refLength)) });
        const request = this.sign({ messageId: messageIds.get(grp.messageKey)!, recipients, message: grp.message, hubTimestampMs });
        requests.push({ qsDomain: grp.qsDomain, request, itemIndexes: chunk, padding });
        chunk = [];
        bytes = 0;
      };
      for (const i of grp.items) {
        const size = grp.message.length + (items[i]!.sealedJoinerKey?.length ?? 0) + 64;
        if (chunk.length >= this.#maxRecipients || (chunk.length > 0 && bytes + size > this.#maxExpanded)) flush();
        chunk.push(i);
        bytes += size;
      }
      flush();
    }
    return { requests, invalidItems };
  }
}

/**
 * Pairs a QS's answer with the plan items of the request: the items the QS refused
 * (invalid_client_queue_information: issue a Remove proposal), the ones to retry later
 * (queue_full), or all of them when the QS refused the request as a whole (`error` set).
 */
export function fanoutOutcome(planned: PlannedFanout, response: DSFanoutResponse): { delivered: number[]; invalid: number[]; retry: number[]; error?: number } {
  if (response.body.type === DSFanoutResponseType.error) return { delivered: [], invalid: [], retry: [...planned.itemIndexes], error: response.body.code };
  const results = response.body.results;
  if (results.length !== planned.itemIndexes.length + (planned.padding ?? 0)) throw new QsMalformedError("DSFanoutResponse has a different number of results than recipients");
  const out = { delivered: [] as number[], invalid: [] as number[], retry: [] as number[] };
  // results past the real recipients answer the padding dummies: refused by design, ignored
  results.slice(0, planned.itemIndexes.length).forEach((s, i) => {
    const item = planned.itemIndexes[i]!;
    if (s === QueueingServiceResponse.ok) out.delivered.push(item);
    else if (s === QueueingServiceResponse.invalid_client_queue_information) out.invalid.push(item);
    else out.retry.push(item);
  });
  return out;
}
