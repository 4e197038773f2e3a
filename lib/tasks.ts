/**
 * Task: runs a coroutine on a loop (asyncio's `tasks.py`).
 *
 * A Task steps its generator exactly as asyncio's `Task.__step` steps a
 * coroutine: `gen.next()` / `gen.throw(err)` from a loop callback. A yielded
 * Future makes the Task wait on it; a bare `yield` gives up one iteration.
 * A Task may also wrap a promise (or an async function called on its first
 * step): such a task cannot be interrupted, so `cancel()` aborts
 * `task.signal` and the task ends cancelled when the promise settles.
 * @module
 */
import { CancelledError, InvalidStateError } from './errors.js';
import {
  describe,
  getEventLoop,
  getRunningLoop,
  _getRunningLoop,
  type EventLoop,
  type Runnable,
  type TaskOptions,
} from './events.js';
import {
  Flag,
  Future,
  FutureHooks,
  State,
  WAITING,
  fromPromise,
  type FutureWaiter,
} from './futures.js';
import {
  _generatorNext,
  isCoroutine,
  resumesWithBuiltinNext,
  isPromiseLike,
  type Awaitable,
  type Coroutine,
  type TaskTarget,
} from './coroutines.js';
import type { TimerHandle } from './events.js';
import { cancelOnAbort, checkSignal, type SignalOptions } from './abort.js';

/** @internal What a Task needs from its loop beyond the public interface. */
export interface TaskLoop extends EventLoop {
  _currentTask: Task<any> | null;
  _tasks: TaskList;
  _debugWarn(message: string): void;
  _enqueue(item: Runnable): void;
}

/**
 * Task `_flags` (a Task has no hooks: the kind bits are its own). Why a
 * queued Task runs: STEP (neither bit), WAKE or THROW; and asyncio's
 * `_must_cancel`. Bits rather than fields keep a Task small: 1e5 tasks
 * created up front (`gather` of many `createTask`) are all alive at once.
 */
const enum TaskFlag {
  STEP = 0,
  WAKE = Flag.FIRST_KIND_BIT,
  THROW = Flag.FIRST_KIND_BIT << 1,
  MUST_CANCEL = Flag.FIRST_KIND_BIT << 2,
  /** `_coro` is a generator object resumed by the builtin `next` (see `_generatorNext`). */
  GENERATOR = Flag.FIRST_KIND_BIT << 3,
  /** Resume after a sleep(0) this Task completes itself (`_resumeValue` is its Future). */
  SLEPT = Flag.FIRST_KIND_BIT << 4,
  /** Run a check on `_futWaiter` first (`_resumeValue`), then resume if it completed it (see `_recheck`). */
  RECHECK = WAKE | SLEPT,
  RESUME = WAKE | THROW | SLEPT,
}

let taskCounter = 0;

/** A task's cancellation bookkeeping (asyncio's `_num_cancels_requested`, `_cancel_message`) and its `signal`. */
class CancelState {
  requested = 0;
  message: string | undefined = undefined;
  abort: AbortController | null = null;
}

/**
 * @internal A loop's pending tasks (what `allTasks()` lists), in creation
 * order: a doubly linked list through the tasks themselves. A Set hashed
 * every task on creation and again on completion (about 10% of the time of
 * `gather` over 1e5 `createTask`s), and kept an entry object per task.
 *
 * @example
 * ```ts
 * const tasks = new TaskList();
 * tasks.add(task); tasks.delete(task); tasks.size; // 0
 * ```
 */
export class TaskList implements Iterable<Task<any>> {
  private _head: Task<any> | null = null;
  private _tail: Task<any> | null = null;
  size = 0;

  /** Add a task not in the list. */
  add(task: Task<any>): void {
    task._prevPending = this._tail;
    task._nextPending = null;
    if (this._tail === null) this._head = task;
    else this._tail._nextPending = task;
    this._tail = task;
    this.size++;
  }

  /** Remove `task` if it is in the list. */
  delete(task: Task<any>): void {
    const prev = task._prevPending;
    const next = task._nextPending;
    if (prev === null && this._head !== task) return; // not in the list
    if (prev === null) this._head = next;
    else prev._nextPending = next;
    if (next === null) this._tail = prev;
    else next._prevPending = prev;
    task._prevPending = task._nextPending = null;
    this.size--;
  }

  *[Symbol.iterator](): Iterator<Task<any>> {
    // The successor is read before yielding: the consumer may delete the task.
    for (let t = this._head; t !== null; ) {
      const next: Task<any> | null = t._nextPending;
      yield t;
      t = next;
    }
  }
}

/**
 * A coroutine (or promise) scheduled on a loop; itself a Future of its result.
 *
 * @example
 * ```ts
 * function* worker(n: number) { yield* sleep(10); return n * 2; }
 * function* main() {
 *   const t = createTask(worker(21), { name: 'worker' });
 *   console.log(yield* t); // 42
 * }
 * await run(main);
 * ```
 */
export class Task<T = unknown> extends Future<T> implements Runnable, FutureWaiter {
  /**
   * @internal The generator being stepped; before the first step, a function
   * to call instead; null for promise tasks.
   */
  _coro: Coroutine<T> | (() => unknown) | null = null;
  /** @internal The name, or the task number until a name is asked for (no string per task). */
  _name: string | number;
  /** @internal Cancellation bookkeeping, from the first cancel() or `signal` on (most tasks never need it). */
  private _cancelState: CancelState | null = null;
  /** @internal The ready-queue link: a Task queues itself, no Handle needed. */
  _next: Runnable | null = null;
  /** @internal Links in the loop's list of pending tasks (TaskList). */
  _prevPending: Task<any> | null = null;
  /** @internal */ _nextPending: Task<any> | null = null;

  // A Task has no hooks, so the Future slots a kind of Future keeps its own
  // state in (`_owner`, `_data`) are the Task's: two fields fewer on every
  // Task (136 bytes instead of 152), which matters where many wait at once
  // (`gather` of 1e5 `createTask(sem.use(job))`).

  /** @internal The Future this task waits on (the `_owner` slot). */
  get _futWaiter(): Future<any> | null {
    return this._owner as Future<any> | null;
  }
  set _futWaiter(fut: Future<any> | null) {
    this._owner = fut;
  }

  /** @internal The error to throw in on a THROW step, else undefined (the `_data` slot). */
  private get _resumeValue(): unknown {
    return this._data;
  }
  private set _resumeValue(value: unknown) {
    this._data = value;
  }

  /**
   * Prefer `createTask()` / `loop.createTask()`.
   * @param target a coroutine, a promise, or a function returning either
   */
  constructor(target: TaskTarget<T>, opts?: { loop?: EventLoop; name?: string }) {
    super(opts?.loop ? opts : undefined); // the Future reads only `loop`: no second options object per task
    const loop = this._loop as TaskLoop;
    if (loop.isClosed()) throw new Error('Event loop is closed');
    const name = opts?.name;
    if (name !== undefined && typeof name !== 'string') {
      throw new TypeError(`task name must be a string, not ${describe(name)}`);
    }
    this._name = name ?? ++taskCounter;
    if (target instanceof Future) {
      // Await the Future from a coroutine (not as a promise), so cancelling
      // this task cancels the Future too (it may be a lock grant to hand on).
      this._setCoroutine(awaitFuture(target as Future<T>));
    } else if (isCoroutine(target)) {
      this._setCoroutine(target as Coroutine<T>);
    } else if (typeof target === 'function') {
      this._coro = target as () => unknown;
    } else if (isPromiseLike(target)) {
      this._adoptPromise(target);
      loop._tasks.add(this);
      return;
    } else {
      throw new TypeError(
        `a coroutine, a promise or a function is required, not ${describe(target)}`,
      );
    }
    loop._tasks.add(this);
    this._schedule(TaskFlag.STEP, undefined);
  }

  /** The task's name (`Task-N` unless given). */
  getName(): string {
    if (typeof this._name === 'number') this._name = `Task-${this._name}`;
    return this._name;
  }

  /** Rename the task. */
  setName(name: string): void {
    if (typeof name !== 'string') throw new TypeError(`task name must be a string, not ${describe(name)}`);
    this._name = name;
  }

  /** The coroutine this task runs (null for a task wrapping a promise, or a function not started yet). */
  getCoro(): Coroutine<T> | null {
    const coro = this._coro;
    return typeof coro === 'function' ? null : coro;
  }

  /**
   * An AbortSignal aborted (with a CancelledError as reason) when the task
   * is cancelled: pass it to fetch and other promise APIs.
   */
  get signal(): AbortSignal {
    const c = (this._cancelState ??= new CancelState());
    if (c.abort === null) {
      c.abort = new AbortController();
      if (c.requested > 0) c.abort.abort(new CancelledError(c.message ?? ''));
    }
    return c.abort.signal;
  }

  /** How many cancellations are requested and not yet `uncancel()`ed. */
  cancelling(): number {
    return this._cancelState?.requested ?? 0;
  }

  /** Withdraw one cancellation request; returns the remaining count. */
  uncancel(): number {
    const c = this._cancelState;
    if (c === null) return 0;
    if (c.requested > 0) {
      c.requested--;
      if (c.requested === 0) this._flags &= ~TaskFlag.MUST_CANCEL;
    }
    return c.requested;
  }

  /** @internal The message of the last cancel() (asyncio's `_cancel_message`). */
  get _cancelMessage(): string | undefined {
    return this._cancelState?.message;
  }

  /**
   * Request cancellation: CancelledError is thrown into the coroutine at its
   * current suspension point on the next step. Returns false if done.
   */
  override cancel(msg?: string): boolean {
    if (msg !== undefined && typeof msg !== 'string') {
      throw new TypeError(`cancel message must be a string, not ${describe(msg)}`);
    }
    if (this._state !== State.PENDING) return false;
    const c = (this._cancelState ??= new CancelState());
    c.requested++;
    if (c.abort !== null && !c.abort.signal.aborted) {
      c.abort.abort(new CancelledError(msg ?? ''));
    }
    // While the task's own step runs, `_futWaiter` is not what it waits on
    // (asyncio's `_fut_waiter` is None then; see _stepCoroutine).
    const waiter = (this._loop as TaskLoop)._currentTask === this ? null : this._futWaiter;
    if (waiter !== null && waiter.cancel(msg)) {
      // The waiter's done callback wakes us with its CancelledError.
      return true;
    }
    this._flags |= TaskFlag.MUST_CANCEL;
    c.message = msg;
    return true;
  }

  override toString(): string {
    return `<Task ${this._stateName()} name=${JSON.stringify(this.getName())}>`;
  }

  /** @internal Leaving the pending state: no longer in allTasks(). */
  override _scheduleCallbacks(): void {
    (this._loop as TaskLoop)._tasks.delete(this);
    super._scheduleCallbacks();
  }

  /** @internal Queue this task to run (asyncio's call_soon(self.__step)). */
  private _schedule(resume: number, value: unknown): void {
    this._flags = (this._flags & ~TaskFlag.RESUME) | resume;
    this._resumeValue = value;
    (this._loop as TaskLoop)._enqueue(this);
  }

  /** @internal Run from the ready queue. */
  _run(): void {
    if ((this._flags & TaskFlag.RESUME) === TaskFlag.WAKE) {
      // Woken by the Future we wait on (asyncio's `Task.__wakeup`): it is
      // `_futWaiter` (only `_waitOn` registers a Task), so no value is stored.
      const fut = this._futWaiter!;
      if (fut._state === State.FINISHED) this._step(false, undefined);
      else this._step(true, wakeUpError(fut));
    } else {
      this._runQueued();
    }
  }

  /** `_run` for a step queued with a value: a first step, a sleep(0), a bare yield, an error to throw in. */
  private _runQueued(): void {
    const resume = this._flags & TaskFlag.RESUME;
    const value = this._resumeValue;
    this._resumeValue = undefined;
    if (resume === TaskFlag.SLEPT) {
      wakeSleeper(value as Future<unknown>);
      this._step(false, undefined);
      return;
    }
    if (resume === TaskFlag.RECHECK) {
      this._runRecheck(value as (fut: Future<any>) => void);
      return;
    }
    this._step(resume === TaskFlag.THROW, value);
  }

  /**
   * @internal The Future this task waits on (its only waiter) needs a look
   * before it can complete: a Condition's or Barrier's waiter, notified.
   * The task runs `check(fut)` first thing in its next turn and goes on in
   * that same turn if the check completed the Future, as asyncio's task,
   * woken by the notify, re-checks and returns. (As a callback of its own,
   * the check took one iteration and the task's wake-up another.) The task
   * is off the Future's callbacks until then (Future._recheckSoon), so
   * nothing else can queue it twice.
   */
  _recheck(check: (fut: Future<any>) => void): void {
    this._schedule(TaskFlag.RECHECK, check);
  }

  private _runRecheck(check: (fut: Future<any>) => void): void {
    const fut = this._futWaiter!;
    if (fut._state === State.PENDING) check(fut);
    if (fut._state === State.PENDING) this._waitOnFutWaiter(); // not yet: wait on it again
    else if (fut._state === State.FINISHED) this._step(false, undefined);
    else this._step(true, wakeUpError(fut));
  }

  /** @internal The Future this task waits on (`_futWaiter`) is done: wake up next iteration. */
  _onFutureDone(_fut: Future<any>): void {
    this._flags = (this._flags & ~TaskFlag.RESUME) | TaskFlag.WAKE;
    (this._loop as TaskLoop)._enqueue(this);
  }

  /**
   * @internal One step (asyncio's `Task.__step`).
   *
   * The step is a small hot path with the rare cases in helpers of their
   * own: V8 inlines the whole of it (`_run`, `_step`, `_stepCoroutine`,
   * `_waitOnFutWaiter`, `_addCallback`) into the loop's `_runIterations`
   * only while their bytecode fits its inlining budget (920 bytes in all).
   * Past it, `_step` was a call of its own on every task switch.
   */
  _step(hasError: boolean, error: unknown): void {
    if (this._state !== State.PENDING) this._throwAlreadyDone();
    if (this._flags & TaskFlag.MUST_CANCEL) {
      error = this._cancellingError(error);
      hasError = true;
    }
    this._futWaiter = null;
    // A step runs only from the loop's ready queue, one at a time, so no
    // other task is current. No try/finally: the coroutine's own errors are
    // caught in _stepCoroutine, and should anything else throw, the loop
    // clears its current task where it catches it (_runIterations). The
    // try/finally cost 66 instructions a ping-pong round trip (2,608 ->
    // 2,542, bench/evidence/instructions.mjs); a try/catch as much.
    const loop = this._loop as TaskLoop;
    loop._currentTask = this;
    this._stepCoroutine(hasError, error);
    loop._currentTask = null;
  }

  private _throwAlreadyDone(): never {
    throw new InvalidStateError(`_step(): already done: ${this}`);
  }

  /** cancel() was called while no Future could take it: the step throws a CancelledError in. */
  private _cancellingError(error: unknown): unknown {
    this._flags &= ~TaskFlag.MUST_CANCEL;
    return error instanceof CancelledError ? error : new CancelledError(this._cancelMessage ?? '');
  }

  private _stepCoroutine(hasError: boolean, error: unknown): void {
    let coro = this._coro;
    if (typeof coro === 'function') {
      coro = this._start(coro, hasError, error);
      if (coro === null) return;
      hasError = false;
    }
    let result: IteratorResult<unknown, T>;
    try {
      result = hasError
        ? coro!.throw(error)
        : this._flags & TaskFlag.GENERATOR
          ? (_generatorNext.call(coro!) as IteratorResult<unknown, T>)
          : coro!.next();
    } catch (exc) {
      this._coroutineThrew(exc);
      return;
    }
    if (result === WAITING) {
      // The common case: `yield* fut` on a pending Future of this loop,
      // which made itself our `_futWaiter` (Future.next()).
      this._waitOnFutWaiter();
    } else if (result.done) {
      // Not waiting on `_futWaiter`, though a coroutine stepped by hand in
      // this step may have set it.
      this._futWaiter = null;
      this._coroutineReturned(result.value);
    } else {
      this._waitOn(result.value);
    }
  }

  private _coroutineThrew(exc: unknown): void {
    this._futWaiter = null; // a Future's next() may have set it (see there)
    if (exc instanceof CancelledError) this._cancelFuture(exc);
    else this.setException(exc);
  }

  private _coroutineReturned(value: T): void {
    if (this._flags & TaskFlag.MUST_CANCEL) {
      // Cancelled right before the coroutine returned.
      this._flags &= ~TaskFlag.MUST_CANCEL;
      this._cancelFuture(this._cancelMessage);
      return;
    }
    if (isCoroutine(value) && (this._loop as TaskLoop).getDebug()) {
      (this._loop as TaskLoop)._debugWarn(
        `${this} returned a coroutine that was never awaited (did you mean \`return yield* ...\`?)`,
      );
    }
    this.setResult(value);
  }

  /** Step `coro` from now on; a plain generator is resumed by the builtin directly. */
  private _setCoroutine(coro: Coroutine<T>): Coroutine<T> {
    this._coro = coro;
    if (resumesWithBuiltinNext(coro)) this._flags |= TaskFlag.GENERATOR;
    return coro;
  }

  /** Call the starter function (first step). Returns the coroutine to step, or null when done. */
  private _start(starter: () => unknown, hasError: boolean, error: unknown): Coroutine<T> | null {
    this._coro = null;
    if (hasError) {
      // Cancelled (or failed) before it started: the function never runs.
      if (error instanceof CancelledError) this._cancelFuture(error);
      else this.setException(error);
      return null;
    }
    let started: unknown;
    try {
      started = starter();
    } catch (exc) {
      this.setException(exc);
      return null;
    }
    if (isCoroutine(started)) return this._setCoroutine(started as Coroutine<T>);
    if (isPromiseLike(started)) this._adoptPromise(started as PromiseLike<T>);
    else this.setResult(started as T);
    return null;
  }

  /**
   * Handle a value the coroutine yielded (WAITING itself is handled in
   * _stepCoroutine): a pending Future of this loop here, sleep(0), bare
   * yields and mistakes in _waitOnOther. Split so the step stays within
   * TurboFan's inlining limit (with every case in one function: ping-pong
   * 2,656 -> 2,605 instructions a round trip, bench/evidence/instructions.mjs).
   */
  private _waitOn(yielded: unknown): void {
    if (yielded === WAITING.value && this._futWaiter !== null) {
      // WAITING's value, passed on by code that steps a coroutine by hand.
      this._waitOnFutWaiter();
      return;
    }
    this._futWaiter = null;
    if (
      yielded instanceof Future &&
      (yielded._flags & (Flag.BLOCKING | Flag.RELINQUISH)) === Flag.BLOCKING &&
      yielded._loop === this._loop &&
      yielded !== this
    ) {
      // Yielded by hand, or from outside a task (Future.next() yields
      // WAITING inside one): wait on it as on WAITING.
      yielded._flags &= ~Flag.BLOCKING;
      this._futWaiter = yielded;
      this._waitOnFutWaiter();
    } else {
      this._waitOnOther(yielded);
    }
  }

  /** Wait on `_futWaiter` (set by a `yield*` through Future.next(), or by _waitOn). */
  private _waitOnFutWaiter(): void {
    const fut = this._futWaiter!;
    // Done already: only when code stepping a coroutine by hand completed it
    // before passing it on. Its callbacks have run: wake up ourselves.
    if (fut._state !== State.PENDING) this._onFutureDone(fut);
    else fut._addCallback(this);
    if (this._flags & TaskFlag.MUST_CANCEL && fut.cancel(this._cancelMessage)) this._flags &= ~TaskFlag.MUST_CANCEL;
  }

  /** Every other yielded value: sleep(0), a bare yield, and the mistakes. */
  private _waitOnOther(yielded: unknown): void {
    if (yielded instanceof Future) {
      const flags = yielded._flags;
      if (flags & Flag.RELINQUISH) {
        // sleep(0): give up exactly one iteration, like asyncio's bare yield.
        // A sleep nothing else waits on yet is ours to complete when we
        // resume (no Handle); one already started completes by itself.
        if (flags & Flag.DORMANT) {
          yielded._flags = flags & ~Flag.DORMANT;
          this._schedule(TaskFlag.SLEPT, yielded);
        } else {
          this._schedule(TaskFlag.STEP, undefined);
        }
      } else if (yielded._loop !== this._loop) {
        this._throwSoon(new Error(`${this} got ${yielded} attached to a different loop`));
      } else if (!(flags & Flag.BLOCKING)) {
        this._throwSoon(
          new TypeError(`yield was used instead of yield* in ${this} with ${yielded}: write \`yield* future\``),
        );
      } else {
        this._throwSoon(new Error(`Task cannot await on itself: ${this}`));
      }
    } else if (yielded === undefined) {
      // A bare `yield`: run again in the next iteration.
      this._schedule(TaskFlag.STEP, undefined);
    } else if (isCoroutine(yielded)) {
      this._throwSoon(
        new TypeError(`yield was used instead of yield* for a coroutine in ${this}: write \`yield* coro\``),
      );
    } else if (isPromiseLike(yielded)) {
      this._throwSoon(new TypeError(`${this} yielded a promise: write \`yield* fromPromise(promise)\``));
    } else {
      this._throwSoon(new TypeError(`${this} got bad yield: ${describe(yielded)} is not awaitable`));
    }
  }

  private _throwSoon(error: Error): void {
    this._schedule(TaskFlag.THROW, error);
  }

  /** Finish when the promise settles (cancelled if cancel() was called meanwhile). */
  private _adoptPromise(promise: PromiseLike<T>): void {
    const settle = (failed: boolean, value: unknown) => {
      if (this._state !== State.PENDING || this._loop.isClosed()) return;
      if (this._flags & TaskFlag.MUST_CANCEL) this._cancelFuture(this._cancelMessage);
      else if (!failed) this.setResult(value as T);
      else if (value instanceof CancelledError) this._cancelFuture(value);
      else this.setException(value);
    };
    promise.then(
      (value) => settle(false, value),
      (err) => settle(true, err),
    );
  }
}

/** The error a Task resumes with from a Future that did not finish with a result. */
function wakeUpError(fut: Future<any>): unknown {
  try {
    fut.result();
  } catch (exc) {
    return exc;
  }
  return undefined;
}

function* awaitFuture<T>(fut: Future<T>): Coroutine<T> {
  return yield* fut;
}

/** A sleep's Future (`_owner`: its timer, if any; `_data`: its value): cancelling it cancels the timer. */
const SLEEP = new FutureHooks({
  cancel: (fut, reason) => {
    if (!fut._markCancelled(reason)) return false;
    (fut._owner as TimerHandle | null)?.cancel();
    fut._owner = null;
    return true;
  },
  // A sleep(0) something other than a yielding Task waits on: done next iteration.
  start: (fut) => fut._loop.callSoon(wakeSleeper, fut as Future<unknown>),
});

/** The sleep is over (one callback argument: callSoon then needs no argument list). */
function wakeSleeper(fut: Future<unknown>): void {
  if (fut._state === State.PENDING) fut.setResult(fut._data);
}

/** The Task that runs a thenable coroutine, once it was awaited as a promise. */
const thenTasks = new WeakMap<object, Task<unknown>>();

function coroutineThen(
  this: Coroutine<unknown>,
  onFulfilled?: ((value: unknown) => unknown) | null,
  onRejected?: ((reason: any) => unknown) | null,
): Promise<unknown> {
  let task = thenTasks.get(this);
  if (task === undefined) thenTasks.set(this, (task = createTask(this)));
  return task.then(onFulfilled, onRejected);
}

/**
 * @internal Make a coroutine object awaitable from async code too: its
 * `then` runs it as a Task on the running loop. Coroutine-returning APIs
 * (`waitFor`, `timeout`, `taskGroup`, `Lock.use`, ...) return these, so
 * `await waitFor(...)` works instead of silently awaiting a generator object.
 * `yield*` is unaffected (it uses the iterator). `then` goes on the
 * generator function's prototype once, so this costs nothing per call.
 */
export function _thenable<T>(coro: Coroutine<T>): Coroutine<T> & PromiseLike<T> {
  const proto = Object.getPrototypeOf(coro) as { then?: unknown };
  if (proto.then !== coroutineThen) {
    Object.defineProperty(proto, 'then', { value: coroutineThen, configurable: true, writable: true });
  }
  return coro as Coroutine<T> & PromiseLike<T>;
}

/**
 * Schedule a coroutine, promise or async function as a Task on the running
 * loop. The first step runs on the loop, not synchronously.
 *
 * @example
 * ```ts
 * function* main() {
 *   const t = createTask(fetchAll(), { name: 'fetch' });
 *   yield* sleep(100);
 *   t.cancel();
 * }
 * ```
 */
export function createTask<T>(target: TaskTarget<T>, opts?: TaskOptions): Task<T> {
  return getRunningLoop().createTask(target, opts);
}

/**
 * Turn an awaitable into a Future: a Future is returned as is, a coroutine
 * becomes a Task, a promise is wrapped with `fromPromise`.
 *
 * @example
 * ```ts
 * const fut = ensureFuture(Promise.resolve(1));
 * ```
 */
export function ensureFuture<T>(aw: Awaitable<T>, opts?: { loop?: EventLoop }): Future<T> {
  if (aw instanceof Future) {
    if (opts?.loop !== undefined && aw._loop !== opts.loop) {
      throw new Error('The future belongs to a different loop than the one specified as the loop argument');
    }
    return aw;
  }
  if (isCoroutine(aw)) {
    const loop = opts?.loop ?? getEventLoop();
    return loop.createTask(aw as Coroutine<T>);
  }
  if (isPromiseLike(aw)) return fromPromise(aw, opts);
  throw new TypeError(`a Future, a coroutine or a promise is required, not ${describe(aw)}`);
}

/**
 * A Future that resolves to `value` after `ms` milliseconds. `sleep(0)` gives
 * up exactly one loop iteration, as asyncio's `sleep(0)` does. With
 * `{ signal }`, aborting the signal ends the sleep with a CancelledError
 * carrying the reason.
 *
 * @example
 * ```ts
 * function* tick() { for (;;) { yield* sleep(1000); console.log('tick'); } }
 * yield* sleep(5000, undefined, { signal: AbortSignal.timeout(100) }); // CancelledError after 100 ms
 * ```
 */
export function sleep<T = undefined>(ms: number, value?: T, opts?: SignalOptions): Future<T> {
  if (typeof ms !== 'number') throw new TypeError(`sleep() delay must be a number, not ${describe(ms)}`);
  if (Number.isNaN(ms)) throw new RangeError('sleep() delay must not be NaN');
  const signal = opts === undefined ? undefined : checkSignal(opts.signal, 'sleep');
  const loop = getRunningLoop();
  const fut = new Future<T>({ loop });
  fut._hooks = SLEEP;
  fut._data = value;
  if (ms <= 0) {
    // Like asyncio's sleep(0) coroutine, it starts when awaited: a Task that
    // yields it completes it when it resumes, one iteration later; a waiter
    // of any other kind (then, a done callback, gather) starts it (SLEEP.start).
    fut._flags |= Flag.RELINQUISH | Flag.DORMANT;
  } else {
    fut._owner = loop.callLater(ms, wakeSleeper, fut as Future<unknown>);
  }
  if (signal !== undefined) cancelOnAbort(fut, signal);
  return fut;
}

/**
 * The Task running now on the running loop, or null (outside any task, or no
 * loop running). In an async function it is only meaningful before the
 * first `await`.
 *
 * @example
 * ```ts
 * function* main() { console.log(currentTask()?.getName()); }
 * ```
 */
export function currentTask(loop?: EventLoop): Task<any> | null {
  const l = (loop ?? _getRunningLoop()) as TaskLoop | null;
  return l === null ? null : l._currentTask;
}

/**
 * The Tasks of the running loop that are not done yet.
 *
 * @example
 * ```ts
 * for (const t of allTasks()) if (t !== currentTask()) t.cancel();
 * ```
 */
export function allTasks(loop?: EventLoop): Set<Task<any>> {
  const l = (loop ?? getRunningLoop()) as TaskLoop;
  return new Set(l._tasks);
}

