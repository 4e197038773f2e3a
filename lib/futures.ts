/**
 * Future: a result that arrives later (asyncio's `futures.py`).
 *
 * A Future is both a coroutine awaitable (`yield* fut`) and a PromiseLike
 * (`await fut`). Done callbacks always run through the loop (`callSoon`),
 * never synchronously, exactly as in asyncio.
 * @module
 */
import { CancelledError, InvalidStateError } from './errors.js';
import { _getRunningLoop, describe, getEventLoop, type EventLoop, type ExceptionContext } from './events.js';
import { isPromiseLike } from './coroutines.js';

/*
 * The numeric constants of Futures and Tasks are `const enum`s: tsc writes
 * their numbers into the code that uses them. An exported `const` is a module
 * binding instead, which V8's optimized code loads from a cell and checks for
 * the temporal dead zone at every use, and cannot fold into the comparison
 * (`state === PENDING` becomes a load, a hole check, a Smi check and a
 * compare). Written in, with the same for the Task's own bits (tasks.ts):
 * 2,480 -> 2,330 instructions a Future ping-pong round trip
 * (bench/evidence/instructions.mjs future-ping-pong default 100000).
 */

/** @internal A Future's `_state`. A failed Future keeps its exception in `_result`. */
export const enum State {
  PENDING = 0,
  FINISHED = 1,
  CANCELLED = 2,
  FAILED = 3,
}

/** @internal The `_flags` bits every kind of Future shares. */
export const enum Flag {
  /** Set by the iterator when a Task should wait on this Future. */
  BLOCKING = 1,
  /** sleep(0): a Task yielding it gives up one iteration instead of waiting. */
  RELINQUISH = 2,
  /** In a line of waiters (a WaiterQueue). */
  QUEUED = 4,
  /**
   * A mark for a pass that must see each Future once (gather and wait drop
   * repeated awaitables), cleared before the pass returns: a flag costs
   * nothing where a Set would hash every Future.
   */
  MARKED = 8,
  /**
   * The Future's work starts when something waits on it (sleep(0), like
   * asyncio's `sleep(0)` coroutine): the first waiter registered calls
   * `_hooks.start`. A Task that yields it completes it itself.
   */
  DORMANT = 16,
  /**
   * The lowest bit left to the code that set a Future's hooks: a lock grant,
   * a queue getter... each kind numbers its own bits from here (one Future
   * has one kind, so the kinds may reuse the same bits).
   */
  FIRST_KIND_BIT = 32,
}

type DoneCallback<T> = (future: Future<T>) => void;

/** The iterator result `Future.next()` hands out once done (see there). */
const DONE: IteratorReturnResult<unknown> = { value: undefined, done: true };

/**
 * @internal What a pending Future's `next()` yields inside a step of a task
 * of its loop, after it made itself that task's `_futWaiter` (see `next()`).
 * The yielded value says so to anyone who steps a coroutine by hand.
 */
export const WAITING: IteratorYieldResult<unknown> = Object.freeze({
  value: Object.freeze({ toString: () => '<aioloop: the running task waits on a Future>' }),
  done: false,
});

/**
 * @internal Something woken directly (not through callSoon) when a Future is
 * done: a Task (it enqueues itself), or a promise from `then()`.
 */
export interface FutureWaiter {
  _onFutureDone(fut: Future<any>): void;
  /** A Task: run `check(fut)` at the start of its next turn (Task._recheck). */
  _recheck?(check: (fut: Future<any>) => void): void;
}

/** @internal The part of a Task that `next()` sets (tasks.ts; no import cycle). */
interface FutureWaiterTask {
  _futWaiter: Future<any> | null;
}

type Callback<T> = DoneCallback<T> | FutureWaiter;

/**
 * @internal What one kind of Future (a lock grant, a queue getter or putter,
 * a sleep, a gather...) does differently from a plain Future, as hooks in
 * place of subclass overrides. Every Future then has one hidden class, so
 * V8's inline caches in the Future and Task code shared by every primitive
 * stay monomorphic. With one subclass per kind (about 10) they went
 * megamorphic once a few primitives had run: the Queue hot path went from
 * about 90 to 150 ns an item (bench/evidence/queue_polymorphism.mjs).
 *
 * Each kind keeps its state in the Future's `_owner` (its primitive),
 * `_data` and the `_flags` bits from FIRST_KIND_BIT up. A hook left out does
 * nothing; the hooks objects share one shape as well.
 *
 * @example
 * ```ts
 * const SLEEP = new FutureHooks({
 *   cancel: (fut, reason) => fut._markCancelled(reason) && (fut._owner.cancel(), true),
 * });
 * const fut = new Future({ loop });
 * fut._hooks = SLEEP;
 * ```
 */
export class FutureHooks {
  /** `yield*` calls the Future's `next()`: the coroutine suspends on it (pending) or resumes from it (done). */
  readonly next: ((fut: Future<any>) => void) | null;
  /** An error (its Task's CancelledError) is thrown into the coroutine at `yield* fut`. */
  readonly throw: ((fut: Future<any>) => void) | null;
  /** The coroutine is closed (`return()`) while at `yield* fut`. */
  readonly return: ((fut: Future<any>) => void) | null;
  /** `then()` was called: a promise waits on the Future (none of our code runs when it resumes). */
  readonly then: ((fut: Future<any>) => void) | null;
  /** Replaces cancelling (`cancel()`, `_cancelFuture()`); `_markCancelled()` is the plain one. */
  readonly cancel: ((fut: Future<any>, reason: string | CancelledError | undefined) => boolean) | null;
  /** The Future leaves the pending state (result, exception or cancel), before its callbacks are scheduled. */
  readonly settle: ((fut: Future<any>) => void) | null;
  /** A DORMANT Future got its first waiter (a callback, a promise, a gather...): start its work. */
  readonly start: ((fut: Future<any>) => void) | null;

  constructor(hooks: Partial<FutureHooks>) {
    this.next = hooks.next ?? null;
    this.throw = hooks.throw ?? null;
    this.return = hooks.return ?? null;
    this.then = hooks.then ?? null;
    this.cancel = hooks.cancel ?? null;
    this.settle = hooks.settle ?? null;
    this.start = hooks.start ?? null;
  }
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
  /** @internal */ _state: number = State.PENDING;
  /**
   * @internal The result; the exception when FAILED; when CANCELLED the
   * cancel message, or the CancelledError a Task's coroutine raised.
   */
  _result: unknown = undefined;
  /** @internal */ _loop: EventLoop;
  /** @internal No callback, one callback, or an array of them (one is the common case). */
  _callbacks: Callback<any> | Callback<any>[] | null = null;
  /** @internal BLOCKING | RELINQUISH | QUEUED, and the kind's own bits. */
  _flags = 0;
  /** @internal What this kind of Future does differently; null for a plain Future. */
  _hooks: FutureHooks | null = null;
  /** @internal The kind's primitive (its queue, lock, timer...). */
  _owner: any = null;
  /** @internal The kind's own value (an item, a put order, a predicate...). */
  _data: unknown = undefined;

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
    return this._state !== State.PENDING;
  }

  /** True if it was cancelled. */
  cancelled(): boolean {
    return this._state === State.CANCELLED;
  }

  /**
   * The result. Throws InvalidStateError while pending, CancelledError if
   * cancelled, and the stored exception if one was set.
   */
  result(): T {
    const state = this._state;
    if (state === State.FINISHED) return this._result as T;
    if (state === State.FAILED) {
      retrieved(this);
      throw this._result;
    }
    if (state === State.CANCELLED) throw this._makeCancelledError();
    throw new InvalidStateError('Result is not set.');
  }

  /** The exception, or null when it finished with a result. Throws like `result()` when pending or cancelled. */
  exception(): unknown {
    const state = this._state;
    if (state === State.FINISHED) return null;
    if (state === State.FAILED) {
      retrieved(this);
      return this._result;
    }
    if (state === State.CANCELLED) throw this._makeCancelledError();
    throw new InvalidStateError('Exception is not set.');
  }

  /** Complete with a result; InvalidStateError if already done. */
  setResult(value: T): void {
    if (this._state !== State.PENDING) throw new InvalidStateError(`invalid state: ${this._stateName()}`);
    this._result = value;
    this._state = State.FINISHED;
    this._scheduleCallbacks();
  }

  /** Complete with an exception; InvalidStateError if already done. */
  setException(exception: unknown): void {
    if (this._state !== State.PENDING) throw new InvalidStateError(`invalid state: ${this._stateName()}`);
    this._result = exception;
    this._state = State.FAILED;
    trackUnretrieved(this, exception);
    this._scheduleCallbacks();
  }

  /** Cancel: false if already done, else true and done callbacks are scheduled. */
  cancel(msg?: string): boolean {
    if (msg !== undefined && typeof msg !== 'string') {
      throw new TypeError(`cancel message must be a string, not ${describe(msg)}`);
    }
    return this._cancelFuture(msg);
  }

  /**
   * @internal cancel() without the message check. `reason` is the message,
   * or the CancelledError to re-throw from result().
   */
  _cancelFuture(reason?: string | CancelledError): boolean {
    const hooks = this._hooks;
    if (hooks !== null && hooks.cancel !== null) return hooks.cancel(this, reason);
    return this._markCancelled(reason);
  }

  /** @internal Cancel without the hooks (asyncio's `super().cancel()` in a subclass). */
  _markCancelled(reason?: string | CancelledError): boolean {
    if (this._state !== State.PENDING) return false;
    this._state = State.CANCELLED;
    this._result = reason;
    this._scheduleCallbacks();
    return true;
  }

  /**
   * Call `cb(future)` through the loop once done (at once, via callSoon, if
   * already done).
   */
  addDoneCallback(cb: DoneCallback<T>): void {
    if (typeof cb !== 'function') throw new TypeError(`callback must be a function, not ${describe(cb)}`);
    if (this._state !== State.PENDING) this._loop.callSoon(cb, this);
    else this._addCallback(cb);
  }

  /** @internal Register a callback or waiter on a pending Future. */
  _addCallback(cb: Callback<any>): void {
    // The first waiter of a running Future is the common case (a Task's
    // step inlines this); the rest is in _addCallbackSlow.
    if (this._callbacks === null && (this._flags & Flag.DORMANT) === 0) this._callbacks = cb;
    else this._addCallbackSlow(cb);
  }

  private _addCallbackSlow(cb: Callback<any>): void {
    if (this._flags & Flag.DORMANT) {
      this._flags &= ~Flag.DORMANT;
      this._hooks!.start!(this);
    }
    const cbs = this._callbacks;
    if (cbs === null) this._callbacks = cb;
    else if (Array.isArray(cbs)) cbs.push(cb);
    else this._callbacks = [cbs, cb];
  }

  /**
   * @internal Run `check(this)` on the next iteration, to complete this
   * pending Future if it can. When a Task is its only waiter, the check runs
   * in that task's own turn, which resumes at once if the check completed
   * the Future (Task._recheck); otherwise it is a callback of its own.
   */
  _recheckSoon(check: (fut: Future<any>) => void): void {
    const cbs = this._callbacks;
    if (cbs !== null && typeof cbs === 'object' && !Array.isArray(cbs) && cbs._recheck !== undefined) {
      this._callbacks = null;
      cbs._recheck(check);
    } else {
      this._loop.callSoon(check, this);
    }
  }

  /** Remove every registration of `cb`; returns how many were removed. */
  removeDoneCallback(cb: DoneCallback<T>): number {
    const cbs = this._callbacks;
    if (cbs === null) return 0;
    if (!Array.isArray(cbs)) {
      if (cbs !== cb) return 0;
      this._callbacks = null;
      return 1;
    }
    const kept = cbs.filter((c) => c !== cb);
    this._callbacks = kept.length === 0 ? null : kept.length === 1 ? kept[0]! : kept;
    return cbs.length - kept.length;
  }

  /**
   * PromiseLike: `await fut` works in async functions. A pending Future
   * settles the promise directly when it completes (promise reactions are
   * asynchronous anyway), saving a loop round trip per `await`.
   *
   * A getter: `await fut` reads `then` at once but calls it one promise
   * reaction later, and while the loop runs a burst of iterations no
   * reaction runs. Reading it ends the burst after the current iteration
   * (`_promiseWoken`, lib/loops/driver.ts), so the `await` is set up, and
   * later resumes, within a few iterations of a busy loop.
   */
  get then(): <R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: any) => R2 | PromiseLike<R2>) | null,
  ) => Promise<R1 | R2> {
    endBurst(this._loop);
    return this._then;
  }

  /** @internal The `then` method itself. */
  _then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: any) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    const hooks = this._hooks;
    if (hooks !== null && hooks.then !== null) hooks.then(this);
    const promise = new Promise<T>((resolve, reject) => {
      const waiter = new PromiseWaiter(resolve as (v: unknown) => void, reject);
      if (this._state !== State.PENDING) waiter._onFutureDone(this);
      else this._addCallback(waiter);
    });
    return promise.then(onFulfilled, onRejected);
  }

  /**
   * `yield* fut` inside a coroutine: suspends once if pending (the Task
   * waits on it), then evaluates to the result or throws its error.
   *
   * A Future is its own iterator (the protocol below), so `yield*` allocates
   * no iterator object: the state lives in the Future itself. This is
   * asyncio's `Future.__iter__`.
   */
  [Symbol.iterator](): Generator<unknown, T, unknown> {
    return this as unknown as Generator<unknown, T, unknown>;
  }

  /**
   * @internal Iterator protocol for `yield*`: suspend while pending, then
   * evaluate to the result.
   *
   * Pending, inside a step of a task of this loop, the Future makes itself
   * the task's `_futWaiter` and yields the shared WAITING result; the task
   * registers on it when WAITING reaches it (`_waitOn`), and drops it if the
   * step ends otherwise (a coroutine stepped by hand inside the task). A
   * yielded `{ value: this }` would be a fresh young object stored into the
   * generator's (old) register file, through the write barrier's slow path:
   * WAITING is old and constant (2,538 -> 2,440 instructions per ping-pong
   * round trip, bench/evidence/instructions.mjs). Anywhere else (no task
   * running, a sleep(0), a task awaiting itself) it yields itself, as
   * asyncio's `Future.__iter__` does, and the task sorts it out.
   *
   * Done, the shared DONE result is reused for primitive results (`yield*`
   * reads it at once).
   */
  next(): IteratorResult<unknown, T> {
    const hooks = this._hooks;
    if (hooks !== null && hooks.next !== null) hooks.next(this);
    const state = this._state;
    if (state === State.PENDING) {
      const task = (this._loop as { _currentTask?: FutureWaiterTask | null })._currentTask;
      if (task != null && task !== (this as unknown) && (this._flags & Flag.RELINQUISH) === 0) {
        task._futWaiter = this;
        return WAITING;
      }
      this._flags |= Flag.BLOCKING;
      return { value: this, done: false }; // the Task waits on this Future
    }
    // A result is the common case: read it directly; result() throws the rest.
    const value = state === State.FINISHED ? this._result : this.result();
    // An object or string result is most likely young: storing it into the
    // shared (old) DONE would take the write barrier's slow path, so it gets
    // a fresh result (a ping-pong of object results: 2,842 -> 2,692
    // instructions a round trip, bench/evidence/pingpong_objects.mjs).
    // Numbers, booleans and undefined reuse DONE.
    if (value !== null && (typeof value === 'object' || typeof value === 'string' || typeof value === 'function')) {
      return { value, done: true } as IteratorResult<unknown, T>;
    }
    DONE.value = value;
    return DONE as IteratorResult<unknown, T>;
  }

  /** @internal Iterator protocol: a CancelledError (or wake-up error) surfaces at the `yield*`. */
  throw(error: unknown): never {
    const hooks = this._hooks;
    if (hooks !== null && hooks.throw !== null) hooks.throw(this);
    throw error;
  }

  /** @internal Iterator protocol: the coroutine is being closed. */
  return(value: T): IteratorResult<unknown, T> {
    const hooks = this._hooks;
    if (hooks !== null && hooks.return !== null) hooks.return(this);
    return { value, done: true };
  }

  toString(): string {
    return `<${this.constructor.name} ${this._stateName()}>`;
  }

  /** @internal */
  _stateName(): string {
    return ['pending', 'finished', 'cancelled', 'finished'][this._state]!;
  }

  /** @internal The error `result()` throws for a cancelled Future. */
  _makeCancelledError(): CancelledError {
    const reason = this._result;
    return reason instanceof CancelledError ? reason : new CancelledError((reason as string | undefined) ?? '');
  }

  /** @internal */
  _scheduleCallbacks(): void {
    const hooks = this._hooks;
    if (hooks !== null && hooks.settle !== null) hooks.settle(this);
    const cbs = this._callbacks;
    if (cbs === null) return;
    this._callbacks = null;
    if (!Array.isArray(cbs)) this._dispatch(cbs);
    else for (let i = 0; i < cbs.length; i++) this._dispatch(cbs[i]!);
  }

  private _dispatch(cb: Callback<any>): void {
    if (typeof cb === 'function') this._loop.callSoon(cb, this);
    else cb._onFutureDone(this);
  }
}

/**
 * A promise reaction of this loop's Future is coming (an `await` is set up or
 * resumes): the loop ends its burst of iterations after the current one and
 * lets reactions run first (`_promiseWoken`, lib/loops/driver.ts).
 */
function endBurst(loop: EventLoop): void {
  (loop as { _promiseWoken?: boolean })._promiseWoken = true;
}

/** A promise waiting on a Future through `then()`. */
class PromiseWaiter implements FutureWaiter {
  constructor(
    private readonly _resolve: (value: unknown) => void,
    private readonly _reject: (reason: unknown) => void,
  ) {}

  _onFutureDone(fut: Future<any>): void {
    // The promise's reaction (an `await fut` resuming) should not wait for
    // the rest of the loop's burst of iterations.
    endBurst(fut._loop);
    const state = fut._state;
    if (state === State.FINISHED) this._resolve(fut._result);
    else if (state === State.CANCELLED) this._reject(fut._makeCancelledError());
    else {
      retrieved(fut);
      this._reject(fut._result);
    }
  }
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
      if (fut._state === State.PENDING && !fut._loop.isClosed()) fut.setResult(value);
    },
    (error) => {
      if (fut._state === State.PENDING && !fut._loop.isClosed()) fut.setException(error);
    },
  );
  return fut;
}

/** @internal asyncio's `_set_result_unless_cancelled`. */
export function _setResultUnlessCancelled<T>(fut: Future<T>, value: T): void {
  if (fut._state === State.PENDING) fut.setResult(value);
}

// ---------------------------------------------------------------------------
// Exceptions never retrieved. asyncio logs them when the Future is collected;
// we do the same with a FinalizationRegistry, and report the ones still alive
// when their loop closes. The record must not reference the Future (that
// would keep it alive forever), so it keeps a WeakRef for the close report.
// Records live in a WeakMap, not on the Future: failing is the rare path, so
// every Future stays small.

interface UnretrievedError {
  readonly loop: EventLoop;
  readonly exception: unknown;
  readonly isTask: boolean;
  readonly name: string | null;
  readonly future: WeakRef<Future<unknown>>;
}

const unretrievedByFuture = new WeakMap<Future<any>, UnretrievedError>();
const unretrievedByLoop = new WeakMap<EventLoop, Set<UnretrievedError>>();

const collected = new FinalizationRegistry<UnretrievedError>((record) => {
  unretrievedByLoop.get(record.loop)?.delete(record);
  report(record);
});

function trackUnretrieved(fut: Future<any>, exception: unknown): void {
  // V8 keeps an Error's unformatted stack as call sites that hold each frame's
  // `this` (here the Task itself), which would keep the Future alive forever.
  // Formatting the stack now replaces them with a string.
  if (exception instanceof Error) void exception.stack;
  const getName = (fut as { getName?: () => string }).getName;
  const name = typeof getName === 'function' ? getName.call(fut) : null;
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
  unretrievedByFuture.set(fut, record);
  collected.register(fut, record, record);
}

/** The exception of `fut` was looked at: nothing to report. */
function retrieved(fut: Future<any>): void {
  const record = unretrievedByFuture.get(fut);
  if (record === undefined) return;
  unretrievedByFuture.delete(fut);
  collected.unregister(record);
  unretrievedByLoop.get(record.loop)?.delete(record);
}

function report(record: UnretrievedError): void {
  const future = record.future.deref();
  const kind = record.isTask ? 'Task' : 'Future';
  // asyncio's context: the message and `future` (a Task too); `task` as
  // well for a Task. Once collected there is no object to hand over: the
  // message names the task instead.
  const context: ExceptionContext =
    future === undefined
      ? { message: `${kind} exception was never retrieved${record.isTask ? ` (task ${record.name})` : ''}`, exception: record.exception }
      : {
          message: `${kind} exception was never retrieved`,
          exception: record.exception,
          future,
          ...(record.isTask ? { task: future as ExceptionContext['task'] } : {}),
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
    if (fut !== undefined) unretrievedByFuture.delete(fut);
    report(record);
  }
}
