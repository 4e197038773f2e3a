/** gather, wait, waitFor, shield, asCompleted: conformance on every loop. */
import { describe, expect, it } from 'vitest';
import {
  CancelledError,
  TimeoutError,
  asCompleted,
  createTask,
  currentTask,
  gather,
  getRunningLoop,
  shield,
  sleep,
  wait,
  waitFor,
  type Coroutine,
  type EventLoop,
  type Future,
} from '../../lib/index.js';
import { LOOPS, withLoop } from '../loops.js';

const run = <T>(loop: EventLoop, main: () => Coroutine<T>) => loop.runUntilComplete(main());

function* after<T>(ms: number, value: T, log?: string[]): Coroutine<T> {
  yield* sleep(ms);
  log?.push(String(value));
  return value;
}

function* failAfter(ms: number, message: string): Coroutine<never> {
  yield* sleep(ms);
  throw new Error(message);
}

describe.each(LOOPS)('$name loop: gather', (kind) => {
  it('returns results in input order, typed per element', () =>
    withLoop(kind, async (loop) => {
      function* main() {
        const [a, b, c, d] = yield* gather([after(20, 'slow'), after(1, 42), Promise.resolve(true), sleep(5, 'f')]);
        const typed: [string, number, boolean, string] = [a, b, c, d];
        return typed;
      }
      expect(await run(loop, main)).toEqual(['slow', 42, true, 'f']);
    }));

  it('resolves an empty list to []', () =>
    withLoop(kind, async (loop) => {
      expect(await run(loop, function* () { return yield* gather([]); })).toEqual([]);
    }));

  it('propagates the first error and lets the others keep running', () =>
    withLoop(kind, async (loop) => {
      const log: string[] = [];
      function* main(): Coroutine<string> {
        const slow = createTask(after(20, 'slow finished', log));
        try {
          yield* gather([failAfter(2, 'first'), failAfter(10, 'second'), slow]);
          return 'no error';
        } catch (e) {
          expect(slow.done()).toBe(false); // not cancelled by gather
          yield* slow;
          return (e as Error).message;
        }
      }
      expect(await run(loop, main)).toBe('first');
      expect(log).toEqual(['slow finished']);
    }));

  it('puts errors in the results with returnExceptions', () =>
    withLoop(kind, async (loop) => {
      function* main() {
        const child = createTask(after(50, 'never'));
        loop.callLater(1, () => child.cancel('stopped'));
        return yield* gather([after(1, 'ok'), failAfter(2, 'bad'), child], { returnExceptions: true });
      }
      const [ok, bad, cancelled] = await run(loop, main);
      expect(ok).toBe('ok');
      expect((bad as Error).message).toBe('bad');
      expect(cancelled).toBeInstanceOf(CancelledError);
      expect((cancelled as Error).message).toBe('stopped');
    }));

  it('cancels every child when the gather is cancelled', () =>
    withLoop(kind, async (loop) => {
      const children = [createTaskOn(loop, after(100, 1)), createTaskOn(loop, after(100, 2))];
      const g = gather(children);
      loop.callLater(1, () => expect(g.cancel('bye')).toBe(true));
      await expect(loop.runUntilComplete(g)).rejects.toThrow(CancelledError);
      expect(children.every((c) => c.cancelled())).toBe(true);
    }));

  it('fails with CancelledError when a child is cancelled', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<string> {
        const child = createTask(after(50, 'x'));
        loop.callLater(1, () => child.cancel());
        try {
          yield* gather([child, after(5, 'y')]);
          return 'no error';
        } catch (e) {
          return (e as Error).name;
        }
      }
      // The awaiting task sees CancelledError; it caught it here.
      expect(await run(loop, main)).toBe('CancelledError');
    }));

  it('counts the same awaitable once', () =>
    withLoop(kind, async (loop) => {
      function* main() {
        const t = createTask(after(1, 'same'));
        return yield* gather([t, t, t]);
      }
      expect(await run(loop, main)).toEqual(['same', 'same', 'same']);
    }));

  it('rejects bad input', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<string[]> {
        const errors: string[] = [];
        for (const f of [() => gather('ab' as never), () => gather([1 as never]), () => gather([], { returnExceptions: 1 as never })]) {
          try {
            f();
          } catch (e) {
            errors.push((e as Error).name);
          }
        }
        yield* sleep(0);
        return errors;
      }
      expect(await run(loop, main)).toEqual(['TypeError', 'TypeError', 'TypeError']);
    }));
});

function createTaskOn<T>(loop: EventLoop, coro: Coroutine<T>) {
  return loop.createTask(coro);
}

describe.each(LOOPS)('$name loop: wait', (kind) => {
  it('waits for all by default and cancels nothing on timeout', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const fast = createTask(after(1, 'fast'));
        const slow = createTask(after(200, 'slow'));
        const [done, pending] = yield* wait([fast, slow], { timeout: 20 });
        const out = [[...done].length, [...pending].length, done.has(fast), pending.has(slow), slow.cancelled()];
        slow.cancel();
        return out;
      }
      expect(await run(loop, main)).toEqual([1, 1, true, true, false]);
    }));

  it('returns at the first completion or the first exception', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const a = createTask(after(5, 'a'));
        const b = createTask(after(30, 'b'));
        const [done1] = yield* wait([a, b], { returnWhen: 'FIRST_COMPLETED' });
        const c = createTask(after(1, 'c ok'));
        const d = createTask(failAfter(5, 'd failed'));
        const e = createTask(after(60, 'e'));
        const [done2, pending2] = yield* wait([c, d, e], { returnWhen: 'FIRST_EXCEPTION' });
        const out = [[...done1].map((f) => f.result()), [...done2].length, pending2.has(e), d.exception() !== null];
        b.cancel();
        e.cancel();
        return out;
      }
      expect(await run(loop, main)).toEqual([['a'], 2, true, true]);
    }));

  it('builds its sets when the waiting coroutine resumes, as asyncio does', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const f1 = loop.createFuture<number>();
        const f2 = loop.createFuture<number>();
        // f1 releases the wait; f2 finishes in the next iteration, before the waiter resumes.
        loop.callSoon(() => {
          f1.setResult(1);
          loop.callSoon(() => f2.setResult(2));
        });
        const [done, pending] = yield* wait([f1, f2], { returnWhen: 'FIRST_COMPLETED' });
        return [[...done].map((f) => f.result()).sort(), pending.size];
      }
      expect(await run(loop, main)).toEqual([[1, 2], 0]);
    }));

  it('refuses coroutines, empty input and a bad returnWhen', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<string[]> {
        const errors: string[] = [];
        const t = createTask(after(1, 1));
        for (const f of [
          () => wait([after(1, 1)] as never),
          () => wait([]),
          () => wait([t], { returnWhen: 'SOMETIME' as never }),
          () => wait([t], { timeout: 'soon' as never }),
        ]) {
          try {
            f();
          } catch (e) {
            errors.push((e as Error).name);
          }
        }
        yield* t;
        return errors;
      }
      expect(await run(loop, main)).toEqual(['TypeError', 'RangeError', 'RangeError', 'TypeError']);
    }));
});

describe.each(LOOPS)('$name loop: waitFor', (kind) => {
  it('returns the result in time', () =>
    withLoop(kind, async (loop) => {
      expect(await run(loop, function* () { return yield* waitFor(after(1, 'quick'), 1000); })).toBe('quick');
      expect(await run(loop, function* () { return yield* waitFor(sleep(1, 'no limit'), null); })).toBe('no limit');
    }));

  it('cancels the awaitable, waits for it to finish cancelling, then throws TimeoutError', () =>
    withLoop(kind, async (loop) => {
      const log: string[] = [];
      function* slowCleanup(): Coroutine<void> {
        try {
          yield* sleep(1000);
        } catch (e) {
          log.push('cancelled');
          yield* sleep(10); // cleanup that takes a while
          log.push('cleaned up');
          throw e;
        }
      }
      function* main(): Coroutine<string> {
        const inner = createTask(slowCleanup());
        try {
          yield* waitFor(inner, 5);
          return 'no timeout';
        } catch (e) {
          log.push(`caught ${(e as Error).name}`);
          return `${inner.cancelled()}`;
        }
      }
      expect(await run(loop, main)).toBe('true');
      expect(log).toEqual(['cancelled', 'cleaned up', 'caught TimeoutError']);
    }));

  it('times out at once with 0, cancelling the awaitable', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const t = createTask(after(5, 'x'));
        try {
          yield* waitFor(t, 0);
        } catch (e) {
          return [(e as Error).name, t.cancelled()];
        }
      }
      expect(await run(loop, main)).toEqual(['TimeoutError', true]);
      const doneAlready = loop.createFuture<string>();
      doneAlready.setResult('done');
      expect(await run(loop, function* () { return yield* waitFor(doneAlready, 0); })).toBe('done');
    }));

  it('propagates the error of the awaitable', () =>
    withLoop(kind, async (loop) => {
      await expect(run(loop, function* () { return yield* waitFor(failAfter(1, 'inner error'), 100); })).rejects.toThrow(
        'inner error',
      );
    }));

  it('is awaitable from async functions', () =>
    withLoop(kind, async (loop) => {
      const t = loop.createTask(async () => {
        const ok = await waitFor(sleep(1, 'ok'), 100);
        try {
          await waitFor(sleep(100), 5);
        } catch (e) {
          return [ok, (e as Error).name];
        }
      });
      expect(await loop.runUntilComplete(t)).toEqual(['ok', 'TimeoutError']);
    }));

  it('lets an outer cancel through as CancelledError, not TimeoutError', () =>
    withLoop(kind, async (loop) => {
      const t = loop.createTask(function* () {
        yield* waitFor(sleep(1000), 500);
      });
      loop.callLater(5, () => t.cancel('outer'));
      await expect(loop.runUntilComplete(t)).rejects.toThrow(CancelledError);
    }));

  it('rejects bad arguments', () =>
    withLoop(kind, async (loop) => {
      expect(() => waitFor(5 as never, 10)).toThrow(TypeError);
      expect(() => waitFor(loop.createFuture(), 'x' as never)).toThrow(TypeError);
      expect(() => waitFor(loop.createFuture(), NaN)).toThrow(RangeError);
    }));
});

describe.each(LOOPS)('$name loop: shield', (kind) => {
  it('keeps the inner awaitable running when the outer is cancelled', () =>
    withLoop(kind, async (loop) => {
      const log: string[] = [];
      let inner!: Future<string>;
      const outerTask = loop.createTask(function* () {
        inner = createTask(after(20, 'inner done', log));
        return yield* shield(inner);
      });
      loop.callLater(5, () => outerTask.cancel());
      await expect(loop.runUntilComplete(outerTask)).rejects.toThrow(CancelledError);
      expect(inner.cancelled()).toBe(false);
      expect(await loop.runUntilComplete(inner)).toBe('inner done');
      expect(log).toEqual(['inner done']);
    }));

  it('passes results and errors through', () =>
    withLoop(kind, async (loop) => {
      expect(await run(loop, function* () { return yield* shield(after(1, 'v')); })).toBe('v');
      await expect(run(loop, function* () { return yield* shield(failAfter(1, 'e')); })).rejects.toThrow('e');
    }));
});

describe.each(LOOPS)('$name loop: asCompleted', (kind) => {
  it('yields results in completion order', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<string[]> {
        const order: string[] = [];
        for (const next of asCompleted([after(30, 'c'), after(1, 'a'), after(10, 'b')])) order.push(yield* next);
        return order;
      }
      expect(await run(loop, main)).toEqual(['a', 'b', 'c']);
    }));

  it('hands the next result to whichever awaitable is awaited first (lazy, as in asyncio 3.13)', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<string[]> {
        const order: string[] = [];
        const items = [...asCompleted([after(1, 'a'), after(10, 'b'), after(20, 'c')])];
        for (const next of items.reverse()) order.push(yield* next);
        return order;
      }
      expect(await run(loop, main)).toEqual(['a', 'b', 'c']);
      // From async code too, with await.
      const t = loop.createTask(async () => {
        const order: string[] = [];
        for (const next of asCompleted([after(15, 'y'), after(1, 'x')])) order.push(await next);
        return order;
      });
      expect(await loop.runUntilComplete(t)).toEqual(['x', 'y']);
    }));

  it('yields the completed futures themselves in for await', () =>
    withLoop(kind, async (loop) => {
      const t = loop.createTask(async () => {
        const slow = createTask(after(20, 'slow'));
        const fast = createTask(after(1, 'fast'));
        const seen: unknown[] = [];
        // TypeScript types for-await items as awaited values; the items really are the Futures.
        for await (const item of asCompleted([slow, fast]) as AsyncIterable<unknown>) {
          const f = item as Future<string>;
          seen.push([f === fast || f === slow, f.result()]);
        }
        return seen;
      });
      expect(await loop.runUntilComplete(t)).toEqual([
        [true, 'fast'],
        [true, 'slow'],
      ]);
    }));

  it('raises TimeoutError for what is still pending at the timeout', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown[]> {
        const out: unknown[] = [];
        const slow = createTask(after(200, 'slow'));
        for (const next of asCompleted([after(1, 'fast'), slow], { timeout: 20 })) {
          try {
            out.push(yield* next);
          } catch (e) {
            out.push((e as Error).name);
          }
        }
        slow.cancel();
        return out;
      }
      expect(await run(loop, main)).toEqual(['fast', 'TimeoutError']);
    }));
});

describe.each(LOOPS)('$name loop: running in the current task', (kind) => {
  it('runs waitFor of a coroutine inline, in the calling task', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<boolean> {
        const me = currentTask();
        return yield* waitFor(
          (function* () {
            yield* sleep(1);
            return currentTask() === me;
          })(),
          100,
        );
      }
      expect(await run(loop, main)).toBe(true);
      expect(getRunningLoopSafe()).toBeNull();
    }));
});

function getRunningLoopSafe(): EventLoop | null {
  try {
    return getRunningLoop();
  } catch {
    return null;
  }
}
