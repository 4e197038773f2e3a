/**
 * Executors: run CPU-bound or blocking work off the loop (asyncio's
 * `run_in_executor` / `to_thread` with `concurrent.futures` pools).
 *
 * - {@link ThreadPoolExecutor}: a pool of `node:worker_threads` workers.
 * - {@link ProcessPoolExecutor}: a pool of child processes (`fork` with an IPC
 *   channel and `serialization: 'advanced'`), for isolated or crash-prone work.
 *
 * JavaScript cannot run a closure on another thread, so work is named in one
 * of two ways:
 * - **a module export**: `{ module, export }` where `module` is an absolute
 *   path or a `file:` URL (`new URL('./work.js', import.meta.url)`) and
 *   `export` defaults to `'default'`; or the string `'/abs/path/work.js#hash'`;
 *   or a URL whose hash names the export (`new URL('./work.js#hash',
 *   import.meta.url)`). `node:` URLs work too (`'node:zlib#gzipSync'`).
 * - **a self-contained function**: its source (`fn.toString()`) is evaluated
 *   in the worker, so it must not use variables from its surrounding scope
 *   (they are not there: a `ReferenceError` comes back). It may use globals,
 *   `require(...)` and `await import(...)`. Native and bound functions,
 *   classes, object-literal methods, getters and generator functions are
 *   refused with a TypeError.
 *
 * Arguments go by structured clone (threads) or v8 serialization (processes):
 * they are checked and copied when the job is submitted (later changes by the
 * caller are not seen), and something that cannot be sent (a function, a
 * symbol) is refused there with a TypeError. A class instance goes as a
 * plain object: its own data arrives, its prototype (methods, getters)
 * does not, as with `structuredClone`.
 * Results come back the same way; a result that cannot be sent fails the job
 * with a TypeError. Errors come back with their class (built-in classes such
 * as TypeError and RangeError are rebuilt; other classes arrive as `Error`
 * with the original `name`), message, stack, `cause` and own properties such
 * as `code`.
 * @module
 */
import { existsSync, statSync } from 'node:fs';
import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { isAbsolute } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, type ResourceLimits, type WorkerOptions } from 'node:worker_threads';
import { cancelOnAbort, checkSignal } from './abort.js';
import { _getRunningLoop, describe, getEventLoop, getRunningLoop, type EventLoop } from './events.js';
import { Future, State, fromPromise, type FutureWaiter } from './futures.js';
import { deserializeThrow, type JobMessage, type ReplyMessage } from './executors/protocol.js';

// ---------------------------------------------------------------------------
// Types

/**
 * Work named by module: `module` is an absolute path, a `file:` URL (string
 * or URL object) or a `node:` / `data:` URL; `export` defaults to `'default'`
 * (or to the URL's hash, without the `#`).
 *
 * @example
 * ```ts
 * const work: ModuleWork = { module: new URL('./work.js', import.meta.url), export: 'hash' };
 * ```
 */
export interface ModuleWork {
  module: string | URL;
  export?: string;
}

/**
 * Anything an executor runs: a self-contained function, a {@link ModuleWork},
 * a `'path#export'` string, or a URL whose hash names the export.
 *
 * @example
 * ```ts
 * const a: Work = (n: number) => n * 2;
 * const b: Work = '/srv/app/work.js#hash';
 * const c: Work = new URL('./work.js#hash', import.meta.url);
 * ```
 */
export type Work = ((...args: any[]) => unknown) | ModuleWork | string | URL;

/**
 * Options of {@link ThreadPoolExecutor.submitWith} /
 * {@link ProcessPoolExecutor.submitWith}.
 *
 * @example
 * ```ts
 * const opts: SubmitOptions = { loop, signal: AbortSignal.timeout(1000) };
 * ```
 */
export interface SubmitOptions {
  /** The loop of the returned Future (default: the running loop, else the policy's loop). */
  loop?: EventLoop;
  /** Aborting it cancels the Future (see `cancel()` for what happens to the job). */
  signal?: AbortSignal;
}

/**
 * Options of `shutdown()` on a {@link ThreadPoolExecutor} or {@link ProcessPoolExecutor}.
 *
 * @example
 * ```ts
 * await pool.shutdown(true, { cancelFutures: true });
 * ```
 */
export interface ShutdownOptions {
  /** Cancel the queued jobs that have not started (concurrent.futures' `cancel_futures`). */
  cancelFutures?: boolean;
  /** Cancel running jobs too and stop their workers now (a thread terminated, a process killed). */
  terminate?: boolean;
}

/**
 * What `loop.runInExecutor()` can use: a `submitWith` (preferred) or a
 * `submit` returning a Future or promise, and a `shutdown`.
 *
 * @example
 * ```ts
 * const ex: SubmittingExecutor = new ThreadPoolExecutor({ maxWorkers: 2 });
 * ```
 */
export interface SubmittingExecutor {
  submitWith?(opts: SubmitOptions, work: Work, ...args: unknown[]): Future<unknown>;
  submit?(work: Work, ...args: unknown[]): Future<unknown> | PromiseLike<unknown>;
  shutdown(wait?: boolean): void | Promise<void>;
}

/**
 * Options of {@link ThreadPoolExecutor}.
 *
 * @example
 * ```ts
 * const opts: ThreadPoolOptions = { maxWorkers: 2, resourceLimits: { maxOldGenerationSizeMb: 256 } };
 * ```
 */
export interface ThreadPoolOptions {
  /** At most this many worker threads (default `os.availableParallelism()`). */
  maxWorkers?: number;
  /** Passed to each `new Worker()`. */
  resourceLimits?: ResourceLimits;
}

/**
 * Options of {@link ProcessPoolExecutor}.
 *
 * @example
 * ```ts
 * const opts: ProcessPoolOptions = { maxWorkers: 2, killOnCancel: false, env: { ...process.env, MODE: 'batch' } };
 * ```
 */
export interface ProcessPoolOptions {
  /** At most this many worker processes (default `os.availableParallelism()`). */
  maxWorkers?: number;
  /**
   * Cancelling the Future of a running job kills its worker (SIGKILL) and
   * starts a new one for the queue (default true). With false the job runs
   * on and its result is discarded.
   */
  killOnCancel?: boolean;
  /** Node options of the workers (default: this process's, without `--inspect*`). */
  execArgv?: string[];
  /** Environment of the workers (default `process.env`). */
  env?: NodeJS.ProcessEnv;
}

/**
 * A worker ended (it exited, crashed or was killed) while running a job. The
 * pool replaces the worker; jobs queued behind it still run.
 *
 * @example
 * ```ts
 * try {
 *   yield* pool.submit('/srv/app/work.js#risky');
 * } catch (e) {
 *   if (e instanceof WorkerExitedError) console.log(e.exitCode, e.signal);
 * }
 * ```
 */
export class WorkerExitedError extends Error {
  /** The worker's exit code, or null when a signal ended it. */
  readonly exitCode: number | null;
  /** The signal that ended a worker process, or null. */
  readonly signal: string | null;
  constructor(message: string, exitCode: number | null, signal: string | null, options?: ErrorOptions) {
    super(message, options);
    this.name = 'WorkerExitedError';
    this.exitCode = exitCode;
    this.signal = signal;
  }
}

// ---------------------------------------------------------------------------
// Where the worker entry files are.
//
// Workers are started on the COMPILED entry files in dist/executors/ (a
// worker thread or a child process cannot load TypeScript on Node 20). When
// this module runs compiled (dist/executors.js, the published package), the
// entries are its siblings: ./executors/*.js. When it runs from source
// (lib/executors.ts under vitest, tsx or ts-node: `import.meta.url` ends in
// .ts), they are the compiled twins in ../dist/executors/, which
// `npm test` builds (`tsc -p tsconfig.build.json`) before running vitest. A
// missing build is a clear Error at the first pool created, and when running
// from source, a worker source newer than its build gets a warning (a stale
// worker would run old code).

type EntryName = 'thread_worker' | 'process_worker';
const here = import.meta.url;
const fromSource = /\.[cm]?ts$/.test(new URL(here).pathname);
const entries = new Map<EntryName, URL>();

function workerEntry(name: EntryName): URL {
  let url = entries.get(name);
  if (url !== undefined) return url;
  url = fromSource ? new URL(`../dist/executors/${name}.js`, here) : new URL(`./executors/${name}.js`, here);
  if (!existsSync(url)) {
    throw new Error(
      `aioloop: the worker entry ${fileURLToPath(url)} is missing` +
        (fromSource ? ': build it with `npm run build:ts` (tsc -p tsconfig.build.json)' : ''),
    );
  }
  if (fromSource) warnIfStale(url, name);
  entries.set(name, url);
  return url;
}

function warnIfStale(built: URL, name: EntryName): void {
  try {
    const builtAt = statSync(built).mtimeMs;
    for (const source of [`./executors/${name}.ts`, './executors/protocol.ts']) {
      const src = new URL(source, here);
      if (existsSync(src) && statSync(src).mtimeMs > builtAt + 1) {
        console.warn(`aioloop: ${fileURLToPath(src)} is newer than ${fileURLToPath(built)}: run \`npm run build:ts\``);
        return;
      }
    }
  } catch {
    // Only a hint.
  }
}

// ---------------------------------------------------------------------------
// Naming work, checking what is sent.

const sources = new WeakMap<Function, string>();

/** The source of a function that can be evaluated in a worker, or a TypeError. */
function functionSource(fn: Function): string {
  const known = sources.get(fn);
  if (known !== undefined) return known;
  const what = describe(fn);
  const source = Function.prototype.toString.call(fn);
  const hint = 'pass a module and export name, or a self-contained function expression or arrow function';
  if (/\{\s*\[native code\]\s*\}\s*$/.test(source)) {
    throw new TypeError(`${what} is native or bound: its source cannot be sent to a worker; ${hint}`);
  }
  if (/^class\b/.test(source)) throw new TypeError(`${what} is a class: it cannot be sent to a worker; ${hint}`);
  if (/^(async\s*)?(function\s*)?\*/.test(source)) {
    throw new TypeError(
      `${what} is a generator function: it cannot run in a worker (run coroutines as tasks); ${hint}`,
    );
  }
  try {
    // Parses (does not run) the text the worker will evaluate.
    new Function(`return (${source}\n);`);
  } catch {
    throw new TypeError(
      `${what} cannot be sent to a worker: its source is not a function expression ` +
        `(class methods, object-literal methods, getters and setters are not); ${hint}`,
    );
  }
  sources.set(fn, source);
  return source;
}

function isPlainValue(v: unknown): boolean {
  return v === null || (typeof v !== 'object' && typeof v !== 'function' && typeof v !== 'symbol');
}

/** Check the arguments can be sent, and snapshot them (structured clone). */
function sendableArgs(args: unknown[], label: string): unknown[] {
  if (args.every(isPlainValue)) return args;
  try {
    return structuredClone(args);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new TypeError(`the arguments of ${label} cannot be sent to a worker: ${reason}`, { cause: error });
  }
}

const SCHEMES = new Set(['file:', 'node:', 'data:']);

function moduleHref(module: unknown): URL {
  let url: URL;
  if (module instanceof URL) {
    url = new URL(module.href);
  } else if (typeof module === 'string' && module !== '') {
    if (isAbsolute(module)) {
      url = pathToFileURL(module);
    } else if (/^[a-z][a-z0-9+.-]*:/i.test(module) && URL.canParse(module)) {
      url = new URL(module);
    } else {
      throw new TypeError(
        `module must be an absolute path or a file: URL, not ${JSON.stringify(module)}: a relative path would ` +
          `resolve against the worker, not your file; use new URL('./work.js', import.meta.url)`,
      );
    }
  } else {
    throw new TypeError(`module must be an absolute path or a URL, not ${describe(module)}`);
  }
  if (!SCHEMES.has(url.protocol)) {
    throw new TypeError(`module URL must use file:, node: or data:, not ${url.protocol} (${url.href})`);
  }
  return url;
}

function checkExport(name: unknown): string {
  if (typeof name !== 'string' || name === '') {
    throw new TypeError(`export must be a non-empty string, not ${describe(name)}`);
  }
  return name;
}

/** A named piece of work, ready to send. */
interface Prepared {
  module?: string;
  export?: string;
  source?: string;
  label: string;
}

function fromModuleUrl(url: URL, exportName: string | undefined): Prepared {
  const hash = url.hash.slice(1);
  url.hash = '';
  const name = checkExport(exportName ?? (hash !== '' ? decodeURIComponent(hash) : 'default'));
  return { module: url.href, export: name, label: `${url.href}#${name}` };
}

function prepareWork(work: unknown): Prepared {
  if (typeof work === 'function') {
    return { source: functionSource(work), label: `function ${work.name || '<anonymous>'}` };
  }
  if (typeof work === 'string') {
    const i = work.lastIndexOf('#');
    // 'path#export'; a '#' followed by a path separator belongs to the path.
    if (i > 0 && !/[/\\]/.test(work.slice(i + 1))) {
      return fromModuleUrl(moduleHref(work.slice(0, i)), checkExport(work.slice(i + 1)));
    }
    return fromModuleUrl(moduleHref(work), 'default');
  }
  if (work instanceof URL) return fromModuleUrl(moduleHref(work), undefined);
  if (typeof work === 'object' && work !== null && 'module' in work) {
    const spec = work as ModuleWork;
    return fromModuleUrl(moduleHref(spec.module), spec.export === undefined ? undefined : checkExport(spec.export));
  }
  throw new TypeError(
    `work must be a self-contained function, a 'path#export' string, a URL or { module, export }, ` +
      `not ${describe(work)}`,
  );
}

function checkMaxWorkers(value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw new TypeError(`maxWorkers must be a number, not ${describe(value)}`);
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`maxWorkers must be an integer >= 1, not ${value}`);
  return value;
}

function checkOptions(opts: unknown, what: string): Record<string, unknown> {
  if (opts === undefined) return {};
  if (typeof opts !== 'object' || opts === null) {
    throw new TypeError(`${what} options must be an object, not ${describe(opts)}`);
  }
  return opts as Record<string, unknown>;
}

// ---------------------------------------------------------------------------
// The pool, shared by both kinds.

const QUEUED = 0;
const RUNNING = 1;
const DONE = 2;

/** One live worker, thread or process. */
interface Slot {
  readonly kind: string;
  job: Job | null;
  /** Going down (terminate asked, or it reported a fatal error): no more jobs. */
  dying: boolean;
  /** Sends the job; throws when it cannot be serialized. */
  post(msg: JobMessage): void;
  ref(): void;
  unref(): void;
  /** Idle: end gracefully; force: end now, whatever it runs. */
  terminate(force: boolean): void;
  describe(): string;
}

/** A job: its message, its Future, and where it is. Its Future's cancellation reaches it synchronously. */
class Job implements FutureWaiter {
  state = QUEUED;
  slot: Slot | null = null;
  constructor(
    readonly pool: PoolExecutor,
    readonly msg: JobMessage,
    readonly future: Future<unknown>,
    readonly label: string,
  ) {}

  /** Called (synchronously) when the Future is done: only a cancellation concerns us. */
  _onFutureDone(fut: Future<any>): void {
    if (this.state !== DONE && fut.cancelled()) this.pool._jobCancelled(this);
  }
}

let nextJobId = 1;

/** Complete a job's Future unless it is done already or its loop closed (nobody can see it then). */
function settle(job: Job, ok: boolean, value: unknown): void {
  job.state = DONE;
  const fut = job.future;
  if (fut._state !== State.PENDING || fut.getLoop().isClosed()) return;
  if (ok) fut.setResult(value);
  else fut.setException(value);
}

function cancelJob(job: Job, message: string): void {
  job.state = DONE;
  const fut = job.future;
  if (fut._state !== State.PENDING || fut.getLoop().isClosed()) return;
  fut.cancel(message);
}

/**
 * What both pools share: the queue, dispatch, crash replacement, shutdown.
 * Use it as a type for "either pool".
 *
 * @example
 * ```ts
 * const pool: PoolExecutor = isolate
 *   ? new ProcessPoolExecutor({ maxWorkers: 2 })
 *   : new ThreadPoolExecutor({ maxWorkers: 2 });
 * ```
 */
export abstract class PoolExecutor {
  /** The most workers this pool runs at once. */
  readonly maxWorkers: number;
  /** @internal FIFO; a Set so a cancelled job leaves it in O(1). */
  private _queue = new Set<Job>();
  /** @internal Every live worker. */
  private _slots = new Set<Slot>();
  /** @internal Idle workers (the most recently used on top: it is warm). Only when the queue is empty. */
  private _idle: Slot[] = [];
  private _shutdown = false;
  private _shutdownPromise: Promise<void> | null = null;
  private _shutdownResolve: (() => void) | null = null;

  constructor(maxWorkers: number) {
    this.maxWorkers = maxWorkers;
  }

  /** @internal Start a worker wired to `_onReply` / `_onExit`. */
  protected abstract _spawn(): Slot;
  /** @internal What a running job's cancellation does to its worker. */
  protected abstract _cancelRunning(job: Job, slot: Slot): void;

  /**
   * Live workers (for diagnostics and tests).
   *
   * @example
   * ```ts
   * pool.workerCount; // 0 before the first job, at most maxWorkers
   * ```
   */
  get workerCount(): number {
    return this._slots.size;
  }

  /**
   * Jobs waiting for a worker.
   *
   * @example
   * ```ts
   * if (pool.queueSize > 100) throw new Error('overloaded');
   * ```
   */
  get queueSize(): number {
    return this._queue.size;
  }

  /**
   * Run `work(...args)` in a worker. Returns a Future of the running loop
   * (else the policy's loop); `await` and `yield*` both work. Throws
   * synchronously (TypeError) when the work or its arguments cannot be sent,
   * and (Error) after `shutdown()`.
   *
   * @example
   * ```ts
   * function* main() {
   *   const a = yield* pool.submit({ module: new URL('./work.js', import.meta.url), export: 'hash' }, 'data');
   *   const b = yield* pool.submit((x: number) => x * 2, 21);
   * }
   * ```
   */
  submit<A extends unknown[], R>(work: (...args: A) => R, ...args: A): Future<Awaited<R>>;
  submit<R = unknown>(work: ModuleWork | string | URL, ...args: unknown[]): Future<R>;
  submit<R = unknown>(work: Work, ...args: unknown[]): Future<R>;
  submit(work: Work, ...args: unknown[]): Future<unknown> {
    return this._submit(undefined, work, args);
  }

  /**
   * `submit()` with options: the Future's `loop`, an AbortSignal that cancels it.
   *
   * @example
   * ```ts
   * const fut = pool.submitWith({ loop, signal: AbortSignal.timeout(1000) }, '/srv/app/work.js#slow', 1);
   * ```
   */
  submitWith<A extends unknown[], R>(opts: SubmitOptions, work: (...args: A) => R, ...args: A): Future<Awaited<R>>;
  submitWith<R = unknown>(opts: SubmitOptions, work: ModuleWork | string | URL, ...args: unknown[]): Future<R>;
  submitWith<R = unknown>(opts: SubmitOptions, work: Work, ...args: unknown[]): Future<R>;
  submitWith(opts: SubmitOptions, work: Work, ...args: unknown[]): Future<unknown> {
    const o = checkOptions(opts, 'submitWith()');
    return this._submit(o as SubmitOptions, work, args);
  }

  private _submit(opts: SubmitOptions | undefined, work: Work, args: unknown[]): Future<unknown> {
    if (this._shutdown) throw new Error('cannot schedule new futures after shutdown');
    const prepared = prepareWork(work);
    const sent = sendableArgs(args, prepared.label);
    const signal = checkSignal(opts?.signal, 'submitWith');
    const given = opts?.loop;
    if (given !== undefined && (typeof given !== 'object' || given === null || typeof given.callSoon !== 'function')) {
      throw new TypeError(`submitWith() option loop must be an event loop, not ${describe(given)}`);
    }
    const loop = given ?? _getRunningLoop() ?? getEventLoop();
    const future = new Future<unknown>({ loop });
    const msg: JobMessage = { id: nextJobId++, args: sent };
    if (prepared.source !== undefined) msg.source = prepared.source;
    else {
      msg.module = prepared.module;
      msg.export = prepared.export;
    }
    const job = new Job(this, msg, future, prepared.label);
    future._addCallback(job);
    cancelOnAbort(future, signal);
    if (future.done()) return future; // the signal had aborted already
    const slot = this._idle.pop() ?? (this._slots.size < this.maxWorkers ? this._startWorker() : undefined);
    if (slot === undefined) this._queue.add(job);
    else if (!this._run(job, slot)) this._release(slot);
    return future;
  }

  private _startWorker(): Slot {
    const slot = this._spawn();
    this._slots.add(slot);
    return slot;
  }

  /** Send `job` to `slot`; false when it could not be sent (the job is failed). */
  private _run(job: Job, slot: Slot): boolean {
    job.state = RUNNING;
    job.slot = slot;
    slot.job = job;
    slot.ref();
    try {
      slot.post(job.msg);
      return true;
    } catch (error) {
      slot.job = null;
      job.slot = null;
      const reason = error instanceof Error ? error.message : String(error);
      settle(
        job,
        false,
        new TypeError(`the arguments of ${job.label} cannot be sent to a ${slot.kind} worker: ${reason}`, {
          cause: error,
        }),
      );
      return false;
    }
  }

  /** `slot` finished its job: give it the next one, or let it idle (unref'd) or end. */
  private _release(slot: Slot): void {
    slot.job = null;
    while (!slot.dying) {
      const next = this._takeQueued();
      if (next === undefined) {
        if (this._shutdown) this._terminate(slot, false);
        else {
          slot.unref();
          this._idle.push(slot);
        }
        return;
      }
      if (this._run(next, slot)) return;
      slot.job = null;
    }
  }

  private _takeQueued(): Job | undefined {
    for (const job of this._queue) {
      this._queue.delete(job);
      if (job.state === QUEUED && !job.future.done()) return job;
    }
    return undefined;
  }

  /** @internal A worker answered. */
  _onReply(slot: Slot, reply: ReplyMessage): void {
    const job = slot.job;
    if (job === null || job.msg.id !== reply.id) return; // stale: not its job any more
    if (job.state === RUNNING) {
      if (reply.ok) settle(job, true, reply.value);
      else settle(job, false, deserializeThrow(reply.error));
    }
    job.state = DONE;
    if (!reply.ok && reply.fatal) {
      // The worker exits after this reply; `_onExit` replaces it.
      slot.dying = true;
      slot.job = null;
      return;
    }
    this._release(slot);
  }

  /** @internal A reply arrived that could not be deserialized here. */
  _onBadReply(slot: Slot, error: unknown): void {
    const job = slot.job;
    if (job === null) return;
    if (job.state === RUNNING) {
      const reason = error instanceof Error ? error.message : String(error);
      const received = new TypeError(`the result of ${job.label} could not be received: ${reason}`, { cause: error });
      settle(job, false, received);
    }
    job.state = DONE;
    this._release(slot);
  }

  /** @internal A worker ended: fail its job, start a replacement if work is queued. */
  _onExit(slot: Slot, code: number | null, signal: string | null, error: unknown): void {
    if (!this._slots.delete(slot)) return;
    slot.dying = true;
    const i = this._idle.indexOf(slot);
    if (i >= 0) this._idle.splice(i, 1);
    const job = slot.job;
    slot.job = null;
    if (job !== null && job.state === RUNNING) {
      const how = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
      settle(
        job,
        false,
        error instanceof Error
          ? error
          : new WorkerExitedError(`${slot.describe()} ${how} while running ${job.label}`, code, signal, {
              cause: error,
            }),
      );
    } else if (error !== null && error !== undefined) {
      // An error thrown in an idle worker (a timer a job left behind): no
      // job to fail, so say it, as a process worker's stderr does.
      console.error(`aioloop: ${slot.describe()} died while idle:`, error);
    }
    while (this._queue.size > 0 && this._slots.size < this.maxWorkers) {
      const next = this._takeQueued();
      if (next === undefined) break;
      const fresh = this._startWorker();
      if (!this._run(next, fresh)) this._release(fresh);
    }
    this._checkShutdownDone();
  }

  /** @internal The Future of `job` was cancelled. */
  _jobCancelled(job: Job): void {
    if (job.state === QUEUED) {
      job.state = DONE;
      this._queue.delete(job); // the worker never sees it
      this._checkShutdownDone();
    } else if (job.state === RUNNING) {
      job.state = DONE; // its result, when it comes, is dropped
      if (job.slot !== null) this._cancelRunning(job, job.slot);
    }
  }

  /** @internal End `slot`, keeping the process alive until it has exited. */
  protected _terminate(slot: Slot, force: boolean): void {
    if (slot.dying && !force) return;
    slot.dying = true;
    const i = this._idle.indexOf(slot);
    if (i >= 0) this._idle.splice(i, 1);
    slot.ref();
    slot.terminate(force);
  }

  /**
   * Stop accepting work (`submit` then throws); each worker ends once it has
   * no job left (concurrent.futures' `shutdown(wait, *, cancel_futures)`).
   * - `wait = true` (default): resolves once every queued and running job
   *   has finished and every worker has exited.
   * - `wait = false`: resolves at once; the jobs still run to the end.
   * - `cancelFutures: true`: queued jobs that have not started are cancelled.
   * - `terminate: true` (beyond asyncio: JavaScript can stop a thread):
   *   queued and running jobs are cancelled and the workers stopped now (a
   *   thread is terminated, a process killed).
   * Calling it again is harmless, and may add `cancelFutures`/`terminate`.
   *
   * @example
   * ```ts
   * await pool.shutdown();                           // let every submitted job finish
   * await pool.shutdown(true, { cancelFutures: true }); // or: drop the queue, finish what runs
   * await pool.shutdown(true, { terminate: true });     // or: stop everything now
   * ```
   */
  shutdown(wait = true, opts?: ShutdownOptions): Promise<void> {
    if (typeof wait !== 'boolean') throw new TypeError(`shutdown() wait must be a boolean, not ${describe(wait)}`);
    const o = checkOptions(opts, 'shutdown()');
    for (const k of ['cancelFutures', 'terminate'] as const) {
      if (o[k] !== undefined && typeof o[k] !== 'boolean') throw new TypeError(`shutdown() ${k} must be a boolean, not ${describe(o[k])}`);
    }
    this._shutdown = true;
    this._shutdownPromise ??= new Promise<void>((resolve) => (this._shutdownResolve = resolve));
    if (o.cancelFutures === true || o.terminate === true) {
      const queued = [...this._queue];
      this._queue.clear();
      for (const job of queued) cancelJob(job, 'executor shut down');
    }
    if (o.terminate === true) {
      for (const slot of [...this._slots]) {
        const job = slot.job;
        if (job !== null && job.state === RUNNING) cancelJob(job, 'executor shut down');
        this._terminate(slot, true);
      }
    } else {
      for (const slot of [...this._idle]) this._terminate(slot, false);
    }
    this._checkShutdownDone();
    return wait ? this._shutdownPromise : Promise.resolve();
  }

  /**
   * `await using pool = new ThreadPoolExecutor()`: `shutdown()` at the end
   * of the block, waiting for the jobs (Python's `with ThreadPoolExecutor()`).
   *
   * @example
   * ```ts
   * await using pool = new ThreadPoolExecutor({ maxWorkers: 2 });
   * console.log(await pool.submit((a: number) => a * 2, 21));
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown(true);
  }

  private _checkShutdownDone(): void {
    if (this._shutdown && this._slots.size === 0 && this._queue.size === 0 && this._shutdownResolve !== null) {
      const resolve = this._shutdownResolve;
      this._shutdownResolve = null;
      resolve();
    }
  }
}

// ---------------------------------------------------------------------------
// Threads

/** Flags of this process that a worker must not inherit; the first group takes a separate value. */
const SKIP_WITH_VALUE = new Set(['-e', '--eval', '-p', '--print', '-pe', '--input-type', '--inspect-port']);
const SKIP = new RegExp(
  '^(--(eval|print|input-type|inspect|inspect-brk|inspect-port|inspect-publish-uid|debug|debug-brk|' +
    'test|watch|watch-path|interactive|check)(=|$)|-i$|-c$)',
);

/**
 * This process's Node options, minus those that make no sense for a worker:
 * `-e`/`-p` code and `--input-type` (fork() drops them only when it picks
 * execArgv itself), a debugger port (it cannot be shared), test and watch mode.
 */
function defaultExecArgv(): string[] {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (SKIP_WITH_VALUE.has(a)) i++;
    else if (!SKIP.test(a)) out.push(a);
  }
  return out;
}

/**
 * Start a worker thread. It inherits this process's Node options, except
 * that `node --input-type=module -e ...` would make it refuse its entry file
 * (ERR_INPUT_TYPE_NOT_ALLOWED): then it gets the options without those, or
 * none if Node refuses one of them for a thread.
 */
function newWorker(entry: URL, resourceLimits: ResourceLimits | undefined): Worker {
  const opts: WorkerOptions = resourceLimits ? { resourceLimits } : {};
  const execArgv = defaultExecArgv();
  if (execArgv.length === process.execArgv.length) return new Worker(entry, opts);
  try {
    return new Worker(entry, { ...opts, execArgv });
  } catch (error) {
    if ((error as { code?: string }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw error;
    return new Worker(entry, { ...opts, execArgv: [] });
  }
}

/**
 * A pool of `node:worker_threads` workers (asyncio's / concurrent.futures'
 * `ThreadPoolExecutor`). Workers start on demand up to `maxWorkers` and stay
 * for later jobs; an idle worker does not keep the process alive. A worker
 * that dies (an uncaught error outside the job, `process.exit()` in the
 * thread) fails its job and is replaced.
 *
 * Cancelling the Future of a queued job removes it from the queue: no worker
 * ever sees it. A running job cannot be interrupted: its result is discarded
 * and its worker takes the next job when the function returns.
 *
 * @example
 * ```ts
 * const pool = new ThreadPoolExecutor({ maxWorkers: 2 });
 * function* main() {
 *   const digest = yield* pool.submit({ module: new URL('./work.js', import.meta.url), export: 'hash' }, 'data');
 *   const sum = yield* pool.submit((a: number, b: number) => a + b, 1, 2);
 * }
 * await aio.run(main);
 * await pool.shutdown();
 * ```
 */
export class ThreadPoolExecutor extends PoolExecutor {
  private readonly _entry: URL;
  private readonly _resourceLimits: ResourceLimits | undefined;

  constructor(opts?: ThreadPoolOptions) {
    const o = checkOptions(opts, 'ThreadPoolExecutor');
    super(checkMaxWorkers(o.maxWorkers, availableParallelism()));
    if (o.resourceLimits !== undefined && (typeof o.resourceLimits !== 'object' || o.resourceLimits === null)) {
      throw new TypeError(`resourceLimits must be an object, not ${describe(o.resourceLimits)}`);
    }
    this._resourceLimits = o.resourceLimits as ResourceLimits | undefined;
    this._entry = workerEntry('thread_worker');
  }

  protected _spawn(): Slot {
    const worker = newWorker(this._entry, this._resourceLimits);
    const threadId = worker.threadId; // -1 once it has exited
    let fatal: unknown = undefined;
    const slot: Slot = {
      kind: 'thread',
      job: null,
      dying: false,
      post: (msg) => worker.postMessage(msg),
      ref: () => worker.ref(),
      unref: () => worker.unref(),
      terminate: () => void worker.terminate().catch(() => {}),
      describe: () => `thread worker ${threadId}`,
    };
    worker.on('message', (reply: ReplyMessage) => this._onReply(slot, reply));
    worker.on('messageerror', (error) => this._onBadReply(slot, error));
    worker.on('error', (error) => (fatal = error));
    worker.on('exit', (code) => this._onExit(slot, code, null, fatal));
    return slot;
  }

  protected _cancelRunning(): void {
    // A thread cannot be interrupted safely mid-job: the result is discarded
    // when it arrives, and the worker then takes the next job.
  }
}

// ---------------------------------------------------------------------------
// Processes

/** How long a worker process asked to exit may take before it is killed. */
const GRACE_MS = 2000;

/**
 * A pool of child processes (`fork` with an IPC channel and
 * `serialization: 'advanced'`), for work that must be isolated: it may
 * crash, leak, block forever or change process-wide state. A worker that
 * exits or is killed fails the job it was running with a
 * {@link WorkerExitedError} (or with the error that brought it down) and is
 * replaced; jobs queued behind it still run.
 *
 * Cancelling the Future of a queued job removes it from the queue. Cancelling
 * a running job kills its worker (SIGKILL) and starts another for the queue,
 * so abandoned work stops using CPU; pass `killOnCancel: false` to let it
 * finish instead (the result is discarded).
 *
 * @example
 * ```ts
 * const pool = new ProcessPoolExecutor({ maxWorkers: 2 });
 * try {
 *   const out = await pool.submit('/srv/app/convert.js#convert', { input: 'a.png' });
 * } catch (e) {
 *   if (e instanceof WorkerExitedError) console.error('the converter crashed:', e.message);
 * } finally {
 *   await pool.shutdown();
 * }
 * ```
 */
export class ProcessPoolExecutor extends PoolExecutor {
  private readonly _entry: string;
  private readonly _killOnCancel: boolean;
  private readonly _execArgv: string[] | undefined;
  private readonly _env: NodeJS.ProcessEnv | undefined;

  constructor(opts?: ProcessPoolOptions) {
    const o = checkOptions(opts, 'ProcessPoolExecutor');
    super(checkMaxWorkers(o.maxWorkers, availableParallelism()));
    if (o.killOnCancel !== undefined && typeof o.killOnCancel !== 'boolean') {
      throw new TypeError(`killOnCancel must be a boolean, not ${describe(o.killOnCancel)}`);
    }
    if (o.execArgv !== undefined && (!Array.isArray(o.execArgv) || !o.execArgv.every((a) => typeof a === 'string'))) {
      throw new TypeError(`execArgv must be an array of strings, not ${describe(o.execArgv)}`);
    }
    if (o.env !== undefined && (typeof o.env !== 'object' || o.env === null)) {
      throw new TypeError(`env must be an object, not ${describe(o.env)}`);
    }
    this._killOnCancel = (o.killOnCancel as boolean | undefined) ?? true;
    this._execArgv = o.execArgv as string[] | undefined;
    this._env = o.env as NodeJS.ProcessEnv | undefined;
    this._entry = fileURLToPath(workerEntry('process_worker'));
  }

  protected _spawn(): Slot {
    const child: ChildProcess = fork(this._entry, [], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: this._execArgv ?? defaultExecArgv(),
      env: this._env ?? process.env,
    });
    let graceTimer: NodeJS.Timeout | null = null;
    let spawnError: unknown = undefined;
    let exited: [number | null, string | null] | null = null;
    let disconnected = false;
    // The worker is gone once it has exited AND its channel is closed: the
    // channel closes after the last message was read, so a reply the worker
    // sent just before exiting is handled before its job would be failed.
    // ('close' would say the same, but Node never emits it after a
    // parent-side disconnect().)
    const gone = () => {
      if (exited === null || !disconnected) return;
      if (graceTimer !== null) clearTimeout(graceTimer);
      this._onExit(slot, exited[0], exited[1], spawnError);
    };
    const slot: Slot = {
      kind: 'process',
      job: null,
      dying: false,
      post: (msg) => {
        // Serialization errors throw here; a closed channel reports to the
        // callback, and 'close' then fails the job.
        child.send(msg, undefined, {}, () => {});
      },
      ref: () => {
        child.ref();
        child.channel?.ref();
      },
      unref: () => {
        child.unref();
        child.channel?.unref();
      },
      terminate: (force) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        if (force || !child.connected) {
          child.kill('SIGKILL');
          return;
        }
        child.disconnect(); // the worker exits on 'disconnect'
        graceTimer = setTimeout(() => child.kill('SIGKILL'), GRACE_MS);
        graceTimer.unref();
      },
      describe: () => `process worker ${child.pid ?? '(not started)'}`,
    };
    child.on('message', (reply: ReplyMessage) => this._onReply(slot, reply));
    child.on('error', (error) => {
      // Failed to start (no 'close' follows), or a send on a closed channel.
      if (child.pid === undefined) {
        spawnError = error;
        this._onExit(slot, null, null, error);
      }
    });
    child.on('disconnect', () => {
      disconnected = true;
      gone();
    });
    child.on('exit', (code, signal) => {
      exited = [code, signal];
      if (!disconnected) {
        // A channel that never reports its end must not hang the pool.
        setTimeout(() => {
          disconnected = true;
          gone();
        }, 1000);
      }
      gone();
    });
    return slot;
  }

  protected _cancelRunning(_job: Job, slot: Slot): void {
    if (this._killOnCancel) this._terminate(slot, true);
  }
}

// ---------------------------------------------------------------------------
// Module functions

/**
 * The default executor's size: `min(4, os.availableParallelism())`.
 *
 * @example
 * ```ts
 * loop.setDefaultExecutor(new ThreadPoolExecutor({ maxWorkers: defaultThreadWorkers() }));
 * ```
 */
export function defaultThreadWorkers(): number {
  return Math.min(4, availableParallelism());
}

/**
 * @internal Submit to any executor for `loop` (what `loop.runInExecutor` does
 * once it has an executor): `submitWith({ loop })` when the executor has it,
 * else `submit()`, whose Future or promise is wrapped for `loop`.
 *
 * @example
 * ```ts
 * const fut = submitTo(executor, loop, (n: number) => n + 1, [41]);
 * ```
 */
export function submitTo(executor: unknown, loop: EventLoop, work: Work, args: unknown[]): Future<unknown> {
  const ex = executor as SubmittingExecutor | null;
  if (ex !== null && typeof ex === 'object') {
    if (typeof ex.submitWith === 'function') return ex.submitWith({ loop }, work, ...args);
    if (typeof ex.submit === 'function') {
      const out = ex.submit(work, ...args);
      if (out instanceof Future && out.getLoop() === loop) return out;
      return fromPromise(out, { loop });
    }
  }
  throw new TypeError(`executor must have a submitWith() or submit() method, not ${describe(executor)}`);
}

interface ExecutorLoop extends EventLoop {
  runInExecutor(executor: unknown, work: Work, ...args: unknown[]): Future<unknown>;
}

/**
 * Run `work(...args)` on the running loop's default executor (asyncio's
 * `to_thread`): a ThreadPoolExecutor of `min(4, availableParallelism())`
 * workers, created on first use, unless `loop.setDefaultExecutor()` chose
 * another. Same as `getRunningLoop().runInExecutor(null, work, ...args)`.
 * Work is a self-contained function or a module export (see the module doc).
 *
 * @example
 * ```ts
 * function* main() {
 *   const digest = yield* toThread('/srv/app/work.js#hash', 'some data');
 *   const n = yield* toThread((a: number, b: number) => a * b, 6, 7); // 42
 * }
 * ```
 */
export function toThread<A extends unknown[], R>(work: (...args: A) => R, ...args: A): Future<Awaited<R>>;
export function toThread<R = unknown>(work: ModuleWork | string | URL, ...args: unknown[]): Future<R>;
export function toThread<R = unknown>(work: Work, ...args: unknown[]): Future<R>;
export function toThread(work: Work, ...args: unknown[]): Future<unknown> {
  const loop = getRunningLoop() as Partial<ExecutorLoop>;
  if (typeof loop.runInExecutor !== 'function') {
    throw new TypeError(`toThread() needs a loop with runInExecutor(), and ${describe(loop)} has none`);
  }
  return loop.runInExecutor(null, work, ...args);
}
