/**
 * `run()` and `Runner` (asyncio's `runners.py`): a fresh loop, the main task,
 * then an orderly shutdown.
 * @module
 */
import { hasSignalHandler } from './signals.js';
import { describe, newEventLoop, setEventLoop, _inLoopCallback, type EventLoop } from './events.js';
import { allTasks } from './tasks.js';
import type { Task } from './tasks.js';
import type { TaskTarget } from './coroutines.js';
import { isMainThread } from 'node:worker_threads';
import { checkLoopName, newLoopNamed } from './policies.js';

/** How long closing waits for the default executor's jobs (asyncio's THREAD_JOIN_TIMEOUT, 300 s). */
const EXECUTOR_SHUTDOWN_TIMEOUT_MS = 300_000;

/** Options of `run()` and `Runner`. */
export interface RunOptions {
  /** 'default', 'native', or a factory. Unset: the current policy decides. */
  loop?: 'default' | 'native' | (() => EventLoop);
  /** Debug mode for the loop (see `loop.setDebug`). */
  debug?: boolean;
}

/**
 * Runs several top-level entry points on one loop (asyncio.Runner).
 *
 * @example
 * ```ts
 * const runner = new Runner({ loop: 'default' });
 * try {
 *   await runner.run(setup());
 *   await runner.run(main());
 * } finally {
 *   await runner.close();
 * }
 * ```
 */
export class Runner {
  private _loop: EventLoop | null = null;
  private _state: 'new' | 'ready' | 'closed' = 'new';
  private _setEventLoop = false;
  private readonly _options: RunOptions;

  constructor(opts: RunOptions = {}) {
    if (typeof opts !== 'object' || opts === null) {
      throw new TypeError(`run options must be an object, not ${describe(opts)}`);
    }
    if (opts.loop !== undefined && typeof opts.loop !== 'function') checkLoopName(opts.loop, 'loop');
    if (opts.debug !== undefined && typeof opts.debug !== 'boolean') {
      throw new TypeError(`debug must be a boolean, not ${describe(opts.debug)}`);
    }
    this._options = opts;
  }

  /** The runner's loop (created on first use). */
  getLoop(): EventLoop {
    return this._lazyInit();
  }

  /**
   * Run `main` (coroutine, generator function, promise or async function) as
   * a task until it completes; returns its result or throws its error.
   * In the main thread, if the process has no SIGINT listener, the first
   * SIGINT (Ctrl-C) cancels the main task (it sees a CancelledError); a
   * second one ends the process as Node does by default.
   */
  async run<T>(main: TaskTarget<T>): Promise<T> {
    // asyncio refuses to run a loop from inside a running one. Two loops may
    // run side by side here (both are guests on Node's loop), but not one
    // started from a callback or task step of another, nor this runner's
    // loop twice.
    if (_inLoopCallback() || this._loop?.isRunning()) {
      throw new Error('Runner.run() cannot be called from a running event loop');
    }
    const loop = this._lazyInit();
    const task = loop.createTask(main);
    // asyncio.Runner: in the main thread, when nobody handles SIGINT, the
    // first SIGINT cancels the main task. Our listener is removed at once,
    // so a second SIGINT gets Node's default (the process ends). A handler
    // the program adds with loop.addSignalHandler('SIGINT') replaces ours,
    // as in asyncio: then SIGINT is the program's business.
    let onSigint: (() => void) | null = null;
    if (isMainThread && process.listenerCount('SIGINT') === 0) {
      onSigint = () => {
        if (hasSignalHandler(loop, 'SIGINT')) return;
        process.removeListener('SIGINT', onSigint!);
        onSigint = null;
        if (!task.done() && !loop.isClosed()) loop.callSoon(() => task.cancel());
      };
      process.on('SIGINT', onSigint);
    }
    try {
      return await loop.runUntilComplete(task);
    } finally {
      if (onSigint !== null) process.removeListener('SIGINT', onSigint);
    }
  }

  /**
   * `await using runner = new Runner()`: `close()` at the end of the block
   * (Python's `with asyncio.Runner() as runner:`).
   *
   * @example
   * ```ts
   * await using runner = new Runner();
   * await runner.run(main());
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Cancel what is left, shut down the executor, close the loop. */
  async close(): Promise<void> {
    if (this._state !== 'ready') return;
    const loop = this._loop!;
    try {
      await cancelAllTasks(loop);
      await loop.shutdownAsyncgens();
      await loop.shutdownDefaultExecutor(EXECUTOR_SHUTDOWN_TIMEOUT_MS);
    } finally {
      if (this._setEventLoop) setEventLoop(null);
      loop.close();
      this._loop = null;
      this._state = 'closed';
    }
  }

  private _lazyInit(): EventLoop {
    if (this._state === 'closed') throw new Error('Runner is closed');
    if (this._state === 'ready') return this._loop!;
    const choice = this._options.loop;
    if (choice === undefined) {
      this._loop = newEventLoop();
      setEventLoop(this._loop);
      this._setEventLoop = true;
    } else if (typeof choice === 'function') {
      this._loop = choice();
    } else {
      this._loop = newLoopNamed(choice);
    }
    if (this._options.debug !== undefined) this._loop.setDebug(this._options.debug);
    this._state = 'ready';
    return this._loop;
  }
}

/**
 * Run `main` on a new loop and close the loop after: the entry point of a
 * program (asyncio.run). Leftover tasks are cancelled and awaited first.
 *
 * @example
 * ```ts
 * import { run, sleep } from 'aioloop';
 * function* main() { yield* sleep(100); return 'done'; }
 * console.log(await run(main));                       // policy's loop
 * console.log(await run(main, { loop: 'default' }));  // explicit loop
 * ```
 */
export async function run<T>(main: TaskTarget<T>, opts?: RunOptions): Promise<T> {
  if (_inLoopCallback()) throw new Error('run() cannot be called from a running event loop');
  const runner = new Runner(opts);
  try {
    return await runner.run(main);
  } finally {
    await runner.close();
  }
}

/** Cancel every task left on `loop`, wait for them, report their errors. */
async function cancelAllTasks(loop: EventLoop): Promise<void> {
  const tasks = allTasks(loop);
  if (tasks.size === 0) return;
  for (const task of tasks) task.cancel();
  await loop.runUntilComplete(whenAllDone(loop, tasks));
  for (const task of tasks) {
    if (task.cancelled()) continue;
    const exception = task.exception();
    if (exception !== null) {
      loop.callExceptionHandler({ message: 'unhandled exception during run() shutdown', exception, task });
    }
  }
}

/** A Future done when every task is (gather with returnExceptions, in small). */
function whenAllDone(loop: EventLoop, tasks: Set<Task<any>>) {
  const all = loop.createFuture<void>();
  let left = tasks.size;
  const onDone = () => {
    if (--left === 0 && !all.done()) all.setResult();
  };
  for (const task of tasks) task.addDoneCallback(onDone);
  return all;
}
