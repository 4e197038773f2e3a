/** Task conformance (asyncio's test_tasks, the parts of the foundation), on every loop. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  CancelledError,
  Task,
  allTasks,
  createTask,
  currentTask,
  ensureFuture,
  fromPromise,
  gather,
  sleep,
  type Coroutine,
  type EventLoop,
  type ExceptionContext,
} from '../../lib/index.js';
import { LOOPS, withLoop } from '../loops.js';

afterEach(() => {
  vi.restoreAllMocks();
});

const run = <T>(loop: EventLoop, main: () => Coroutine<T>) => loop.runUntilComplete(main());

describe.each(LOOPS)('$name loop: Task basics', (kind) => {
  it('runs the first step on the loop, not synchronously', () =>
    withLoop(kind, async (loop) => {
      const order: string[] = [];
      function* child(): Coroutine<string> {
        order.push('child started');
        return 'child result';
      }
      function* main(): Coroutine<string> {
        const t = createTask(child());
        order.push('created');
        return yield* t;
      }
      expect(await run(loop, main)).toBe('child result');
      expect(order).toEqual(['created', 'child started']);
    }));

  it('runs nested coroutines with yield*', () =>
    withLoop(kind, async (loop) => {
      function* leaf(x: number): Coroutine<number> {
        yield* sleep(1);
        return x * 2;
      }
      function* mid(): Coroutine<number> {
        return (yield* leaf(1)) + (yield* leaf(2));
      }
      expect(await run(loop, mid)).toBe(6);
    }));

  it('fails with the coroutine error', () =>
    withLoop(kind, async (loop) => {
      const err = new Error('inner');
      function* bad(): Coroutine<void> {
        yield* sleep(0);
        throw err;
      }
      function* main(): Coroutine<unknown> {
        const t = createTask(bad());
        try {
          yield* t;
        } catch (e) {
          return [e, t.exception(), t.done(), t.cancelled()];
        }
      }
      expect(await run(loop, main)).toEqual([err, err, true, false]);
    }));

  it('names tasks', () =>
    withLoop(kind, async (loop) => {
      const a = loop.createTask(function* () {});
      const b = loop.createTask(function* () {}, { name: 'worker' });
      expect(a.getName()).toMatch(/^Task-\d+$/);
      expect(b.getName()).toBe('worker');
      b.setName('renamed');
      expect(b.getName()).toBe('renamed');
      expect(String(b)).toBe('<Task pending name="renamed">');
      expect(() => b.setName(5 as never)).toThrow(TypeError);
      expect(() => loop.createTask(function* () {}, { name: 5 as never })).toThrow(TypeError);
      await loop.runUntilComplete(b);
    }));

  it('knows the current task and all pending tasks', () =>
    withLoop(kind, async (loop) => {
      function* sleeper(): Coroutine<void> {
        yield* sleep(1000);
      }
      function* main(): Coroutine<unknown> {
        const me = currentTask();
        const s = createTask(sleeper(), { name: 'sleeper' });
        const done = createTask(function* () {});
        yield* done;
        const names = [...allTasks()].map((t) => t.getName()).sort();
        s.cancel();
        return [me?.getName(), names];
      }
      const main$ = loop.createTask(main(), { name: 'main' });
      expect(await loop.runUntilComplete(main$)).toEqual(['main', ['main', 'sleeper']]);
      expect(currentTask()).toBeNull();
      expect(allTasks(loop).size).toBe(0); // the sleeper's cancellation ran in the last iteration
    }));

  it('gives up exactly one iteration on sleep(0) and on a bare yield', () =>
    withLoop(kind, async (loop) => {
      const order: string[] = [];
      function* main(): Coroutine<void> {
        loop.callSoon(() => {
          order.push('A: queued before the sleep');
          loop.callSoon(() => order.push('C: queued one iteration later'));
        });
        yield* sleep(0);
        order.push('B: after sleep(0)');
        loop.callSoon(() => order.push('D: queued before the bare yield'));
        yield;
        order.push('E: after the bare yield');
      }
      await run(loop, main);
      expect(order).toEqual([
        'A: queued before the sleep',
        'B: after sleep(0)',
        'C: queued one iteration later',
        'D: queued before the bare yield',
        'E: after the bare yield',
      ]);
    }));

  it('completes sleep(0) one iteration after something starts waiting on it, and never when nothing does', () =>
    withLoop(kind, async (loop) => {
      const order: string[] = [];
      function* main(): Coroutine<unknown[]> {
        // Two tasks yield the same sleep(0): both resume one iteration later with its value.
        const shared = sleep(0, 'shared');
        const both = [1, 2].map((n) =>
          createTask(
            (function* () {
              const v = yield* shared;
              order.push(`task ${n}: ${v}`);
              return v;
            })(),
          ),
        );
        // A done callback, gather and an await each start one.
        const withCallback = sleep(0, 'cb');
        withCallback.addDoneCallback((f) => order.push(`callback: ${f.result()}`));
        const gathered = gather([sleep(0, 'g1'), sleep(0, 'g2')]);
        const awaited = fromPromise((async () => await sleep(0, 'awaited'))());
        // One nothing waits on stays pending, as an asyncio coroutine nobody awaits never runs.
        const forgotten = sleep(0, 'forgotten');
        // Cancelled while it gives up its iteration: CancelledError at the yield.
        const cancelled = createTask(
          (function* () {
            yield* sleep(0);
            return 'not cancelled';
          })(),
        );
        yield* sleep(0); // the tasks start
        cancelled.cancel();
        const results = yield* gather([...both, gathered, awaited, withCallback]);
        let cancelledWith = '';
        try {
          yield* cancelled;
        } catch (e) {
          cancelledWith = (e as Error).name;
        }
        for (let i = 0; i < 3; i++) yield* sleep(0);
        return [...results, cancelledWith, forgotten.done()];
      }
      expect(await run(loop, main)).toEqual(['shared', 'shared', ['g1', 'g2'], 'awaited', 'cb', 'CancelledError', false]);
      expect(order).toEqual(expect.arrayContaining(['task 1: shared', 'task 2: shared', 'callback: cb']));
    }));

  it('sleeps for the delay and returns the value', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<[string, number]> {
        const t0 = loop.time();
        const v = yield* sleep(30, 'woke');
        return [v, loop.time() - t0];
      }
      const [v, took] = await run(loop, main);
      expect(v).toBe('woke');
      expect(took).toBeGreaterThanOrEqual(30);
    }));

  it('rejects bad sleep delays and bad task targets', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<string[]> {
        const errors: string[] = [];
        for (const f of [() => sleep('5' as never), () => sleep(NaN), () => createTask(42 as never)]) {
          try {
            f();
          } catch (e) {
            errors.push((e as Error).name);
          }
        }
        yield* sleep(-5); // negative: like sleep(0)
        return errors;
      }
      expect(await run(loop, main)).toEqual(['TypeError', 'RangeError', 'TypeError']);
      expect(() => createTask(function* () {})).toThrow('no running event loop');
      expect(() => sleep(1)).toThrow('no running event loop');
    }));

  it('uses the task factory', () =>
    withLoop(kind, async (loop) => {
      const made: string[] = [];
      loop.setTaskFactory((l, coro, opts) => {
        made.push(opts.name ?? 'unnamed');
        return new Task(coro, { loop: l, name: opts.name });
      });
      expect(loop.getTaskFactory()).toBeTypeOf('function');
      const t = loop.createTask(function* () {
        return 1;
      }, { name: 'made' });
      expect(await loop.runUntilComplete(t)).toBe(1);
      expect(made).toEqual(['made']);
      loop.setTaskFactory(null);
      expect(loop.getTaskFactory()).toBeNull();
    }));

  it('turns awaitables into futures with ensureFuture', () =>
    withLoop(kind, async (loop) => {
      const f = loop.createFuture();
      expect(ensureFuture(f)).toBe(f);
      function* main(): Coroutine<unknown[]> {
        const t = ensureFuture((function* () {
          return 'coro';
        })());
        const p = ensureFuture(Promise.resolve('promise'));
        return [t instanceof Task, yield* t, yield* p];
      }
      expect(await run(loop, main)).toEqual([true, 'coro', 'promise']);
      expect(() => ensureFuture(3 as never)).toThrow(TypeError);
      const other = kind.create();
      try {
        expect(() => ensureFuture(f, { loop: other })).toThrow('different loop');
      } finally {
        other.close();
      }
    }));

  it('interoperates with async functions both ways', () =>
    withLoop(kind, async (loop) => {
      function* child(): Coroutine<number> {
        yield* sleep(1);
        return 20;
      }
      const main = async () => {
        const t = createTask(child());
        const fromAsync = await t; // a Task is a PromiseLike
        return fromAsync + (await sleep(1, 22));
      };
      // The async function starts on the loop (as a task), so createTask finds it running.
      expect(await loop.runUntilComplete(loop.createTask(main))).toBe(42);
    }));
});

describe.each(LOOPS)('$name loop: bad yields', (kind) => {
  function* expectTypeError(body: () => Generator<unknown, unknown, unknown>): Coroutine<string> {
    try {
      yield* body();
    } catch (e) {
      expect(e).toBeInstanceOf(TypeError);
      return (e as Error).message;
    }
    throw new Error('no error thrown');
  }

  it('throws a clear TypeError into the coroutine at the bad yield', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<string[]> {
        const f = loop.createFuture();
        loop.callSoon(() => f.setResult(1));
        return [
          yield* expectTypeError(function* () {
            yield 42;
          }),
          yield* expectTypeError(function* () {
            yield Promise.resolve(1);
          }),
          yield* expectTypeError(function* () {
            yield (function* () {})();
          }),
          yield* expectTypeError(function* () {
            yield f;
          }),
        ];
      }
      const messages = await run(loop, main);
      expect(messages[0]).toContain('got bad yield: number 42 is not awaitable');
      expect(messages[1]).toContain('yield* fromPromise(promise)');
      expect(messages[2]).toContain('yield was used instead of yield* for a coroutine');
      expect(messages[3]).toContain('yield was used instead of yield*');
    }));

  it('refuses a task awaiting itself and a Future of another loop', () =>
    withLoop(kind, async (loop) => {
      const other = kind.create();
      try {
        const foreign = other.createFuture();
        function* main(): Coroutine<string[]> {
          const errors: string[] = [];
          try {
            yield* currentTask()!;
          } catch (e) {
            errors.push((e as Error).message);
          }
          try {
            yield* foreign;
          } catch (e) {
            errors.push((e as Error).message);
          }
          return errors;
        }
        const [self, foreignMsg] = await run(loop, main);
        expect(self).toContain('Task cannot await on itself');
        expect(foreignMsg).toContain('attached to a different loop');
      } finally {
        other.close();
      }
    }));
});

describe.each(LOOPS)('$name loop: coroutines stepped by hand inside a task', (kind) => {
  // A pending Future's next() inside a task's step makes itself the task's
  // awaited Future (lib/futures.ts, next()). A coroutine driven by hand there
  // must not leave the task waiting on, woken by, or cancelling that Future.
  it('does not wake, or cancel, the task through a Future it only stepped', () =>
    withLoop(kind, async (loop) => {
      const log: string[] = [];
      const fut = loop.createFuture<string>();
      const other = loop.createFuture<string>();
      function* peek(): Coroutine<string> {
        return yield* fut;
      }
      function* main(): Coroutine<string> {
        const stepped = peek();
        expect(stepped.next().done).toBe(false); // suspended in yield* fut
        loop.callSoon(() => fut.setResult('for the hand-stepped coroutine'));
        loop.callSoon(() => loop.callSoon(() => other.setResult('mine')));
        const got = yield* other; // must not be woken by fut
        log.push(`woke with ${got}`);
        expect(stepped.next()).toEqual({ value: 'for the hand-stepped coroutine', done: true });
        // cancel() inside the task's own step: asyncio's _fut_waiter is None
        // then; the task, not the Future it stepped last, gets cancelled.
        const third = loop.createFuture<string>();
        const stepping = (function* () {
          return yield* third;
        })();
        stepping.next();
        currentTask()!.cancel('self');
        expect(third.cancelled()).toBe(false);
        try {
          yield* sleep(0);
        } catch (e) {
          log.push(`caught ${(e as Error).message}`);
        }
        expect(third.cancelled()).toBe(false);
        return got;
      }
      expect(await run(loop, main)).toBe('mine');
      expect(log).toEqual(['woke with mine', 'caught self']);
    }));

  it('waits on the Future when the hand-stepped result is passed on with yield', () =>
    withLoop(kind, async (loop) => {
      const fut = loop.createFuture<number>();
      const done = loop.createFuture<number>();
      function* inner(f: typeof fut): Coroutine<number> {
        return (yield* f) + 1;
      }
      // yield* written out by hand: pass each yielded value up, send results down.
      function* delegate<T>(it: Coroutine<T>): Coroutine<T> {
        let r = it.next();
        while (!r.done) r = it.next(yield r.value);
        return r.value;
      }
      function* main(): Coroutine<number[]> {
        loop.callLater(5, () => fut.setResult(41));
        const a = yield* delegate(inner(fut));
        // Completed by hand between the step and the yield: the task still resumes.
        const b = yield* delegate(
          (function* () {
            const it = inner(done);
            const r = it.next();
            done.setResult(1);
            const sent = yield r.value;
            return it.next(sent).value as number;
          })(),
        );
        return [a, b];
      }
      expect(await run(loop, main)).toEqual([42, 2]);
    }));

  it('yields the Future itself outside a task, as asyncio does', () =>
    withLoop(kind, async (loop) => {
      const fut = loop.createFuture<number>();
      const it = fut[Symbol.iterator]();
      const r = it.next();
      // toBe: a Future is iterable, so a deep equality would iterate it.
      expect(r.value).toBe(fut);
      expect(r.done).toBe(false);
      fut.setResult(7);
      expect(it.next()).toEqual({ value: 7, done: true });
    }));
});

describe.each(LOOPS)('$name loop: cancellation', (kind) => {
  it('throws CancelledError at the suspension point and runs finally blocks', () =>
    withLoop(kind, async (loop) => {
      const log: string[] = [];
      function* worker(): Coroutine<void> {
        try {
          log.push('waiting');
          yield* sleep(10_000);
          log.push('not reached');
        } finally {
          log.push('finally');
        }
      }
      function* main(): Coroutine<unknown> {
        const t = createTask(worker());
        yield* sleep(0);
        expect(t.cancel('shutting down')).toBe(true);
        expect(t.cancelling()).toBe(1);
        try {
          yield* t;
        } catch (e) {
          return [e instanceof CancelledError, (e as Error).message, t.cancelled(), t.cancel()];
        }
      }
      expect(await run(loop, main)).toEqual([true, 'shutting down', true, false]);
      expect(log).toEqual(['waiting', 'finally']);
    }));

  it('cancels the Future the task waits on', () =>
    withLoop(kind, async (loop) => {
      const waited = loop.createFuture();
      const t = loop.createTask(function* () {
        yield* waited;
      });
      loop.callSoon(() => t.cancel('x'));
      await expect(loop.runUntilComplete(t)).rejects.toThrow(CancelledError);
      expect(waited.cancelled()).toBe(true);
    }));

  it('lets a task catch CancelledError and go on', () =>
    withLoop(kind, async (loop) => {
      function* stubborn(): Coroutine<string> {
        try {
          yield* sleep(10_000);
        } catch (e) {
          if (!(e instanceof CancelledError)) throw e;
          currentTask()!.uncancel();
        }
        yield* sleep(1);
        return 'finished anyway';
      }
      function* main(): Coroutine<unknown> {
        const t = createTask(stubborn());
        yield* sleep(0);
        t.cancel();
        const r = yield* t;
        return [r, t.cancelled(), t.cancelling()];
      }
      expect(await run(loop, main)).toEqual(['finished anyway', false, 0]);
    }));

  it('never starts a task cancelled before its first step', () =>
    withLoop(kind, async (loop) => {
      const log: string[] = [];
      const t = loop.createTask(function* () {
        log.push('started');
        yield* sleep(1);
      });
      const f = loop.createTask(() => {
        log.push('function called');
        return 1;
      });
      t.cancel();
      f.cancel();
      await expect(loop.runUntilComplete(t)).rejects.toThrow(CancelledError);
      await expect(loop.runUntilComplete(f)).rejects.toThrow(CancelledError);
      expect(log).toEqual([]);
    }));

  it('cancels at the next suspension when the task cancels itself', () =>
    withLoop(kind, async (loop) => {
      const log: string[] = [];
      const t = loop.createTask(function* () {
        currentTask()!.cancel('self');
        log.push('still running this step');
        try {
          yield* sleep(0);
        } catch (e) {
          log.push(`caught ${(e as Error).message}`);
          throw e;
        }
      });
      await expect(loop.runUntilComplete(t)).rejects.toThrow('self');
      expect(log).toEqual(['still running this step', 'caught self']);
    }));

  it('counts repeated cancel requests and uncancel', () =>
    withLoop(kind, async (loop) => {
      const t = loop.createTask(function* () {
        try {
          yield* sleep(10_000);
        } catch {
          const me = currentTask()!;
          return [me.cancelling(), me.uncancel(), me.uncancel(), me.uncancel()];
        }
      });
      loop.callSoon(() => {
        t.cancel();
        t.cancel();
      });
      expect(await loop.runUntilComplete(t)).toEqual([2, 1, 0, 0]);
    }));

  it('ends cancelled when cancelled right as the coroutine returns', () =>
    withLoop(kind, async (loop) => {
      // cancel() from the last step's own body: _mustCancel is set when the
      // coroutine returns, so the task ends cancelled (asyncio semantics).
      const t = loop.createTask(function* () {
        currentTask()!.cancel();
        return 'value';
      });
      await expect(loop.runUntilComplete(t)).rejects.toThrow(CancelledError);
      expect(t.cancelled()).toBe(true);
    }));

  it('aborts task.signal with a CancelledError reason', () =>
    withLoop(kind, async (loop) => {
      let signal!: AbortSignal;
      const t = loop.createTask(function* () {
        signal = currentTask()!.signal;
        yield* sleep(10_000);
      });
      loop.callLater(1, () => t.cancel('enough'));
      await expect(loop.runUntilComplete(t)).rejects.toThrow('enough');
      expect(signal.aborted).toBe(true);
      expect(signal.reason).toBeInstanceOf(CancelledError);
      expect((signal.reason as Error).message).toBe('enough');
      // Asked for after the cancel: already aborted.
      const late = loop.createTask(function* () {});
      late.cancel();
      expect(late.signal.aborted).toBe(true);
      await expect(loop.runUntilComplete(late)).rejects.toThrow(CancelledError);
    }));
});

describe.each(LOOPS)('$name loop: tasks wrapping promises', (kind) => {
  it('takes the result or error of a promise', () =>
    withLoop(kind, async (loop) => {
      expect(await loop.runUntilComplete(loop.createTask(Promise.resolve(5)))).toBe(5);
      await expect(loop.runUntilComplete(loop.createTask(Promise.reject(new Error('r'))))).rejects.toThrow('r');
    }));

  it('calls an async function on the loop, as the current task', () =>
    withLoop(kind, async (loop) => {
      let seenTask: Task<unknown> | null = null;
      const t = loop.createTask(async () => {
        seenTask = currentTask();
        await new Promise((r) => setTimeout(r, 1));
        return 'async result';
      });
      expect(await loop.runUntilComplete(t)).toBe('async result');
      expect(seenTask).toBe(t);
    }));

  it('cannot be interrupted: cancel aborts the signal and the task ends cancelled on settle', () =>
    withLoop(kind, async (loop) => {
      const log: string[] = [];
      const t = loop.createTask(async () => {
        const { signal } = currentTask()!;
        await new Promise<void>((resolve) => {
          signal.addEventListener('abort', () => {
            log.push(`aborted: ${(signal.reason as Error).message}`);
            setTimeout(resolve, 2); // cleanup takes a while
          });
        });
        log.push('settling');
        return 'ignored';
      });
      loop.callLater(1, () => {
        expect(t.cancel('stop')).toBe(true);
        log.push(`done right after cancel: ${t.done()}`);
      });
      await expect(loop.runUntilComplete(t)).rejects.toThrow('stop');
      expect(t.cancelled()).toBe(true);
      expect(log).toEqual(['aborted: stop', 'done right after cancel: false', 'settling']);
    }));

  it('treats a plain function result as the task result', () =>
    withLoop(kind, async (loop) => {
      expect(await loop.runUntilComplete(loop.createTask(() => 'plain'))).toBe('plain');
      const failing = loop.createTask(() => {
        throw new Error('thrown by the function');
      });
      await expect(loop.runUntilComplete(failing)).rejects.toThrow('thrown by the function');
    }));

  it('waits on a promise through fromPromise inside a coroutine', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<string> {
        return yield* fromPromise(new Promise<string>((r) => setTimeout(() => r('late'), 5)));
      }
      expect(await run(loop, main)).toBe('late');
    }));
});

describe.each(LOOPS)('$name loop: task errors nobody retrieved', (kind) => {
  it('reports them to the exception handler when the loop closes', async () => {
    const loop = kind.create();
    const contexts: ExceptionContext[] = [];
    loop.setExceptionHandler((_, ctx) => contexts.push(ctx));
    const failing = loop.createTask(function* () {
      yield* sleep(0);
      throw new Error('nobody looked');
    }, { name: 'orphan' });
    const retrieved = loop.createTask(function* () {
      throw new Error('looked at');
    });
    await loop.runUntilComplete(
      loop.createTask(function* () {
        yield* sleep(2);
      }),
    );
    expect(failing.done() && retrieved.done()).toBe(true);
    retrieved.exception();
    loop.close();
    expect(contexts).toHaveLength(1);
    // asyncio's context: `future` is the Task (ours adds `task` as well).
    expect(contexts[0]!.message).toBe('Task exception was never retrieved');
    expect((contexts[0]!.exception as Error).message).toBe('nobody looked');
    expect(contexts[0]!.future).toBe(failing);
    expect(contexts[0]!.task).toBe(failing);
  });
});

describe.each(LOOPS)('$name loop: sleep with a signal', (kind) => {
  it('ends the sleep with a CancelledError carrying the reason, and cancels its timer', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown[]> {
        const ac = new AbortController();
        const t0 = loop.time();
        loop.callLater(5, () => ac.abort(new Error('user left')));
        try {
          yield* sleep(10_000, 'never', { signal: ac.signal });
          return ['no error'];
        } catch (e) {
          const err = e as Error;
          return [err instanceof CancelledError, err.message, (err.cause as Error).message, loop.time() - t0 < 5_000];
        }
      }
      expect(await run(loop, main)).toEqual([true, 'aborted: user left', 'user left', true]);
    }));

  it('fails at once for an aborted signal and rejects a bad one', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown[]> {
        let first: unknown;
        try {
          yield* sleep(1, 'x', { signal: AbortSignal.abort('gone') });
        } catch (e) {
          first = (e as Error).message;
        }
        let second: unknown;
        try {
          sleep(1, 'x', { signal: 'nope' as never });
        } catch (e) {
          second = (e as Error).name;
        }
        return [first, second, yield* sleep(1, 'still works', { signal: new AbortController().signal })];
      }
      expect(await run(loop, main)).toEqual(['aborted: gone', 'TypeError', 'still works']);
    }));
});
