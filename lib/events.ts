/**
 * The event-loop contract (asyncio's `events.py`): callback handles, the
 * `EventLoop` interface both loops implement, the policy interface, and the
 * process-wide "running loop" and policy slots.
 *
 * Policy classes live in `policies.ts`; this module only holds the slot and a
 * factory hook so that `futures.ts` can find a loop without importing the
 * loop implementations (which import futures: an import cycle).
 * @module
 */
import type { Future } from './futures.js';
import type { Task } from './tasks.js';
import type { Awaitable, TaskTarget } from './coroutines.js';
import type { BaseProtocol, ProtocolFactory } from './protocols.js';
import type { DatagramTransport, ReadTransport, Transport, WriteTransport } from './transports.js';
import type { Readable, Writable } from 'node:stream';
import type { DatagramEndpointOptions } from './datagrams.js';
import type { SubprocessOptions, SubprocessTransport } from './subprocess.js';
import type { AddrInfo, GetaddrinfoOptions } from './dns.js';
import type { Server, ServerOptions } from './servers.js';
import type { ConnectionOptions } from './net_transport.js';

/** What an exception handler receives (asyncio's `context` dict). */
export interface ExceptionContext {
  message: string;
  exception?: unknown;
  handle?: Handle;
  future?: Future<unknown>;
  task?: Task<unknown>;
  transport?: unknown;
  protocol?: unknown;
  [key: string]: unknown;
}

/** `handler(loop, context)`, as in asyncio. */
export type ExceptionHandler = (loop: EventLoop, context: ExceptionContext) => void;

/** `factory(loop, coro, opts)`, as in asyncio. Must return a Task (or Future). */
export type TaskFactory = <T>(loop: EventLoop, coro: TaskTarget<T>, opts: TaskOptions) => Task<T>;

/** Options of `createTask`. */
export interface TaskOptions {
  name?: string;
}

/**
 * Something the ready queue can run: a Handle, or a Task resuming itself
 * (so waking a task allocates nothing). The queue is an intrusive linked list
 * through `_next`: appending never copies, and a snapshot is just detaching
 * the list.
 * @internal
 */
export interface Runnable {
  _next: Runnable | null;
  _run(): void;
}

/** @internal `Handle._arg` when the callback takes no argument. */
export const NO_ARGS: unknown = Object.freeze({ noArgs: true });

/** @internal `Handle._arg` wrapper when the callback takes several arguments. */
export class ArgList {
  constructor(readonly items: unknown[]) {}
}

/**
 * A scheduled callback, returned by `callSoon`. `cancel()` before it runs
 * and it never runs.
 *
 * Handles are kept to three fields (timers add three): a million pending
 * callbacks or timers is a lot of memory for the garbage collector to walk.
 *
 * @example
 * ```ts
 * const h = loop.callSoon(() => console.log('never'));
 * h.cancel();
 * ```
 */
export class Handle implements Runnable {
  /** @internal null once cancelled. */
  _callback: ((...args: any[]) => unknown) | null;
  /** @internal NO_ARGS, the one argument, or an ArgList. */
  _arg: unknown;
  /** @internal The ready-queue link (and, for timers, the timer-bucket link). */
  _next: Runnable | null = null;

  /** @internal Use `loop.callSoon`. */
  constructor(callback: (...args: any[]) => unknown, arg: unknown) {
    this._callback = callback;
    this._arg = arg;
  }

  /** Stop the callback from running (no effect once it ran). */
  cancel(): void {
    // Dropping the references also frees the closure of a cancelled handle.
    this._callback = null;
    this._arg = undefined;
  }

  /** True once `cancel()` was called. */
  cancelled(): boolean {
    return this._callback === null;
  }

  /** @internal Run the callback (the loop catches what it throws). */
  _run(): unknown {
    const cb = this._callback;
    if (cb === null) return undefined;
    const arg = this._arg;
    if (arg === NO_ARGS) return cb();
    if (arg instanceof ArgList) return cb(...arg.items);
    return cb(arg);
  }

  toString(): string {
    return `<${this.constructor.name} ${this._callback ? describeCallback(this._callback) : 'cancelled'}>`;
  }
}

/**
 * @internal A timer store that keeps its timers by number (the native
 * loop: an id into its slab and its C++ heap). A timer stored there holds
 * the id in `_prev` and the store in `_next` (see TimerHandle).
 */
export interface NumberedTimerStore {
  _cancelStored(handle: TimerHandle, id: number): void;
}

/**
 * A deadline's float64 and the same 8 bytes as two int32 words (TimerHandle).
 * Which word is the high one depends on the platform's byte order, which
 * does not matter: both directions go through these same two views.
 */
const deadline = new Float64Array(1);
const deadlineWords = new Int32Array(deadline.buffer);

/**
 * A callback scheduled for a time, returned by `callLater` and `callAt`.
 *
 * A TimerHandle is one object of six small fields: Handle's three, `_prev`,
 * and its deadline as two int32 halves. V8 keeps a field holding a double in
 * a HeapNumber object of its own, so a plain deadline field made every timer
 * two objects for the garbage collector, which is most of the cost of 1e6
 * live timers (bench/evidence/timer_floor.mjs). For the same reason a timer
 * finds its way out of its store through its links alone, with no field
 * naming the store:
 * - in a chain (./timer_chain.ts: both loops' pending timers, the default
 *   loop's buckets), `_prev` and `_next` are its neighbours in a circular
 *   list whose sentinel is a TimerHandle too: `cancel()` unlinks it, and
 *   when both neighbours are the sentinel the chain has just become empty
 *   and is told (its sentinel's `_arg` is the chain);
 * - in a NumberedTimerStore (the native loop), `_prev` is its id (a number)
 *   and `_next` the store;
 * - anywhere else (the ready queue, run, cancelled), `_prev` is null.
 *
 * @example
 * ```ts
 * const t = loop.callLater(50, tick);
 * console.log(t.when() - loop.time()); // about 50
 * ```
 */
export class TimerHandle extends Handle {
  /** @internal The previous timer in its chain, its id in a numbered store, or null (see above). */
  _prev: TimerHandle | number | null = null;
  /** @internal The deadline's float64 as its two int32 words: small integers, which V8 keeps in the object. */
  private readonly _when0: number;
  private readonly _when1: number;

  /** @internal Use `loop.callLater` / `loop.callAt`. */
  constructor(when: number, callback: (...args: any[]) => unknown, arg: unknown) {
    super(callback, arg);
    deadline[0] = when;
    this._when0 = deadlineWords[0]!;
    this._when1 = deadlineWords[1]!;
  }

  /** @internal The loop time (ms) at which the callback is due, exactly as given. */
  get _when(): number {
    deadlineWords[0] = this._when0;
    deadlineWords[1] = this._when1;
    return deadline[0]!;
  }

  /** The loop time (ms) at which the callback is due. */
  when(): number {
    return this._when;
  }

  /** `<TimerHandle when=1234.5 cb()>` (asyncio's repr shows the deadline too). */
  override toString(): string {
    const what = this._callback ? describeCallback(this._callback) : 'cancelled';
    return `<${this.constructor.name} when=${this._when} ${what}>`;
  }

  override cancel(): void {
    if (this._callback === null) return;
    super.cancel();
    const prev = this._prev;
    if (prev === null) return; // not stored: ready, or the store let it go
    if (typeof prev === 'number') {
      (this._next as unknown as NumberedTimerStore)._cancelStored(this, prev);
      return;
    }
    const next = this._next as TimerHandle;
    prev._next = next;
    next._prev = prev;
    this._prev = this._next = null;
    // Both neighbours are the sentinel: this was the chain's last timer.
    if (prev === next) (prev._arg as { _emptied(): void })._emptied();
  }
}

/** @internal `name()` of a callback, for messages. */
export function describeCallback(cb: (...args: any[]) => unknown): string {
  return cb.name ? `${cb.name}()` : '<anonymous>()';
}

/**
 * The interface both loops implement (asyncio's AbstractEventLoop).
 * Delays and times are milliseconds. Network, process and signal methods
 * arrive with their own modules.
 */
export interface EventLoop {
  // Lifecycle.
  runForever(): Promise<void>;
  runUntilComplete<T>(aw: Awaitable<T>): Promise<T>;
  stop(): void;
  close(): void;
  isRunning(): boolean;
  isClosed(): boolean;
  shutdownAsyncgens(): Promise<void>;
  /** Shut the default executor down, waiting for its jobs (at most `timeoutMs`, then a RuntimeWarning). */
  shutdownDefaultExecutor(timeoutMs?: number | null): Promise<void>;
  // Scheduling.
  callSoon<A extends unknown[]>(cb: (...args: A) => unknown, ...args: A): Handle;
  callLater<A extends unknown[]>(delayMs: number, cb: (...args: A) => unknown, ...args: A): TimerHandle;
  callAt<A extends unknown[]>(whenMs: number, cb: (...args: A) => unknown, ...args: A): TimerHandle;
  time(): number;
  // Futures and tasks.
  createFuture<T = unknown>(): Future<T>;
  createTask<T>(coro: TaskTarget<T>, opts?: TaskOptions): Task<T>;
  setTaskFactory(factory: TaskFactory | null): void;
  getTaskFactory(): TaskFactory | null;
  // Executors.
  runInExecutor(executor: { shutdown(wait?: boolean): unknown } | null, work: unknown, ...args: unknown[]): Future<any>;
  setDefaultExecutor(executor: { shutdown(wait?: boolean): unknown }): void;
  // Errors.
  getExceptionHandler(): ExceptionHandler | null;
  setExceptionHandler(handler: ExceptionHandler | null): void;
  defaultExceptionHandler(context: ExceptionContext): void;
  callExceptionHandler(context: ExceptionContext): void;
  // Debug.
  getDebug(): boolean;
  setDebug(enabled: boolean): void;
  slowCallbackDuration: number;
  // Network (section 4): TCP and Unix-socket connections and servers.
  createConnection<P extends BaseProtocol>(
    protocolFactory: ProtocolFactory<P>,
    host: string,
    port: number,
    opts?: ConnectionOptions,
  ): Promise<[Transport, P]>;
  createServer(
    protocolFactory: ProtocolFactory,
    host: string | null | undefined,
    port: number | null | undefined,
    opts?: ServerOptions,
  ): Promise<Server>;
  createUnixConnection<P extends BaseProtocol>(protocolFactory: ProtocolFactory<P>, path: string): Promise<[Transport, P]>;
  createUnixServer(protocolFactory: ProtocolFactory, path: string, opts?: ServerOptions): Promise<Server>;
  // Datagrams and DNS (section 4).
  createDatagramEndpoint<P extends BaseProtocol>(
    protocolFactory: ProtocolFactory<P>,
    opts?: DatagramEndpointOptions,
  ): Promise<[DatagramTransport, P]>;
  getaddrinfo(host: string | null, port: number | string | null, opts?: GetaddrinfoOptions): Promise<AddrInfo[]>;
  getnameinfo(sockaddr: [string, number] | { address: string; port: number }, flags?: number): Promise<[string, string]>;
  // Processes (section 5).
  subprocessExec<P extends BaseProtocol>(
    protocolFactory: ProtocolFactory<P>,
    program: string,
    args?: readonly string[],
    opts?: SubprocessOptions,
  ): Promise<[SubprocessTransport, P]>;
  subprocessShell<P extends BaseProtocol>(
    protocolFactory: ProtocolFactory<P>,
    cmd: string,
    opts?: SubprocessOptions,
  ): Promise<[SubprocessTransport, P]>;
  // Pipes.
  connectReadPipe<P extends BaseProtocol>(protocolFactory: ProtocolFactory<P>, pipe: number | Readable): Promise<[ReadTransport, P]>;
  connectWritePipe<P extends BaseProtocol>(protocolFactory: ProtocolFactory<P>, pipe: number | Writable): Promise<[WriteTransport, P]>;
  // Signals (section 6).
  addSignalHandler<A extends unknown[]>(signal: NodeJS.Signals | number, cb: (...args: A) => unknown, ...args: A): void;
  removeSignalHandler(signal: NodeJS.Signals | number): boolean;
}

/**
 * Chooses and remembers loops (asyncio's AbstractEventLoopPolicy).
 *
 * @example
 * ```ts
 * setEventLoopPolicy(new NativeLoopPolicy());
 * const loop = newEventLoop(); // a NativeLoop
 * ```
 */
export interface EventLoopPolicy {
  getEventLoop(): EventLoop;
  setEventLoop(loop: EventLoop | null): void;
  newEventLoop(): EventLoop;
}

// ---------------------------------------------------------------------------
// The running loop. Loops run as guests on Node's one libuv loop, so two
// aioloop loops can both be "running" at once (each `runForever()` is a
// pending Promise). `getRunningLoop()` answers the loop whose callback is
// executing right now, else the most recently started running loop, which is
// what async functions resumed by a promise reaction expect.

let currentLoop: EventLoop | null = null;
const runningLoops: EventLoop[] = [];

/** @internal Called by a loop around each burst of iterations. */
export function _setCurrentLoop(loop: EventLoop | null): EventLoop | null {
  const previous = currentLoop;
  currentLoop = loop;
  return previous;
}

/** @internal Called by a loop when `runForever` starts and ends. */
export function _markRunning(loop: EventLoop, running: boolean): void {
  const i = runningLoops.lastIndexOf(loop);
  if (running && i < 0) runningLoops.push(loop);
  else if (!running && i >= 0) runningLoops.splice(i, 1);
}

/** @internal True while a loop runs a callback or task step (synchronously inside it). */
export function _inLoopCallback(): boolean {
  return currentLoop !== null;
}

/**
 * @internal The running loop, or null (asyncio's `_get_running_loop`): the
 * loop whose callback runs now, else the most recently started running loop.
 */
export function _getRunningLoop(): EventLoop | null {
  return currentLoop ?? (runningLoops.length > 0 ? runningLoops[runningLoops.length - 1]! : null);
}

/**
 * The loop that is running now. Throws when no loop is running, as asyncio does.
 *
 * @example
 * ```ts
 * function* main() { const loop = getRunningLoop(); loop.callSoon(() => {}); }
 * ```
 */
export function getRunningLoop(): EventLoop {
  const loop = _getRunningLoop();
  if (loop === null) throw new Error('no running event loop');
  return loop;
}

// ---------------------------------------------------------------------------
// The policy slot.

let policy: EventLoopPolicy | null = null;
let defaultPolicyFactory: (() => EventLoopPolicy) | null = null;

/** @internal `policies.ts` registers how the default policy is chosen. */
export function _setDefaultPolicyFactory(factory: () => EventLoopPolicy): void {
  defaultPolicyFactory = factory;
}

/**
 * The current policy; created on first use from `AIOLOOP_LOOP` (default loop
 * when unset).
 *
 * @example
 * ```ts
 * if (getEventLoopPolicy() instanceof NativeLoopPolicy) console.log('native');
 * ```
 */
export function getEventLoopPolicy(): EventLoopPolicy {
  if (policy === null) {
    if (defaultPolicyFactory === null) throw new Error('aioloop: policies module not loaded');
    policy = defaultPolicyFactory();
  }
  return policy;
}

/**
 * Set the policy; `null` goes back to the default (chosen from `AIOLOOP_LOOP`).
 *
 * @example
 * ```ts
 * setEventLoopPolicy(new DefaultLoopPolicy());
 * ```
 */
export function setEventLoopPolicy(p: EventLoopPolicy | null): void {
  if (
    p !== null &&
    (typeof p !== 'object' ||
      typeof p.getEventLoop !== 'function' ||
      typeof p.setEventLoop !== 'function' ||
      typeof p.newEventLoop !== 'function')
  ) {
    throw new TypeError(`policy must be an EventLoopPolicy or null, not ${describe(p)}`);
  }
  policy = p;
}

/**
 * The running loop if there is one, else the policy's loop (created on demand).
 *
 * @example
 * ```ts
 * const loop = getEventLoop();
 * await loop.runUntilComplete(main());
 * ```
 */
export function getEventLoop(): EventLoop {
  return _getRunningLoop() ?? getEventLoopPolicy().getEventLoop();
}

/**
 * Make `loop` the policy's current loop.
 *
 * @example
 * ```ts
 * setEventLoop(new DefaultLoop());
 * ```
 */
export function setEventLoop(loop: EventLoop | null): void {
  getEventLoopPolicy().setEventLoop(loop);
}

/**
 * A new loop from the current policy.
 *
 * @example
 * ```ts
 * const loop = newEventLoop();
 * try { await loop.runUntilComplete(main()); } finally { loop.close(); }
 * ```
 */
export function newEventLoop(): EventLoop {
  return getEventLoopPolicy().newEventLoop();
}

/** @internal A short description of a value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return `function ${value.name || '<anonymous>'}`;
  if (typeof value === 'object') {
    // A generator object's constructor has no name: say what it is.
    const name = (value as object).constructor?.name;
    return name || Object.prototype.toString.call(value).slice(8, -1) || 'object';
  }
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`;
  return `${typeof value} ${String(value)}`;
}
