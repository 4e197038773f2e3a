/**
 * A chain of timers: a circular doubly linked list through the handles' own
 * `_prev`/`_next` fields (a timer in a chain is never in the ready queue, so
 * `_next` is free), closed by a sentinel, as Node's own timer lists are.
 * Linking allocates nothing, and a cancelled timer unlinks itself at once
 * (TimerHandle.cancel) without a field pointing at its chain: that field
 * would make every timer one field bigger. Both loops' pending timers
 * (./pending_timers.ts) and the default loop's buckets (./timer_queue.ts)
 * are chains.
 * @module
 */
import { TimerHandle } from './events.js';

function noop(): void {}

/**
 * @internal A doubly linked list of timers, in the order they were appended.
 * @example
 * ```ts
 * const chain = new TimerChain();
 * chain.append(a); chain.append(b); a.cancel(); // a unlinks itself
 * chain.takeAll((h) => run(h)); // b; the chain is empty again
 * ```
 */
export class TimerChain {
  /**
   * The sentinel: `_next` is the first timer, `_prev` the last, both itself
   * when the chain is empty. A TimerHandle, so every link is of one class;
   * never scheduled (no callback), and its `_arg` is this chain, which a
   * cancel that empties the chain tells (`_emptied`).
   */
  readonly sentinel: TimerHandle;

  constructor() {
    const s = new TimerHandle(NaN, noop, this);
    s._callback = null;
    s._prev = s._next = s;
    this.sentinel = s;
  }

  /** True when no timer is linked. */
  get empty(): boolean {
    return this.sentinel._next === this.sentinel;
  }

  /** The first timer, or null. */
  get head(): TimerHandle | null {
    const h = this.sentinel._next as TimerHandle;
    return h === this.sentinel ? null : h;
  }

  /** The last timer, or null. */
  get tail(): TimerHandle | null {
    const h = this.sentinel._prev as TimerHandle;
    return h === this.sentinel ? null : h;
  }

  append(h: TimerHandle): void {
    const s = this.sentinel;
    const tail = s._prev as TimerHandle;
    h._prev = tail;
    h._next = s;
    tail._next = h;
    s._prev = h;
  }

  /** A cancel unlinked the last timer (TimerHandle.cancel). */
  _emptied(): void {}

  /** The timers in order (a copy). */
  toArray(): TimerHandle[] {
    const s = this.sentinel;
    const list: TimerHandle[] = [];
    for (let h = s._next as TimerHandle; h !== s; h = h._next as TimerHandle) list.push(h);
    return list;
  }

  /** Unlink every timer (a loop closing): none keeps a link into the chain. */
  clear(): void {
    this.takeAll(noop);
  }

  /** Empty the chain, handing each timer (its links already cleared) to `each`, in order. */
  takeAll(each: (h: TimerHandle) => void): void {
    const s = this.sentinel;
    let h = s._next as TimerHandle;
    s._prev = s._next = s;
    while (h !== s) {
      const next = h._next as TimerHandle;
      h._prev = h._next = null;
      each(h);
      h = next;
    }
  }
}
