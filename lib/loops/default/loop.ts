/**
 * The default loop: pure TypeScript on Node's own primitives. Works
 * everywhere, no compiler needed.
 *
 * Driving (shared with the native loop, see ../driver.ts): iterations run in
 * microtask bursts while callbacks are ready; this loop yields to I/O with
 * setImmediate, and when nothing is ready arms one Node timer for the
 * earliest deadline.
 * @module
 */
import { DrivenLoop } from '../driver.js';
import { anchorHiddenClasses } from '../../hidden_classes.js';
import { TimerQueue } from '../../timer_queue.js';
import type { TimerHandle } from '../../events.js';

/** Node clamps longer timeouts to 1 ms; our deadlines re-arm instead. */
const MAX_NODE_DELAY = 2 ** 31 - 1;

function noop(): void {}

/**
 * An event loop on Node's primitives (promise reactions, setImmediate, one
 * setTimeout). Obtain one with `new DefaultLoop()`, `newEventLoop()` under the
 * default policy, or `run(main, { loop: 'default' })`.
 *
 * @example
 * ```ts
 * const loop = new DefaultLoop();
 * try { console.log(await loop.runUntilComplete(main())); } finally { loop.close(); }
 * ```
 */
export class DefaultLoop extends DrivenLoop {
  private readonly _timers = new TimerQueue();
  private _nodeTimer: NodeJS.Timeout | null = null;
  /** The deadline `_nodeTimer` is armed for. */
  private _armedFor = Infinity;
  /** Keeps the process alive while running, as a running asyncio loop blocks. */
  private _keepAliveTimer: NodeJS.Timeout | null = null;
  private readonly _timerFired = () => {
    this._nodeTimer = null;
    this._armedFor = Infinity;
    if (!this._tickScheduled) this._onTick();
  };

  constructor() {
    super();
    anchorHiddenClasses(DefaultLoop, () => new DefaultLoop());
  }

  protected _addTimer(handle: TimerHandle): void {
    this._timers.push(handle);
    // Idle and waiting on a later timer: re-arm for this earlier one.
    if (this._running && !this._inIteration && !this._tickScheduled && handle._when < this._armedFor) {
      this._waitForTimers();
    }
  }

  protected _popDueTimers(now: number): number {
    this._timers.popDue(now, this);
    return this._timers.nextDeadline();
  }

  protected _clearTimers(): void {
    this._timers.clear();
  }

  protected _keepAlive(on: boolean): void {
    if (on) {
      this._keepAliveTimer = setInterval(noop, MAX_NODE_DELAY);
    } else {
      if (this._keepAliveTimer !== null) clearInterval(this._keepAliveTimer);
      this._keepAliveTimer = null;
    }
  }

  protected _yieldToIo(): void {
    setImmediate(this._tick);
  }

  /** Arm the one Node timer for the earliest deadline (or tick now if one is due). */
  protected _waitForTimers(): void {
    const when = this._timers.nextDeadline();
    if (when === Infinity) {
      this._disarm();
      return;
    }
    if (when === this._armedFor && this._nodeTimer !== null) return;
    this._disarm();
    const delay = when - this.time();
    if (delay <= 0) {
      this._scheduleTick();
      return;
    }
    // Node timers have millisecond resolution and may fire a little early
    // against the loop's clock; the tick then finds nothing due and re-arms.
    this._nodeTimer = setTimeout(this._timerFired, Math.min(Math.ceil(delay), MAX_NODE_DELAY));
    this._armedFor = when;
  }

  protected _disarm(): void {
    if (this._nodeTimer !== null) clearTimeout(this._nodeTimer);
    this._nodeTimer = null;
    this._armedFor = Infinity;
  }
}
