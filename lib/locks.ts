/**
 * Synchronisation primitives (asyncio's `locks.py`): Lock, Event, Condition,
 * Semaphore, BoundedSemaphore and Barrier, for tasks of one event loop.
 *
 * Every waiting method returns a Future, so a coroutine writes
 * `yield* lock.acquire()` and an async function `await lock.acquire()`; each
 * accepts `{ signal }`, whose abort cancels the wait (the CancelledError
 * carries the signal's reason). Waiters are served first come, first served,
 * and a waiter cancelled while it waits leaves the line at once.
 *
 * Who owns a released lock or permit. asyncio's Lock.release() only wakes the
 * first waiter, which marks the lock locked when its task resumes. A Future
 * cannot run code when its waiter resumes (an `await` resumes through a
 * promise), so here release() hands the lock (or permit) straight to the
 * first waiter: its Future is done, `locked()` stays true, and the permit is
 * the waiter's even before its task runs. asyncio's Semaphore already works
 * this way. The one race left: the waiter's task is cancelled after its
 * Future was granted and before it resumed. The Task then throws the
 * CancelledError in at `yield* acquire()`, that is into the Future's own
 * iterator `throw()` (a Future is its own `yield*` iterator), and the
 * granted Future passes the permit on before re-throwing: asyncio does the
 * same in acquire()'s `except CancelledError`. An async function cannot be
 * interrupted, so once granted it always resumes owning the permit.
 *
 * A Future returned by acquire() belongs to the caller that waits on it:
 * wait on it at once (or use `use()`). Do not pass it to `gather`, `wait` or
 * `Promise.race`: if the grant arrives after they gave up on it, nobody owns
 * the permit and nobody releases it (asyncio has the same hazard with
 * `ensure_future(lock.acquire())`). To stop waiting, pass a `signal`.
 * @module
 */
import { abortError, cancelOnAbort, checkSignal, type SignalOptions } from './abort.js';
import { _generatorNext, isCoroutine, isPromiseLike, resumesWithBuiltinNext, type Coroutine } from './coroutines.js';
import { BrokenBarrierError, type CancelledError } from './errors.js';
import { _getRunningLoop, describe, type EventLoop } from './events.js';
import { Flag, Future, FutureHooks, State, fromPromise, type FutureWaiter } from './futures.js';
import { LoopBound } from './mixins.js';
import { WaiterQueue } from './waiters.js';
import { _thenable } from './tasks.js';

/**
 * What `use()` runs while it holds the primitive: a generator function, an
 * async function, or a plain function. Its result is what `use()` returns.
 *
 * @example
 * ```ts
 * const body: LockedBody<number> = function* () { yield* sleep(1); return 42; };
 * const n = yield* lock.use(body);
 * ```
 */
export type LockedBody<R> = () => Coroutine<R> | PromiseLike<R> | R;

// ---------------------------------------------------------------------------
// Helpers.

/**
 * The `signal` of `owner.method()`'s options (TypeError for bad options).
 * The method's name is only built for an error message: these calls are hot.
 */
function signalOf(opts: unknown, owner: object, method: string): AbortSignal | undefined {
  if (opts === undefined) return undefined;
  const name = `${owner.constructor.name}.${method}`;
  if (typeof opts !== 'object' || opts === null) {
    throw new TypeError(`${name}() options must be an object, not ${describe(opts)}`);
  }
  return checkSignal((opts as SignalOptions).signal, name);
}

/** TypeError unless a number, RangeError unless an integer >= min. */
function checkInteger(value: unknown, what: string, min: number): asserts value is number {
  if (typeof value !== 'number') throw new TypeError(`${what} must be a number, not ${describe(value)}`);
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(`${what} must be an integer >= ${min}, not ${value}`);
  }
}

function checkFunction(fn: unknown, what: string): void {
  if (typeof fn !== 'function') throw new TypeError(`${what} must be a function, not ${describe(fn)}`);
}

/**
 * The loop of a Future made on the fast path, which (as in asyncio) does not
 * bind: the running loop, else the bound one, else the default.
 */
function loopOpts(owner: LoopBound): { loop: EventLoop } | undefined {
  const loop = _getRunningLoop() ?? owner._loop;
  return loop === null ? undefined : { loop };
}

/** A Future already done with `value`: `yield*` of it does not suspend (the fast path). */
function resolved<T>(owner: LoopBound, value: T): Future<T> {
  const fut = new Future<T>(loopOpts(owner));
  fut.setResult(value);
  return fut;
}

/** A Future cancelled by an already aborted signal: the call fails and changes nothing. */
function aborted<T>(owner: LoopBound, signal: AbortSignal): Future<T> {
  const fut = new Future<T>(loopOpts(owner));
  fut._cancelFuture(abortError(signal));
  return fut;
}

/** A lock or Event waiter leaves its primitive's line however it completes: granted, cancelled, aborted. */
function leaveLine(fut: Future<any>): void {
  (fut._owner as { _waiters: WaiterQueue })._waiters.delete(fut);
}

/** An Event's waiter (`_owner`: the Event). */
const EVENT_WAITER = new FutureHooks({ settle: leaveLine });

/**
 * The Future of a waiting acquire() (`_owner`: the Lock or Semaphore): done
 * means the permit is the waiter's. If an error (its Task's CancelledError)
 * is thrown into the coroutine at `yield* acquire()`, or the coroutine is
 * closed there, a granted permit the coroutine will never see goes to the
 * next waiter, as in asyncio's acquire() `except CancelledError`.
 */
const GRANT = new FutureHooks({ settle: leaveLine, throw: giveUp, return: giveUp });

function giveUp(grant: Future<true>): void {
  if (grant._state === State.FINISHED) (grant._owner as Acquirable)._handOn();
  else if (grant._state === State.PENDING) grant._cancelFuture();
}

/** A pending Future of `hooks`' kind, waiting in the line of `owner`. */
function joinLine<T>(loop: EventLoop, owner: { _waiters: WaiterQueue }, hooks: FutureHooks): Future<T> {
  const fut = new Future<T>({ loop });
  fut._hooks = hooks;
  fut._owner = owner;
  owner._waiters.add(fut);
  return fut;
}

/**
 * Wait for a promise, even through cancellation: a promise cannot be
 * interrupted, so a `use()` body that is still running must keep the lock.
 * A cancellation is raised once the promise has settled.
 */
function* untilSettled<R>(promise: PromiseLike<R>): Coroutine<R> {
  let cancelled: unknown = null;
  for (;;) {
    // A fresh Future each round: cancelling the task cancels the one it waits on.
    const fut = fromPromise(promise);
    try {
      const value = yield* fut;
      if (cancelled !== null) throw cancelled;
      return value;
    } catch (error) {
      if (!fut.cancelled()) throw error; // the body failed, or settled and we were cancelled
      cancelled = error;
    }
  }
}

/** Where a use() coroutine is: the low bits of its `_state`. */
const NOT_STARTED = 0;
const ACQUIRING = 1; // at `yield* acquire()`
const IN_BODY = 2; // inside `try`, at `yield*` of the body's awaitable
const CLOSED = 3;
const WHERE = 3;
/** `_state` flags: re-entered from its own body (a generator throws TypeError then). */
const RUNNING = 4;
/**
 * `_state` flags: `_inner` is a plain generator, resumed through the builtin
 * `next` (see `_generatorNext`: reading `inner.next` goes megamorphic across
 * the bodies' generator functions).
 */
const INNER_GENERATOR = 8;

/** How a use() coroutine is resumed: the generator methods. */
const NEXT = 0;
const THROW_IN = 1;
const RETURN = 2;

/**
 * use()'s coroutine: acquire, run the body, release in `finally` (asyncio's
 * `async with`). As a generator function it reads:
 *
 * ```ts
 * function* holding(prim, body, signal) {
 *   const grant = signal === undefined ? prim._acquire() : prim.acquire({ signal });
 *   if (grant !== null) yield* grant;
 *   try {
 *     const result = body();
 *     if (result instanceof Future || isCoroutine(result)) return yield* result;
 *     if (isPromiseLike(result)) return yield* untilSettled(result);
 *     return result;
 *   } finally {
 *     prim.release();
 *   }
 * }
 * ```
 *
 * It is that generator written out by hand because a generator object costs
 * 120 bytes empty and 216 for this one (its register file), against about 70
 * here, and the common idiom `gather(jobs.map((j) => createTask(sem.use(j))))`
 * keeps one per job alive until it runs: with 1e5 jobs the garbage collector
 * copying them was a third of the time. It keeps the generator protocol:
 * `yield*` delegation (the inner iterator's results pass through as they
 * are), throw() and return() forwarded to the inner iterator, `finally` on
 * every exit, and a coroutine (isCoroutine) because it inherits from
 * %GeneratorPrototype%.
 */
class UseCoroutine<R> {
  /** Where it is (WHERE bits), plus RUNNING and INNER_GENERATOR: one field keeps it at 64 bytes. */
  private _state = NOT_STARTED;
  /** What `yield*` delegates to now: the grant, then the body's coroutine or Future. */
  private _inner: Iterator<unknown, R, unknown> | null = null;

  constructor(
    private readonly _prim: Acquirable,
    private readonly _body: LockedBody<R>,
    private readonly _signal: AbortSignal | undefined,
  ) {}

  next(value?: unknown): IteratorResult<unknown, R> {
    return this._resume(NEXT, value);
  }

  throw(error: unknown): IteratorResult<unknown, R> {
    return this._resume(THROW_IN, error);
  }

  return(value: R): IteratorResult<unknown, R> {
    return this._resume(RETURN, value);
  }

  private _resume(how: number, value: unknown): IteratorResult<unknown, R> {
    if (this._state & RUNNING) throw new TypeError('Generator is already running');
    this._state |= RUNNING;
    try {
      switch (this._state & WHERE) {
        case NOT_STARTED:
          if (how !== NEXT) return this._close(how, value);
          return this._acquire();
        case ACQUIRING:
        case IN_BODY:
          return this._delegate(how, value);
        default:
          return this._close(how, value);
      }
    } catch (error) {
      this._finally(); // the coroutine ends with the error
      throw error;
    } finally {
      this._state &= ~RUNNING;
    }
  }

  /** Closed (or never started): throw() re-throws, next() and return() are done. */
  private _close(how: number, value: unknown): IteratorResult<unknown, R> {
    this._state = (this._state & RUNNING) | CLOSED;
    if (how === THROW_IN) throw value;
    return { value: (how === RETURN ? value : undefined) as R, done: true };
  }

  /** `yield* acquire()`: a free permit is taken without a Future (no allocation). */
  private _acquire(): IteratorResult<unknown, R> {
    this._state = (this._state & RUNNING) | ACQUIRING;
    const signal = this._signal;
    const grant = signal === undefined ? this._prim._acquire() : this._prim.acquire({ signal });
    if (grant === null) return this._enterBody();
    this._inner = grant as Iterator<unknown, R, unknown>;
    return this._delegate(NEXT, undefined);
  }

  /** One step of `yield* this._inner`; when it is done, go on from there. */
  private _delegate(how: number, value: unknown): IteratorResult<unknown, R> {
    const inner = this._inner!;
    const result =
      how !== NEXT
        ? how === THROW_IN
          ? inner.throw!(value)
          : inner.return!(value as R)
        : this._state & INNER_GENERATOR
          ? (_generatorNext.call(inner as Generator, value) as IteratorResult<unknown, R>)
          : inner.next(value);
    if (!result.done) return result;
    this._inner = null;
    this._state &= ~INNER_GENERATOR;
    if (how === RETURN || (this._state & WHERE) === IN_BODY) return this._finish(result.value);
    return this._enterBody(); // acquired: the permit is ours
  }

  /** Inside `try`: run the body and `yield*` what it returns. */
  private _enterBody(): IteratorResult<unknown, R> {
    this._state = (this._state & RUNNING) | IN_BODY;
    const body = this._body;
    const result = body();
    if (result instanceof Future || isCoroutine(result)) {
      const inner = (result as Coroutine<R>)[Symbol.iterator]();
      this._inner = inner;
      if (resumesWithBuiltinNext(inner)) this._state |= INNER_GENERATOR;
    } else if (isPromiseLike(result)) {
      this._inner = untilSettled(result as PromiseLike<R>);
    } else {
      return this._finish(result as R);
    }
    return this._delegate(NEXT, undefined);
  }

  /** Return `value`, running `finally` if inside `try`. */
  private _finish(value: R): IteratorReturnResult<R> {
    this._finally();
    return { value, done: true };
  }

  /** The `finally` block, at most once: release if the permit was taken. */
  private _finally(): void {
    const inBody = (this._state & WHERE) === IN_BODY;
    this._state = (this._state & RUNNING) | CLOSED;
    this._inner = null;
    if (inBody) this._prim.release();
  }
}
// %GeneratorPrototype%: every generator object inherits from it (isCoroutine checks that).
Object.setPrototypeOf(UseCoroutine.prototype, Object.getPrototypeOf(Object.getPrototypeOf((function* () {})())));

// ---------------------------------------------------------------------------
// Lock, Semaphore, BoundedSemaphore.

/**
 * What Lock and Semaphore share (asyncio's `_ContextManagerMixin` plus the
 * line of waiters): `acquire()`, `release()`, `locked()` and `use()`. Useful
 * as a type for code that takes either.
 *
 * @example
 * ```ts
 * function* guarded(guard: Acquirable) {
 *   return yield* guard.use(function* () { yield* sleep(1); return 'done'; });
 * }
 * ```
 */
export abstract class Acquirable extends LoopBound {
  /** @internal Waiting acquirers, first come first; only pending grants. */
  readonly _waiters = new WaiterQueue<Future<true>>();

  /** True when acquire() would have to wait. */
  abstract locked(): boolean;

  /** Give back what acquire() took. */
  abstract release(): void;

  /** @internal Take the permit now if free. */
  protected abstract _tryAcquire(): boolean;

  /** @internal A released permit nobody waits for. */
  protected abstract _free(): void;

  /**
   * A Future that is done once the caller holds the permit (already done
   * when it is free). With `signal`, an abort cancels the wait; a signal
   * already aborted fails the call without acquiring.
   */
  acquire(opts?: SignalOptions): Future<true> {
    const signal = signalOf(opts, this, 'acquire');
    if (signal?.aborted) return aborted(this, signal);
    const grant = this._acquire();
    if (grant === null) return resolved<true>(this, true);
    cancelOnAbort(grant, signal);
    return grant;
  }

  /**
   * A coroutine that acquires, runs `body`, and releases in `finally`. An
   * async body cannot be interrupted: on cancellation use() keeps the permit
   * until its promise settles, then raises the CancelledError.
   *
   * @example
   * ```ts
   * const value = yield* lock.use(function* () { yield* sleep(5); return 1; });
   * ```
   */
  use<R>(body: LockedBody<R>, opts?: SignalOptions): Coroutine<R> & PromiseLike<R> {
    if (typeof body !== 'function') checkFunction(body, `${this.constructor.name}.use() body`);
    // Thenable too: `await lock.use(async () => ...)` runs it as a task.
    const coro = new UseCoroutine<R>(this, body, signalOf(opts, this, 'use')) as unknown as Coroutine<R>;
    return _thenable(coro);
  }

  /** @internal Take the permit now (null), or join the line: the grant (a GRANT Future) to wait on. */
  _acquire(loop?: EventLoop): Future<true> | null {
    if (this._tryAcquire()) return null;
    return joinLine<true>(this._getLoop(loop), this, GRANT);
  }

  /**
   * @internal A permit comes back (release, or a granted waiter that gave
   * up): the first waiter gets it directly, else it is freed.
   */
  _handOn(): void {
    const next = this._waiters.first();
    if (next === undefined) {
      this._free();
      return;
    }
    next.setResult(true); // leaves the line; synchronous: wakes its task (or promise), never re-enters this lock
  }

  /** @internal ", waiters:N" for toString. */
  protected _waitersText(): string {
    return this._waiters.size > 0 ? `, waiters:${this._waiters.size}` : '';
  }
}

/**
 * A mutual-exclusion lock for tasks (asyncio.Lock). Not owned by a task:
 * any task may release it. Waiters get it in FIFO order.
 *
 * @example
 * ```ts
 * const lock = new Lock();
 * function* worker() {
 *   yield* lock.acquire();
 *   try { yield* writeRecord(); } finally { lock.release(); }
 *   // or: yield* lock.use(function* () { yield* writeRecord(); });
 * }
 * async function asyncWorker() {
 *   await lock.acquire();
 *   try { await write(); } finally { lock.release(); }
 * }
 * ```
 */
export class Lock extends Acquirable {
  private _locked = false;

  /** True while held (also between a release and the next waiter's resumption: it owns it). */
  locked(): boolean {
    return this._locked;
  }

  /** Release; the first waiter, if any, now holds the lock. Error if not locked. */
  release(): void {
    if (!this._locked) throw new Error('Lock is not acquired');
    this._handOn();
  }

  protected _tryAcquire(): boolean {
    // Unlocked implies nobody waits: release() hands the lock on while anyone does.
    if (this._locked) return false;
    this._locked = true;
    return true;
  }

  protected _free(): void {
    this._locked = false;
  }

  override toString(): string {
    return `<Lock [${this._locked ? 'locked' : 'unlocked'}${this._waitersText()}]>`;
  }
}

/**
 * A counter of permits (asyncio.Semaphore): acquire() takes one, waiting
 * while none is left; release() gives one back. Waiters are served in FIFO
 * order, and a newcomer never overtakes them.
 *
 * @example
 * ```ts
 * const slots = new Semaphore(3); // at most 3 downloads at once
 * function* download(url: string) {
 *   return yield* slots.use(() => fetch(url).then((r) => r.text()));
 * }
 * ```
 */
export class Semaphore extends Acquirable {
  /** @internal */ protected _value: number;

  /** @param value the initial number of permits: an integer >= 0. */
  constructor(value = 1) {
    super();
    checkInteger(value, 'Semaphore initial value', 0);
    this._value = value;
  }

  /** Permits available now. */
  get value(): number {
    return this._value;
  }

  /** True when acquire() would wait: no permit left, or others already wait (FIFO). */
  locked(): boolean {
    return this._value === 0 || this._waiters.size > 0;
  }

  /** Give a permit back; the first waiter, if any, gets it directly. */
  release(): void {
    this._handOn();
  }

  protected _tryAcquire(): boolean {
    if (this.locked()) return false;
    this._value--;
    return true;
  }

  protected _free(): void {
    this._value++;
  }

  override toString(): string {
    const state = this.locked() ? 'locked' : `unlocked, value:${this._value}`;
    return `<${this.constructor.name} [${state}${this._waitersText()}]>`;
  }
}

/**
 * A Semaphore whose release() throws RangeError (asyncio: ValueError) when
 * it would raise the count above the initial value: it catches releases
 * without a matching acquire.
 *
 * @example
 * ```ts
 * const sem = new BoundedSemaphore(1);
 * yield* sem.acquire();
 * sem.release();
 * sem.release(); // RangeError: BoundedSemaphore released too many times
 * ```
 */
export class BoundedSemaphore extends Semaphore {
  private readonly _bound: number;

  constructor(value = 1) {
    super(value);
    this._bound = value;
  }

  override release(): void {
    if (this._value >= this._bound) throw new RangeError('BoundedSemaphore released too many times');
    super.release();
  }
}

// ---------------------------------------------------------------------------
// Event.

/**
 * A flag tasks can wait for (asyncio.Event): wait() is done once set() is
 * called, and at once while the flag is set.
 *
 * @example
 * ```ts
 * const ready = new Event();
 * function* consumer() { yield* ready.wait(); console.log('go'); }
 * function* producer() { yield* sleep(10); ready.set(); }
 * ```
 */
export class Event extends LoopBound {
  /** @internal */ readonly _waiters = new WaiterQueue<Future<true>>();
  private _value = false;

  /** True while the flag is set. */
  isSet(): boolean {
    return this._value;
  }

  /** Set the flag and wake every waiter; later wait() calls do not wait. */
  set(): void {
    if (this._value) return;
    this._value = true;
    for (const waiter of this._waiters) waiter.setResult(true);
    this._waiters.clear();
  }

  /** Reset the flag: wait() waits again (waiters already woken stay woken). */
  clear(): void {
    this._value = false;
  }

  /** A Future done (true) once the flag is set. `signal` aborts the wait. */
  wait(opts?: SignalOptions): Future<true> {
    const signal = signalOf(opts, this, 'wait');
    if (signal?.aborted) return aborted(this, signal);
    if (this._value) return resolved<true>(this, true);
    const waiter = joinLine<true>(this._getLoop(), this, EVENT_WAITER);
    cancelOnAbort(waiter, signal);
    return waiter;
  }

  override toString(): string {
    const waiters = this._waiters.size > 0 ? `, waiters:${this._waiters.size}` : '';
    return `<Event [${this._value ? 'set' : 'unset'}${waiters}]>`;
  }
}

// ---------------------------------------------------------------------------
// Condition.

/**
 * The Future of Condition.wait()/waitFor() (`_owner`: the Condition;
 * `_data`: waitFor()'s predicate, null for wait()): asyncio's wait() as a
 * state machine. It is done only once the lock is held again, whether it
 * was notified or cancelled, so whoever waits on it resumes holding the lock.
 */
const COND_WAIT = new FutureHooks({ cancel: cancelCondWait, throw: condWaitThrown });

/** `_flags`: where the waiter is. Sleeping (neither bit): waiting for a notify. */
const WAKING = Flag.FIRST_KIND_BIT;
const REACQUIRING = Flag.FIRST_KIND_BIT << 1;
/**
 * `_flags`: a cancellation waits for the lock to come back. Its reason is
 * kept in `_result`, unused while pending (the most recent wins, as in asyncio).
 */
const CANCEL_PENDING = Flag.FIRST_KIND_BIT << 2;

/** Release the lock and wait for a notify. */
function condSleep(waiter: Future<any>): void {
  const cond = waiter._owner as Condition;
  waiter._flags &= ~(WAKING | REACQUIRING);
  cond._lock.release();
  cond._waiters.add(waiter);
}

/**
 * Notified or cancelled: take the lock again on the next iteration, when
 * asyncio's woken task would ask for it (so other acquirers keep their
 * asyncio order relative to it), in the waiting task's own turn when a
 * task waits (it then resumes in that turn, as asyncio's does).
 */
function condWake(waiter: Future<any>): void {
  (waiter._owner as Condition)._waiters.delete(waiter);
  waiter._flags |= WAKING;
  waiter._recheckSoon(condReacquire);
}

function condReacquire(waiter: Future<any>): void {
  waiter._flags = (waiter._flags & ~WAKING) | REACQUIRING;
  const grant = (waiter._owner as Condition)._lock._acquire(waiter._loop);
  if (grant === null) condReacquired(waiter);
  else grant._addCallback(new CondGrantWaiter(waiter));
}

/**
 * Waits on the lock's grant for a Condition waiter. Granted, it has the
 * waiter's task finish on its next turn (asyncio's task, waiting in
 * acquire(), resumes then), never from inside the release() that granted
 * it: a false predicate releases the lock again, which must not nest.
 */
class CondGrantWaiter implements FutureWaiter {
  constructor(private readonly _waiter: Future<any>) {}
  _onFutureDone(): void {
    this._waiter._recheckSoon(condReacquired);
  }
}

/** The lock is held again, on behalf of whoever waits on the Future. */
function condReacquired(waiter: Future<any>): void {
  if (waiter._flags & CANCEL_PENDING) {
    // asyncio: a waiter that fails may have used up a notification; pass one on.
    (waiter._owner as Condition)._notify(1);
    waiter._markCancelled(waiter._result as string | CancelledError | undefined);
    return;
  }
  const predicate = waiter._data as (() => unknown) | null;
  if (predicate === null) {
    waiter.setResult(true);
    return;
  }
  let value: unknown;
  try {
    value = predicate();
  } catch (error) {
    waiter.setException(error);
    return;
  }
  if (value) waiter.setResult(value);
  else condSleep(waiter);
}

/** Cancel: the Future ends cancelled only after the lock is re-acquired. */
function cancelCondWait(waiter: Future<any>, reason: string | CancelledError | undefined): boolean {
  if (waiter._state !== State.PENDING) return false;
  waiter._flags |= CANCEL_PENDING;
  waiter._result = reason;
  if (!(waiter._flags & (WAKING | REACQUIRING))) condWake(waiter);
  return true; // like Task.cancel(): requested, done later
}

/**
 * The waiting task is cancelled after the Future was done (lock held) and
 * before it resumed. It keeps the lock (asyncio's wait() always raises
 * holding it) but will not act on the notification: pass it on.
 */
function condWaitThrown(waiter: Future<any>): void {
  if (waiter._state === State.FINISHED || waiter._state === State.FAILED) {
    if (waiter._state === State.FAILED) waiter.exception(); // the predicate's error gives way: mark it seen
    (waiter._owner as Condition)._notify(1);
  }
}

/**
 * A condition variable (asyncio.Condition): tasks wait() until another task
 * holding the lock notifies them. wait() releases the lock while waiting and
 * holds it again when it returns, also when it is cancelled (the
 * CancelledError is raised after re-acquiring, as in asyncio). Wakeups may
 * be spurious: wait in a loop, or use waitFor().
 *
 * @example
 * ```ts
 * const cond = new Condition();
 * const items: string[] = [];
 * function* consumer() {
 *   return yield* cond.use(function* () {
 *     yield* cond.waitFor(() => items.length > 0);
 *     return items.shift();
 *   });
 * }
 * function* producer(item: string) {
 *   yield* cond.use(() => { items.push(item); cond.notify(); });
 * }
 * ```
 */
export class Condition extends LoopBound {
  /** @internal */ readonly _lock: Lock;
  /** @internal Waiters sleeping until a notify. */
  readonly _waiters = new WaiterQueue();

  /** @param lock the underlying Lock (a new one when omitted); several Conditions may share one. */
  constructor(lock?: Lock | null) {
    super();
    if (lock === undefined || lock === null) lock = new Lock();
    else if (!(lock instanceof Lock)) throw new TypeError(`Condition lock must be a Lock, not ${describe(lock)}`);
    this._lock = lock;
  }

  /** True while the underlying lock is held. */
  locked(): boolean {
    return this._lock.locked();
  }

  /** Acquire the underlying lock. */
  acquire(opts?: SignalOptions): Future<true> {
    return this._lock.acquire(opts);
  }

  /** Release the underlying lock. */
  release(): void {
    this._lock.release();
  }

  /**
   * Hold the underlying lock while `body` runs.
   *
   * @example
   * ```ts
   * yield* cond.use(function* () { while (!ready) yield* cond.wait(); });
   * ```
   */
  use<R>(body: LockedBody<R>, opts?: SignalOptions): Coroutine<R> & PromiseLike<R> {
    return this._lock.use(body, opts);
  }

  /**
   * Release the lock, wait for a notify, re-acquire the lock; done (true)
   * holding the lock. Error if the lock is not held. Cancelling (task or
   * `signal`) also re-acquires the lock before the CancelledError.
   */
  wait(opts?: SignalOptions): Future<true> {
    return this._startWait<true>(null, signalOf(opts, this, 'wait'));
  }

  /**
   * wait() until `predicate()` is truthy (checked first, then after each
   * wakeup, holding the lock); the Future's result is that value.
   */
  waitFor<R>(predicate: () => R, opts?: SignalOptions): Future<R> {
    checkFunction(predicate, 'Condition.waitFor() predicate');
    const signal = signalOf(opts, this, 'waitFor');
    if (signal?.aborted) return aborted(this, signal);
    const value = predicate();
    if (value) return resolved(this, value);
    return this._startWait(predicate, signal);
  }

  /** Wake up to `n` waiters (FIFO). The lock must be held; they run once it is released. */
  notify(n = 1): void {
    checkInteger(n, 'notify() count', 0);
    if (!this.locked()) throw new Error('cannot notify on un-acquired lock');
    this._notify(n);
  }

  /** Wake every waiter. The lock must be held. */
  notifyAll(): void {
    this.notify(this._waiters.size);
  }

  /** @internal Wake the first `n` waiters (no lock check: asyncio's _notify). */
  _notify(n: number): void {
    for (const waiter of this._waiters) {
      if (n-- <= 0) break;
      condWake(waiter);
    }
  }

  private _startWait<R>(predicate: (() => R) | null, signal: AbortSignal | undefined): Future<R> {
    if (!this.locked()) throw new Error('cannot wait on un-acquired lock');
    const loop = this._getLoop();
    // The lock is re-acquired on this loop later, from a callback: check now.
    this._lock._getLoop(loop);
    if (signal?.aborted) return aborted(this, signal);
    const waiter = new Future<R>({ loop });
    waiter._hooks = COND_WAIT;
    waiter._owner = this;
    waiter._data = predicate;
    condSleep(waiter);
    cancelOnAbort(waiter, signal);
    return waiter;
  }

  override toString(): string {
    const waiters = this._waiters.size > 0 ? `, waiters:${this._waiters.size}` : '';
    return `<Condition [${this.locked() ? 'locked' : 'unlocked'}${waiters}]>`;
  }
}

// ---------------------------------------------------------------------------
// Barrier.

const FILLING = 0;
const DRAINING = 1;
const RESETTING = 2;
const BROKEN = 3;
const STATE_NAMES = ['filling', 'draining', 'resetting', 'broken'];

/**
 * The Future of Barrier.wait() (`_owner`: the Barrier; `_data`: the arrival
 * index): asyncio's wait() as a state machine. asyncio runs it under the
 * barrier's Condition, whose lock is never held across a suspension, so only
 * the Condition's waiting and waking remain: a woken waiter looks at the
 * state again on the next iteration, when asyncio's task would.
 */
const BARRIER_WAIT = new FutureHooks({ cancel: cancelBarrierWait, throw: barrierWaitThrown });

/** `_flags`: past the entry (asyncio's wait() after _block()): counted, has an index. */
const ARRIVED = Flag.FIRST_KIND_BIT;

/** Run asyncio's wait() as far as it goes now: to the next wait, or to the end. */
function barrierAdvance(waiter: Future<number>): void {
  const b = waiter._owner as Barrier;
  if (!(waiter._flags & ARRIVED)) {
    // _block(): wait while the barrier drains or resets; fail if broken.
    if (b._state === DRAINING || b._state === RESETTING) return void b._waiters.add(waiter);
    if (b._state === BROKEN) return waiter.setException(new BrokenBarrierError('Barrier aborted'));
    waiter._flags |= ARRIVED;
    const index = (waiter._data = b._count++);
    if (index + 1 === b._parties) {
      // The last party trips the barrier: everyone inside may leave.
      b._state = DRAINING;
      b._notifyAll();
      return barrierLeave(waiter, null);
    }
  }
  // _wait(): wait for the end of filling (the Condition's notify_all: a state change).
  if (b._state === FILLING) return void b._waiters.add(waiter);
  barrierLeave(waiter, b._state === DRAINING ? null : new BrokenBarrierError('Abort or reset of barrier'));
}

/** Notified: look at the state again on the next iteration (in the waiting task's turn, see condWake). */
function barrierWake(waiter: Future<number>): void {
  (waiter._owner as Barrier)._waiters.delete(waiter);
  waiter._recheckSoon(barrierWoken);
}

function barrierWoken(waiter: Future<number>): void {
  if (!waiter.done()) barrierAdvance(waiter); // cancelled meanwhile: nothing left to do
}

/** Leave with the index or the error (asyncio's `finally` in wait()). */
function barrierLeave(waiter: Future<number>, error: Error | null): void {
  const b = waiter._owner as Barrier;
  if (error === null) waiter.setResult(waiter._data as number);
  else waiter.setException(error);
  b._count--;
  b._exit();
}

function cancelBarrierWait(waiter: Future<number>, reason: string | CancelledError | undefined): boolean {
  if (!waiter._markCancelled(reason)) return false;
  const b = waiter._owner as Barrier;
  b._waiters.delete(waiter);
  // What asyncio does when a task is cancelled in the Condition's wait():
  // a spurious wakeup for the next waiter, then leave the barrier if inside.
  b._notify(1);
  if (waiter._flags & ARRIVED) {
    b._count--;
    b._exit();
  }
  return true;
}

/** Cancelled after a BrokenBarrierError, before resuming: the error gives way, mark it seen. */
function barrierWaitThrown(waiter: Future<number>): void {
  if (waiter._state === State.FAILED) waiter.exception();
}

/**
 * Lets `parties` tasks wait for each other (asyncio.Barrier): wait() blocks
 * until `parties` tasks are waiting, then all proceed, each with its arrival
 * index (0 to parties-1). The barrier then refills for the next round; tasks
 * arriving while it drains wait for that round. reset() and abort() make
 * current waiters fail with BrokenBarrierError; after abort() every wait()
 * fails until reset(). A waiter cancelled while filling leaves the barrier
 * (it is not broken), so later arrivals may reuse its index, as in asyncio.
 *
 * @example
 * ```ts
 * const barrier = new Barrier(3);
 * function* worker(id: number) {
 *   yield* prepare(id);
 *   const index = yield* barrier.wait(); // all three prepared
 *   if (index === 0) console.log('all ready');
 * }
 * ```
 */
export class Barrier extends LoopBound {
  /** @internal */ readonly _parties: number;
  /** @internal FILLING, DRAINING, RESETTING or BROKEN. */
  _state = FILLING;
  /** @internal Tasks inside wait() past the entry (asyncio's _count). */
  _count = 0;
  /** @internal Waiters sleeping until a state change. */
  readonly _waiters = new WaiterQueue<Future<number>>();

  /** @param parties how many tasks trip the barrier: an integer >= 1. */
  constructor(parties: number) {
    super();
    checkInteger(parties, 'Barrier parties', 1);
    this._parties = parties;
  }

  /** How many tasks trip the barrier. */
  get parties(): number {
    return this._parties;
  }

  /** How many tasks wait for the barrier to fill (0 while draining). */
  get nWaiting(): number {
    return this._state === FILLING ? this._count : 0;
  }

  /** True after abort(), until reset(). */
  get broken(): boolean {
    return this._state === BROKEN;
  }

  /**
   * A Future of this task's arrival index, done when `parties` tasks wait.
   * Fails with BrokenBarrierError on reset() or abort(). `signal` aborts the
   * wait.
   */
  wait(opts?: SignalOptions): Future<number> {
    const signal = signalOf(opts, this, 'wait');
    const loop = this._getLoop();
    if (signal?.aborted) return aborted(this, signal);
    const waiter = new Future<number>({ loop });
    waiter._hooks = BARRIER_WAIT;
    waiter._owner = this;
    barrierAdvance(waiter);
    cancelOnAbort(waiter, signal);
    return waiter;
  }

  /**
   * Back to the empty, filling state; current waiters fail with
   * BrokenBarrierError. Synchronous: asyncio's reset() is a coroutine only
   * to take the Condition's lock, which is never held across a suspension.
   */
  reset(): void {
    this._state = this._count > 0 ? RESETTING : FILLING;
    this._notifyAll();
  }

  /**
   * Break the barrier: current and future waiters fail with
   * BrokenBarrierError until reset(). Synchronous, like reset().
   */
  abort(): void {
    this._state = BROKEN;
    this._notifyAll();
  }

  /** @internal Wake the first `n` waiters. */
  _notify(n: number): void {
    for (const waiter of this._waiters) {
      if (n-- <= 0) break;
      barrierWake(waiter);
    }
  }

  /** @internal */
  _notifyAll(): void {
    this._notify(this._waiters.size);
  }

  /** @internal asyncio's _exit(): the last task out ends draining or resetting. */
  _exit(): void {
    if (this._count !== 0) return;
    if (this._state === RESETTING || this._state === DRAINING) this._state = FILLING;
    this._notifyAll();
  }

  override toString(): string {
    const waiting = this.broken ? '' : `, waiters:${this.nWaiting}/${this._parties}`;
    return `<Barrier [${STATE_NAMES[this._state]}${waiting}]>`;
  }
}
