/**
 * Waiting on several awaitables (asyncio's `gather`, `wait`, `wait_for`,
 * `shield`, `as_completed` from tasks.py). Shared TypeScript on the
 * EventLoop interface: no per-loop code.
 * @module
 */
import { CancelledError, TimeoutError } from './errors.js';
import { describe, getRunningLoop, _getRunningLoop, type EventLoop } from './events.js';
import { Flag, Future, FutureHooks, State, fromPromise } from './futures.js';
import { ensureFuture, _thenable } from './tasks.js';
import { isCoroutine, isPromiseLike, type Awaitable, type Coroutine } from './coroutines.js';
import { timeout } from './timeouts.js';
import { cancelOnAbort, checkSignal, type SignalOptions } from './abort.js';

/** The value an awaitable produces: `AwaitedOf<Future<number>>` is `number`. */
export type AwaitedOf<X> =
  X extends Future<infer R> ? R : X extends Generator<unknown, infer R, unknown> ? R : X extends PromiseLike<infer R> ? R : X;

/** gather's result array, typed per element like Promise.all. */
export type GatherResults<T extends readonly unknown[]> = { -readonly [K in keyof T]: AwaitedOf<T[K]> };

function checkArray(aws: unknown, fn: string): readonly unknown[] {
  if (!Array.isArray(aws)) throw new TypeError(`${fn}() needs an array of awaitables, not ${describe(aws)}`);
  return aws;
}

/** The loop of a batch of awaitables: the first Future's, else the running one. */
function loopOf(aws: readonly unknown[]): EventLoop {
  for (const aw of aws) if (aw instanceof Future) return aw.getLoop();
  return _getRunningLoop() ?? getRunningLoop();
}

/** ensureFuture for an awaitable of `fn()`'s batch (TypeError if it is not awaitable). */
function toFuture(aw: unknown, opts: { loop: EventLoop }, fn: string): Future<unknown> {
  if (!(aw instanceof Future) && !isCoroutine(aw) && !isPromiseLike(aw)) {
    throw new TypeError(`${fn}() got ${describe(aw)}, which is not awaitable`);
  }
  return ensureFuture(aw as Awaitable<unknown>, opts); // Error if a Future of another loop
}

/**
 * ensureFuture for each awaitable, on one loop (`loopOf`). The same
 * awaitable twice gives the same Future (as in asyncio); `distinct` lists
 * each Future once, in first-seen order.
 */
function toFutures(
  aws: readonly unknown[],
  fn: string,
): { loop: EventLoop; children: Future<unknown>[]; distinct: Future<unknown>[] } {
  const loop = loopOf(aws);
  const opts = { loop };
  // Filled by push, not `new Array(n)`: V8 makes an array of 1e5+ preallocated slots a slow dictionary.
  const children: Future<unknown>[] = [];
  const distinct: Future<unknown>[] = [];
  // Futures seen are MARKED (no hashing); coroutines and promises, rarer, are remembered in a Map.
  let others: Map<unknown, Future<unknown>> | null = null;
  try {
    for (const aw of aws) {
      let fut = aw instanceof Future ? aw : others?.get(aw);
      if (fut === undefined || !(fut._flags & Flag.MARKED)) {
        fut = toFuture(aw, opts, fn);
        if (!(aw instanceof Future)) (others ??= new Map()).set(aw, fut);
        fut._flags |= Flag.MARKED;
        distinct.push(fut);
      }
      children.push(fut);
    }
  } finally {
    for (const fut of distinct) fut._flags &= ~Flag.MARKED;
  }
  return { loop, children, distinct };
}

/**
 * gather's outer Future (`_owner`: the children): cancelling it cancels
 * every child; it then ends cancelled once they are done.
 */
const GATHERING = new FutureHooks({
  cancel: (outer, reason) => {
    if (outer.done()) return false;
    let cancelledAny = false;
    for (const child of outer._owner as Future<unknown>[]) if (child.cancel(reason as string | undefined)) cancelledAny = true;
    if (cancelledAny) outer._flags |= CANCEL_REQUESTED;
    return cancelledAny;
  },
});

/** GATHERING `_flags`: cancel() reached a child. */
const CANCEL_REQUESTED = Flag.FIRST_KIND_BIT;

/**
 * Run awaitables concurrently; a Future of their results in input order.
 * The first error propagates (the others keep running) unless
 * `returnExceptions`, which puts errors in the result array instead.
 * Cancelling the gather cancels every child.
 *
 * @example
 * ```ts
 * function* main() {
 *   const [a, b] = yield* gather([sleep(10, 'a'), fetchB()]);
 * }
 * ```
 */
export function gather<T extends readonly unknown[] | []>(
  aws: T,
  opts?: { returnExceptions?: false },
): Future<GatherResults<T>>;
export function gather<T extends readonly unknown[] | []>(
  aws: T,
  opts: { returnExceptions: true },
): Future<{ -readonly [K in keyof T]: AwaitedOf<T[K]> | Error }>;
export function gather(aws: readonly unknown[], opts?: { returnExceptions?: boolean }): Future<unknown[]> {
  checkArray(aws, 'gather');
  const returnExceptions = opts?.returnExceptions ?? false;
  if (typeof returnExceptions !== 'boolean') {
    throw new TypeError(`gather() returnExceptions must be a boolean, not ${describe(returnExceptions)}`);
  }
  if (aws.length === 0) {
    const loop = _getRunningLoop() ?? getRunningLoop();
    const empty = loop.createFuture<unknown[]>();
    empty.setResult([]);
    return empty;
  }
  const loop = loopOf(aws);
  const outer = new Future<unknown[]>({ loop });
  outer._hooks = GATHERING;
  const children: Future<unknown>[] = [];
  outer._owner = children;
  let distinct = 0;
  let finished = 0;
  const onChildDone = (fut: Future<unknown>) => {
    finished++;
    if (outer.done()) {
      if (!fut.cancelled()) fut.exception(); // retrieved: nobody else will
      return;
    }
    if (!returnExceptions) {
      if (fut.cancelled()) {
        outer.setException(fut._makeCancelledError());
        return;
      }
      const exc = fut.exception();
      if (exc !== null) {
        outer.setException(exc);
        return;
      }
    }
    if (finished === distinct) {
      const results = children.map((child) =>
        child.cancelled() ? child._makeCancelledError() : (child.exception() ?? child.result()),
      );
      if (outer._flags & CANCEL_REQUESTED) outer.setException(fut._makeCancelledError());
      else outer.setResult(results);
    }
  };
  // One pass that converts, drops repeats and registers, as asyncio's gather
  // does: with 1e5 tasks, each pass over them is a cache miss per task. A
  // pending child seen before already has onChildDone; a done one is MARKED.
  const futureOpts = { loop };
  const alreadyDone: Future<unknown>[] = [];
  let others: Map<unknown, Future<unknown>> | null = null;
  try {
    for (const aw of aws) {
      let fut = aw instanceof Future ? aw : others?.get(aw);
      if (fut === undefined || !hasGathered(fut, onChildDone)) {
        fut = toFuture(aw, futureOpts, 'gather');
        if (!(aw instanceof Future)) (others ??= new Map()).set(aw, fut);
        distinct++;
        if (fut._state !== State.PENDING) {
          fut._flags |= Flag.MARKED;
          alreadyDone.push(fut);
        } else {
          fut._addCallback(onChildDone);
        }
      }
      children.push(fut);
    }
  } catch (error) {
    for (const child of children) child.removeDoneCallback(onChildDone);
    throw error;
  } finally {
    for (const child of alreadyDone) child._flags &= ~Flag.MARKED;
  }
  for (const child of alreadyDone) onChildDone(child);
  return outer;
}

/** `fut` is already a child of the gather whose callback is `onChildDone`. */
function hasGathered(fut: Future<unknown>, onChildDone: (fut: Future<unknown>) => void): boolean {
  if (fut._state !== State.PENDING) return (fut._flags & Flag.MARKED) !== 0;
  const cbs = fut._callbacks;
  return cbs === onChildDone || (Array.isArray(cbs) && cbs.includes(onChildDone));
}

/** When `wait` returns. */
export type ReturnWhen = 'FIRST_COMPLETED' | 'FIRST_EXCEPTION' | 'ALL_COMPLETED';
const RETURN_WHEN: readonly ReturnWhen[] = ['FIRST_COMPLETED', 'FIRST_EXCEPTION', 'ALL_COMPLETED'];

/**
 * Wait until some or all of `fs` are done: a Future of `[done, pending]`
 * sets. Does not cancel anything, and does not raise TimeoutError: on
 * timeout the unfinished ones are in `pending`. Coroutines are refused (as in
 * asyncio 3.12): wrap them with `createTask` so you can find them in the sets.
 *
 * @example
 * ```ts
 * const [done, pending] = yield* wait([t1, t2], { returnWhen: 'FIRST_COMPLETED', timeout: 500 });
 * ```
 */
export function wait<T>(
  fs: Iterable<Future<T> | PromiseLike<T>>,
  opts?: { timeout?: number | null; returnWhen?: ReturnWhen } & SignalOptions,
): Future<[Set<Future<T>>, Set<Future<T>>]> {
  if (fs === null || typeof fs !== 'object' || typeof (fs as Iterable<unknown>)[Symbol.iterator] !== 'function') {
    throw new TypeError(`wait() needs an iterable of Futures, not ${describe(fs)}`);
  }
  const list = [...fs];
  if (list.length === 0) throw new RangeError('wait() needs at least one Future');
  for (const f of list) {
    if (isCoroutine(f)) throw new TypeError('wait() does not take coroutines: wrap them with createTask()');
  }
  const returnWhen = opts?.returnWhen ?? 'ALL_COMPLETED';
  if (!RETURN_WHEN.includes(returnWhen)) {
    throw new RangeError(`wait() returnWhen must be one of ${RETURN_WHEN.join(', ')}, not ${describe(returnWhen)}`);
  }
  const timeoutMs = checkTimeout(opts?.timeout, 'wait');
  const signal = checkSignal(opts?.signal, 'wait');
  const { loop, distinct } = toFutures(list, 'wait');
  const futs = new Set(distinct) as Set<Future<T>>;
  const outer = loop.createFuture<[Set<Future<T>>, Set<Future<T>>]>();
  outer._hooks = WAIT_RESULT;
  const settle = () => {
    if (outer.done()) return;
    const done = new Set<Future<T>>();
    const pending = new Set<Future<T>>();
    for (const f of futs) (f.done() ? done : pending).add(f);
    outer.setResult([done, pending]);
  };
  let counter = futs.size;
  const onCompletion = (f: Future<T>) => {
    counter--;
    if (
      counter <= 0 ||
      returnWhen === 'FIRST_COMPLETED' ||
      (returnWhen === 'FIRST_EXCEPTION' && !f.cancelled() && f.exception() !== null)
    ) {
      settle();
    }
  };
  for (const f of futs) f.addDoneCallback(onCompletion);
  const timer = timeoutMs === null ? null : loop.callLater(timeoutMs, settle);
  cancelOnAbort(outer, signal);
  outer.addDoneCallback(() => {
    timer?.cancel();
    for (const f of futs) f.removeDoneCallback(onCompletion);
  });
  return outer;
}

/**
 * asyncio's `wait()` builds its sets when the waiting coroutine resumes, an
 * iteration after it was released; ours are built on release, so a coroutine
 * resuming from `yield* wait(...)` first moves what finished in between from
 * `pending` to `done`.
 */
const WAIT_RESULT = new FutureHooks({
  next: (fut) => {
    if (fut._state !== State.FINISHED) return;
    const [done, pending] = fut._result as [Set<Future<unknown>>, Set<Future<unknown>>];
    for (const f of pending) {
      if (f._state === State.PENDING) continue;
      pending.delete(f);
      done.add(f);
    }
  },
});

function checkTimeout(value: unknown, fn: string): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number') throw new TypeError(`${fn}() timeout must be a number or null, not ${describe(value)}`);
  if (Number.isNaN(value)) throw new RangeError(`${fn}() timeout must not be NaN`);
  return value;
}

/**
 * Wait for `aw` with a time limit (ms; null for none). On timeout `aw` is
 * cancelled, waited for until it has finished cancelling, and TimeoutError is
 * thrown. `waitFor(x, 0)` times out at once unless `x` is already done.
 * Returns a coroutine that runs in the current task (`yield*` it), which is
 * also awaitable from async code.
 *
 * @example
 * ```ts
 * try { const page = yield* waitFor(fetchPage(url), 2000); }
 * catch (e) { if (e instanceof TimeoutError) console.log('too slow'); }
 * ```
 */
export function waitFor<T>(aw: Awaitable<T>, timeoutMs: number | null): Coroutine<T> & PromiseLike<T> {
  const ms = checkTimeout(timeoutMs, 'waitFor');
  if (!(aw instanceof Future) && !isCoroutine(aw) && !isPromiseLike(aw)) {
    throw new TypeError(`waitFor() got ${describe(aw)}, which is not awaitable`);
  }
  return _thenable(waitForCoroutine(aw, ms));
}

function* waitForCoroutine<T>(aw: Awaitable<T>, ms: number | null): Coroutine<T> {
  if (ms !== null && ms <= 0) {
    const fut = ensureFuture(aw);
    if (fut.done()) return fut.result();
    fut.cancel();
    yield* waitCancelled(fut);
    try {
      return fut.result();
    } catch (exc) {
      if (exc instanceof CancelledError) throw new TimeoutError('', { cause: exc });
      throw exc;
    }
  }
  return yield* timeout(ms, function* () {
    if (isCoroutine(aw)) return yield* aw as Coroutine<T>;
    return yield* (aw instanceof Future ? aw : fromPromise(aw as PromiseLike<T>));
  });
}

/** Wait until `fut` is done, whatever its outcome (asyncio's _cancel_and_wait). */
function* waitCancelled(fut: Future<unknown>): Coroutine<void> {
  const done = fut.getLoop().createFuture<void>();
  fut.addDoneCallback(() => {
    if (!done.done()) done.setResult();
  });
  yield* done;
}

/**
 * Protect `aw` from cancellation: cancelling the returned Future (or the task
 * awaiting it) does not cancel `aw`, which keeps running.
 *
 * @example
 * ```ts
 * const saved = yield* shield(saveToDisk(data)); // a cancel of this task won't abort the save
 * ```
 */
export function shield<T>(aw: Awaitable<T>): Future<T> {
  const inner = ensureFuture(aw);
  if (inner.done()) return inner;
  const outer = inner.getLoop().createFuture<T>();
  const onInnerDone = (f: Future<T>) => {
    if (outer.cancelled()) {
      if (!f.cancelled()) f.exception(); // retrieved: the shield's caller is gone
      return;
    }
    if (f.cancelled()) outer.cancel();
    else {
      const exc = f.exception();
      if (exc !== null) outer.setException(exc);
      else outer.setResult(f.result());
    }
  };
  inner.addDoneCallback(onInnerDone);
  outer.addDoneCallback(() => {
    if (!inner.done()) inner.removeDoneCallback(onInnerDone);
  });
  return outer;
}

/**
 * Iterate over awaitables in completion order (asyncio.as_completed, 3.13).
 * Plain iteration yields one awaitable per input (a coroutine, also
 * awaitable from async code), each taking the next result to arrive when
 * it is awaited; `for await` yields the completed Futures themselves
 * (the ones you passed, or the Tasks wrapping your coroutines). With
 * `timeout`, whatever is still pending then raises TimeoutError.
 *
 * @example
 * ```ts
 * for (const next of asCompleted(tasks)) console.log(yield* next);
 * for await (const done of asCompleted(tasks)) console.log(done.result());
 * ```
 */
export function asCompleted<T>(
  aws: Iterable<Awaitable<T>> | AsyncIterable<Awaitable<T>>,
  opts?: { timeout?: number | null },
): AsCompleted<T> {
  return new AsCompleted<T>(aws, checkTimeout(opts?.timeout, 'asCompleted'));
}

/** What `asCompleted` returns: iterable (awaitables of results) and async-iterable (done Futures). */
export class AsCompleted<T> implements Iterable<Coroutine<T> & PromiseLike<T>>, AsyncIterable<Future<T>> {
  private _todo = new Set<Future<T>>();
  private _total = 0;
  /** Completed futures not yet handed out; null entries mean "timed out". */
  private _doneQueue: Array<Future<T> | null> = [];
  private _waiters: Future<void>[] = [];
  private _loop: EventLoop;
  private _timer: { cancel(): void } | null = null;
  private _sourceDone: Future<void> | null = null;

  /** @internal Use `asCompleted()`. */
  constructor(aws: Iterable<Awaitable<T>> | AsyncIterable<Awaitable<T>>, timeoutMs: number | null) {
    if (aws === null || typeof aws !== 'object') {
      throw new TypeError(`asCompleted() needs an iterable of awaitables, not ${describe(aws)}`);
    }
    this._loop = _getRunningLoop() ?? getRunningLoop();
    if (typeof (aws as Iterable<unknown>)[Symbol.iterator] === 'function') {
      for (const aw of aws as Iterable<Awaitable<T>>) this._add(aw);
    } else if (typeof (aws as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
      this._sourceDone = this._loop.createFuture<void>();
      void this._consume(aws as AsyncIterable<Awaitable<T>>);
    } else {
      throw new TypeError(`asCompleted() needs an iterable of awaitables, not ${describe(aws)}`);
    }
    if (timeoutMs !== null) this._timer = this._loop.callLater(timeoutMs, () => this._onTimeout());
  }

  private _add(aw: Awaitable<T>): void {
    const fut = ensureFuture(aw, { loop: this._loop });
    if (this._todo.has(fut)) return;
    this._todo.add(fut);
    this._total++;
    fut.addDoneCallback(this._onDone);
  }

  private async _consume(source: AsyncIterable<Awaitable<T>>): Promise<void> {
    try {
      // Note: an async generator awaits what it yields, so it hands us settled values.
      for await (const aw of source as AsyncIterable<unknown>) this._add(aw as Awaitable<T>);
    } finally {
      this._sourceDone!.setResult();
      this._wake();
    }
  }

  private readonly _onDone = (fut: Future<T>) => {
    if (!this._todo.delete(fut)) return;
    this._doneQueue.push(fut);
    if (this._todo.size === 0 && this._sourceDone?.done() !== false) this._timer?.cancel();
    this._wake();
  };

  private _onTimeout(): void {
    for (const f of this._todo) {
      f.removeDoneCallback(this._onDone);
      this._doneQueue.push(null);
    }
    this._todo.clear();
    this._wake();
  }

  private _wake(): void {
    const waiters = this._waiters;
    this._waiters = [];
    for (const w of waiters) if (!w.done()) w.setResult();
  }

  /** Everything handed out, nothing left to come. */
  private _exhausted(): boolean {
    return this._doneQueue.length === 0 && this._todo.size === 0 && this._sourceDone?.done() !== false;
  }

  /**
   * The next completion: a box holding the done Future (null: timed out),
   * or undefined when nothing is left. Boxed because a promise resolved with
   * a Future would adopt it (and hand out its result instead).
   */
  private *_next(): Coroutine<{ fut: Future<T> | null } | undefined> {
    while (this._doneQueue.length === 0) {
      if (this._exhausted()) return undefined;
      const w = this._loop.createFuture<void>();
      this._waiters.push(w);
      yield* w;
    }
    return { fut: this._doneQueue.shift()! };
  }

  /**
   * One awaitable per input: a coroutine (also awaitable from async code)
   * that, once awaited, takes the next result to arrive. Lazy, as asyncio's:
   * whichever is awaited first gets the first completion.
   */
  *[Symbol.iterator](): Iterator<Coroutine<T> & PromiseLike<T>> {
    if (this._sourceDone !== null) throw new TypeError('asCompleted() of an async iterable: use for await');
    for (let i = 0; i < this._total; i++) yield _thenable(this._nextResult());
  }

  private *_nextResult(): Coroutine<T> {
    const next = yield* this._next();
    if (next === undefined || next.fut === null) throw new TimeoutError();
    return next.fut.result();
  }

  /**
   * The completed Futures, in completion order. Written by hand rather than
   * as an async generator: an async generator awaits what it yields, which
   * would hand out results instead of Futures.
   */
  [Symbol.asyncIterator](): AsyncIterator<Future<T>> {
    return {
      next: async (): Promise<IteratorResult<Future<T>>> => {
        const next = await ensureFuture(this._next(), { loop: this._loop });
        if (next === undefined) return { value: undefined, done: true };
        if (next.fut === null) throw new TimeoutError();
        return { value: next.fut, done: false };
      },
    };
  }
}
