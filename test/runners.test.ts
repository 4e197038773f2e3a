/** run() and Runner, on every loop. */
import { describe, expect, it, vi } from 'vitest';
import {
  CancelledError,
  Runner,
  createTask,
  currentTask,
  fromPromise,
  getRunningLoop,
  run,
  sleep,
  type Coroutine,
  type EventLoop,
} from '../lib/index.js';
import { LOOPS } from './loops.js';
import { runChild } from './child.js';
import { loadAddon } from '../lib/loops/native/addon.js';

describe.each(LOOPS)('$name loop: run()', (kind) => {
  const opts = { loop: kind.create };

  it('runs a generator function, a coroutine, an async function and a promise', async () => {
    function* gen(): Coroutine<string> {
      yield* sleep(1);
      return 'gen';
    }
    expect(await run(gen, opts)).toBe('gen');
    expect(await run(gen(), opts)).toBe('gen');
    expect(await run(async () => (await sleep(1, 'async')) as string, opts)).toBe('async');
    expect(await run(Promise.resolve('promise'), opts)).toBe('promise');
  });

  it('runs main as a named task on a fresh loop, and closes the loop after', async () => {
    let loop: EventLoop | null = null;
    const name = await run(function* () {
      loop = getRunningLoop();
      return currentTask()!.getName();
    }, opts);
    expect(name).toMatch(/^Task-\d+$/);
    expect(loop!.isClosed()).toBe(true);
  });

  it('propagates the error of main and still closes the loop', async () => {
    let loop: EventLoop | null = null;
    await expect(
      run(function* () {
        loop = getRunningLoop();
        yield* sleep(0);
        throw new SyntaxError('main failed');
      }, opts),
    ).rejects.toThrow(SyntaxError);
    expect(loop!.isClosed()).toBe(true);
  });

  it('cancels leftover tasks, runs their finally blocks, and reports their errors', async () => {
    const log: string[] = [];
    const handler = vi.fn();
    await run(function* () {
      getRunningLoop().setExceptionHandler(handler);
      createTask(function* () {
        try {
          yield* sleep(60_000);
        } finally {
          log.push('leftover cleaned up');
        }
      });
      createTask(function* () {
        try {
          yield* sleep(60_000);
        } catch (e) {
          if (e instanceof CancelledError) throw new Error('failed while cancelling');
        }
      });
      yield* sleep(1);
    }, opts);
    expect(log).toEqual(['leftover cleaned up']);
    expect(handler).toHaveBeenCalledTimes(1);
    const ctx = handler.mock.calls[0]![1];
    expect(ctx.message).toBe('unhandled exception during run() shutdown');
    expect(ctx.exception.message).toBe('failed while cancelling');
  });

  it('sets debug mode on request', async () => {
    expect(await run(function* () { return getRunningLoop().getDebug(); }, { ...opts, debug: true })).toBe(true);
    expect(await run(function* () { return getRunningLoop().getDebug(); }, { ...opts, debug: false })).toBe(false);
  });

  it('runs several entry points on one loop with Runner', async () => {
    const runner = new Runner(opts);
    const loop = runner.getLoop();
    try {
      expect(await runner.run(function* () { return 1; })).toBe(1);
      expect(await runner.run(async () => 2)).toBe(2);
      expect(runner.getLoop()).toBe(loop);
      expect(loop.isClosed()).toBe(false);
    } finally {
      await runner.close();
    }
    expect(loop.isClosed()).toBe(true);
    expect(() => runner.getLoop()).toThrow('Runner is closed');
    await runner.close(); // idempotent
  });

  it('refuses run() and Runner.run() from inside a running loop, as asyncio; side by side is fine', async () => {
    const messages = await run(function* () {
      const out: string[] = [];
      for (const start of [() => run(function* () {}, opts), () => new Runner(opts).run(function* () {})]) {
        try {
          yield* fromPromise(start());
          out.push('no error');
        } catch (e) {
          out.push((e as Error).message);
        }
      }
      return out;
    }, opts);
    expect(messages).toEqual(['run() cannot be called from a running event loop', 'Runner.run() cannot be called from a running event loop']);
    // Two loops started from outside any loop run at the same time.
    const both = await Promise.all([run(function* () { yield* sleep(5); return 1; }, opts), run(function* () { yield* sleep(5); return 2; }, opts)]);
    expect(both).toEqual([1, 2]);
  });

  it('closes a Runner at the end of an await using block (Symbol.asyncDispose)', async () => {
    const runner = new Runner(opts);
    const loop = runner.getLoop();
    expect(await runner.run(function* () { return 'ran'; })).toBe('ran');
    await runner[Symbol.asyncDispose]();
    expect(loop.isClosed()).toBe(true);
  });

  it('refuses Runner.run from inside its own running loop', async () => {
    const runner = new Runner(opts);
    try {
      const msg = await runner.run(async () => {
        try {
          await runner.run(function* () {});
          return 'no error';
        } catch (e) {
          return (e as Error).message;
        }
      });
      expect(msg).toBe('Runner.run() cannot be called from a running event loop');
    } finally {
      await runner.close();
    }
  });
});

describe('run() options', () => {
  it('selects the default loop by name', async () => {
    expect(await run(function* () { return getRunningLoop().constructor.name; }, { loop: 'default' })).toBe('DefaultLoop');
  });

  it('rejects bad options with a clear error', () => {
    expect(() => new Runner({ loop: 'uvloop' as never })).toThrow('loop="uvloop" is not a loop; accepted values: default, native');
    expect(() => new Runner({ loop: 'uvloop' as never })).toThrow(RangeError);
    expect(() => new Runner({ loop: 5 as never })).toThrow(TypeError);
    expect(() => new Runner({ debug: 'yes' as never })).toThrow(TypeError);
    expect(() => new Runner(5 as never)).toThrow(TypeError);
  });

  it.runIf(loadAddon() !== null)('selects the native loop by name', async () => {
    expect(await run(function* () { return getRunningLoop().constructor.name; }, { loop: 'native' })).toBe('NativeLoop');
  });

  it('fails clearly when the native loop is asked for and not available', async () => {
    // A missing binary stands in for an addon that was never built.
    const r = await runChild(
      `await aio.run(function* () {}, { loop: 'native' }).then(() => console.log('ran'), (e) => console.log(e.message));`,
      { env: { AIOLOOP_NATIVE_BINARY: '/nonexistent/aioloop.node' } },
    );
    expect(r.stdout).toMatch(/native loop is not available.*npm run build:native/);
  });
});
