// The QS's queue-reference HPKE keys (X25519), by key id, for rotation: the current key is the
// one handed to clients for new references; older keys still open references sealed under them
// until retired. Opened references are cached by SHA-256 of the sealed bytes in a bounded LRU
// (a busy group repeats the same references on every message; the cache tells the QS nothing it
// did not already learn by opening them).
//
// Keep these keys out of the queue store: with them and a DS's group state, a thief could map
// sealed references to queues.
import { createHash } from "node:crypto";
import { NodeX25519Key } from "../hpke/NodeX25519Key.js";
import { InvalidQueueReferenceError } from "../protocol/QsErrors.js";
import type { QsReferenceKey } from "../protocol/QsResponse.js";
import { QueueReference, SealedQueueReference } from "../protocol/QueueReference.js";
import { checkDomain } from "../protocol/qsCodec.js";
import { LruCache } from "./LruCache.js";
import { REFERENCE_INFO, referenceSuite } from "./queueReference.js";

const te = new TextEncoder();

export class QueueReferenceKeyPair {
  private constructor(
    readonly keyId: number,
    /** raw X25519 private key; persist it encrypted, never log it */
    readonly privateKey: Uint8Array,
    readonly publicKey: Uint8Array,
    /** @internal */
    readonly nodePrivateKey: NodeX25519Key,
  ) {
    if (!Number.isInteger(keyId) || keyId < 0 || keyId > 255) throw new RangeError("key id must be a uint8");
  }

  static generate(keyId: number): QueueReferenceKeyPair {
    const p = NodeX25519Key.generatePair();
    return new QueueReferenceKeyPair(keyId, Uint8Array.from(p.privateKey.raw), Uint8Array.from(p.publicKey.raw), p.privateKey);
  }

  static fromPrivateKey(keyId: number, privateKey: Uint8Array): QueueReferenceKeyPair {
    if (privateKey.length !== 32) throw new RangeError("an X25519 private key is 32 bytes");
    const sk = NodeX25519Key.privateFromRaw(privateKey);
    return new QueueReferenceKeyPair(keyId, Uint8Array.from(privateKey), Uint8Array.from(sk.publicKey!.raw), sk);
  }
}

export interface QueueReferenceKeysOptions {
  /** opened references kept (default 65,536); 0 disables the cache */
  cacheSize?: number;
  /** references known not to open, kept so a repeated bad one costs no HPKE (default 4,096) */
  negativeCacheSize?: number;
}

export class QueueReferenceKeys {
  readonly #keys = new Map<number, QueueReferenceKeyPair>();
  #currentId: number;
  readonly #aad: Uint8Array;
  readonly #opened: LruCache<string, Uint8Array>;
  readonly #refused: LruCache<string, true>;

  /** `keys[0]` is the current key unless `currentKeyId` names another. */
  constructor(
    readonly qsDomain: string,
    keys: readonly QueueReferenceKeyPair[],
    opts: QueueReferenceKeysOptions & { currentKeyId?: number } = {},
  ) {
    checkDomain(qsDomain, "qs_domain");
    if (keys.length === 0) throw new RangeError("at least one queue-reference key is needed");
    for (const k of keys) {
      if (this.#keys.has(k.keyId)) throw new RangeError(`duplicate queue-reference key id ${k.keyId}`);
      this.#keys.set(k.keyId, k);
    }
    this.#currentId = opts.currentKeyId ?? keys[0]!.keyId;
    if (!this.#keys.has(this.#currentId)) throw new RangeError("the current key id is not among the keys");
    this.#aad = te.encode(qsDomain);
    this.#opened = new LruCache(opts.cacheSize ?? 65_536);
    this.#refused = new LruCache(opts.negativeCacheSize ?? 4096);
  }

  /** The key to give clients for new references. */
  get current(): QsReferenceKey {
    const k = this.#keys.get(this.#currentId)!;
    return { keyId: k.keyId, publicKey: Uint8Array.from(k.publicKey) };
  }

  get keyIds(): number[] {
    return [...this.#keys.keys()];
  }

  /** Adds a key (e.g. the next one) and, by default, makes it current. Old keys keep opening. */
  add(pair: QueueReferenceKeyPair, makeCurrent = true): void {
    if (this.#keys.has(pair.keyId)) throw new RangeError(`key id ${pair.keyId} is in use`);
    this.#keys.set(pair.keyId, pair);
    if (makeCurrent) this.#currentId = pair.keyId;
    this.#refused.clear();
  }

  /** Retires a non-current key: references sealed under it stop opening (and leave the cache). */
  retire(keyId: number): void {
    if (keyId === this.#currentId) throw new RangeError("cannot retire the current key");
    if (this.#keys.delete(keyId)) this.#opened.clear();
  }

  /** Opens a sealed reference to its queue id; InvalidQueueReferenceError when it does not open. */
  async open(sealed: Uint8Array): Promise<Uint8Array> {
    const h = createHash("sha256").update(sealed).digest("base64");
    const hit = this.#opened.get(h);
    if (hit !== undefined) return hit;
    if (this.#refused.get(h) !== undefined) throw new InvalidQueueReferenceError("queue reference does not open");
    try {
      const s = SealedQueueReference.deserialize(sealed);
      const pair = this.#keys.get(s.keyId);
      if (pair === undefined) throw new InvalidQueueReferenceError("unknown queue-reference key id");
      const pt = await referenceSuite().open({ recipientKey: pair.nodePrivateKey, enc: s.enc, info: REFERENCE_INFO }, s.ciphertext, this.#aad);
      const queueId = QueueReference.deserialize(new Uint8Array(pt)).queueId;
      this.#opened.set(h, queueId);
      return queueId;
    } catch (e) {
      this.#refused.set(h, true);
      if (e instanceof InvalidQueueReferenceError) throw e;
      throw new InvalidQueueReferenceError("queue reference does not open", { cause: e });
    }
  }
}
