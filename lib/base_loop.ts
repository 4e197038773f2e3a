/**
 * What both loops share (asyncio's `base_events.py`): the ready queue and
 * one iteration of it, lifecycle, Futures and Tasks, the exception handler
 * and debug mode. The ready queue lives in TypeScript for both loops because
 * callbacks are JS functions: draining a JS array costs 20–30 ns a callback,
 * while every C++→JS call costs 115–210 ns (see DESIGN.md).
 *
 * A concrete loop supplies the clock, the timer store and the driver: what
 * makes `_runIterations()` happen while the loop runs (`_startDriving`,
 * `_readyBecameNonEmpty`, `_stopDriving`). Both loops take the driver from
 * `loops/driver.ts` and differ only in how they yield to I/O and wait for
 * timers.
 * @module
 */
import {
  ArgList,
  Handle,
  NO_ARGS,
  TimerHandle,
  type Runnable,
  _markRunning,
  _setCurrentLoop,
  describe,
  describeCallback,
  type EventLoop,
  type ExceptionContext,
  type ExceptionHandler,
  type TaskFactory,
  type TaskOptions,
} from './events.js';
import { Future, _reportUnretrieved } from './futures.js';
import { Task, TaskList, ensureFuture } from './tasks.js';
import { isCoroutine, type Awaitable, type TaskTarget } from './coroutines.js';
import { ThreadPoolExecutor, defaultThreadWorkers, submitTo, type ModuleWork, type Work } from './executors.js';
import { createConnection, createUnixConnection, type ConnectionOptions } from './net_transport.js';
import { createServer, createUnixServer, type Server, type ServerOptions } from './servers.js';
import type { BaseProtocol, ProtocolFactory } from './protocols.js';
import type { DatagramTransport, ReadTransport, Transport, WriteTransport } from './transports.js';
import type { Readable, Writable } from 'node:stream';
import { inspect } from 'node:util';
import { connectReadPipe, connectWritePipe } from './pipes.js';
import { createDatagramEndpoint, type DatagramEndpointOptions } from './datagrams.js';
import { nodeSpawner, subprocessExec, subprocessShell, type Spawner, type SubprocessOptions, type SubprocessTransport } from './subprocess.js';
import { addSignalHandler, processSignals, removeAllSignalHandlers, removeSignalHandler, type SignalSource } from './signals.js';
import { getaddrinfo, getnameinfo, nodeResolver, type AddrInfo, type GetaddrinfoOptions, type Resolver } from './dns.js';
import { monotonicMs } from './clock.js';

/** Something with a `shutdown(wait)`: the default executor, once set. */
export interface Executor {
  shutdown(wait?: boolean): void | Promise<void>;
}

function envDebug(): boolean {
  const v = process.env.AIOLOOP_DEBUG;
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

function checkCallback(cb: unknown, method: string): void {
  if (typeof cb !== 'function') {
    if (isCoroutine(cb)) throw new TypeError(`coroutines cannot be used with ${method}(): run them with createTask()`);
    throw new TypeError(`${method}() callback must be a function, not ${describe(cb)}`);
  }
}

function checkTime(value: unknown, what: string): asserts value is number {
  if (typeof value !== 'number') throw new TypeError(`${what} must be a number, not ${describe(value)}`);
  if (Number.isNaN(value)) throw new RangeError(`${what} must not be NaN`);
}

/**
 * The shared part of every loop. Not exported from the package: use
 * `DefaultLoop` or `NativeLoop`.
 */
export abstract class BaseEventLoop implements EventLoop {
  /** @internal The ready queue: a linked list through `Runnable._next`. */
  _readyHead: Runnable | null = null;
  /** @internal */ _readyTail: Runnable | null = null;
  /** @internal */ _closed = false;
  /** @internal */ _stopping = false;
  /** @internal */ _running = false;
  /** @internal True while `_runIterations()` runs (callbacks, due timers). */
  _inIteration = false;
  /**
   * @internal A Future of this loop resolved a promise (an `await fut`
   * resumes): the driver lets promise reactions run after this iteration.
   */
  _promiseWoken = false;
  /** @internal */ _debug = envDebug();
  /** Callbacks slower than this (ms) are logged in debug mode. */
  slowCallbackDuration = 100;
  /** @internal */ _exceptionHandler: ExceptionHandler | null = null;
  /** @internal */ _taskFactory: TaskFactory | null = null;
  /** @internal The Task whose step runs now. */
  _currentTask: Task<any> | null = null;
  /** @internal Tasks not done yet (allTasks). */
  _tasks = new TaskList();
  /** @internal */ _defaultExecutor: Executor | null = null;
  /** @internal Set by shutdownDefaultExecutor(): runInExecutor(null, ...) then throws (asyncio). */
  _executorShutdownCalled = false;
  /** @internal Settles the promise of the active `runForever()`. */
  private _runForeverResolve: (() => void) | null = null;

  /**
   * @internal What `time()` adds to `monotonicMs()` (../clock.ts): 0 for the
   * default loop; the native loop's C++ heap keeps uv_hrtime in ms, and it
   * sets the (tiny) offset between the two (lib/loops/native/loop.ts,
   * clockOffset). Starts as -0, a double, so the native loop's double does
   * not change the field's representation (and the loop's hidden class).
   */
  protected _clockOffset = -0;
  /**
   * @internal A lower bound of the earliest live timer's deadline; Infinity
   * when there is no timer. An iteration reads the clock and asks the timer
   * store only when a timer may be due (`_collectDueTimers`). A cancel leaves
   * it low, which costs one store query that finds nothing due.
   */
  protected _earliest = Infinity;

  /**
   * The loop's monotonic clock, in milliseconds with sub-millisecond
   * resolution (uv_hrtime through `process.hrtime()`, plus `_clockOffset`),
   * from an arbitrary fixed point.
   *
   * One method for both loops: with one `time()` per loop class, the call in
   * `callLater` saw two targets once both loops had run in a process, and
   * the native loop's 1e6 callLater+cancel went ~8-12% slower after the
   * default loop had run first (same process, median of 12).
   *
   * @example
   * ```ts
   * const t0 = loop.time(); // ... loop.time() - t0 ms later
   * ```
   */
  time(): number {
    return monotonicMs() + this._clockOffset;
  }

  // -- What a concrete loop provides ----------------------------------------

  /** @internal Store a new timer (`_earliest` already accounts for it). */
  protected abstract _addTimer(handle: TimerHandle): void;
  /**
   * @internal Enqueue (`_enqueue`) the timers due at `now`, in deadline
   * order; return the earliest deadline left (Infinity: no timer left).
   */
  protected abstract _popDueTimers(now: number): number;
  /** @internal Forget every timer (close). */
  protected abstract _clearTimers(): void;
  /** @internal Begin calling `_runIterations()` (runForever started). */
  protected abstract _startDriving(): void;
  /** @internal Stop calling `_runIterations()` (runForever ends). */
  protected abstract _stopDriving(): void;
  /** @internal The ready queue went from empty to non-empty (or stop() was called). */
  protected abstract _readyBecameNonEmpty(): void;

  // -- Scheduling ------------------------------------------------------------

  /**
   * Run `cb(...args)` in the next iteration, after everything already queued.
   *
   * @example
   * ```ts
   * loop.callSoon((x) => console.log(x), 42);
   * ```
   */
  callSoon<A extends unknown[]>(cb: (...args: A) => unknown, ...args: A): Handle;
  callSoon(cb: (...args: unknown[]) => unknown): Handle {
    // `arguments` instead of a rest parameter: no array for 0 or 1 argument
    // (this is the hottest call of the library).
    checkCallback(cb, 'callSoon');
    if (this._closed) throw new Error('Event loop is closed');
    const argc = arguments.length;
    const handle = new Handle(
      cb,
      argc === 1 ? NO_ARGS : argc === 2 ? arguments[1] : new ArgList(Array.prototype.slice.call(arguments, 1)),
    );
    this._enqueue(handle);
    return handle;
  }

  /** @internal Append to the ready queue, waking the driver if it was empty. */
  _enqueue(item: Runnable): void {
    item._next = null;
    const tail = this._readyTail;
    this._readyTail = item;
    if (tail !== null) {
      tail._next = item;
    } else {
      this._readyHead = item;
      if (!this._inIteration) this._readyBecameNonEmpty();
    }
  }

  /** @internal True when callbacks are ready. */
  _hasReady(): boolean {
    return this._readyHead !== null;
  }

  /**
   * Run `cb(...args)` once `delayMs` milliseconds have passed (never early).
   * A negative delay runs it in the next iteration.
   *
   * @example
   * ```ts
   * const t = loop.callLater(100, () => console.log('later'));
   * ```
   */
  callLater<A extends unknown[]>(delayMs: number, cb: (...args: A) => unknown, ...args: A): TimerHandle;
  callLater(delayMs: number, cb: (...args: unknown[]) => unknown): TimerHandle {
    checkTime(delayMs, 'callLater() delay');
    checkCallback(cb, 'callLater');
    const argc = arguments.length;
    return this._callAt(
      this.time() + delayMs,
      cb,
      argc <= 2 ? NO_ARGS : argc === 3 ? arguments[2] : new ArgList(Array.prototype.slice.call(arguments, 2)),
    );
  }

  /**
   * Run `cb(...args)` when `loop.time()` reaches `whenMs`.
   *
   * @example
   * ```ts
   * loop.callAt(loop.time() + 100, () => console.log('at'));
   * ```
   */
  callAt<A extends unknown[]>(whenMs: number, cb: (...args: A) => unknown, ...args: A): TimerHandle;
  callAt(whenMs: number, cb: (...args: unknown[]) => unknown): TimerHandle {
    checkTime(whenMs, 'callAt() time');
    checkCallback(cb, 'callAt');
    const argc = arguments.length;
    return this._callAt(
      whenMs,
      cb,
      argc <= 2 ? NO_ARGS : argc === 3 ? arguments[2] : new ArgList(Array.prototype.slice.call(arguments, 2)),
    );
  }

  private _callAt(when: number, cb: (...a: any[]) => unknown, arg: unknown): TimerHandle {
    if (this._closed) throw new Error('Event loop is closed');
    const handle = new TimerHandle(when, cb, arg);
    if (when < this._earliest) this._earliest = when;
    this._addTimer(handle);
    return handle;
  }

  /**
   * Move the timers due now to the ready queue (the first half of asyncio's
   * `_run_once`). Called only when a timer exists (`_earliest` finite).
   */
  private _collectDueTimers(): void {
    const now = this.time();
    if (now < this._earliest) return;
    this._earliest = this._popDueTimers(now);
  }

  // -- One iteration ---------------------------------------------------------

  /**
   * @internal Up to `max` iterations back to back, each asyncio's
   * `_run_once`: move due timers to the ready queue, then run what is ready
   * now. Callbacks they schedule land in a fresh list and run in the next
   * iteration (the snapshot rule). Ends early when nothing is ready, after
   * `stop()`, or once a Future resolved a promise (its reaction should run
   * soon). The loop is current, and "in an iteration", for the whole burst:
   * nothing else runs between its iterations.
   */
  _runIterations(max: number): void {
    this._inIteration = true;
    const previous = _setCurrentLoop(this);
    try {
      for (let i = 0; i < max; i++) {
        // No timer, no call and no clock read: the call alone, not inlined
        // into this loop, cost ~45 instructions a Future ping-pong round trip.
        if (this._earliest !== Infinity) this._collectDueTimers();
        let item = this._readyHead;
        if (item === null) return;
        this._readyHead = this._readyTail = null; // new work goes to a fresh list
        const debug = this._debug;
        // One try around the callbacks, entered again after a throw (`item`
        // is already the next one), rather than one per callback: ~20
        // instructions a Future ping-pong round trip.
        while (item !== null) {
          let current: Runnable = item;
          try {
            do {
              current = item;
              item = current._next;
              current._next = null;
              if (debug) this._runDebug(current);
              else current._run();
            } while (item !== null);
          } catch (exception) {
            this._currentTask = null; // a Task step that threw past its coroutine (Task._step)
            this._reportCallbackError(current, exception);
          }
        }
        if (this._readyHead === null || this._stopping || this._promiseWoken) return;
      }
    } finally {
      _setCurrentLoop(previous);
      this._inIteration = false;
    }
  }

  private _reportCallbackError(item: Runnable, exception: unknown): void {
    if (item instanceof Handle) {
      this.callExceptionHandler({
        message: `Exception in callback ${item._callback ? describeCallback(item._callback) : '<cancelled>'}`,
        exception,
        handle: item,
      });
    } else {
      this.callExceptionHandler({ message: `Exception in ${item}`, exception });
    }
  }

  /** Debug mode: time each callback and catch coroutines nobody runs. */
  private _runDebug(item: Runnable): void {
    const t0 = monotonicMs();
    let returned: unknown;
    try {
      returned = item._run();
    } finally {
      const took = monotonicMs() - t0;
      if (took >= this.slowCallbackDuration) this._debugWarn(`Executing ${item} took ${took.toFixed(3)} ms`);
    }
    if (isCoroutine(returned)) {
      this._debugWarn(`${item} returned a coroutine that was never awaited: schedule it with createTask() instead`);
    }
  }

  /** @internal Debug-mode diagnostics go to console.warn, like asyncio's logger.warning. */
  _debugWarn(message: string): void {
    console.warn(`aioloop: ${message}`);
  }

  // -- Lifecycle ---------------------------------------------------------------

  /**
   * Run until `stop()` is called. Resolves once the loop has stopped.
   * While it runs, the loop keeps the Node process alive.
   *
   * @example
   * ```ts
   * loop.callLater(100, () => loop.stop());
   * await loop.runForever();
   * ```
   */
  runForever(): Promise<void> {
    this._checkClosed();
    if (this._running) throw new Error('This event loop is already running');
    this._running = true;
    _markRunning(this, true);
    return new Promise<void>((resolve) => {
      this._runForeverResolve = resolve;
      this._startDriving();
    });
  }

  /** @internal Called by the driver after an iteration that saw `stop()`. */
  _finishRunning(): void {
    this._stopping = false;
    this._running = false;
    _markRunning(this, false);
    this._stopDriving();
    const resolve = this._runForeverResolve;
    this._runForeverResolve = null;
    resolve?.();
  }

  /**
   * Run until `aw` completes and return its result (or throw its error).
   *
   * @example
   * ```ts
   * const value = await loop.runUntilComplete(main());
   * ```
   */
  runUntilComplete<T>(aw: Awaitable<T>): Promise<T> {
    this._checkClosed();
    if (this._running) throw new Error('This event loop is already running');
    const fut = ensureFuture(aw, { loop: this });
    return this._runUntilComplete(fut);
  }

  private async _runUntilComplete<T>(fut: Future<T>): Promise<T> {
    const onDone = () => this.stop();
    fut.addDoneCallback(onDone);
    try {
      await this.runForever();
    } finally {
      fut.removeDoneCallback(onDone);
    }
    if (!fut.done()) throw new Error('Event loop stopped before Future completed.');
    return fut.result();
  }

  /**
   * Stop after the current iteration. Called before `runForever()`, it makes
   * that run exactly one iteration.
   *
   * @example
   * ```ts
   * loop.callSoon(() => loop.stop());
   * ```
   */
  stop(): void {
    this._stopping = true;
    if (this._running && !this._inIteration) this._readyBecameNonEmpty();
  }

  /** True while `runForever()` is active. */
  isRunning(): boolean {
    return this._running;
  }

  /** True after `close()`. */
  isClosed(): boolean {
    return this._closed;
  }

  /**
   * Close the loop: pending callbacks and timers are dropped, unretrieved
   * task exceptions are reported. Throws if the loop is running.
   *
   * @example
   * ```ts
   * try { await loop.runUntilComplete(main()); } finally { loop.close(); }
   * ```
   */
  close(): void {
    if (this._running) throw new Error('Cannot close a running event loop');
    if (this._closed) return;
    _reportUnretrieved(this);
    this._closed = true;
    removeAllSignalHandlers(this);
    this._readyHead = this._readyTail = null;
    this._clearTimers();
    this._earliest = Infinity;
    const executor = this._defaultExecutor;
    this._defaultExecutor = null;
    if (executor !== null) void executor.shutdown(false);
  }

  /**
   * asyncio closes async generators here. JavaScript gives no hook to track
   * them (Python's `sys.set_asyncgen_hooks`), so there is nothing to close:
   * it resolves at once. Documented in the README.
   */
  shutdownAsyncgens(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Shut down the default executor (if one was set), waiting for its jobs;
   * with `timeoutMs`, at most that long: then a RuntimeWarning says so and
   * the jobs go on without us (asyncio's `timeout`; `run()` gives 300 s).
   */
  async shutdownDefaultExecutor(timeoutMs: number | null = null): Promise<void> {
    if (timeoutMs !== null && (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs))) {
      throw new TypeError(`shutdownDefaultExecutor() timeout must be a number or null, not ${describe(timeoutMs)}`);
    }
    this._executorShutdownCalled = true;
    const executor = this._defaultExecutor;
    this._defaultExecutor = null;
    if (executor === null) return;
    const done = Promise.resolve(executor.shutdown(true)).then(() => true);
    if (timeoutMs === null) {
      await done;
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), Math.max(0, timeoutMs));
    });
    try {
      if (!(await Promise.race([done, timedOut]))) {
        process.emitWarning(`The executor did not finish its jobs within ${timeoutMs} ms`, 'RuntimeWarning');
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** @internal */
  _checkClosed(): void {
    if (this._closed) throw new Error('Event loop is closed');
  }

  // -- Futures and tasks -----------------------------------------------------

  /**
   * A new Future attached to this loop.
   *
   * @example
   * ```ts
   * const fut = loop.createFuture<number>();
   * loop.callSoon(() => fut.setResult(1));
   * ```
   */
  createFuture<T = unknown>(): Future<T> {
    return new Future<T>({ loop: this });
  }

  /**
   * Schedule a coroutine, promise or function as a Task (through the task
   * factory, if one is set).
   *
   * @example
   * ```ts
   * const t = loop.createTask(worker(), { name: 'w1' });
   * ```
   */
  createTask<T>(coro: TaskTarget<T>, opts?: TaskOptions): Task<T> {
    this._checkClosed();
    if (opts !== undefined && (typeof opts !== 'object' || opts === null)) {
      throw new TypeError(`createTask() options must be an object, not ${describe(opts)}`);
    }
    if (this._taskFactory === null) return new Task(coro, { loop: this, name: opts?.name });
    const task = this._taskFactory(this, coro, opts ?? {});
    if (opts?.name !== undefined && typeof task.setName === 'function') task.setName(opts.name);
    return task;
  }

  /** Use `factory(loop, coro, opts)` to create tasks; null restores the default. */
  setTaskFactory(factory: TaskFactory | null): void {
    if (factory !== null && typeof factory !== 'function') {
      throw new TypeError(`task factory must be a function or null, not ${describe(factory)}`);
    }
    this._taskFactory = factory;
  }

  /** The task factory, or null. */
  getTaskFactory(): TaskFactory | null {
    return this._taskFactory;
  }

  /** Executor used by `runInExecutor(null, ...)`. */
  setDefaultExecutor(executor: Executor): void {
    if (executor === null || typeof executor !== 'object' || typeof executor.shutdown !== 'function') {
      throw new TypeError(`executor must have a shutdown() method, not ${describe(executor)}`);
    }
    this._defaultExecutor = executor;
  }

  /**
   * Run `work(...args)` in `executor`, or, when it is null, in the loop's
   * default executor: the one given to `setDefaultExecutor()`, else a
   * ThreadPoolExecutor of `min(4, os.availableParallelism())` workers created
   * on first use. Returns a Future of this loop. Work is a self-contained
   * function or a module export (`'path#export'`, `{ module, export }`): see
   * lib/executors.ts. Throws synchronously (TypeError) for work or arguments
   * that cannot be sent to a worker.
   *
   * @example
   * ```ts
   * function* main() {
   *   const loop = getRunningLoop();
   *   const digest = yield* loop.runInExecutor(null, '/srv/app/work.js#hash', 'data');
   *   const sum = yield* loop.runInExecutor(pool, (a: number, b: number) => a + b, 1, 2);
   * }
   * ```
   */
  runInExecutor<A extends unknown[], R>(
    executor: Executor | null,
    work: (...args: A) => R,
    ...args: A
  ): Future<Awaited<R>>;
  runInExecutor<R = unknown>(executor: Executor | null, work: ModuleWork | string | URL, ...args: unknown[]): Future<R>;
  runInExecutor<R = unknown>(executor: Executor | null, work: Work, ...args: unknown[]): Future<R>;
  runInExecutor(executor: Executor | null, work: Work, ...args: unknown[]): Future<unknown> {
    this._checkClosed();
    if (executor === null || executor === undefined) {
      if (this._executorShutdownCalled) throw new Error('Executor shutdown has been called');
      executor = this._defaultExecutor ??= new ThreadPoolExecutor({ maxWorkers: defaultThreadWorkers() });
    }
    return submitTo(executor, this, work, args);
  }

  // -- Network (lib/net_transport.ts, lib/servers.ts) ------------------------
  // Shared node:net transports for both loops; a loop with its own
  // transports (the native uv_tcp path) overrides these four.

  /**
   * Connect to `host:port`; resolves with `[transport, protocol]` once the
   * protocol's `connectionMade` ran. Rejects with Node's error (`code`
   * ECONNREFUSED, ENOTFOUND...); bad arguments throw synchronously.
   *
   * @example
   * ```ts
   * const [transport, protocol] = await loop.createConnection(() => new Client(), '127.0.0.1', 8888);
   * ```
   */
  createConnection<P extends BaseProtocol>(
    protocolFactory: ProtocolFactory<P>,
    host: string,
    port: number,
    opts?: ConnectionOptions,
  ): Promise<[Transport, P]> {
    return createConnection(this, protocolFactory, host, port, opts);
  }

  /**
   * Listen on `host:port` (`host` null: all interfaces; port 0: a free
   * port); each connection gets a protocol from `protocolFactory`.
   *
   * @example
   * ```ts
   * const server = await loop.createServer(() => new Echo(), '127.0.0.1', 0, { backlog: 128 });
   * ```
   */
  createServer(
    protocolFactory: ProtocolFactory,
    host: string | null | undefined,
    port: number | null | undefined,
    opts?: ServerOptions,
  ): Promise<Server> {
    return createServer(this, protocolFactory, host, port, opts);
  }

  /**
   * `createConnection` to a Unix socket.
   *
   * @example
   * ```ts
   * const [t] = await loop.createUnixConnection(() => new Client(), '/tmp/app.sock');
   * ```
   */
  createUnixConnection<P extends BaseProtocol>(protocolFactory: ProtocolFactory<P>, path: string): Promise<[Transport, P]> {
    return createUnixConnection(this, protocolFactory, path);
  }

  /**
   * `createServer` on a Unix socket (a stale socket file at `path` is replaced).
   *
   * @example
   * ```ts
   * const server = await loop.createUnixServer(() => new Echo(), '/tmp/app.sock');
   * ```
   */
  createUnixServer(protocolFactory: ProtocolFactory, path: string, opts?: ServerOptions): Promise<Server> {
    return createUnixServer(this, protocolFactory, path, opts);
  }

  // -- Datagrams, processes, signals, DNS (lib/datagrams.ts, subprocess.ts,
  // signals.ts, dns.ts): shared over Node's modules for both loops; the
  // native uv_udp/uv_spawn/uv_signal paths will override these.

  /**
   * A UDP endpoint bound to `localAddr` and/or connected to `remoteAddr`;
   * resolves with `[transport, protocol]` once `connectionMade` ran.
   *
   * @example
   * ```ts
   * const [t, p] = await loop.createDatagramEndpoint(() => new Echo(), { localAddr: ['127.0.0.1', 0] });
   * t.sendto('ping', ['127.0.0.1', 9999]);
   * ```
   */
  createDatagramEndpoint<P extends BaseProtocol>(
    protocolFactory: ProtocolFactory<P>,
    opts?: DatagramEndpointOptions,
  ): Promise<[DatagramTransport, P]> {
    return createDatagramEndpoint(this, protocolFactory, opts);
  }

  /**
   * Start `program` with `args` (no shell); resolves with `[transport,
   * protocol]` once `connectionMade` ran. A missing program rejects with
   * Node's error (`code` 'ENOENT').
   *
   * @example
   * ```ts
   * const [t, p] = await loop.subprocessExec(() => new Collector(), 'ls', ['-l'], { stdin: 'ignore' });
   * ```
   */
  subprocessExec<P extends BaseProtocol>(
    protocolFactory: ProtocolFactory<P>,
    program: string,
    args?: readonly string[],
    opts?: SubprocessOptions,
  ): Promise<[SubprocessTransport, P]> {
    return subprocessExec(this, protocolFactory, program, args, opts, this._spawner());
  }

  /**
   * `subprocessExec` of `/bin/sh -c cmd`.
   *
   * @example
   * ```ts
   * const [t, p] = await loop.subprocessShell(() => new Collector(), 'echo $HOME', {});
   * ```
   */
  subprocessShell<P extends BaseProtocol>(
    protocolFactory: ProtocolFactory<P>,
    cmd: string,
    opts?: SubprocessOptions,
  ): Promise<[SubprocessTransport, P]> {
    return subprocessShell(this, protocolFactory, cmd, opts, this._spawner());
  }

  /**
   * Read from a pipe (a file descriptor or a readable Node stream) with a
   * Protocol: `dataReceived`, then `eofReceived` and `connectionLost` at EOF.
   *
   * @example
   * ```ts
   * const [t, p] = await loop.connectReadPipe(() => new Collector(), child.stdout!);
   * ```
   */
  connectReadPipe<P extends BaseProtocol>(protocolFactory: ProtocolFactory<P>, pipe: number | Readable): Promise<[ReadTransport, P]> {
    return connectReadPipe(this, protocolFactory, pipe);
  }

  /**
   * Write to a pipe (a file descriptor or a writable Node stream) through a
   * WriteTransport with flow control.
   *
   * @example
   * ```ts
   * const [t] = await loop.connectWritePipe(() => ({}), child.stdin!);
   * t.write('hello\n');
   * ```
   */
  connectWritePipe<P extends BaseProtocol>(protocolFactory: ProtocolFactory<P>, pipe: number | Writable): Promise<[WriteTransport, P]> {
    return connectWritePipe(this, protocolFactory, pipe);
  }

  /**
   * Run `cb(...args)` on this loop whenever `signal` arrives (replacing this
   * loop's previous handler for it). Unknown signals are a RangeError, as
   * are SIGKILL and SIGSTOP (they cannot be caught). Removed when the loop closes.
   *
   * @example
   * ```ts
   * loop.addSignalHandler('SIGTERM', () => mainTask.cancel());
   * ```
   */
  addSignalHandler<A extends unknown[]>(signal: NodeJS.Signals | number, cb: (...args: A) => unknown, ...args: A): void {
    addSignalHandler(this, signal, cb, args, this._signalSource());
  }

  /** @internal Where signals come from (the native loop: uv_signal_t). */
  protected _signalSource(): SignalSource {
    return processSignals;
  }

  /** @internal Who starts child processes (the native loop: uv_spawn). */
  protected _spawner(): Spawner {
    return nodeSpawner;
  }

  /** @internal Who resolves names (the native loop: uv_getaddrinfo). */
  protected _resolver(): Resolver {
    return nodeResolver;
  }

  /**
   * Remove this loop's handler for `signal`; true if there was one.
   *
   * @example
   * ```ts
   * loop.removeSignalHandler('SIGTERM'); // true
   * ```
   */
  removeSignalHandler(signal: NodeJS.Signals | number): boolean {
    return removeSignalHandler(this, signal);
  }

  /**
   * Resolve `host` (asyncio's getaddrinfo): a list of `[family, type,
   * proto, canonname, [address, port]]`.
   *
   * @example
   * ```ts
   * const infos = await loop.getaddrinfo('localhost', 80, { type: SOCK_STREAM });
   * ```
   */
  getaddrinfo(host: string | null, port: number | string | null, opts?: GetaddrinfoOptions): Promise<AddrInfo[]> {
    this._checkClosed(); // as asyncio's run_in_executor: even Node's resolver, which needs no loop
    return getaddrinfo(host, port, opts, this._resolver());
  }

  /**
   * `[host, service]` of `[address, port]` (asyncio's getnameinfo).
   *
   * @example
   * ```ts
   * const [host, service] = await loop.getnameinfo(['127.0.0.1', 22]);
   * ```
   */
  getnameinfo(sockaddr: [string, number] | { address: string; port: number }, flags?: number): Promise<[string, string]> {
    this._checkClosed();
    return getnameinfo(sockaddr, flags, this._resolver());
  }

  // -- Errors ----------------------------------------------------------------

  /** The handler set by `setExceptionHandler`, or null. */
  getExceptionHandler(): ExceptionHandler | null {
    return this._exceptionHandler;
  }

  /**
   * Route callback errors to `handler(loop, context)`; null restores the default.
   *
   * @example
   * ```ts
   * loop.setExceptionHandler((loop, ctx) => log.error(ctx.message, ctx.exception));
   * ```
   */
  setExceptionHandler(handler: ExceptionHandler | null): void {
    if (handler !== null && typeof handler !== 'function') {
      throw new TypeError(`exception handler must be a function or null, not ${describe(handler)}`);
    }
    this._exceptionHandler = handler;
  }

  /** Log `context` with console.error (what runs when no handler is set). */
  defaultExceptionHandler(context: ExceptionContext): void {
    const lines = [context.message || 'Unhandled exception in event loop'];
    for (const key of Object.keys(context).sort()) {
      if (key === 'message' || key === 'exception') continue;
      lines.push(`${key}: ${formatContextValue(context[key], 1)}`);
    }
    if ('exception' in context) console.error(lines.join('\n'), context.exception);
    else console.error(lines.join('\n'));
  }

  /** Report an error; never throws, so it cannot stop the loop. */
  callExceptionHandler(context: ExceptionContext): void {
    const handler = this._exceptionHandler;
    if (handler === null) {
      try {
        this.defaultExceptionHandler(context);
      } catch (exception) {
        // A subclass's defaultExceptionHandler failed: log past it (asyncio's second layer).
        logQuietly('Exception in default exception handler', exception);
      }
      return;
    }
    try {
      handler(this, context);
    } catch (exception) {
      try {
        this.defaultExceptionHandler({ message: 'Unhandled error in exception handler', exception, context: context as unknown });
      } catch (again) {
        logQuietly('Exception in default exception handler while handling an unexpected error in custom exception handler', again);
      }
    }
  }

  // -- Debug -----------------------------------------------------------------

  /** True in debug mode. */
  getDebug(): boolean {
    return this._debug;
  }

  /** Debug mode logs slow callbacks and coroutines that are never run. */
  setDebug(enabled: boolean): void {
    this._debug = Boolean(enabled);
  }
}

/**
 * A context value as the default exception handler logs it (asyncio uses
 * repr()): an error as `Name('message')` (its stack is logged once, for the
 * context's own exception), our objects' own toString (`<Task ...>`,
 * `<Handle ...>`), a plain object's entries one level deep (a nested
 * context), else util.inspect.
 */
function formatContextValue(value: unknown, depth: number): string {
  if (value instanceof Error) return `${value.name}(${inspect(value.message)})`;
  if (typeof value === 'object' && value !== null) {
    const proto = Object.getPrototypeOf(value) as object | null;
    if (proto === Object.prototype || proto === null) {
      if (depth <= 0) return '{...}';
      const entries = Object.entries(value).map(([k, v]) => `${k}: ${formatContextValue(v, depth - 1)}`);
      return `{ ${entries.join(', ')} }`;
    }
    if (typeof (value as { toString?: unknown }).toString === 'function' && (value as object).toString !== Object.prototype.toString) {
      return String(value);
    }
  }
  return inspect(value, { depth: 0, breakLength: Infinity });
}

/** console.error that cannot throw: the last resort of callExceptionHandler. */
function logQuietly(message: string, exception: unknown): void {
  try {
    console.error(message, exception);
  } catch {
    // console replaced by something that throws: nothing left to do.
  }
}
