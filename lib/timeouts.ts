/**
 * `timeout` and `timeoutAt` (asyncio's `timeouts.py`): a deadline on a body
 * that runs in the current task. On expiry the task is cancelled; the
 * CancelledError that comes out of the body is turned into TimeoutError,
 * unless somebody else also cancelled the task (the `cancelling()` /
 * `uncancel()` bookkeeping tells the two apart, so nested timeouts and outer
 * cancellation compose).
 * @module
 */
import { CancelledError, TimeoutError } from './errors.js';
import { describe, getRunningLoop, type Handle } from './events.js';
import { fromPromise } from './futures.js';
import { currentTask, _thenable, type Task } from './tasks.js';
import { isCoroutine, isPromiseLike, type Coroutine } from './coroutines.js';

const CREATED = 0;
const ENTERED = 1;
const EXPIRING = 2;
const EXPIRED = 3;
const EXITED = 4;

/**
 * The deadline of a running `timeout()` body, passed to the body so it can
 * look at or move the deadline (asyncio's `Timeout` context manager).
 *
 * @example
 * ```ts
 * yield* timeout(1000, function* (cm) {
 *   yield* firstStep();
 *   cm.reschedule(getRunningLoop().time() + 500); // tighten the deadline
 *   yield* secondStep();
 * });
 * ```
 */
export class Timeout {
  private _state = CREATED;
  private _handle: Handle | null = null;
  private _task: Task<unknown> | null = null;
  private _cancelling = 0;

  /** @internal Use `timeout()` / `timeoutAt()`. */
  constructor(private _when: number | null) {}

  /** The deadline in loop time (ms), or null for none. */
  when(): number | null {
    return this._when;
  }

  /** Move the deadline (loop time in ms; null removes it). */
  reschedule(when: number | null): void {
    if (when !== null && (typeof when !== 'number' || Number.isNaN(when))) {
      throw new TypeError(`reschedule() needs a number or null, not ${describe(when)}`);
    }
    if (this._state !== ENTERED) {
      throw new Error(`Cannot reschedule a timeout that is ${['not entered', '', 'expiring', 'expired', 'finished'][this._state]}`);
    }
    this._when = when;
    this._handle?.cancel();
    this._handle = null;
    if (when === null) return;
    const loop = getRunningLoop();
    this._handle = when <= loop.time() ? loop.callSoon(this._onTimeout) : loop.callAt(when, this._onTimeout);
  }

  /** True once the deadline passed and the task was cancelled for it. */
  expired(): boolean {
    return this._state === EXPIRING || this._state === EXPIRED;
  }

  /** @internal asyncio's __aenter__. */
  _enter(): void {
    const task = currentTask();
    if (task === null) throw new Error('timeout() must be used inside a task');
    this._state = ENTERED;
    this._task = task;
    this._cancelling = task.cancelling();
    this.reschedule(this._when);
  }

  /** @internal asyncio's __aexit__: the TimeoutError to throw instead, or null. */
  _exit(error: unknown, failed: boolean): TimeoutError | null {
    this._handle?.cancel();
    this._handle = null;
    if (this._state === EXPIRING) {
      this._state = EXPIRED;
      if (this._task!.uncancel() <= this._cancelling && failed && error instanceof CancelledError) {
        // No other cancel request is pending: this cancellation was ours.
        return new TimeoutError('', { cause: error });
      }
    } else if (this._state === ENTERED) {
      this._state = EXITED;
    }
    return null;
  }

  private readonly _onTimeout = () => {
    this._task!.cancel();
    this._state = EXPIRING;
    this._handle = null;
  };
}

type Body<T> = (cm: Timeout) => Coroutine<T> | PromiseLike<T> | T;

/**
 * Run `body` in the current task with a time limit of `ms` milliseconds
 * (null: no limit; the body can set one with `cm.reschedule`). On expiry the
 * body is cancelled at its current suspension point and TimeoutError is
 * thrown. A body that catches the cancellation and returns normally returns
 * normally. `yield*` it from a coroutine (or `await` it from async code).
 *
 * @example
 * ```ts
 * function* main() {
 *   try {
 *     yield* timeout(100, function* () { yield* sleep(1000); });
 *   } catch (e) {
 *     if (e instanceof TimeoutError) console.log('gave up after 100 ms');
 *   }
 * }
 * ```
 */
export function timeout<T>(ms: number | null, body: Body<T>): Coroutine<T> & PromiseLike<T> {
  if (ms !== null && (typeof ms !== 'number' || Number.isNaN(ms))) {
    throw new TypeError(`timeout() delay must be a number or null, not ${describe(ms)}`);
  }
  checkBody(body, 'timeout');
  const when = ms === null ? null : getRunningLoop().time() + ms;
  return _thenable(runWithTimeout(new Timeout(when), body));
}

/**
 * Like `timeout`, with an absolute deadline in loop time (ms). A deadline
 * already in the past expires at the body's next suspension.
 *
 * @example
 * ```ts
 * const deadline = getRunningLoop().time() + 5000;
 * yield* timeoutAt(deadline, function* () { yield* stepOne(); });
 * yield* timeoutAt(deadline, function* () { yield* stepTwo(); }); // same budget
 * ```
 */
export function timeoutAt<T>(whenMs: number | null, body: Body<T>): Coroutine<T> & PromiseLike<T> {
  if (whenMs !== null && (typeof whenMs !== 'number' || Number.isNaN(whenMs))) {
    throw new TypeError(`timeoutAt() deadline must be a number or null, not ${describe(whenMs)}`);
  }
  checkBody(body, 'timeoutAt');
  return _thenable(runWithTimeout(new Timeout(whenMs), body));
}

function checkBody(body: unknown, fn: string): void {
  if (typeof body !== 'function') throw new TypeError(`${fn}() body must be a function, not ${describe(body)}`);
}

function* runWithTimeout<T>(cm: Timeout, body: Body<T>): Coroutine<T> {
  cm._enter();
  let result: T;
  try {
    result = yield* runBody(body, cm);
  } catch (error) {
    throw cm._exit(error, true) ?? error;
  }
  cm._exit(undefined, false);
  return result;
}

/** @internal Run a body that may be a generator function, an async function or a plain function. */
export function* runBody<A, T>(body: (arg: A) => Coroutine<T> | PromiseLike<T> | T, arg: A): Coroutine<T> {
  const started = body(arg);
  if (isCoroutine(started)) return yield* started as Coroutine<T>;
  if (isPromiseLike(started)) return yield* fromPromise(started as PromiseLike<T>);
  return started as T;
}
