/**
 * Executor conformance (asyncio's run_in_executor / to_thread with
 * concurrent.futures pools), on every loop, with real worker threads and
 * worker processes. Worker code lives in test/fixtures/work.mjs (plain
 * JavaScript: workers cannot load .ts). Pools stay small (1–2 workers).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  CancelledError,
  Future,
  sleep,
  type Coroutine,
  type EventLoop,
} from '../../lib/index.js';
import * as aio from '../../lib/index.js';
import {
  ProcessPoolExecutor,
  ThreadPoolExecutor,
  WorkerExitedError,
  toThread,
  type ModuleWork,
  type Work,
} from '../../lib/executors.js';
import { DIST, runChild } from '../child.js';
import { LOOPS, withLoop } from '../loops.js';

const WORK = new URL('../fixtures/work.mjs', import.meta.url);
const WORK_PATH = fileURLToPath(WORK);
const mod = (name: string): ModuleWork => ({ module: WORK, export: name });
const SHA256_ABC = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';

/** The loop methods this suite needs (BaseEventLoop has them). */
type ExecLoop = EventLoop & {
  runInExecutor<R = unknown>(executor: unknown, work: Work, ...args: unknown[]): Future<R>;
  setDefaultExecutor(executor: unknown): void;
  _defaultExecutor: unknown;
};

/** Run `main` on `loop`: a coroutine, or a Future (submitted from inside the running loop). */
const run = <T>(loop: EventLoop, main: () => Coroutine<T> | Future<T>) =>
  loop.runUntilComplete(
    (function* (): Coroutine<T> {
      return yield* main();
    })(),
  );

/** Run `main` and return what it threw. */
async function rejection(loop: EventLoop, main: () => Coroutine<unknown> | Future<unknown>): Promise<any> {
  try {
    await run(loop, main);
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

function* waitUntil(cond: () => boolean, what: string): Coroutine<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    yield* sleep(5);
  }
}

describe.each(LOOPS)('$name loop: ThreadPoolExecutor', (kind) => {
  let pool: ThreadPoolExecutor;
  beforeAll(() => {
    pool = new ThreadPoolExecutor({ maxWorkers: 2 });
  });
  afterAll(() => pool.shutdown());

  it('runs a module export named by { module, export }, a path#export string, a URL hash or a node: URL', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown[]> {
        const fut = pool.submit<number>(mod('add'), 2, 3);
        expect(fut).toBeInstanceOf(Future);
        expect(fut.getLoop()).toBe(loop);
        return [
          yield* fut,
          yield* pool.submit(`${WORK_PATH}#hash`, 'abc'),
          yield* pool.submit(new URL('../fixtures/work.mjs#add', import.meta.url), 'a', 'b'),
          yield* pool.submit(WORK_PATH, 21), // the default export
          yield* pool.submit({ module: WORK_PATH, export: 'later' }, 1, 'async'),
          yield* pool.submit({ module: 'node:path', export: 'basename' }, '/x/y.txt'),
        ];
      }
      expect(await run(loop, main)).toEqual([5, SHA256_ABC, 'ab', 42, 'async', 'y.txt']);
    }));

  it('runs a self-contained function: arrow, async, with require() and import()', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown[]> {
        return [
          yield* pool.submit((a: number, b: number) => a * b, 6, 7),
          yield* pool.submit(async (ms: number) => {
            await new Promise((r) => setTimeout(r, ms));
            return 'slept';
          }, 5),
          yield* pool.submit(function hashIt(text: string) {
            return require('node:crypto').createHash('sha256').update(text).digest('hex');
          }, 'abc'),
          // Built from a string: vitest rewrites import() in this file's own functions.
          yield* pool.submit(new Function("return async () => (await import('node:worker_threads')).isMainThread")()),
          yield* pool.submit((m: Map<string, Date>) => m.get('d')!.getUTCFullYear(), new Map([['d', new Date(0)]])),
        ];
      }
      expect(await run(loop, main)).toEqual([42, 'slept', SHA256_ABC, false, 1970]);
    }));

  it('runs jobs on other threads, up to maxWorkers at a time, and queues the rest', () =>
    withLoop(kind, async (loop) => {
      const local = new ThreadPoolExecutor({ maxWorkers: 2 });
      function* main(): Coroutine<unknown> {
        const jobs = [100, 100, 0].map(() => local.submit(mod('block'), 60, 'x'));
        expect(local.workerCount).toBe(2);
        expect(local.queueSize).toBe(1);
        const ids = [local.submit(mod('whoami')), local.submit(mod('whoami'))];
        for (const job of jobs) yield* job;
        const who = [yield* ids[0]!, yield* ids[1]!] as { threadId: number; pid: number }[];
        return who;
      }
      try {
        const who = (await run(loop, main)) as { threadId: number; pid: number }[];
        for (const w of who) {
          expect(w.pid).toBe(process.pid);
          expect(w.threadId).toBeGreaterThan(0);
        }
        expect(local.workerCount).toBe(2);
      } finally {
        await local.shutdown();
      }
    }));

  it('fails with the worker error: class, name, message, stack, cause and code', () =>
    withLoop(kind, async (loop) => {
      const type = await rejection(loop, function* () {
        yield* pool.submit(mod('fail'), 'TypeError', 'bad type');
      });
      expect(type).toBeInstanceOf(TypeError);
      expect(type.message).toBe('bad type');
      expect(type.stack).toMatch(/^TypeError: bad type\n/);
      expect(type.stack).toContain('work.mjs');

      const custom = await rejection(loop, function* () {
        yield* pool.submit(mod('failCustom'), 'out of range');
      });
      expect(custom).toBeInstanceOf(RangeError); // the nearest built-in class
      expect(custom.name).toBe('ValidationError');
      expect(custom.message).toBe('out of range');
      expect(custom.code).toBe('E_VALIDATION');
      expect(custom.cause).toBeInstanceOf(Error);
      expect(custom.cause.message).toBe('root cause');
      expect(custom.stack).toMatch(/at failCustom \(.*work\.mjs/);

      expect(await rejection(loop, () => pool.submit(mod('throwValue')))).toEqual({ code: 42 });

      const captured = 1;
      const closure = await rejection(loop, () => pool.submit(() => captured + 1));
      expect(closure).toBeInstanceOf(ReferenceError);
      expect(closure.message).toMatch(/captured is not defined/);

      const missing = await rejection(loop, () => pool.submit(mod('nope')));
      expect(missing).toBeInstanceOf(TypeError);
      expect(missing.message).toMatch(/has no function export 'nope'/);
      expect((await rejection(loop, () => pool.submit(mod('notAFunction')))).message).toMatch(/found number/);

      const notFound = await rejection(loop, () => pool.submit('/nonexistent/aioloop-work.mjs#x'));
      expect(notFound.code).toBe('ERR_MODULE_NOT_FOUND');
    }));

  it('fails the job with a TypeError when the result cannot be sent back', () =>
    withLoop(kind, async (loop) => {
      const error = await rejection(loop, () => pool.submit(mod('unsendable')));
      expect(error).toBeInstanceOf(TypeError);
      expect(error.message).toMatch(/work\.mjs#unsendable could not be sent back/);
      expect(await run(loop, () => pool.submit(mod('add'), 1, 1))).toBe(2); // the worker is fine
    }));

  it('refuses synchronously, with a TypeError, what cannot be sent', () =>
    withLoop(kind, async () => {
      const bad: [unknown, RegExp][] = [
        [Math.max, /native or bound/],
        [((a: number) => a).bind(null), /native or bound/],
        [class Work {}, /is a class/],
        [{ m(x: number) { return x; } }.m, /not a function expression/],
        [Object.getOwnPropertyDescriptor({ get g() { return 1; } }, 'g')!.get, /not a function expression/],
        [function* gen() {}, /generator function/],
        [async function* agen() {}, /generator function/],
        ['work.mjs#add', /absolute path.*new URL/],
        ['https://example.com/work.js#add', /file:, node: or data:/],
        [{ module: WORK, export: '' }, /export must be a non-empty string/],
        [{ module: 42 }, /module must be an absolute path or a URL/],
        [42, /work must be a self-contained function/],
        [null, /work must be a self-contained function/],
      ];
      for (const [work, message] of bad) {
        expect(() => pool.submit(work as Work), String(message)).toThrow(TypeError);
        expect(() => pool.submit(work as Work)).toThrow(message);
      }
      expect(() => pool.submit((f: unknown) => f, () => 1)).toThrow(/arguments of function .* cannot be sent/);
      expect(() => pool.submit(mod('roundTrip'), Symbol('s'))).toThrow(TypeError);
      expect(() => pool.submitWith(null as never, mod('add'))).toThrow(TypeError);
      expect(() => pool.submitWith({ signal: 1 as never }, mod('add'))).toThrow(TypeError);
      expect(() => pool.submitWith({ loop: {} as never }, mod('add'))).toThrow(/option loop must be an event loop/);
      expect(() => new ThreadPoolExecutor({ maxWorkers: 0 })).toThrow(RangeError);
      expect(() => new ThreadPoolExecutor({ maxWorkers: 1.5 })).toThrow(RangeError);
      expect(() => new ThreadPoolExecutor({ maxWorkers: '2' as never })).toThrow(TypeError);
      expect(() => pool.shutdown('yes' as never)).toThrow(TypeError);
      expect(pool.queueSize).toBe(0);
    }));

  it('snapshots the arguments at submit time', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const arg = { n: 1 };
        const fut = pool.submit(mod('roundTrip'), arg);
        arg.n = 2;
        return yield* fut;
      }
      expect(await run(loop, main)).toEqual({ n: 1 });
    }));

  it('cancelling a queued job removes it: the worker never runs it', () =>
    withLoop(kind, async (loop) => {
      const one = new ThreadPoolExecutor({ maxWorkers: 1 });
      function* main(): Coroutine<unknown[]> {
        const first = one.submit(mod('block'), 50, 'first');
        const dropped = one.submit(mod('record'), 'dropped');
        const kept = one.submit(mod('record'), 'kept');
        expect(one.queueSize).toBe(2);
        expect(dropped.cancel()).toBe(true);
        expect(one.queueSize).toBe(1); // removed at once, not when the worker gets there
        const ac = new AbortController();
        const aborted = one.submitWith({ signal: ac.signal }, mod('record'), 'aborted');
        ac.abort(new Error('no longer needed'));
        const got = [yield* first, yield* kept, yield* one.submit(mod('records'))];
        let error: unknown;
        try {
          yield* aborted;
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(CancelledError);
        expect((error as Error).message).toMatch(/no longer needed/);
        expect(dropped.cancelled()).toBe(true);
        return got;
      }
      try {
        // 'kept' is the only tag the worker ever recorded.
        expect(await run(loop, main)).toEqual(['first', 1, ['kept']]);
      } finally {
        await one.shutdown();
      }
    }));

  it('cancelling a running job discards its result; the worker then takes the next job', () =>
    withLoop(kind, async (loop) => {
      const one = new ThreadPoolExecutor({ maxWorkers: 1 });
      function* main(): Coroutine<unknown> {
        const running = one.submit(mod('block'), 80, 'late');
        const next = one.submit(mod('add'), 2, 2);
        yield* sleep(20);
        running.cancel('not needed');
        expect(running.cancelled()).toBe(true);
        expect(yield* next).toBe(4);
        expect(() => running.result()).toThrow(CancelledError);
        return one.workerCount;
      }
      try {
        expect(await run(loop, main)).toBe(1); // the same worker, not a replacement
      } finally {
        await one.shutdown();
      }
    }));

  it('a thread that exits or throws outside its job fails that job and is replaced', () =>
    withLoop(kind, async (loop) => {
      const one = new ThreadPoolExecutor({ maxWorkers: 1 });
      try {
        const exited = await rejection(loop, function* () {
          const crash = one.submit(mod('exit'), 3);
          const behind = one.submit(mod('add'), 1, 2); // queued behind the crash
          try {
            yield* crash;
          } finally {
            expect(yield* behind).toBe(3);
          }
        });
        expect(exited).toBeInstanceOf(WorkerExitedError);
        expect(exited.exitCode).toBe(3);
        expect(exited.message).toMatch(/thread worker \d+ exited with code 3 while running .*work\.mjs#exit/);

        const stray = await rejection(loop, () => one.submit(mod('strayError'), 'stray'));
        expect(stray).toBeInstanceOf(TypeError);
        expect(stray.message).toBe('stray');
        expect(await run(loop, () => one.submit(mod('add'), 2, 3))).toBe(5);
      } finally {
        await one.shutdown();
      }
    }));

  it('shutdown(true) runs what was queued, then refuses new work and ends the workers', () =>
    withLoop(kind, async (loop) => {
      const one = new ThreadPoolExecutor({ maxWorkers: 1 });
      const futs = [one.submitWith({ loop }, mod('block'), 30, 'a'), one.submitWith({ loop }, mod('add'), 'b', 'c')];
      const done = one.shutdown();
      expect(() => one.submit(mod('add'), 1, 2)).toThrow(/cannot schedule new futures after shutdown/);
      await done;
      expect(futs.map((f) => f.result())).toEqual(['a', 'bc']);
      expect(one.workerCount).toBe(0);
      await one.shutdown(); // again: harmless
    }));

  it('shutdown(true, { terminate: true }) cancels queued and running jobs and stops the workers now', () =>
    withLoop(kind, async (loop) => {
      const one = new ThreadPoolExecutor({ maxWorkers: 1 });
      function* main(): Coroutine<Future<unknown>[]> {
        const futs = [one.submit(mod('block'), 10_000), one.submit(mod('add'), 1, 2)];
        yield* sleep(20);
        return futs;
      }
      const futs = await run(loop, main);
      const t0 = performance.now();
      await one.shutdown(true, { terminate: true });
      expect(performance.now() - t0).toBeLessThan(5000); // the 10 s job was interrupted
      expect(futs.map((f) => f.cancelled())).toEqual([true, true]);
      expect(one.workerCount).toBe(0);
    }));

  it('shutdown(false) returns at once and lets every job finish; cancelFutures drops what has not started (concurrent.futures)', () =>
    withLoop(kind, async (loop) => {
      const dir = mkdtempSync(join(tmpdir(), 'aioloop-exec-'));
      try {
        const one = new ThreadPoolExecutor({ maxWorkers: 1 });
        const futs = [
          one.submitWith({ loop }, mod('blockThenTouch'), 100, join(dir, 'running')),
          one.submitWith({ loop }, mod('touch'), join(dir, 'queued')),
        ];
        await run(loop, () => sleep(20)); // the first job runs
        const t0 = performance.now();
        await one.shutdown(false);
        expect(performance.now() - t0).toBeLessThan(50); // did not wait for the jobs
        expect(() => one.submit(mod('add'), 1, 2)).toThrow(/after shutdown/);
        expect(await loop.runUntilComplete(futs[1]!)).toBe(join(dir, 'queued'));
        expect(futs[0]!.result()).toBe(join(dir, 'running'));
        await one.shutdown(); // now: the workers are gone
        expect(one.workerCount).toBe(0);

        const two = new ThreadPoolExecutor({ maxWorkers: 1 });
        const started = two.submitWith({ loop }, mod('blockThenTouch'), 100, join(dir, 'started'));
        const dropped = two.submitWith({ loop }, mod('touch'), join(dir, 'dropped'));
        await run(loop, () => sleep(20));
        await two.shutdown(true, { cancelFutures: true });
        expect([started.result(), dropped.cancelled()]).toEqual([join(dir, 'started'), true]);
        expect([existsSync(join(dir, 'started')), existsSync(join(dir, 'dropped'))]).toEqual([true, false]);
        expect(() => two.shutdown(true, { terminate: 'yes' as never })).toThrow(TypeError);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }));

  it('an error thrown in an idle worker thread is logged, and the worker replaced', () =>
    withLoop(kind, async (loop) => {
      const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
      const one = new ThreadPoolExecutor({ maxWorkers: 1 });
      try {
        const leaveStray = () => {
          setTimeout(() => {
            throw new Error('stray after job');
          }, 10);
          return 'ok';
        };
        expect(await loop.runUntilComplete(one.submitWith({ loop }, leaveStray))).toBe('ok');
        for (let i = 0; i < 100 && logged.mock.calls.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
        expect(String(logged.mock.calls[0]![0])).toMatch(/^aioloop: thread worker \d+ died while idle:$/);
        expect((logged.mock.calls[0]![1] as Error).message).toBe('stray after job');
        expect(await loop.runUntilComplete(one.submitWith({ loop }, (a: number) => a + 1, 1))).toBe(2);
      } finally {
        await one.shutdown();
        logged.mockRestore();
      }
    }));

  it('await using: an executor shuts down, waiting for its jobs, at the end of the block', () =>
    withLoop(kind, async (loop) => {
      const pool2 = new ThreadPoolExecutor({ maxWorkers: 1 });
      const fut = pool2.submitWith({ loop }, mod('block'), 30, 'done');
      await pool2[Symbol.asyncDispose]();
      expect([fut.result(), pool2.workerCount]).toEqual(['done', 0]);
    }));

  it('submitWith({ loop }) makes a Future of that loop, usable before the loop runs', () =>
    withLoop(kind, async (loop) => {
      const fut = pool.submitWith({ loop }, (a: number) => a + 1, 1);
      expect(fut.getLoop()).toBe(loop);
      expect(await loop.runUntilComplete(fut)).toBe(2);
      expect(await pool.submitWith({ loop }, mod('add'), 2, 2)).toBe(4); // plain await, loop not running
    }));
});

describe.each(LOOPS)('$name loop: ProcessPoolExecutor', (kind) => {
  let pool: ProcessPoolExecutor;
  beforeAll(() => {
    pool = new ProcessPoolExecutor({ maxWorkers: 2 });
  });
  afterAll(() => pool.shutdown());

  it('runs module exports and self-contained functions in another process', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown[]> {
        return [
          yield* pool.submit(mod('add'), 2, 3),
          yield* pool.submit(`${WORK_PATH}#hash`, 'abc'),
          yield* pool.submit((a: number) => process.pid + a, 0),
          ((yield* pool.submit(mod('whoami'))) as { pid: number }).pid,
        ];
      }
      const [sum, digest, pid1, pid2] = await run(loop, main);
      expect([sum, digest]).toEqual([5, SHA256_ABC]);
      expect(pid1).not.toBe(process.pid);
      expect(pid2).not.toBe(process.pid);
    }));

  it('carries values by v8 serialization both ways', () =>
    withLoop(kind, async (loop) => {
      const value = {
        map: new Map<string, unknown>([['k', new Set([1, 2])]]),
        date: new Date(86_400_000),
        big: 2n ** 70n,
        bytes: new Uint8Array([1, 2, 3]),
        re: /a+b/gi,
        nested: [{ deep: [null, undefined, NaN] }],
      };
      expect(await run(loop, () => pool.submit(mod('roundTrip'), value))).toEqual(value);
    }));

  it('fails with the worker error: class, name, message, stack and code', () =>
    withLoop(kind, async (loop) => {
      const custom = await rejection(loop, () => pool.submit(mod('failCustom'), 'nope'));
      expect(custom).toBeInstanceOf(RangeError);
      expect(custom.name).toBe('ValidationError');
      expect(custom.message).toBe('nope');
      expect(custom.code).toBe('E_VALIDATION');
      expect(custom.stack).toMatch(/at failCustom \(.*work\.mjs/);
      const syntax = await rejection(loop, () => pool.submit(() => JSON.parse('{')));
      expect(syntax).toBeInstanceOf(SyntaxError);
      expect(syntax.stack).toMatch(/^SyntaxError: /);
      const unsendable = await rejection(loop, () => pool.submit(mod('unsendable')));
      expect(unsendable).toBeInstanceOf(TypeError);
      expect(unsendable.message).toMatch(/could not be sent back/);
      expect(() => pool.submit(mod('roundTrip'), { f() {} })).toThrow(TypeError);
    }));

  it('a crashed or killed worker fails its job; the pool replaces it and runs the queue', () =>
    withLoop(kind, async (loop) => {
      const one = new ProcessPoolExecutor({ maxWorkers: 1 });
      try {
        function* main(): Coroutine<unknown[]> {
          const before = ((yield* one.submit(mod('whoami'))) as { pid: number }).pid;
          const crash = one.submit(mod('exit'), 3);
          const killed = one.submit(mod('kill'));
          const behind = one.submit(mod('whoami'));
          const errors: any[] = [];
          for (const f of [crash, killed]) {
            try {
              yield* f;
            } catch (e) {
              errors.push(e);
            }
          }
          const after = ((yield* behind) as { pid: number }).pid;
          return [before, after, ...errors];
        }
        const [before, after, exited, killed] = (await run(loop, main)) as [number, number, any, any];
        expect(exited).toBeInstanceOf(WorkerExitedError);
        expect(exited.exitCode).toBe(3);
        expect(exited.signal).toBe(null);
        expect(exited.message).toMatch(/process worker \d+ exited with code 3 while running .*work\.mjs#exit/);
        expect(killed).toBeInstanceOf(WorkerExitedError);
        expect(killed.signal).toBe('SIGKILL');
        expect(killed.message).toMatch(/was killed by SIGKILL/);
        expect(after).not.toBe(before);
        expect(one.workerCount).toBe(1);
      } finally {
        await one.shutdown();
      }
    }));

  it('an error thrown outside the job fails that job; the worker is replaced', () =>
    withLoop(kind, async (loop) => {
      const one = new ProcessPoolExecutor({ maxWorkers: 1 });
      try {
        const stray = await rejection(loop, () => one.submit(mod('strayError'), 'stray'));
        expect(stray).toBeInstanceOf(TypeError);
        expect(stray.message).toBe('stray');
        expect(await run(loop, () => one.submit(mod('add'), 1, 2))).toBe(3);
      } finally {
        await one.shutdown();
      }
    }));

  it('cancelling a queued job removes it: its side effect never happens', () =>
    withLoop(kind, async (loop) => {
      const dir = mkdtempSync(join(tmpdir(), 'aioloop-exec-'));
      const one = new ProcessPoolExecutor({ maxWorkers: 1 });
      try {
        function* main(): Coroutine<void> {
          const first = one.submit(mod('block'), 50);
          const cancelled = one.submit(mod('touch'), join(dir, 'cancelled'));
          const kept = one.submit(mod('touch'), join(dir, 'kept'));
          cancelled.cancel();
          yield* first;
          yield* kept;
        }
        await run(loop, main);
        await one.shutdown(); // nothing left that could still run it
        expect(existsSync(join(dir, 'kept'))).toBe(true);
        expect(existsSync(join(dir, 'cancelled'))).toBe(false);
      } finally {
        await one.shutdown();
        rmSync(dir, { recursive: true, force: true });
      }
    }));

  it('cancelling a running job kills its worker (killOnCancel) and a new one takes the queue', () =>
    withLoop(kind, async (loop) => {
      const one = new ProcessPoolExecutor({ maxWorkers: 1 });
      try {
        function* main(): Coroutine<number[]> {
          const first = ((yield* one.submit(mod('whoami'))) as { pid: number }).pid;
          const running = one.submit(mod('later'), 10_000, 'never');
          const behind = one.submit(mod('whoami'));
          yield* sleep(20);
          const t0 = performance.now();
          running.cancel();
          const second = ((yield* behind) as { pid: number }).pid;
          expect(performance.now() - t0).toBeLessThan(5000);
          return [first, second];
        }
        const [first, second] = await run(loop, main);
        expect(second).not.toBe(first);
      } finally {
        await one.shutdown();
      }
    }));

  it('with killOnCancel: false a cancelled running job finishes in the same worker', () =>
    withLoop(kind, async (loop) => {
      const one = new ProcessPoolExecutor({ maxWorkers: 1, killOnCancel: false });
      try {
        function* main(): Coroutine<number[]> {
          const first = ((yield* one.submit(mod('whoami'))) as { pid: number }).pid;
          const running = one.submit(mod('later'), 60, 'discarded');
          yield* sleep(20);
          running.cancel();
          const second = ((yield* one.submit(mod('whoami'))) as { pid: number }).pid;
          return [first, second];
        }
        const [first, second] = await run(loop, main);
        expect(second).toBe(first);
      } finally {
        await one.shutdown();
      }
    }));

  it('shutdown(true) waits for the queue; terminate kills what runs', () =>
    withLoop(kind, async (loop) => {
      const a = new ProcessPoolExecutor({ maxWorkers: 1 });
      const queued = [a.submitWith({ loop }, mod('add'), 1, 2), a.submitWith({ loop }, mod('block'), 20, 'b')];
      await a.shutdown(true);
      expect(queued.map((f) => f.result())).toEqual([3, 'b']);
      expect(() => a.submit(mod('add'), 1, 2)).toThrow(/after shutdown/);

      const b = new ProcessPoolExecutor({ maxWorkers: 1 });
      const slow = b.submitWith({ loop }, mod('later'), 10_000, 'never');
      const waiting = b.submitWith({ loop }, mod('add'), 1, 2);
      const t0 = performance.now();
      await b.shutdown(true, { terminate: true });
      expect(performance.now() - t0).toBeLessThan(5000);
      expect([slow.cancelled(), waiting.cancelled(), b.workerCount]).toEqual([true, true, 0]);
    }));
});

describe.each(LOOPS)('$name loop: toThread and loop.runInExecutor', (kind) => {
  it('the package exports the executors', () => {
    const pkg = aio as Record<string, unknown>;
    expect(pkg.ThreadPoolExecutor).toBe(ThreadPoolExecutor);
    expect(pkg.ProcessPoolExecutor).toBe(ProcessPoolExecutor);
    expect(pkg.WorkerExitedError).toBe(WorkerExitedError);
    expect(pkg.toThread).toBe(toThread);
  });

  it('toThread() runs work on the default executor, created on first use', () =>
    withLoop(kind, async (loop) => {
      const l = loop as ExecLoop;
      function* main(): Coroutine<unknown[]> {
        expect(l._defaultExecutor ?? null).toBe(null);
        const fut = toThread((a: number, b: number) => a + b, 20, 22);
        expect(fut.getLoop()).toBe(loop);
        const executor = l._defaultExecutor as ThreadPoolExecutor;
        expect(executor).toBeInstanceOf(ThreadPoolExecutor);
        expect(executor.maxWorkers).toBe(Math.min(4, availableParallelism()));
        const more = yield* toThread(mod('hash'), 'abc');
        expect(l._defaultExecutor).toBe(executor); // reused
        return [yield* fut, more];
      }
      expect(await run(loop, main)).toEqual([42, SHA256_ABC]);
      await loop.shutdownDefaultExecutor();
    }));

  it('toThread() needs a running loop', () => {
    expect(() => toThread(() => 1)).toThrow(/no running event loop/);
  });

  it('loop.runInExecutor(null | executor, work, ...args)', () =>
    withLoop(kind, async (loop) => {
      const l = loop as ExecLoop;
      const procs = new ProcessPoolExecutor({ maxWorkers: 1 });
      try {
        function* main(): Coroutine<unknown[]> {
          const viaDefault = yield* l.runInExecutor(null, mod('add'), 1, 2);
          const viaPool = yield* l.runInExecutor<number>(procs, () => process.pid);
          expect(() => l.runInExecutor({}, mod('add'))).toThrow(TypeError);
          return [viaDefault, viaPool];
        }
        const [viaDefault, pid] = await run(loop, main);
        expect(viaDefault).toBe(3);
        expect(pid).not.toBe(process.pid);
        // A Future of this loop even when called outside it.
        const fut = l.runInExecutor(null, mod('add'), 2, 2);
        expect(fut.getLoop()).toBe(loop);
        expect(await loop.runUntilComplete(fut)).toBe(4);
      } finally {
        await procs.shutdown();
        await loop.shutdownDefaultExecutor();
      }
    }));

  it('setDefaultExecutor() changes where toThread() runs; shutdownDefaultExecutor() ends it', () =>
    withLoop(kind, async (loop) => {
      const l = loop as ExecLoop;
      const procs = new ProcessPoolExecutor({ maxWorkers: 1 });
      l.setDefaultExecutor(procs);
      const pid = await run(loop, () => toThread(() => process.pid));
      expect(pid).not.toBe(process.pid);
      await loop.shutdownDefaultExecutor();
      expect(procs.workerCount).toBe(0);
      expect(() => procs.submit(mod('add'), 1, 2)).toThrow(/after shutdown/);
      expect(() => l.runInExecutor(null, mod('add'), 1, 2)).toThrow(/shutdown/i);
    }));

  it('loop.close() shuts the default executor down without waiting; running and queued jobs still finish (asyncio)', () =>
    withLoop(kind, async (loop) => {
      const l = loop as ExecLoop;
      const dir = mkdtempSync(join(tmpdir(), 'aioloop-exec-'));
      try {
        const fut = l.runInExecutor(null, mod('blockThenTouch'), 150, join(dir, 'running'));
        await run(loop, () => sleep(20));
        const executor = l._defaultExecutor as ThreadPoolExecutor;
        expect(executor.workerCount).toBe(1);
        const t0 = performance.now();
        loop.close();
        expect(performance.now() - t0).toBeLessThan(50);
        await executor.shutdown(); // resolves once the job has finished and the worker is gone
        expect(existsSync(join(dir, 'running'))).toBe(true);
        expect(executor.workerCount).toBe(0);
        expect(fut.done()).toBe(false); // its loop is closed: nobody can see it settle
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }));

  it('shutdownDefaultExecutor(timeout) stops waiting after timeout with a RuntimeWarning', () =>
    withLoop(kind, async (loop) => {
      const l = loop as ExecLoop;
      const warnings: string[] = [];
      const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
      process.on('warning', onWarning);
      try {
        const fut = l.runInExecutor(null, mod('block'), 400, 'late');
        await run(loop, () => sleep(10));
        const executor = l._defaultExecutor as ThreadPoolExecutor;
        const t0 = performance.now();
        await loop.shutdownDefaultExecutor(30);
        expect(performance.now() - t0).toBeLessThan(300);
        await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
        expect(warnings).toEqual(['RuntimeWarning: The executor did not finish its jobs within 30 ms']);
        await executor.shutdown(); // the job goes on
        expect(await loop.runUntilComplete(fut)).toBe('late');
        await expect(loop.shutdownDefaultExecutor(Number.NaN)).rejects.toThrow(TypeError);
      } finally {
        process.off('warning', onWarning);
      }
    }));
});

describe('executors and process exit', () => {
  it('idle pools do not keep the process alive; a running job does', async () => {
    const executors = join(DIST, '..', 'executors.js');
    const res = await runChild(`
      const { ThreadPoolExecutor, ProcessPoolExecutor } = await import(${JSON.stringify(executors)});
      const threads = new ThreadPoolExecutor({ maxWorkers: 2 });
      const procs = new ProcessPoolExecutor({ maxWorkers: 1 });
      console.log(await threads.submit((a, b) => a + b, 1, 2), await procs.submit((a) => a * 2, 21));
      // Not awaited: the busy worker keeps the process alive until it answers.
      threads.submit((ms) => { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms); return 'late'; }, 150)
        .then((v) => console.log(v));
      // No shutdown(): idle workers must not hold the process.
    `);
    expect(res.stderr).toBe('');
    expect([res.code, res.signal]).toEqual([0, null]);
    expect(res.stdout).toBe('3 42\nlate\n');
  });

  it('aio.run() with toThread() exits by itself', async () => {
    const res = await runChild(`
      const out = await aio.run(function* () {
        return yield* aio.toThread((n) => n * 2, 21);
      });
      console.log(out);
    `);
    expect(res.stderr).toBe('');
    expect([res.code, res.stdout]).toEqual([0, '42\n']);
  });
});
