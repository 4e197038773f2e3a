/**
 * A chain of timers: a doubly linked list through the handles' own
 * `_prev`/`_next` fields (a timer in a chain is never in the ready queue, so
 * `_next` is free), as Node's own timer lists are. Linking allocates
 * nothing and a cancelled timer is unlinked at once, so the garbage
 * collector walks no big arrays. Both loops' pending timers
 * (./pending_timers.ts) and the default loop's buckets (./timer_queue.ts)
 * are chains.
 * @module
 */
import type { TimerHandle } from './events.js';

/**
 * @internal A doubly linked list of timers, in the order they were appended.
 * @example
 * ```ts
 * const chain = new TimerChain();
 * chain.append(a); chain.append(b); chain.unlink(a);
 * chain.takeAll((h) => run(h)); // b; the chain is empty again
 * ```
 */
export class TimerChain {
  head: TimerHandle | null = null;
  tail: TimerHandle | null = null;

  append(h: TimerHandle): void {
    const tail = this.tail;
    h._prev = tail;
    h._next = null;
    if (tail === null) this.head = h;
    else tail._next = h;
    this.tail = h;
  }

  unlink(h: TimerHandle): void {
    const prev = h._prev;
    const next = h._next as TimerHandle | null;
    if (prev === null) this.head = next;
    else prev._next = next;
    if (next === null) this.tail = prev;
    else next._prev = prev;
    h._prev = h._next = null;
  }

  /** Empty the chain, handing each timer (its links already cleared) to `each`, in order. */
  takeAll(each: (h: TimerHandle) => void): void {
    let h = this.head;
    this.head = this.tail = null;
    while (h !== null) {
      const next = h._next as TimerHandle | null;
      h._prev = h._next = null;
      each(h);
      h = next;
    }
  }
}
