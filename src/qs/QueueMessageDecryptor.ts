// Client side of the queue ratchet (QueueChain.ts): the queue owner, who chose the initial
// secret, derives each message key and opens what it fetched. It keeps chain_p for the lowest
// sequence number p it may still need and moves p forward (erasing older chain keys) when it
// acknowledges, so a client compromise after an ack reveals no acknowledged message either.
import { QueueDecryptionError } from "../protocol/QsErrors.js";
import type { QueueMessage } from "../protocol/QsResponse.js";
import { QueuedMessage } from "../protocol/QueuedMessage.js";
import { CHAIN_KEY_LENGTH, initialChainKey, messageKey, nextChainKey, openWithKey } from "./QueueKeySchedule.js";

/** What a client persists per queue: chain_position. */
export interface QueueKeyState {
  readonly queueId: Uint8Array;
  readonly position: bigint;
  readonly chainKey: Uint8Array;
}

export class QueueMessageDecryptor {
  #position: bigint;
  #chainKey: Uint8Array;
  // A second cursor ahead of #position, so reading a fetched batch in order costs one step per
  // message instead of re-deriving from #position each time.
  #cursorSeq: bigint;
  #cursorKey: Uint8Array;

  private constructor(
    readonly queueId: Uint8Array,
    position: bigint,
    chainKey: Uint8Array,
    /** the most ratchet steps one decrypt() or forget() may take (bounds work on a hostile sequence number) */
    readonly maxSkip: number,
  ) {
    this.#position = this.#cursorSeq = position;
    this.#chainKey = this.#cursorKey = Uint8Array.from(chainKey);
  }

  static fromInitialSecret(queueId: Uint8Array, initialSecret: Uint8Array, maxSkip = 100_000): QueueMessageDecryptor {
    return new QueueMessageDecryptor(Uint8Array.from(queueId), 0n, initialChainKey(initialSecret, queueId), maxSkip);
  }

  static fromState(state: QueueKeyState, maxSkip = 100_000): QueueMessageDecryptor {
    if (state.chainKey.length !== CHAIN_KEY_LENGTH || state.position < 0n) throw new RangeError("invalid queue key state");
    return new QueueMessageDecryptor(Uint8Array.from(state.queueId), state.position, state.chainKey, maxSkip);
  }

  get state(): QueueKeyState {
    return { queueId: Uint8Array.from(this.queueId), position: this.#position, chainKey: Uint8Array.from(this.#chainKey) };
  }

  #walk(fromSeq: bigint, fromKey: Uint8Array, toSeq: bigint): Uint8Array {
    if (toSeq - fromSeq > BigInt(this.maxSkip)) throw new QueueDecryptionError(`sequence number is more than ${this.maxSkip} steps ahead`);
    let k = fromKey;
    for (let s = fromSeq; s < toSeq; s++) k = nextChainKey(k, this.queueId, s);
    return k;
  }

  /** chain_seq, from the cursor when it is not past seq. */
  #chainAt(seq: bigint): Uint8Array {
    if (seq < this.#position) throw new QueueDecryptionError("message is before the acknowledged position: its key was erased");
    const fromCursor = this.#cursorSeq <= seq;
    const k = fromCursor ? this.#walk(this.#cursorSeq, this.#cursorKey, seq) : this.#walk(this.#position, this.#chainKey, seq);
    this.#cursorSeq = seq;
    this.#cursorKey = k;
    return k;
  }

  /** Opens one fetched message. QueueDecryptionError if it does not authenticate. */
  decrypt(m: QueueMessage): QueuedMessage {
    const seq = m.sequence;
    const pt = openWithKey(messageKey(this.#chainAt(seq), this.queueId, seq), this.queueId, seq, m.ciphertext);
    try {
      return QueuedMessage.deserialize(pt);
    } catch (e) {
      throw new QueueDecryptionError("queued message plaintext is malformed", { cause: e });
    }
  }

  /** Moves the position past `upToSequence` (inclusive) and erases every older chain key. */
  forget(upToSequence: bigint): void {
    const next = upToSequence + 1n;
    if (next <= this.#position) return;
    const k = this.#chainAt(next);
    if (this.#chainKey !== this.#cursorKey) this.#chainKey.fill(0);
    this.#position = next;
    this.#chainKey = k;
  }
}
