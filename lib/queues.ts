/**
 * Queues for coroutines and async functions (asyncio's `queues.py`, 3.13,
 * shutdown included): `Queue` (FIFO), `PriorityQueue` (min first) and
 * `LifoQueue`.
 *
 * `put()`, `get()` and `join()` return Futures, so coroutines write
 * `yield* q.get()` and async functions `await q.get()`.
 *
 * Why the design below. asyncio wakes a waiting getter or putter and lets it
 * act when it resumes: code that runs at resumption keeps asyncio
 * cancellation-safe (a task cancelled after its wake-up takes nothing and
 * passes the wake-up on). Our calls return Futures, not coroutines. An
 * `await`ing async function receives the result straight from the Future,
 * and a Future nobody waits on never resumes at all, so for those nothing
 * of ours can run at resumption. A coroutine does run our code: `yield*`
 * calls the Future's own `next()` when the Task resumes and its `throw()`
 * when the Task is cancelled instead (a Future is its own iterator).
 * - Getters: direct hand-off. A `put()` with getters waiting gives the item
 *   to the first (`setResult(item)`): it never enters the buffer, and no
 *   `getNowait()` can steal it before the getter runs. If the getter's Task
 *   is cancelled before it resumes, the getter's `throw()` gives the unclaimed
 *   item to the next getter, else back to the front of the queue (asyncio's
 *   `_wakeup_next` in `get()`'s `except:`). An `await`ing function always
 *   gets its item: a promise reaction cannot be cancelled.
 * - Putters: a `get()` that frees a slot admits the first waiting putter. A
 *   coroutine (`yield* q.put(x)`) gets the slot reserved and puts its item
 *   in `next()` when it resumes; cancelled before that, it puts nothing and
 *   the slot goes to the next putter, exactly as asyncio. Any other putter
 *   (an `await`ing function, an unawaited Future) has its item moved in at
 *   once, since nothing of ours would run later. Reserved slots count in
 *   `full()`, so no later put overtakes a woken putter.
 * - Waiters cancelled while waiting (task cancel, signal, timeout) leave
 *   their line at once (O(1): a flag on the waiter, see WaiterQueue).
 * Deviations (for the README): a put() that does not wait returns the
 * queue's one shared done Future (see `_putDone`); an item handed to a waiting getter no longer
 * counts in `qsize()`, so a bounded queue holds `maxsize` items plus those
 * in flight to getters; `full()` may be true while `qsize() < maxsize` (a
 * slot is reserved for a woken putter); a getter handed its item before
 * `shutdown(true)` still receives it.
 * @module
 */
import { cancelOnAbort, checkSignal, type SignalOptions } from './abort.js';
import type { Coroutine } from './coroutines.js';
import { isCoroutine, isPromiseLike } from './coroutines.js';
import { QueueEmpty, QueueFull, QueueShutDown } from './errors.js';
import { describe, getRunningLoop, type EventLoop } from './events.js';
import { Flag, Future, FutureHooks, State, fromPromise } from './futures.js';
import { _thenable } from './tasks.js';
import { WaiterQueue } from './waiters.js';

/** `Queue._state`. */
const OPEN = 0;
const SHUT_DOWN = 1;
const SHUT_DOWN_IMMEDIATE = 2;

/** Buffers larger than this are dropped when they empty, so a burst does not pin memory. */
const SHRINK_ABOVE = 1 << 14;

// ---------------------------------------------------------------------------
// Waiters: Futures (`_owner`: the queue) in a line of their queue. Each kind
// is a set of hooks on a plain Future (see FutureHooks: one hidden class for
// every Future keeps V8's inline caches monomorphic). Whoever completes a
// waiter (the queue, a cancelled Task, an aborted signal, the user) makes it
// leave its line: it must not be woken again.

/** Getter `_flags`: the queue handed it an item; somebody took the item (or it went back). */
const HANDED = Flag.FIRST_KIND_BIT;
const CLAIMED = Flag.FIRST_KIND_BIT << 1;

/**
 * A waiting get() (`_data`: the put order of the item handed over, which
 * PriorityQueue uses to keep equal items FIFO). It receives its item through
 * setResult, and gives it back if it is never claimed.
 */
const GETTER = new FutureHooks({
  settle: (g) => (g._owner as Queue<unknown>)._getters.delete(g),
  // The coroutine resumes with the item (or suspends on the getter first).
  next: (g) => {
    if (g._state !== State.PENDING) g._flags |= CLAIMED;
  },
  // An error (CancelledError) is thrown into `yield* getter` instead of resuming it, or the coroutine is closed there.
  throw: giveBack,
  return: giveBack,
  // A promise reaction always runs: whoever awaits the getter gets the item.
  then: (g) => {
    g._flags |= CLAIMED;
  },
});

/** asyncio's `except: getter.cancel(); ... self._wakeup_next(self._getters)`. */
function giveBack(g: Future<unknown>): void {
  if (g._state === State.PENDING) g.cancel();
  if ((g._flags & (HANDED | CLAIMED)) !== HANDED) return;
  g._flags |= CLAIMED;
  (g._owner as Queue<unknown>)._giveBack(g._result, g._data as number);
}

/** Complete a getter with an item of the queue. */
function hand<T>(g: Future<T>, item: T, seq: number): void {
  g._data = seq;
  g._flags |= HANDED;
  g.setResult(item);
}

/**
 * Putter `_flags`. YIELDED: a coroutine waits on it with `yield*`, so it can
 * put the item when it resumes. PROMISED: `then()` was called; whoever
 * awaits it runs none of our code, so the item is admitted at once.
 * RESERVED: admitted with a reserved slot; the item goes in when the
 * coroutine resumes.
 */
const YIELDED = Flag.FIRST_KIND_BIT;
const PROMISED = Flag.FIRST_KIND_BIT << 1;
const RESERVED = Flag.FIRST_KIND_BIT << 2;

/** A waiting put() on a full queue (`_data`: its item, until it enters the queue or is dropped). */
const PUTTER = new FutureHooks({
  settle: (p) => (p._owner as Queue<unknown>)._putters.delete(p),
  // The coroutine suspends on the putter, or resumes: then put the item into the reserved slot.
  next: (p) => {
    if (p._state === State.PENDING) p._flags |= YIELDED;
    else if (p._flags & RESERVED) {
      p._flags &= ~RESERVED;
      (p._owner as Queue<unknown>)._commit(takeItem(p)); // QueueShutDown if shut down meanwhile
    }
  },
  // An error (CancelledError) is thrown into `yield* putter`, or the coroutine is closed there: nothing is put.
  throw: withdraw,
  return: withdraw,
  then: (p) => {
    p._flags |= PROMISED;
  },
});

/** Hand over a putter's item (and forget it). */
function takeItem<T>(p: Future<void>): T {
  const item = p._data as T;
  p._data = undefined;
  return item;
}

/** asyncio's `except: putter.cancel(); ... self._wakeup_next(self._putters)`. */
function withdraw(p: Future<void>): void {
  if (p._state === State.PENDING) p.cancel();
  else if (p._flags & RESERVED) {
    p._flags &= ~RESERVED;
    p._data = undefined;
    (p._owner as Queue<unknown>)._release();
  }
}

/** A waiting join(). */
const JOINER = new FutureHooks({ settle: (j) => (j._owner as Queue<unknown>)._joiners.delete(j) });

/** A pending waiter of `hooks`' kind in `line` of `queue`. */
function waiter<T>(queue: Queue<any>, hooks: FutureHooks, line: WaiterQueue): Future<T> {
  const fut = new Future<T>(queue._bind());
  fut._hooks = hooks;
  fut._owner = queue;
  line.add(fut);
  return fut;
}

/** A done Future holding `value`, without the checks of setResult. */
function resolved<T>(value: T, opts: { loop: EventLoop } | undefined): Future<T> {
  const fut = new Future<T>(opts);
  fut._state = State.FINISHED;
  fut._result = value;
  return fut;
}

/** A Future already failed with `error`. */
function failed<T>(error: unknown, opts: { loop: EventLoop } | undefined): Future<T> {
  const fut = new Future<T>(opts);
  fut.setException(error);
  return fut;
}

/** A Future already cancelled by an aborted signal. */
function aborted<T>(signal: AbortSignal, opts: { loop: EventLoop } | undefined): Future<T> {
  const fut = new Future<T>(opts);
  cancelOnAbort(fut, signal);
  return fut;
}

/** Validate `{ signal }` of a waiting call. */
function signalOf(opts: SignalOptions | undefined, method: string): AbortSignal | undefined {
  if (opts === undefined) return undefined;
  if (typeof opts !== 'object' || opts === null) {
    throw new TypeError(`${method}() options must be an object, not ${describe(opts)}`);
  }
  return checkSignal(opts.signal, method);
}

function checkMaxsize(maxsize: unknown, cls: string): number {
  if (typeof maxsize !== 'number') throw new TypeError(`${cls} maxsize must be a number, not ${describe(maxsize)}`);
  // asyncio: 0 or less means unbounded (and maxsize reads back as given).
  if (!Number.isSafeInteger(maxsize)) {
    throw new RangeError(`${cls} maxsize must be an integer (0 or less means unbounded), not ${maxsize}`);
  }
  return maxsize;
}

// ---------------------------------------------------------------------------

/**
 * A first in, first out queue (asyncio.Queue). `maxsize` 0 (or less) means unbounded;
 * otherwise `put()` waits while `maxsize` items are queued.
 *
 * Items are counted by `join()` until a consumer calls `taskDone()` for each.
 * `shutdown()` ends it: puts fail with QueueShutDown, gets once it is empty.
 * `for await (const item of queue)` gets items until then; coroutines use
 * `yield* queue.forEach(fn)`.
 *
 * @example
 * ```ts
 * function* worker(q: Queue<string>) {
 *   for (;;) {
 *     const url = yield* q.get();
 *     try { yield* fetchOne(url); } finally { q.taskDone(); }
 *   }
 * }
 * function* main() {
 *   const q = new Queue<string>(100);
 *   const workers = [1, 2, 3].map(() => createTask(worker(q)));
 *   for (const url of urls) yield* q.put(url);  // waits while 100 are queued
 *   yield* q.join();                            // every item processed
 *   for (const w of workers) w.cancel();
 * }
 * ```
 */
export class Queue<T = unknown> implements AsyncIterable<T> {
  /** @internal */ readonly _maxsize: number;
  /** @internal Items in the buffer. */
  _count = 0;
  /** @internal Storage: a power-of-two ring buffer here; a stack or a heap in subclasses. */
  _items: (T | undefined)[] = [];
  /** @internal Ring buffer start. */
  private _head = 0;
  /** @internal Given-back items at the front of the queue, kept in hand-off order (`_putBack`). */
  _returned = 0;
  /** @internal Put order of the next item. */
  _seq = 0;
  /** @internal Slots promised to woken putters that have not resumed yet. */
  private _reserved = 0;
  /** @internal Items put and not yet marked done (`taskDone`). */
  private _unfinished = 0;
  /** @internal OPEN, SHUT_DOWN or SHUT_DOWN_IMMEDIATE. */
  private _state = OPEN;
  /** @internal put()'s shared done Future (see `_putDone`). */
  private _donePut: Future<void> | null = null;
  /** @internal The loop the queue is bound to, as Future options (`{ loop }`). */
  private _loopOpts: { loop: EventLoop } | undefined = undefined;
  /** @internal Waiting get()s: only while the buffer is empty. */
  readonly _getters = new WaiterQueue<Future<T>>();
  /** @internal Waiting put()s: only while the queue is full. */
  readonly _putters = new WaiterQueue<Future<void>>();
  /** @internal Waiting join()s. */
  readonly _joiners = new WaiterQueue<Future<void>>();

  /**
   * @param maxsize the most items queued at once; 0 (default) or less for no limit.
   * RangeError unless an integer >= 0.
   */
  constructor(maxsize: number = 0) {
    this._maxsize = checkMaxsize(maxsize, new.target.name);
  }

  /** Most items queued at once (0: unbounded). */
  get maxsize(): number {
    return this._maxsize;
  }

  /** Number of items in the queue. */
  qsize(): number {
    return this._count;
  }

  /** True if the queue has no items. */
  empty(): boolean {
    return this._count === 0;
  }

  /**
   * True if `maxsize` items are queued, counting slots reserved for woken
   * putters (never for an unbounded queue).
   */
  full(): boolean {
    return this._maxsize > 0 && this._count + this._reserved >= this._maxsize;
  }

  /**
   * Put `item`, waiting while the queue is full. The Future fails with
   * QueueShutDown if the queue is (or gets) shut down first, and is
   * cancelled when `signal` aborts (the item is then not put).
   */
  put(item: T, opts?: SignalOptions): Future<void> {
    const signal = signalOf(opts, 'Queue.put');
    if (signal?.aborted) return aborted(signal, this._loopOpts);
    if (this._state !== OPEN) return failed(new QueueShutDown('put() on a shut-down queue'), this._loopOpts);
    if (!this.full()) {
      this._add(item);
      return this._putDone();
    }
    const putter = waiter<void>(this, PUTTER, this._putters);
    putter._data = item;
    cancelOnAbort(putter, signal);
    return putter;
  }

  /** Put `item` now: QueueFull if full, QueueShutDown if shut down. */
  putNowait(item: T): void {
    if (this._state !== OPEN) throw new QueueShutDown('putNowait() on a shut-down queue');
    if (this.full()) throw new QueueFull(`queue is full (maxsize ${this._maxsize})`);
    this._add(item);
  }

  /**
   * Remove and return an item, waiting while the queue is empty. The Future
   * fails with QueueShutDown once the queue is shut down and empty, and is
   * cancelled when `signal` aborts (no item is taken).
   */
  get(opts?: SignalOptions): Future<T> {
    const signal = signalOf(opts, 'Queue.get');
    if (signal?.aborted) return aborted(signal, this._loopOpts);
    if (this._count > 0) return resolved(this._take(), this._loopOpts);
    if (this._state !== OPEN) return failed(new QueueShutDown('get() on a shut-down, empty queue'), this._loopOpts);
    const getter = waiter<T>(this, GETTER, this._getters);
    cancelOnAbort(getter, signal);
    return getter;
  }

  /** Remove and return an item now: QueueEmpty if empty, QueueShutDown if also shut down. */
  getNowait(): T {
    if (this._count > 0) return this._take();
    if (this._state !== OPEN) throw new QueueShutDown('getNowait() on a shut-down, empty queue');
    throw new QueueEmpty('queue is empty');
  }

  /**
   * Mark one item got earlier as processed. When every item put has been
   * marked, `join()` waiters resume. RangeError if called more times than
   * items were put (asyncio's ValueError).
   */
  taskDone(): void {
    if (this._unfinished <= 0) throw new RangeError('taskDone() called too many times');
    if (--this._unfinished === 0) this._releaseJoiners();
  }

  /** Wait until every item put has been marked with `taskDone()` (done at once if none is pending). */
  join(opts?: SignalOptions): Future<void> {
    const signal = signalOf(opts, 'Queue.join');
    if (signal?.aborted) return aborted(signal, this._loopOpts);
    if (this._unfinished === 0) return resolved(undefined, this._loopOpts);
    const joiner = waiter<void>(this, JOINER, this._joiners);
    cancelOnAbort(joiner, signal);
    return joiner;
  }

  /**
   * Shut the queue down (asyncio 3.13): every waiting and later put fails
   * with QueueShutDown; gets fail once the queue is empty, waiting ones at
   * once. With `immediate` the queue is emptied first, each dropped item
   * counting as done (which may release `join()`).
   */
  shutdown(immediate: boolean = false): void {
    if (typeof immediate !== 'boolean') {
      throw new TypeError(`shutdown() immediate must be a boolean, not ${describe(immediate)}`);
    }
    if (immediate) {
      this._state = SHUT_DOWN_IMMEDIATE;
      while (this._count > 0) {
        this._get();
        if (this._unfinished > 0) this._unfinished--;
      }
      if (this._unfinished === 0) this._releaseJoiners();
    } else if (this._state === OPEN) {
      this._state = SHUT_DOWN;
    }
    // Getters only wait on an empty queue, so all of them fail now.
    for (let g; (g = this._getters.shift()) !== undefined; ) g.setException(new QueueShutDown('queue shut down'));
    for (let p; (p = this._putters.shift()) !== undefined; ) {
      takeItem(p);
      p.setException(new QueueShutDown('queue shut down'));
    }
  }

  /**
   * `for await (const item of queue)`: get items until the queue is shut
   * down and drained. `taskDone()` is left to the loop body.
   */
  [Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    return this._iter(undefined);
  }

  /**
   * Async iteration with options: an aborted `signal` ends the loop with a
   * CancelledError (no item is lost).
   *
   * @example
   * ```ts
   * for await (const job of q.iter({ signal: AbortSignal.timeout(5000) })) handle(job);
   * ```
   */
  iter(opts?: SignalOptions): AsyncGenerator<T, void, undefined> {
    signalOf(opts, 'Queue.iter');
    return this._iter(opts);
  }

  private async *_iter(opts: SignalOptions | undefined): AsyncGenerator<T, void, undefined> {
    for (;;) {
      let item: T;
      try {
        item = await this.get(opts);
      } catch (e) {
        if (e instanceof QueueShutDown) return;
        throw e;
      }
      yield item;
    }
  }

  /**
   * Coroutine: call `fn(item)` for each item until the queue is shut down
   * and drained. A generator function's coroutine is run to completion
   * (`yield*`) before the next get, as is a returned promise; `taskDone()`
   * is left to `fn`. The coroutine way of `for await (const item of queue)`;
   * async code may `await` it too (it then runs as a Task).
   *
   * @example
   * ```ts
   * function* consumer(q: Queue<Job>) {
   *   yield* q.forEach(function* (job) {
   *     yield* runJob(job);
   *     q.taskDone();
   *   });
   *   console.log('queue shut down and drained');
   * }
   * ```
   */
  forEach(fn: (item: T) => unknown, opts?: SignalOptions): Coroutine<void> & PromiseLike<void> {
    if (typeof fn !== 'function') throw new TypeError(`forEach() needs a function, not ${describe(fn)}`);
    signalOf(opts, 'Queue.forEach');
    return _thenable(this._forEach(fn, opts));
  }

  private *_forEach(fn: (item: T) => unknown, opts: SignalOptions | undefined): Coroutine<void> {
    for (;;) {
      let item: T;
      try {
        item = yield* this.get(opts);
      } catch (e) {
        if (e instanceof QueueShutDown) return;
        throw e;
      }
      const r = fn(item);
      if (isCoroutine(r)) yield* r;
      else if (isPromiseLike(r)) yield* fromPromise(r);
    }
  }

  toString(): string {
    let s = `<${this.constructor.name} maxsize=${this._maxsize} qsize=${this._count}`;
    if (this._getters.size) s += ` getters=${this._getters.size}`;
    if (this._putters.size) s += ` putters=${this._putters.size}`;
    if (this._unfinished) s += ` tasks=${this._unfinished}`;
    if (this._state !== OPEN) s += this._state === SHUT_DOWN ? ' shutdown' : ' shutdown-immediate';
    return s + '>';
  }

  // -- Internals -------------------------------------------------------------

  /**
   * The running loop, binding the queue to it on first wait (asyncio's
   * `_LoopBoundMixin`). Returned as Future options, allocated once.
   */
  /** @internal */
  _bind(): { loop: EventLoop } {
    const loop = getRunningLoop();
    const bound = this._loopOpts;
    if (bound === undefined) return (this._loopOpts = { loop });
    if (bound.loop !== loop) throw new Error(`${this} is bound to a different event loop`);
    return bound;
  }

  /**
   * The Future of a put() that did not wait: done, with no value. It is one
   * shared Future per queue (once bound to its loop), never a new one per
   * call: a done Future with no value never changes, and allocating one per
   * put() was a third of the producer/consumer benchmark's time (1e6 items:
   * 99 -> 70 ns an item). The one visible difference: such Futures are
   * identical, so `wait()` and `asCompleted()` count them once.
   */
  private _putDone(): Future<void> {
    const opts = this._loopOpts;
    if (opts === undefined) return resolved(undefined, undefined); // not bound yet: the running loop's
    return (this._donePut ??= resolved(undefined, opts));
  }

  /** A new item: to the first waiting getter, else into the buffer. */
  private _add(item: T): void {
    this._unfinished++;
    const seq = this._seq++;
    const getter = this._getters.shift();
    if (getter !== undefined) hand(getter, item, seq);
    else this._put(item, seq);
  }

  /** Take the next item; the freed slot goes to a waiting putter. */
  private _take(): T {
    const item = this._get();
    if (this._putters.size > 0) this._admitPutters();
    return item;
  }

  /**
   * Wake putters while there is room (see the module comment): a coroutine
   * gets its slot reserved, any other putter's item goes in now.
   */
  private _admitPutters(): void {
    for (let p; !this.full() && (p = this._putters.shift()) !== undefined; ) {
      if ((p._flags & (YIELDED | PROMISED)) === YIELDED) {
        p._flags |= RESERVED;
        this._reserved++;
      } else {
        this._add(takeItem(p));
      }
      p.setResult(undefined);
    }
  }

  /**
   * @internal A woken putter's coroutine resumed: its item takes the
   * reserved slot, unless the queue was shut down meanwhile (asyncio's
   * put_nowait after the wait raises QueueShutDown then).
   */
  _commit(item: T): void {
    this._reserved--;
    if (this._state !== OPEN) throw new QueueShutDown('queue shut down');
    this._add(item);
    this._admitPutters(); // a getter took it directly: the slot is still free
  }

  /** @internal A woken putter was cancelled before it resumed: the slot goes to the next. */
  _release(): void {
    this._reserved--;
    this._admitPutters();
  }

  private _releaseJoiners(): void {
    for (let j; (j = this._joiners.shift()) !== undefined; ) j.setResult(undefined);
  }

  /**
   * @internal A getter's Task was cancelled before it resumed with `item`:
   * the item goes to the next getter, else back to the front of the queue
   * (in hand-off order, ahead of later items). It may push the queue past
   * maxsize for a moment, as the item was already admitted. After
   * `shutdown(true)` the queue stays empty: the item counts as done.
   */
  _giveBack(item: T, seq: number): void {
    if (this._state === SHUT_DOWN_IMMEDIATE) {
      if (this._unfinished > 0 && --this._unfinished === 0) this._releaseJoiners();
      return;
    }
    const getter = this._getters.shift();
    if (getter !== undefined) hand(getter, item, seq);
    else this._putBack(item, seq);
  }

  // -- Storage (asyncio's _put/_get): subclasses override these four ---------

  /** @internal Add an item (`seq` is its put order). */
  _put(item: T, _seq: number): void {
    if (this._count === this._items.length) this._grow();
    const items = this._items;
    items[(this._head + this._count) & (items.length - 1)] = item;
    this._count++;
  }

  /** @internal Remove the next item (the buffer is not empty). */
  _get(): T {
    const items = this._items;
    const head = this._head;
    const item = items[head] as T;
    items[head] = undefined; // do not keep it alive
    this._head = (head + 1) & (items.length - 1);
    if (this._returned > 0) this._returned--;
    if (--this._count === 0 && items.length > SHRINK_ABOVE) {
      this._items = [];
      this._head = 0;
    }
    return item;
  }

  /**
   * @internal Return an item handed out but never claimed, to where it would
   * be had it stayed. It was put before every item now in the buffer (items
   * are handed out only while the buffer is empty), and after the items
   * given back before it (tasks resume in hand-off order): so it goes after
   * the given-back items at the front.
   */
  _putBack(item: T, _seq: number): void {
    if (this._count === this._items.length) this._grow();
    const items = this._items;
    const mask = items.length - 1;
    const head = (this._head - 1) & mask;
    for (let i = 0; i < this._returned; i++) items[(head + i) & mask] = items[(head + i + 1) & mask];
    items[(head + this._returned) & mask] = item;
    this._head = head;
    this._returned++;
    this._count++;
  }

  private _grow(): void {
    const old = this._items;
    const size = Math.max(8, old.length * 2);
    const items = new Array<T | undefined>(size);
    const mask = old.length - 1;
    for (let i = 0; i < this._count; i++) items[i] = old[(this._head + i) & mask];
    this._items = items;
    this._head = 0;
  }
}

/**
 * A last in, first out queue (asyncio.LifoQueue): `get()` returns the item
 * put most recently.
 *
 * @example
 * ```ts
 * const q = new LifoQueue<number>();
 * q.putNowait(1); q.putNowait(2);
 * q.getNowait(); // 2
 * ```
 */
export class LifoQueue<T = unknown> extends Queue<T> {
  /** @internal */
  override _put(item: T): void {
    this._items.push(item);
    this._count++;
  }

  /** @internal */
  override _get(): T {
    if (this._returned === this._count--) this._returned--;
    return this._items.pop() as T;
  }

  /**
   * @internal Older than every item stacked since it was handed out, so it
   * goes under them (above earlier given-back items), where asyncio's
   * LifoQueue would still have it.
   */
  override _putBack(item: T): void {
    this._items.splice(this._returned++, 0, item);
    this._count++;
  }
}

/**
 * Options of a PriorityQueue.
 *
 * @example
 * ```ts
 * const opts: PriorityQueueOptions<Task> = { maxsize: 100, compare: (a, b) => a.deadline - b.deadline };
 * const q = new PriorityQueue(opts);
 * ```
 */
export interface PriorityQueueOptions<T> {
  /** Most items queued at once; 0 (default) for no limit. */
  maxsize?: number;
  /**
   * Orders items like `Array.prototype.sort`'s comparator: negative when `a`
   * comes first. Default: `<` / `>` (numbers, strings).
   */
  compare?: (a: T, b: T) => number;
}

function naturalOrder(a: unknown, b: unknown): number {
  return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
}

/**
 * A queue that returns the smallest item first (asyncio.PriorityQueue), a
 * binary heap. Items that compare equal come out in the order they were put.
 *
 * @example
 * ```ts
 * const q = new PriorityQueue<{ prio: number; job: string }>({ compare: (a, b) => a.prio - b.prio });
 * q.putNowait({ prio: 2, job: 'later' });
 * q.putNowait({ prio: 1, job: 'first' });
 * q.getNowait().job; // 'first'
 * const n = new PriorityQueue<number>(10); // maxsize 10, numbers in natural order
 * ```
 */
export class PriorityQueue<T = unknown> extends Queue<T> {
  /** @internal */ private readonly _compare: (a: T, b: T) => number;
  /** @internal The put order of each heap entry, parallel to `_items` (no object per item). */
  private readonly _seqs: number[] = [];

  /**
   * @param maxsize a number (as for Queue), or the options.
   * @param opts `{ compare }` when `maxsize` is a number.
   */
  constructor(maxsize: number | PriorityQueueOptions<T> = 0, opts?: PriorityQueueOptions<T>) {
    if (typeof maxsize === 'object' && maxsize !== null && opts === undefined) {
      opts = maxsize;
      maxsize = maxsize.maxsize ?? 0;
    }
    super(maxsize as number);
    if (opts !== undefined && (typeof opts !== 'object' || opts === null)) {
      throw new TypeError(`PriorityQueue options must be an object, not ${describe(opts)}`);
    }
    const compare = opts?.compare ?? naturalOrder;
    if (typeof compare !== 'function') {
      throw new TypeError(`PriorityQueue compare must be a function, not ${describe(compare)}`);
    }
    this._compare = compare;
  }

  /** `a` (put as `sa`) comes before `b` (put as `sb`). */
  private _before(a: T, sa: number, b: T, sb: number): boolean {
    const c = this._compare(a, b);
    return c < 0 || (c === 0 && sa < sb);
  }

  /** @internal Sift up. */
  override _put(item: T, seq: number): void {
    const items = this._items as T[];
    const seqs = this._seqs;
    let i = items.length;
    items.push(item);
    seqs.push(seq);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this._before(item, seq, items[parent]!, seqs[parent]!)) break;
      items[i] = items[parent]!;
      seqs[i] = seqs[parent]!;
      i = parent;
    }
    items[i] = item;
    seqs[i] = seq;
    this._count++;
  }

  /** @internal Pop the root, sift the last entry down. */
  override _get(): T {
    const items = this._items as T[];
    const seqs = this._seqs;
    const top = items[0]!;
    const last = items.pop()!;
    const lastSeq = seqs.pop()!;
    const n = items.length;
    this._count--;
    if (n === 0) return top;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      const right = child + 1;
      if (right < n && this._before(items[right]!, seqs[right]!, items[child]!, seqs[child]!)) child = right;
      if (!this._before(items[child]!, seqs[child]!, last, lastSeq)) break;
      items[i] = items[child]!;
      seqs[i] = seqs[child]!;
      i = child;
    }
    items[i] = last;
    seqs[i] = lastSeq;
    return top;
  }

  /** @internal Its original put order puts it back exactly where it was. */
  override _putBack(item: T, seq: number): void {
    this._put(item, seq);
  }
}
