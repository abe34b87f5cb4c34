// Long-poll wake-ups: a fetch that finds its queue empty registers here and sleeps until an
// enqueue to that queue notifies it, its timeout passes, its caller aborts, or the service
// closes. In-process only: with several QS processes over one store, a fetch served by another
// process is woken by its timeout, which bounds the extra latency.
export interface Waiter {
  /** resolves true when notified, false on timeout, abort or close */
  wait(ms: number, signal?: AbortSignal): Promise<boolean>;
  cancel(): void;
}

export class QueueWaiters {
  readonly #byKey = new Map<string, Set<() => void>>();
  #count = 0;
  #closed = false;

  constructor(readonly maxWaiters: number) {}

  get size(): number {
    return this.#count;
  }

  /** Registers before the caller's read, so an enqueue between read and sleep is never missed. Undefined when full or closed. */
  register(key: string): Waiter | undefined {
    if (this.#closed || this.#count >= this.maxWaiters) return undefined;
    let notified = false;
    let wake: (() => void) | undefined;
    const fire = () => {
      notified = true;
      wake?.();
    };
    let set = this.#byKey.get(key);
    if (set === undefined) this.#byKey.set(key, (set = new Set()));
    set.add(fire);
    this.#count++;
    let cancelled = false;
    const cancel = () => {
      if (cancelled) return;
      cancelled = true;
      const s = this.#byKey.get(key);
      if (s?.delete(fire)) this.#count--;
      if (s?.size === 0) this.#byKey.delete(key);
      wake?.();
    };
    return {
      cancel,
      wait: (ms, signal) =>
        new Promise<boolean>((resolve) => {
          if (notified || cancelled || this.#closed || signal?.aborted) return resolve(notified);
          const timer = setTimeout(() => done(), Math.max(0, ms));
          const onAbort = () => done();
          const done = () => {
            clearTimeout(timer);
            signal?.removeEventListener("abort", onAbort);
            wake = undefined;
            resolve(notified);
          };
          wake = done;
          signal?.addEventListener("abort", onAbort, { once: true });
        }),
    };
  }

  notify(key: string): void {
    const s = this.#byKey.get(key);
    if (s === undefined) return;
    for (const f of [...s]) f();
  }

  /** Wakes every sleeper (they return what they have) and refuses new ones. */
  close(): void {
    this.#closed = true;
    for (const s of this.#byKey.values()) for (const f of [...s]) f();
  }
}
