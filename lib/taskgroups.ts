/**
 * Structured concurrency (asyncio's `taskgroups.py`): a body creates child
 * tasks; the group waits for all of them; the first child error cancels the
 * others and the body, and everything that failed comes out together as an
 * ExceptionGroup.
 * @module
 */
import { CancelledError, ExceptionGroup } from './errors.js';
import { getRunningLoop, type EventLoop, type TaskOptions } from './events.js';
import type { Future } from './futures.js';
import { currentTask, _thenable, type Task } from './tasks.js';
import type { Coroutine, TaskTarget } from './coroutines.js';
import { runBody } from './timeouts.js';

/**
 * The group handed to a `taskGroup` body.
 *
 * @example
 * ```ts
 * yield* taskGroup(function* (tg) {
 *   tg.createTask(fetch1());
 *   tg.createTask(fetch2());
 * }); // both done here, or an ExceptionGroup was thrown
 * ```
 */
export class TaskGroup {
  private _entered = false;
  private _exiting = false;
  private _aborting = false;
  private _loop: EventLoop | null = null;
  private _parent: Task<unknown> | null = null;
  private _parentCancelRequested = false;
  private _tasks = new Set<Task<unknown>>();
  private _errors: unknown[] = [];
  private _onCompleted: Future<void> | null = null;

  /** Start a child task; the group waits for it. */
  createTask<T>(coro: TaskTarget<T>, opts?: TaskOptions): Task<T> {
    if (!this._entered) throw new Error('TaskGroup has not been entered');
    if (this._exiting && this._tasks.size === 0) throw new Error('TaskGroup is finished');
    if (this._aborting) throw new Error('TaskGroup is shutting down');
    const task = this._loop!.createTask(coro, opts);
    if (task.done()) this._onTaskDone(task);
    else {
      this._tasks.add(task);
      task.addDoneCallback(this._onTaskDone as (f: Future<T>) => void);
    }
    return task;
  }

  /** @internal asyncio's __aenter__. */
  _enter(): void {
    const parent = currentTask();
    if (parent === null) throw new Error('taskGroup() must be used inside a task');
    this._entered = true;
    this._loop = getRunningLoop();
    this._parent = parent;
  }

  /** @internal asyncio's __aexit__: wait for the children, then throw what must be thrown. */
  *_exit(failed: boolean, error: unknown): Coroutine<void> {
    this._exiting = true;
    let propagateCancel: unknown = failed && error instanceof CancelledError ? error : null;
    if (failed && !this._aborting) this._abort();
    while (this._tasks.size > 0) {
      this._onCompleted ??= this._loop!.createFuture<void>();
      try {
        yield* this._onCompleted;
      } catch (exc) {
        if (!(exc instanceof CancelledError)) throw exc;
        if (!this._aborting) {
          propagateCancel = exc;
          this._abort();
        }
      }
      this._onCompleted = null;
    }
    // Only now, with every child done (3.13's order): the group's own
    // cancellation of the parent is taken back; one from outside stays.
    if (this._parentCancelRequested && this._parent!.uncancel() === 0) propagateCancel = null;
    if (propagateCancel !== null && this._errors.length === 0) throw propagateCancel;
    if (failed && !(error instanceof CancelledError)) this._errors.push(error);
    if (this._errors.length > 0) {
      // A cancellation from outside must not be lost to the ExceptionGroup:
      // uncancel and cancel again, so the parent is interrupted at its next
      // suspension with its count unchanged.
      if (this._parent!.cancelling() > 0) {
        this._parent!.uncancel();
        this._parent!.cancel();
      }
      const errors = this._errors;
      this._errors = [];
      throw new ExceptionGroup('unhandled errors in a TaskGroup', errors);
    }
  }

  private _abort(): void {
    this._aborting = true;
    for (const t of this._tasks) if (!t.done()) t.cancel();
  }

  private readonly _onTaskDone = (task: Task<unknown>) => {
    this._tasks.delete(task);
    if (this._onCompleted !== null && this._tasks.size === 0 && !this._onCompleted.done()) {
      this._onCompleted.setResult();
    }
    if (task.cancelled()) return;
    const exc = task.exception();
    if (exc === null) return;
    this._errors.push(exc);
    if (this._parent!.done()) {
      this._loop!.callExceptionHandler({
        message: `Task ${task} has errored out but its parent task ${this._parent} is already completed`,
        exception: exc,
        task,
      });
      return;
    }
    if (!this._aborting && !this._parentCancelRequested) {
      // Cancel the siblings and interrupt the body: the group is failing.
      this._abort();
      this._parentCancelRequested = true;
      this._parent!.cancel();
    }
  };
}

/**
 * Run `body(tg)` in the current task, wait for every task it starts with
 * `tg.createTask`, and return body's result. On the first child error the
 * other children and the body are cancelled, and an ExceptionGroup holding
 * every error (not the cancellations) is thrown.
 *
 * @example
 * ```ts
 * function* main() {
 *   const results = yield* taskGroup(function* (tg) {
 *     const a = tg.createTask(fetchUser(1));
 *     const b = tg.createTask(fetchUser(2));
 *     return [a, b];
 *   });
 *   console.log(results.map((t) => t.result()));
 * }
 * ```
 */
export function taskGroup<T>(body: (tg: TaskGroup) => Coroutine<T> | PromiseLike<T> | T): Coroutine<T> & PromiseLike<T> {
  if (typeof body !== 'function') throw new TypeError('taskGroup() body must be a function');
  return _thenable(runTaskGroup(body));
}

function* runTaskGroup<T>(body: (tg: TaskGroup) => Coroutine<T> | PromiseLike<T> | T): Coroutine<T> {
  const tg = new TaskGroup();
  tg._enter();
  let result: T | undefined;
  let failed = false;
  let error: unknown;
  try {
    result = yield* runBody(body, tg);
  } catch (exc) {
    failed = true;
    error = exc;
  }
  yield* tg._exit(failed, error);
  if (failed) throw error;
  return result as T;
}
