/**
 * Future: a result that arrives later (asyncio's `futures.py`).
 *
 * A Future is both a coroutine awaitable (`yield* fut`) and a PromiseLike
 * (`await fut`). Done callbacks always run through the loop (`callSoon`),
 * never synchronously, exactly as in asyncio.
 * @module
 */
import { CancelledError, InvalidStateError } from './errors.js';
import { _getRunningLoop, describe, getEventLoop, type EventLoop } from './events.js';
import { isPromiseLike } from './coroutines.js';

const PENDING = 0;
const FINISHED = 1;
const CANCELLED = 2;

type DoneCallback<T> = (future: Future<T>) => void;

/** A promise waiting on a Future through `then()`: settled directly, see `then`. */
interface PromiseWaiter {
  resolve(value: unknown): void;
  reject(reason: unknown): void;
}

/**
 * A result that will be set later, by a callback, a task or I/O.
 *
 * @example
 * ```ts
 * function* main() {
 *   const fut = getRunningLoop().createFuture<string>();
 *   getRunningLoop().callLater(10, () => fut.setResult('hi'));
 *   console.log(yield* fut); // 'hi'
 * }
 * ```
 */
export class Future<T = unknown> implements PromiseLike<T> {
  /** @internal */ _state: number = PENDING;
  /** @internal */ _result: T | undefined = undefined;
  /** @internal */ _exception: unknown = undefined;
  /** @internal true when done with an exception (which may be any value). */
  _failed = false;
  /** @internal */ _loop: EventLoop;
  /** @internal */ _callbacks: Array<DoneCallback<T> | PromiseWaiter> | null = null;
  /** @internal */ _cancelMessage: string | undefined = undefined;
  /** @internal The CancelledError a Task's coroutine raised, re-thrown by result(). */
  _cancelledError: CancelledError | null = null;
  /** @internal Set by the iterator when a Task should wait on this Future. */
  _blocking = false;
  /** @internal sleep(0): a Task yielding this gives up one iteration instead of waiting. */
  _relinquish = false;
  /** @internal Tracks an exception nobody retrieved yet. */
  _unretrieved: UnretrievedError | null = null;

  /**
   * @param opts.loop the loop the Future belongs to; defaults to the running
   * loop, else the policy's loop.
   */
  constructor(opts?: { loop?: EventLoop }) {
    if (opts !== undefined && (typeof opts !== 'object' || opts === null)) {
      throw new TypeError(`Future options must be an object, not ${describe(opts)}`);
    }
    this._loop = opts?.loop ?? _getRunningLoop() ?? getEventLoop();
  }

  /** The loop this Future belongs to. */
  getLoop(): EventLoop {
    return this._loop;
  }

  /** True once a result or exception is set, or it was cancelled. */
  done(): boolean {
    return this._state !== PENDING;
  }

  /** True if it was cancelled. */
  cancelled(): boolean {
    return this._state === CANCELLED;
  }

  /**
   * The result. Throws InvalidStateError while pending, CancelledError if
   * cancelled, and the stored exception if one was set.
   */
  result(): T {
    if (this._state === FINISHED) {
      if (this._failed) {
        this._retrieved();
        throw this._exception;
      }
      return this._result as T;
    }
    if (this._state === CANCELLED) throw this._makeCancelledError();
    throw new InvalidStateError('Result is not set.');
  }

  /** The exception, or null when it finished with a result. Throws like `result()` when pending or cancelled. */
  exception(): unknown {
    if (this._state === FINISHED) {
      this._retrieved();
      return this._failed ? this._exception : null;
    }
    if (this._state === CANCELLED) throw this._makeCancelledError();
    throw new InvalidStateError('Exception is not set.');
  }

  /** Complete with a result; InvalidStateError if already done. */
  setResult(value: T): void {
    if (this._state !== PENDING) throw new InvalidStateError(`invalid state: ${this._stateName()}`);
    this._result = value;
    this._state = FINISHED;
    this._scheduleCallbacks();
  }

  /** Complete with an exception; InvalidStateError if already done. */
  setException(exception: unknown): void {
    if (this._state !== PENDING) throw new InvalidStateError(`invalid state: ${this._stateName()}`);
    this._exception = exception;
    this._failed = true;
    this._state = FINISHED;
    this._unretrieved = trackUnretrieved(this, exception);
    this._scheduleCallbacks();
  }

  /** Cancel: false if already done, else true and done callbacks are scheduled. */
  cancel(msg?: string): boolean {
    if (msg !== undefined && typeof msg !== 'string') {
      throw new TypeError(`cancel message must be a string, not ${describe(msg)}`);
    }
    return this._cancelFuture(msg);
  }

  /** @internal Future.cancel without a subclass override (asyncio's super().cancel()). */
  _cancelFuture(msg?: string): boolean {
    if (this._state !== PENDING) return false;
    this._state = CANCELLED;
    this._cancelMessage = msg;
    this._scheduleCallbacks();
    return true;
  }

  /**
   * Call `cb(future)` through the loop once done (at once, via callSoon, if
   * already done).
   */
  addDoneCallback(cb: DoneCallback<T>): void {
    if (typeof cb !== 'function') throw new TypeError(`callback must be a function, not ${describe(cb)}`);
    if (this._state !== PENDING) {
      this._loop.callSoon(cb, this);
    } else if (this._callbacks === null) {
      this._callbacks = [cb];
    } else {
      this._callbacks.push(cb);
    }
  }

  /** Remove every registration of `cb`; returns how many were removed. */
  removeDoneCallback(cb: DoneCallback<T>): number {
    const cbs = this._callbacks;
    if (cbs === null) return 0;
    const kept = cbs.filter((c) => c !== cb);
    const removed = cbs.length - kept.length;
    this._callbacks = kept.length > 0 ? kept : null;
    return removed;
  }

  /**
   * PromiseLike: `await fut` works in async functions. A pending Future
   * settles the promise directly when it completes (promise reactions are
   * asynchronous anyway), saving a loop round trip per `await`.
   */
  then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    const promise = new Promise<T>((resolve, reject) => {
      if (this._state !== PENDING) settleWaiter(this, { resolve: resolve as (v: unknown) => void, reject });
      else if (this._callbacks === null) this._callbacks = [{ resolve: resolve as (v: unknown) => void, reject }];
      else this._callbacks.push({ resolve: resolve as (v: unknown) => void, reject });
    });
    return promise.then(onFulfilled, onRejected);
  }

  /**
   * `yield* fut` inside a coroutine: suspends once if pending (the Task
   * waits on it), then evaluates to the result or throws its error.
   */
  *[Symbol.iterator](): Generator<unknown, T, unknown> {
    if (this._state === PENDING) {
      this._blocking = true;
      yield this; // The Task waits here until this Future is done.
    }
    if (this._state === PENDING) throw new InvalidStateError('yield* resumed before the Future was done');
    return this.result();
  }

  toString(): string {
    return `<${this.constructor.name} ${this._stateName()}>`;
  }

  /** @internal */
  _stateName(): string {
    return this._state === PENDING ? 'pending' : this._state === CANCELLED ? 'cancelled' : 'finished';
  }

  /** @internal The error `result()` throws for a cancelled Future. */
  _makeCancelledError(): CancelledError {
    return this._cancelledError ?? new CancelledError(this._cancelMessage ?? '');
  }

  /** @internal */
  _retrieved(): void {
    if (this._unretrieved !== null) {
      untrack(this._unretrieved);
      this._unretrieved = null;
    }
  }

  /** @internal */
  _scheduleCallbacks(): void {
    const cbs = this._callbacks;
    if (cbs === null) return;
    this._callbacks = null;
    for (let i = 0; i < cbs.length; i++) {
      const cb = cbs[i]!;
      if (typeof cb === 'function') this._loop.callSoon(cb, this);
      else settleWaiter(this, cb);
    }
  }
}

function settleWaiter(fut: Future<any>, waiter: PromiseWaiter): void {
  if (fut._state === CANCELLED) waiter.reject(fut._makeCancelledError());
  else if (fut._failed) {
    fut._retrieved();
    waiter.reject(fut._exception);
  } else waiter.resolve(fut._result);
}

/**
 * True for a Future (or Task) of this library (asyncio's `isfuture`).
 *
 * @example
 * ```ts
 * isFuture(loop.createFuture()); // true
 * isFuture(Promise.resolve());   // false
 * ```
 */
export function isFuture(value: unknown): value is Future<unknown> {
  return value instanceof Future;
}

/**
 * Wrap a promise (or any thenable) in a Future of the running loop, so a
 * coroutine can `yield* fromPromise(p)`. Cancelling the Future does not stop
 * the promise's work; pass an AbortSignal to that work for that.
 *
 * @example
 * ```ts
 * function* main() {
 *   const res = yield* fromPromise(fetch('http://127.0.0.1:8080/'));
 * }
 * ```
 */
export function fromPromise<T>(promise: PromiseLike<T> | Future<T>, opts?: { loop?: EventLoop }): Future<T> {
  if (promise instanceof Future) return promise;
  if (!isPromiseLike(promise)) {
    throw new TypeError(`fromPromise() needs a Promise or thenable, not ${describe(promise)}`);
  }
  const fut = new Future<T>(opts);
  promise.then(
    (value) => {
      if (fut._state === PENDING && !fut._loop.isClosed()) fut.setResult(value);
    },
    (error) => {
      if (fut._state === PENDING && !fut._loop.isClosed()) fut.setException(error);
    },
  );
  return fut;
}

/** @internal asyncio's `_set_result_unless_cancelled`. */
export function _setResultUnlessCancelled<T>(fut: Future<T>, value: T): void {
  if (fut._state === PENDING) fut.setResult(value);
}

// ---------------------------------------------------------------------------
// Exceptions never retrieved. asyncio logs them when the Future is collected;
// we do the same with a FinalizationRegistry, and report the ones still alive
// when their loop closes. The record must not reference the Future (that
// would keep it alive forever), so it keeps a WeakRef for the close report.

/** @internal */
export interface UnretrievedError {
  readonly loop: EventLoop;
  readonly exception: unknown;
  readonly isTask: boolean;
  readonly name: string | null;
  readonly future: WeakRef<Future<unknown>>;
}

const unretrievedByLoop = new WeakMap<EventLoop, Set<UnretrievedError>>();

const collected = new FinalizationRegistry<UnretrievedError>((record) => {
  unretrievedByLoop.get(record.loop)?.delete(record);
  report(record);
});

function trackUnretrieved(fut: Future<any>, exception: unknown): UnretrievedError {
  // V8 keeps an Error's unformatted stack as call sites that hold each frame's
  // `this` (here the Task itself), which would keep the Future alive forever.
  // Formatting the stack now replaces them with a string.
  if (exception instanceof Error) void exception.stack;
  const name = typeof (fut as { getName?: () => string }).getName === 'function'
    ? (fut as unknown as { getName(): string }).getName()
    : null;
  const record: UnretrievedError = {
    loop: fut._loop,
    exception,
    isTask: name !== null,
    name,
    future: new WeakRef(fut),
  };
  let set = unretrievedByLoop.get(fut._loop);
  if (set === undefined) unretrievedByLoop.set(fut._loop, (set = new Set()));
  set.add(record);
  collected.register(fut, record, record);
  return record;
}

function untrack(record: UnretrievedError): void {
  collected.unregister(record);
  unretrievedByLoop.get(record.loop)?.delete(record);
}

function report(record: UnretrievedError): void {
  const future = record.future.deref();
  const context = {
    message: record.isTask
      ? `Task exception was never retrieved (task ${record.name})`
      : 'Future exception was never retrieved',
    exception: record.exception,
    ...(future !== undefined ? { [record.isTask ? 'task' : 'future']: future } : {}),
  };
  if (!record.loop.isClosed()) record.loop.callExceptionHandler(context);
  else record.loop.defaultExceptionHandler(context);
}

/** @internal Report every exception of `loop` still unretrieved (at close). */
export function _reportUnretrieved(loop: EventLoop): void {
  const set = unretrievedByLoop.get(loop);
  if (set === undefined) return;
  unretrievedByLoop.delete(loop);
  for (const record of set) {
    collected.unregister(record);
    const fut = record.future.deref();
    if (fut !== undefined) fut._unretrieved = null;
    report(record);
  }
}
