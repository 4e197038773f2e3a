/** Signal handlers with real signals (asyncio's add_signal_handler tests, Runner SIGINT), on every loop. */
import { describe, expect, it } from 'vitest';
import { NativeLoop, getRunningLoop, sleep, type Coroutine, type EventLoop } from '../../lib/index.js';
import { LOOPS, withLoop } from '../loops.js';
import { runChild } from '../child.js';

const run = <T>(loop: EventLoop, main: () => Coroutine<T>) => loop.runUntilComplete(main());

/**
 * How many signal watchers `loop` has for `sig`: process listeners on the
 * default loop (process.on), uv_signal_t handles on the native loop.
 */
function watchers(loop: EventLoop, sig: NodeJS.Signals): number {
  if (loop instanceof NativeLoop) return loop.isClosed() ? 0 : loop._nativeStats().streams;
  return process.listenerCount(sig);
}

describe.each(LOOPS)('$name loop: signal handlers', (kind) => {
  it('runs the handler on the loop for process.kill(process.pid, "SIGUSR2"); remove returns true once', () =>
    withLoop(kind, (loop) =>
      run(loop, function* () {
        const before = watchers(loop, 'SIGUSR2');
        const fut = loop.createFuture<[string, boolean]>();
        loop.addSignalHandler('SIGUSR2', (tag: string) => fut.setResult([tag, getRunningLoop() === loop]), 'usr2');
        expect(watchers(loop, 'SIGUSR2')).toBe(before + 1);
        process.kill(process.pid, 'SIGUSR2');
        expect(yield* fut).toEqual(['usr2', true]);
        expect(loop.removeSignalHandler('SIGUSR2')).toBe(true);
        expect(loop.removeSignalHandler('SIGUSR2')).toBe(false);
        yield* sleep(1); // a native watcher is gone once its close callback ran
        expect(watchers(loop, 'SIGUSR2')).toBe(before);
      }),
    ),
  );

  it('rejects bad signals and removes handlers on close', async () => {
    let seen = -1;
    let closedLoop: EventLoop | null = null;
    await withLoop(kind, async (loop) => {
      closedLoop = loop;
      expect(() => loop.addSignalHandler('SIGNOPE' as never, () => {})).toThrow(RangeError);
      expect(() => loop.addSignalHandler('SIGKILL', () => {})).toThrow(/cannot be caught/);
      expect(() => loop.addSignalHandler('SIGSTOP', () => {})).toThrow(RangeError);
      expect(() => loop.addSignalHandler(null as never, () => {})).toThrow(TypeError);
      expect(() => loop.addSignalHandler('SIGUSR1', 'cb' as never)).toThrow(TypeError);
      expect(() => loop.addSignalHandler('SIGUSR1', function* () {} as never)).toThrow(/coroutines/);
      expect(() => loop.removeSignalHandler(3.5)).toThrow(RangeError);
      seen = watchers(loop, 'SIGUSR1');
      loop.addSignalHandler('SIGUSR1', () => {});
      expect(watchers(loop, 'SIGUSR1')).toBe(seen + 1);
    });
    expect(process.listenerCount('SIGUSR1')).toBe(kind.name === 'default' ? seen : 0);
    expect(watchers(closedLoop!, 'SIGUSR1')).toBe(0);
  });

  it('a handler error goes to the exception handler; the loop goes on', () =>
    withLoop(kind, (loop) =>
      run(loop, function* () {
        const messages: string[] = [];
        loop.setExceptionHandler((_l, ctx) => messages.push(String((ctx.exception as Error).message)));
        loop.addSignalHandler('SIGUSR2', () => {
          throw new Error('in handler');
        });
        process.kill(process.pid, 'SIGUSR2');
        for (let i = 0; i < 100 && messages.length === 0; i++) yield* sleep(5);
        expect(messages).toEqual(['in handler']);
        loop.removeSignalHandler('SIGUSR2');
      }),
    ),
  );
});

describe.each(LOOPS)('$name loop: run() and SIGINT', (kind) => {
  it('the first SIGINT cancels the main task', async () => {
    const r = await runChild(`
      try {
        await aio.run(function* () {
          try {
            process.kill(process.pid, 'SIGINT');
            yield* aio.sleep(5000);
            console.log('not cancelled');
          } catch (e) {
            console.log('main saw ' + e.name);
            throw e;
          }
        }, { loop: ${JSON.stringify(kind.name)} });
      } catch (e) {
        console.log('run rejected with ' + e.name);
      }
      console.log('listeners ' + process.listenerCount('SIGINT'));
    `);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('main saw CancelledError\nrun rejected with CancelledError\nlisteners 0\n');
    expect(r.code).toBe(0);
  });

  it('a second SIGINT ends the process (Node default)', async () => {
    const r = await runChild(`
      await aio.run(function* () {
        process.kill(process.pid, 'SIGINT');
        try {
          yield* aio.sleep(5000);
        } catch (e) {
          console.log('first: ' + e.name);
        }
        process.kill(process.pid, 'SIGINT');
        yield* aio.sleep(5000);
        console.log('still running');
      }, { loop: ${JSON.stringify(kind.name)} });
    `);
    expect(r.stdout).toBe('first: CancelledError\n');
    expect(r.signal).toBe('SIGINT');
  });

  it('a SIGINT handler added with addSignalHandler replaces the cancellation (as asyncio)', async () => {
    const r = await runChild(`
      const v = await aio.run(function* () {
        const loop = aio.getRunningLoop();
        let stop = false;
        loop.addSignalHandler('SIGINT', () => { stop = true; });
        setTimeout(() => process.kill(process.pid, 'SIGINT'), 50);
        while (!stop) yield* aio.sleep(5);
        loop.removeSignalHandler('SIGINT');
        return 'stopped by the handler';
      }, { loop: ${JSON.stringify(kind.name)} });
      console.log(v);
    `);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('stopped by the handler\n');
    expect(r.code).toBe(0);
  });

  it('leaves SIGINT alone when the program has its own listener', async () => {
    const r = await runChild(`
      process.on('SIGINT', () => console.log('user handler'));
      const v = await aio.run(function* () {
        process.kill(process.pid, 'SIGINT');
        yield* aio.sleep(100);
        return 'finished';
      }, { loop: ${JSON.stringify(kind.name)} });
      console.log(v);
      process.exit(0);
    `);
    expect(r.stdout).toBe('user handler\nfinished\n');
  });
});
