/**
 * New timers that are not in a loop's timer store yet (both loops).
 *
 * Most timeouts are cancelled soon after they are set (a request that
 * completes in time). So a new timer only joins this list, a TimerChain
 * (./timer_chain.ts; an array of them cost the garbage collector more). The
 * loop moves the live ones into its store (`drain`) when it next needs
 * deadlines: at the next iteration, or before it waits. A timer cancelled
 * before then never reaches the store; cancelling it is an unlink. This
 * took 1e6 callLater+cancel pairs from 1.03-1.15x to 1.81-1.88x of
 * setTimeout+clearTimeout on the default loop, and from 1.02-1.12x to
 * 1.65x on the native one (same process, interleaved A/B).
 * @module
 */
import type { TimerHandle } from './events.js';
import { TimerChain } from './timer_chain.js';

/**
 * @internal A loop's timers not yet in its store, in scheduling order.
 * @example
 * ```ts
 * const pending = new PendingTimers();
 * pending.add(handle);             // handle.cancel() now unlinks it from here
 * pending.drain((h) => store(h));  // the live ones, in order
 * ```
 */
export class PendingTimers extends TimerChain {
  add(handle: TimerHandle): void {
    this.append(handle);
  }

  /** Hand each pending timer to `store`, in scheduling order, and forget them all. */
  drain(store: (handle: TimerHandle) => void): void {
    this.takeAll(store);
  }
}
