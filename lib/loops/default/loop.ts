/**
 * The default loop: pure TypeScript on Node's own primitives. Works
 * everywhere, no compiler needed.
 *
 * Driving: while callbacks are ready, iterations run back to back, a few per
 * microtask (a promise reaction), so promise reactions queued by an iteration
 * (an `await fut` resuming) run within a few iterations, and an iteration
 * costs 50-100 ns instead of a setImmediate (~1,000-1,450 ns). After a small
 * time budget the next iteration goes through setImmediate so Node still
 * polls I/O.
 * When nothing is ready, one Node timer is armed for the earliest deadline.
 * @module
 */
import { BaseEventLoop } from '../../base_loop.js';
import { TimerQueue } from '../../timer_queue.js';
import type { TimerHandle } from '../../events.js';

/** How long (ms) iterations may run back to back before Node polls I/O. */
const BURST_BUDGET_MS = 2;
/** Node clamps longer timeouts to 1 ms; our deadlines re-arm instead. */
const MAX_NODE_DELAY = 2 ** 31 - 1;

function noop(): void {}

/**
 * Iterations are chained through reactions of this promise rather than
 * queueMicrotask, which creates an AsyncResource and a bound function per
 * call in Node 20 (measured: a callSoon chain went from ~350 to ~215 ns a hop).
 */
const RESOLVED = Promise.resolve();

/**
 * Iterations run back to back inside one microtask before the next microtask
 * is queued. Each microtask costs a promise reaction (an allocation the
 * garbage collector pays for); 8 halved the cost of a Future ping-pong hop
 * (bench/loop.bench.mjs, 1e6 hops: ~650 -> ~400 ns a round trip) while
 * promise reactions (an `await fut` resuming) still run within 8 iterations.
 */
const ITERATIONS_PER_MICROTASK = 8;

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
export class DefaultLoop extends BaseEventLoop {
  private readonly _timers = new TimerQueue();
  /** A tick (microtask or setImmediate) is pending. */
  private _tickScheduled = false;
  /** Iterations run back to back since Node last polled I/O. */
  private _burstIterations = 0;
  private _burstStart = 0;
  private _nodeTimer: NodeJS.Timeout | null = null;
  /** The deadline `_nodeTimer` is armed for. */
  private _armedFor = Infinity;
  /** Keeps the process alive while running, as a running asyncio loop blocks. */
  private _keepAlive: NodeJS.Timeout | null = null;
  private readonly _tick = () => this._onTick();
  private readonly _timerFired = () => {
    this._nodeTimer = null;
    this._armedFor = Infinity;
    if (!this._tickScheduled) this._onTick();
  };

  /** Monotonic milliseconds with sub-millisecond resolution (performance.now). */
  time(): number {
    return performance.now();
  }

  protected _addTimer(handle: TimerHandle): void {
    this._timers.push(handle);
    // Idle and waiting on a later timer: re-arm for this earlier one.
    if (this._running && !this._inIteration && !this._tickScheduled && handle._when < this._armedFor) {
      this._armForNextTimer();
    }
  }

  protected _collectDueTimers(): void {
    if (this._timers.size > 0) this._timers.popDue(this.time(), this);
  }

  protected _clearTimers(): void {
    this._timers.clear();
  }

  protected _startDriving(): void {
    this._keepAlive = setInterval(noop, MAX_NODE_DELAY);
    this._scheduleTick();
  }

  protected _stopDriving(): void {
    if (this._keepAlive !== null) clearInterval(this._keepAlive);
    this._keepAlive = null;
    this._disarm();
  }

  protected _readyBecameNonEmpty(): void {
    if (this._running && !this._tickScheduled) this._scheduleTick();
  }

  private _scheduleTick(): void {
    this._tickScheduled = true;
    void RESOLVED.then(this._tick);
  }

  private _onTick(): void {
    this._tickScheduled = false;
    if (!this._running) return;
    if (this._burstIterations++ === 0) this._burstStart = performance.now();
    try {
      this._runOnce();
      for (let i = 1; i < ITERATIONS_PER_MICROTASK && this._readyHead !== null && !this._stopping; i++) {
        this._runOnce();
      }
    } catch (exception) {
      // Internal failure: report it and keep the loop alive rather than stall.
      this.callExceptionHandler({ message: 'Internal error in the event loop iteration', exception });
    }
    if (this._stopping) {
      this._burstIterations = 0;
      this._finishRunning();
    } else if (this._readyHead !== null) {
      this._tickScheduled = true;
      if ((this._burstIterations & 15) === 0 && performance.now() - this._burstStart > BURST_BUDGET_MS) {
        this._burstIterations = 0; // let Node poll I/O, then start a new burst
        setImmediate(this._tick);
      } else {
        void RESOLVED.then(this._tick);
      }
    } else {
      this._burstIterations = 0;
      this._armForNextTimer();
    }
  }

  /** Arm the one Node timer for the earliest deadline (or tick now if one is due). */
  private _armForNextTimer(): void {
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
    // against performance.now(); the tick then finds nothing due and re-arms.
    this._nodeTimer = setTimeout(this._timerFired, Math.min(Math.ceil(delay), MAX_NODE_DELAY));
    this._armedFor = when;
  }

  private _disarm(): void {
    if (this._nodeTimer !== null) clearTimeout(this._nodeTimer);
    this._nodeTimer = null;
    this._armedFor = Infinity;
  }
}
