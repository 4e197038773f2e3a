/**
 * The driver both loops share: what makes `_runIterations()` happen while a
 * loop runs. Iterations run back to back while callbacks are ready, in
 * bursts of ITERATIONS_PER_BURST, several per microtask (a promise reaction),
 * so an iteration costs 50-100 ns instead of a setImmediate (~1,000-1,450 ns).
 * Promise reactions queued by an iteration run between microtasks; one of our
 * Futures resolving a promise (an `await fut`) ends its microtask early.
 * Between bursts the loop checks a small time budget, after which it yields
 * so Node polls I/O.
 *
 * A concrete loop says how to yield and how to wait:
 * - `_yieldToIo()`: run `_onTick()` again after Node has polled I/O
 *   (default loop: setImmediate; native loop: its idle + check handles).
 * - `_waitForTimers()`: nothing is ready; make sure `_onTick()` runs when the
 *   earliest timer is due (default loop: one Node setTimeout; native loop:
 *   the C++ heap's uv_timer_t is already armed, so it only clears "ready").
 * - `_keepAlive(on)`: hold the Node process open while running.
 * @module
 */
import { BaseEventLoop } from '../base_loop.js';
import { _setCurrentLoop } from '../events.js';
import { monotonicMs } from '../clock.js';

/** How long (ms) iterations may run back to back before Node polls I/O. */
export const BURST_BUDGET_MS = 2;

/**
 * Iterations are chained through reactions of this promise rather than
 * queueMicrotask, which creates an AsyncResource and a bound function per
 * call in Node 20 (measured: a callSoon chain went from ~350 to ~215 ns a hop).
 */
const RESOLVED = Promise.resolve();

/**
 * Iterations run back to back, a burst of ITERATIONS_PER_BURST, and several
 * bursts inside one microtask before the next microtask is queued. Each
 * microtask costs a promise reaction (an allocation the garbage collector
 * pays for) and the entry into `_onTick`: a microtask per iteration made a
 * Future ping-pong hop cost ~650 ns a round trip, 8 iterations ~400; 32 and
 * then 256 iterations per microtask took another ~7% and ~7% off (best of
 * 21, bench/evidence/pingpong_features.mjs: 141-143 -> 132 ns a round trip
 * at 1,024). Between bursts the loop checks its time budget, so the clock is
 * read no more often than once per 32 iterations, as before. A plain promise
 * reaction queued in a burst waits at most ITERATIONS_PER_MICROTASK
 * iterations or the budget, whichever comes first. An `await` of one of our
 * Futures does not wait: reading its `then` and resolving its promise each
 * end the burst and the microtask (`_promiseWoken`).
 */
export const ITERATIONS_PER_BURST = 32;
/** Bursts per microtask (see ITERATIONS_PER_BURST). */
export const BURSTS_PER_MICROTASK = 8;
/** The most iterations one microtask runs. */
export const ITERATIONS_PER_MICROTASK = ITERATIONS_PER_BURST * BURSTS_PER_MICROTASK;

/** A loop driven by microtask bursts; subclasses supply the three hooks. */
export abstract class DrivenLoop extends BaseEventLoop {
  /** @internal A tick (microtask, or a yield to I/O) is pending. */
  _tickScheduled = false;
  /** Bursts that ended with work still ready since Node last polled I/O or the loop went idle (0: none yet). */
  private _bursts = 0;
  /**
   * The clock (`monotonicMs()`) when the first of those bursts ended with
   * work still ready (the budget counts from there). Starts as a
   * non-integer: a field that holds a Smi and later a double changes the
   * loop's hidden class on first use, so code optimized for a fresh loop
   * deoptimizes there (measured: a deopt of the loop's hot methods at every
   * fresh loop after a full GC).
   */
  private _burstStart = 0.5;
  /** @internal `_onTick` bound once (handed to promise reactions and hooks). */
  protected readonly _tick = () => this._onTick();
  /**
   * `_onTick` after three more promise reactions. An `await fut` needs up to
   * three (the call of `fut.then`, the settling of the await's promise, the
   * resumption of the function): queued first, this tick would run a whole
   * burst before the function resumes.
   */
  private readonly _tickAfterReactions = () => void RESOLVED.then(this._tickAfterTwo);
  private readonly _tickAfterTwo = () => void RESOLVED.then(this._tickAfterOne);
  private readonly _tickAfterOne = () => void RESOLVED.then(this._tick);

  /** @internal Run `_onTick()` after Node polls I/O (`_tickScheduled` is already true). */
  protected abstract _yieldToIo(): void;
  /** @internal Nothing is ready: have `_onTick()` run when the next timer is due. */
  protected abstract _waitForTimers(): void;
  /** @internal Keep the process alive (true) while running, or release it. */
  protected abstract _keepAlive(on: boolean): void;
  /** @internal Stop whatever `_waitForTimers` armed (runForever ends). */
  protected abstract _disarm(): void;

  protected _startDriving(): void {
    this._keepAlive(true);
    this._scheduleTick();
  }

  protected _stopDriving(): void {
    this._keepAlive(false);
    this._disarm();
  }

  protected _readyBecameNonEmpty(): void {
    if (this._running && !this._tickScheduled) this._scheduleTick();
  }

  /**
   * @internal Run `fn(arg)` for I/O that a Node callback just delivered, as
   * part of the loop's work: asyncio runs I/O callbacks inside its
   * iteration, and a round trip through the ready queue (a promise reaction
   * and an iteration per socket read) cost the default loop's echo server
   * about a fifth of node:net's speed. The loop is current while `fn` runs
   * and what `fn` schedules runs in the next iteration, as from any
   * callback. Returns false, running nothing, when the loop is not running
   * or is inside an iteration: the caller queues the work instead.
   *
   * @example
   * ```ts
   * if (!loop._runIo(deliver, chunk)) { inbox.push(chunk); loop.callSoon(pump); }
   * ```
   */
  _runIo<A>(fn: (arg: A) => void, arg: A): boolean {
    // Callbacks already ready run first (asyncio queues I/O callbacks after
    // them); debug mode times callbacks, which only iterations do.
    if (!this._running || this._inIteration || this._stopping || this._tickScheduled || this._readyHead !== null || this._debug) {
      return false;
    }
    const previous = _setCurrentLoop(this);
    this._inIteration = true;
    try {
      fn(arg);
    } catch (exception) {
      this.callExceptionHandler({ message: 'Exception in an I/O callback', exception });
    } finally {
      this._inIteration = false;
      _setCurrentLoop(previous);
    }
    // As at the end of a burst: run what fn made ready (or finish, if fn
    // called stop()), else (fn may have scheduled a timer) wait for the
    // earliest timer.
    if (!this._tickScheduled) {
      if (this._readyHead !== null || this._stopping) this._scheduleTick();
      else this._waitForTimers();
    }
    return true;
  }

  /** @internal */
  _scheduleTick(): void {
    this._tickScheduled = true;
    this._chainTick();
  }

  /**
   * Queue `_onTick` as a promise reaction, after the reactions of promises
   * our Futures resolved since the last tick was queued (`_promiseWoken`,
   * which this consumes: from a burst, an I/O callback, or a native wake).
   */
  private _chainTick(): void {
    const afterReactions = this._promiseWoken;
    this._promiseWoken = false;
    void RESOLVED.then(afterReactions ? this._tickAfterReactions : this._tick);
  }

  /**
   * @internal One microtask's work: bursts of up to ITERATIONS_PER_BURST
   * iterations, up to BURSTS_PER_MICROTASK of them while work stays ready
   * and the budget lasts; then chain, yield or wait.
   */
  _onTick(): void {
    this._tickScheduled = false;
    if (!this._running) return;
    let overBudget = false;
    try {
      for (let burst = 0; burst < BURSTS_PER_MICROTASK; burst++) {
        this._runIterations(ITERATIONS_PER_BURST);
        if (this._readyHead === null || this._stopping || this._promiseWoken) break;
        // Work is still ready. The budget counts from the end of the first
        // burst, so a wake whose first burst runs everything (most I/O
        // wakes of a server, a task step or two each) never reads the
        // clock (then performance.now(), which checks its receiver in
        // JavaScript): the streams echo with one connection went from
        // 11,779-12,015 to 11,075-11,430 instructions a request
        // (bench/evidence/server_instructions.mjs --kind aio-streams). Node
        // polls I/O at most one burst later than with a budget counted
        // from the first burst's start.
        if (this._bursts++ === 0) {
          this._burstStart = monotonicMs();
        } else if (monotonicMs() - this._burstStart > BURST_BUDGET_MS) {
          overBudget = true;
          break;
        }
      }
    } catch (exception) {
      // Internal failure: report it and keep the loop alive rather than stall.
      this.callExceptionHandler({ message: 'Internal error in the event loop iteration', exception });
    }
    if (this._stopping) {
      this._bursts = 0;
      this._finishRunning();
    } else if (this._readyHead === null) {
      this._bursts = 0;
      this._promiseWoken = false; // reactions are queued already; no tick to order them against
      this._waitForTimers();
    } else {
      this._tickScheduled = true;
      if (overBudget) {
        this._bursts = 0; // let Node poll I/O, then start a new budget
        this._promiseWoken = false; // every reaction runs before setImmediate
        this._yieldToIo();
      } else {
        this._chainTick();
      }
    }
  }
}
