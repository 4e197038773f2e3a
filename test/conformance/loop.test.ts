/**
 * Event-loop conformance: scheduling order, timers, lifecycle, the exception
 * handler, debug mode and bad input. Runs against every loop in LOOPS.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { getRunningLoop, type EventLoop, type ExceptionContext, type Handle, type Protocol, type TimerHandle } from '../../lib/index.js';
import { ITERATIONS_PER_MICROTASK } from '../../lib/loops/driver.js';
import { LOOPS, withLoop } from '../loops.js';

afterEach(() => {
  vi.restoreAllMocks();
});

/** Run the loop until `done` resolves the returned future. */
function untilCalled(loop: EventLoop): { done: () => void; run: () => Promise<void> } {
  const fut = loop.createFuture<void>();
  return { done: () => fut.done() || fut.setResult(), run: () => loop.runUntilComplete(fut) };
}

describe.each(LOOPS)('$name loop: scheduling', (kind) => {
  it('runs callSoon callbacks FIFO, with their arguments', () =>
    withLoop(kind, async (loop) => {
      const seen: unknown[] = [];
      for (let i = 0; i < 100; i++) loop.callSoon((a: number, b: string) => seen.push([a, b]), i, `x${i}`);
      loop.callSoon(() => loop.stop());
      await loop.runForever();
      expect(seen).toEqual(Array.from({ length: 100 }, (_, i) => [i, `x${i}`]));
    }));

  it('runs a callback scheduled during an iteration in the next iteration (snapshot rule)', () =>
    withLoop(kind, async (loop) => {
      const seen: string[] = [];
      loop.callSoon(() => {
        seen.push('a');
        loop.callSoon(() => seen.push('c: next iteration'));
        loop.stop(); // the current iteration finishes, the next does not start
      });
      loop.callSoon(() => seen.push('b'));
      await loop.runForever();
      expect(seen).toEqual(['a', 'b']);
      loop.callSoon(() => loop.stop());
      await loop.runForever();
      expect(seen).toEqual(['a', 'b', 'c: next iteration']);
    }));

  it('runs exactly one iteration when stop() was called before runForever()', () =>
    withLoop(kind, async (loop) => {
      const seen: string[] = [];
      loop.callSoon(() => {
        seen.push('first');
        loop.callSoon(() => seen.push('second'));
      });
      loop.stop();
      await loop.runForever();
      expect(seen).toEqual(['first']);
      expect(loop.isRunning()).toBe(false);
    }));

  it('never runs a cancelled handle', () =>
    withLoop(kind, async (loop) => {
      const seen: string[] = [];
      const h = loop.callSoon(() => seen.push('cancelled one'));
      loop.callSoon(() => seen.push('kept'));
      expect(h.cancelled()).toBe(false);
      h.cancel();
      expect(h.cancelled()).toBe(true);
      loop.callSoon(() => loop.stop());
      await loop.runForever();
      expect(seen).toEqual(['kept']);
    }));

  it('lets a callback cancel a later handle of the same iteration', () =>
    withLoop(kind, async (loop) => {
      const seen: string[] = [];
      let later: Handle | null = null;
      loop.callSoon(() => later!.cancel());
      later = loop.callSoon(() => seen.push('should not run'));
      loop.callSoon(() => loop.stop());
      await loop.runForever();
      expect(seen).toEqual([]);
    }));

  it('reports the running loop inside callbacks', () =>
    withLoop(kind, async (loop) => {
      let inside: EventLoop | null = null;
      loop.callSoon(() => {
        inside = getRunningLoop();
        loop.stop();
      });
      await loop.runForever();
      expect(inside).toBe(loop);
    }));

  it('keeps Node timers and I/O running while a callback chain never ends', () =>
    withLoop(kind, async (loop) => {
      // A chain that always has ready work must still let Node poll: the
      // Node timer below is what stops the loop.
      let hops = 0;
      const hop = () => {
        hops++;
        loop.callSoon(hop);
      };
      loop.callSoon(hop);
      setTimeout(() => loop.stop(), 30);
      await loop.runForever();
      expect(hops).toBeGreaterThan(100);
    }));

  it('runs promise reactions within a few iterations of a busy loop', () =>
    withLoop(kind, async (loop) => {
      const order: string[] = [];
      let n = 0;
      const hop = () => {
        if (++n < 1000) loop.callSoon(hop);
      };
      loop.callSoon(() => {
        void Promise.resolve().then(() => order.push(`reaction after ${n} hops`));
        hop();
      });
      setTimeout(() => loop.stop(), 50);
      await loop.runForever();
      // The reaction ran long before the 1000-hop chain finished: a burst
      // runs at most ITERATIONS_PER_MICROTASK iterations before promise
      // reactions get their turn.
      expect(order).toHaveLength(1);
      expect(ITERATIONS_PER_MICROTASK).toBeLessThan(500);
      expect(Number(order[0]!.match(/\d+/)![0])).toBeLessThanOrEqual(ITERATIONS_PER_MICROTASK + 1);
    }));

  it('resumes an `await fut` that starts inside a busy loop soon after fut completes, or at once if it was done', () =>
    withLoop(kind, async (loop) => {
      let n = 0;
      const pending = loop.createFuture<string>();
      const done = loop.createFuture<string>();
      done.setResult('ready');
      const resumed: Record<string, number> = {};
      const waiters: Promise<void>[] = [];
      const hop = () => {
        n++;
        if (n === 10) {
          // An async function that starts awaiting inside an iteration (every
          // await after its first): its `then` call comes a reaction later.
          waiters.push(
            (async () => {
              const at = n;
              expect(await done).toBe('ready');
              resumed.done = n - at;
              const before = n;
              expect(await pending).toBe('later');
              resumed.pending = n - before;
            })(),
          );
        }
        if (n === 20) pending.setResult('later');
        if (n < 1000) loop.callSoon(hop);
      };
      loop.callSoon(hop);
      setTimeout(() => loop.stop(), 50);
      await loop.runForever();
      await Promise.all(waiters);
      expect(n).toBe(1000);
      // Not after whole bursts of the callback chain.
      expect(resumed.done).toBeLessThanOrEqual(3);
      expect(resumed.pending).toBeLessThanOrEqual(13); // 10 hops until pending is set, then at once
    }));

  it('resumes an `await fut` right after the iteration that completed fut', () =>
    withLoop(kind, async (loop) => {
      let n = 0;
      let resumedAt = -1;
      const fut = loop.createFuture<string>();
      const hop = () => {
        if (++n === 5) fut.setResult('done');
        if (n < 1000) loop.callSoon(hop);
      };
      const waiter = (async () => {
        expect(await fut).toBe('done');
        resumedAt = n;
      })();
      loop.callSoon(hop);
      setTimeout(() => loop.stop(), 50);
      await loop.runForever();
      await waiter;
      // Not after the rest of the burst: the resolve ended it.
      expect(resumedAt).toBeGreaterThanOrEqual(5);
      expect(resumedAt).toBeLessThanOrEqual(6);
    }));
});

describe.each(LOOPS)('$name loop: timers', (kind) => {
  it('runs timers in deadline order whatever the scheduling order', () =>
    withLoop(kind, async (loop) => {
      const seen: number[] = [];
      const { done, run } = untilCalled(loop);
      for (const d of [30, 10, 20, 0, 5]) loop.callLater(d, () => seen.push(d));
      loop.callLater(40, done);
      await run();
      expect(seen).toEqual([0, 5, 10, 20, 30]);
    }));

  it('runs timers with equal deadlines FIFO', () =>
    withLoop(kind, async (loop) => {
      const seen: number[] = [];
      const { done, run } = untilCalled(loop);
      const when = loop.time() + 15;
      for (let i = 0; i < 50; i++) loop.callAt(when, () => seen.push(i));
      loop.callAt(when + 1, done);
      await run();
      expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => i));
    }));

  it('never runs a timer early', () =>
    withLoop(kind, async (loop) => {
      const lateness: number[] = [];
      const { done, run } = untilCalled(loop);
      for (let i = 0; i < 40; i++) {
        const delay = (i * 0.37) % 12; // sub-millisecond deadlines too
        const h: TimerHandle = loop.callLater(delay, () => lateness.push(loop.time() - h.when()));
      }
      loop.callLater(20, done);
      await run();
      expect(lateness).toHaveLength(40);
      for (const late of lateness) expect(late).toBeGreaterThanOrEqual(0);
    }));

  it('measures time in milliseconds on a monotonic clock', () =>
    withLoop(kind, async (loop) => {
      const { done, run } = untilCalled(loop);
      const t0 = loop.time();
      const wall0 = Date.now();
      let fired = 0;
      const h = loop.callLater(50, () => {
        fired = loop.time();
        done();
      });
      expect(h.when()).toBeCloseTo(t0 + 50, 0);
      await run();
      expect(fired - t0).toBeGreaterThanOrEqual(50);
      expect(Date.now() - wall0).toBeGreaterThanOrEqual(48); // Date.now has ms resolution
      expect(loop.time()).toBeGreaterThanOrEqual(fired);
    }));

  it('reads a sub-millisecond clock that runs with performance.now()', () =>
    withLoop(kind, async (loop) => {
      // Resolution: consecutive reads move in steps far below a millisecond.
      const first = loop.time();
      let next = loop.time();
      while (next === first) next = loop.time();
      expect(next - first).toBeGreaterThan(0);
      expect(next - first).toBeLessThan(0.1);
      // Rate: the same clock as performance.now() (uv_hrtime under both),
      // read inside performance.now()'s bracket, so it cannot have moved more.
      const p0 = performance.now();
      const t0 = loop.time();
      while (performance.now() - p0 < 5);
      const t1 = loop.time();
      const p1 = performance.now();
      expect(t1 - t0).toBeGreaterThanOrEqual(5 - 0.5);
      expect(t1 - t0).toBeLessThanOrEqual(p1 - p0 + 1e-6);
    }));

  it("keeps a timer's deadline exactly as given (when())", () =>
    withLoop(kind, async (loop) => {
      // TimerHandle keeps the deadline as the two halves of its float64
      // (lib/events.ts): every double, -0 and the infinities included, must
      // come back bit for bit.
      fc.assert(
        fc.property(fc.double({ noNaN: true }), (when) => {
          const h = loop.callAt(when, () => {});
          const back = h.when();
          h.cancel();
          return Object.is(back, when);
        }),
        { numRuns: 2000 },
      );
      const { done, run } = untilCalled(loop);
      const t0 = loop.time();
      let fired = -1;
      const h = loop.callLater(0.25, () => {
        fired = loop.time();
        done();
      });
      expect(h.when()).toBeGreaterThanOrEqual(t0 + 0.25);
      await run();
      expect(fired).toBeGreaterThanOrEqual(h.when()); // never early
    }));

  it('runs many random timers in sorted order', () =>
    withLoop(kind, async (loop) => {
      const fired: number[] = [];
      const { done, run } = untilCalled(loop);
      const whens: number[] = [];
      const base = loop.time();
      for (let i = 0; i < 500; i++) {
        const when = base + Math.random() * 40;
        whens.push(when);
        loop.callAt(when, () => fired.push(when));
      }
      loop.callAt(base + 45, done);
      await run();
      expect(fired).toEqual([...whens].sort((a, b) => a - b));
    }));

  it('runs a negative delay at once, after callbacks already queued', () =>
    withLoop(kind, async (loop) => {
      const seen: string[] = [];
      const { done, run } = untilCalled(loop);
      loop.callLater(-100, () => seen.push('negative delay'));
      loop.callSoon(() => seen.push('soon'));
      loop.callLater(5, done);
      await run();
      expect(seen).toEqual(['soon', 'negative delay']);
    }));

  it('never runs a cancelled timer, and keeps running the others', () =>
    withLoop(kind, async (loop) => {
      const seen: number[] = [];
      const { done, run } = untilCalled(loop);
      const handles = Array.from({ length: 300 }, (_, i) => loop.callLater(i % 10, () => seen.push(i)));
      for (const h of handles) if (h.when() && handles.indexOf(h) % 3 !== 0) h.cancel();
      loop.callLater(15, done);
      await run();
      const expected = handles.map((_, i) => i).filter((i) => i % 3 === 0);
      expect([...seen].sort((a, b) => a - b)).toEqual(expected);
    }));

  it('cancels a huge number of timers and stays correct', () =>
    withLoop(kind, async (loop) => {
      const seen: number[] = [];
      const { done, run } = untilCalled(loop);
      const keep = new Set<number>();
      for (let i = 0; i < 100_000; i++) {
        const h = loop.callLater((i % 1000) / 100, () => seen.push(i));
        if (i % 997 === 0) keep.add(i);
        else h.cancel();
      }
      loop.callLater(12, done);
      await run();
      expect(new Set(seen)).toEqual(keep);
    }));

  it('fires a timer scheduled while idle before a later armed timer', () =>
    withLoop(kind, async (loop) => {
      const seen: string[] = [];
      const { done, run } = untilCalled(loop);
      loop.callLater(200, () => {
        seen.push('late');
        done();
      });
      // Scheduled from a Node timer while the loop waits for the 200 ms one.
      setTimeout(() => loop.callLater(5, () => seen.push('early')), 10);
      await run();
      expect(seen).toEqual(['early', 'late']);
    }));

  it('wakes up for callSoon from outside the loop (a Node callback)', () =>
    withLoop(kind, async (loop) => {
      const { done, run } = untilCalled(loop);
      setTimeout(() => loop.callSoon(done), 10);
      await run();
    }));
});

describe.each(LOOPS)('$name loop: lifecycle', (kind) => {
  it('runUntilComplete returns the result or rejects with the error', () =>
    withLoop(kind, async (loop) => {
      const ok = loop.createFuture<number>();
      loop.callLater(1, () => ok.setResult(42));
      expect(await loop.runUntilComplete(ok)).toBe(42);
      const bad = loop.createFuture<number>();
      loop.callSoon(() => bad.setException(new RangeError('boom')));
      await expect(loop.runUntilComplete(bad)).rejects.toThrow(RangeError);
      expect(await loop.runUntilComplete(Promise.resolve('from a promise'))).toBe('from a promise');
    }));

  it('rejects runUntilComplete when the loop stops before the future is done', () =>
    withLoop(kind, async (loop) => {
      const never = loop.createFuture();
      loop.callSoon(() => loop.stop());
      await expect(loop.runUntilComplete(never)).rejects.toThrow('Event loop stopped before Future completed.');
    }));

  it('refuses to run twice, to close while running, and to schedule once closed', () =>
    withLoop(kind, async (loop) => {
      const errors: string[] = [];
      loop.callSoon(() => {
        for (const f of [() => loop.runForever(), () => loop.runUntilComplete(loop.createFuture()), () => loop.close()]) {
          try {
            void f();
          } catch (e) {
            errors.push((e as Error).message);
          }
        }
        loop.stop();
      });
      await loop.runForever();
      expect(errors).toEqual([
        'This event loop is already running',
        'This event loop is already running',
        'Cannot close a running event loop',
      ]);
      expect(loop.isClosed()).toBe(false);
      loop.close();
      loop.close(); // idempotent
      expect(loop.isClosed()).toBe(true);
      expect(() => loop.callSoon(() => {})).toThrow('Event loop is closed');
      expect(() => loop.callLater(1, () => {})).toThrow('Event loop is closed');
      expect(() => loop.callAt(1, () => {})).toThrow('Event loop is closed');
      expect(() => loop.runForever()).toThrow('Event loop is closed');
      expect(() => loop.createTask(function* () {})).toThrow('Event loop is closed');
      // Also what needs no loop on the default loop (Node resolves and connects
      // by itself): asyncio refuses every call on a closed loop.
      expect(() => loop.getaddrinfo('localhost', 80)).toThrow('Event loop is closed');
      expect(() => loop.getnameinfo(['127.0.0.1', 80])).toThrow('Event loop is closed');
      expect(() => loop.createConnection(() => ({}), '127.0.0.1', 9)).toThrow('Event loop is closed');
    }));

  it('drops pending callbacks and timers on close', () =>
    withLoop(kind, async (loop) => {
      const seen: string[] = [];
      loop.callSoon(() => seen.push('soon'));
      loop.callLater(1, () => seen.push('later'));
      loop.close();
      await new Promise((r) => setTimeout(r, 10));
      expect(seen).toEqual([]);
    }));

  it('resolves shutdownAsyncgens and shutdownDefaultExecutor', () =>
    withLoop(kind, async (loop) => {
      await expect(loop.shutdownAsyncgens()).resolves.toBeUndefined();
      await expect(loop.shutdownDefaultExecutor()).resolves.toBeUndefined();
    }));
});

describe.each(LOOPS)('$name loop: errors', (kind) => {
  it('sends a callback error to the exception handler and keeps running', () =>
    withLoop(kind, async (loop) => {
      const contexts: ExceptionContext[] = [];
      const seen: string[] = [];
      loop.setExceptionHandler((l, ctx) => {
        expect(l).toBe(loop);
        contexts.push(ctx);
      });
      const boom = new Error('boom');
      const h = loop.callSoon(function exploding() {
        throw boom;
      });
      loop.callSoon(() => seen.push('after'));
      loop.callLater(1, () => {
        throw new TypeError('timer boom');
      });
      loop.callLater(3, () => loop.stop());
      await loop.runForever();
      expect(seen).toEqual(['after']);
      expect(contexts).toHaveLength(2);
      expect(contexts[0]!.message).toContain('Exception in callback exploding');
      expect(contexts[0]!.exception).toBe(boom);
      expect(contexts[0]!.handle).toBe(h);
      expect(contexts[1]!.exception).toBeInstanceOf(TypeError);
      expect(loop.getExceptionHandler()).toBeTypeOf('function');
    }));

  it('logs with console.error when no handler is set', () =>
    withLoop(kind, async (loop) => {
      const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
      loop.callSoon(() => {
        throw new Error('unhandled here');
      });
      loop.callSoon(() => loop.stop());
      await loop.runForever();
      expect(logged).toHaveBeenCalledTimes(1);
      expect(String(logged.mock.calls[0]![0])).toContain('Exception in callback');
      expect((logged.mock.calls[0]![1] as Error).message).toBe('unhandled here');
    }));

  it('survives an exception handler that throws', () =>
    withLoop(kind, async (loop) => {
      const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
      loop.setExceptionHandler(() => {
        throw new Error('handler broke');
      });
      const seen: string[] = [];
      loop.callSoon(() => {
        throw new Error('first');
      });
      loop.callSoon(() => seen.push('still running'));
      loop.callSoon(() => loop.stop());
      await loop.runForever();
      expect(seen).toEqual(['still running']);
      expect(String(logged.mock.calls[0]![0])).toContain('Unhandled error in exception handler');
      // The original context is logged readably (asyncio logs its repr), not as [object Object].
      expect(String(logged.mock.calls[0]![0])).toMatch(/context: \{ message: 'Exception in callback .*', exception: Error\('first'\), handle: <Handle .*> \}/);
      loop.setExceptionHandler(null);
      expect(loop.getExceptionHandler()).toBeNull();
      // A defaultExceptionHandler that throws (a subclass's) is logged past, not swallowed.
      logged.mockClear();
      loop.defaultExceptionHandler = () => {
        throw new Error('default broke');
      };
      loop.callExceptionHandler({ message: 'ctx' });
      expect(logged.mock.calls.map((c) => [c[0], (c[1] as Error).message])).toEqual([['Exception in default exception handler', 'default broke']]);
    }));

  it('rejects bad arguments with TypeError or RangeError', () =>
    withLoop(kind, async (loop) => {
      const bad = (f: () => unknown) => f;
      expect(bad(() => loop.callSoon(42 as never))).toThrow(TypeError);
      expect(bad(() => loop.callSoon(undefined as never))).toThrow('callSoon() callback must be a function, not undefined');
      expect(bad(() => loop.callSoon((function* gen() {})() as never))).toThrow('coroutines cannot be used with callSoon(): run them with createTask()');
      expect(bad(() => loop.callLater(undefined as never, () => {}))).toThrow('callLater() delay must be a number, not undefined');
      expect(bad(() => loop.callLater('10' as never, () => {}))).toThrow(TypeError);
      expect(bad(() => loop.callLater(NaN, () => {}))).toThrow(RangeError);
      expect(bad(() => loop.callLater(10, 'nope' as never))).toThrow(TypeError);
      expect(bad(() => loop.callAt(NaN, () => {}))).toThrow(RangeError);
      expect(bad(() => loop.callAt(null as never, () => {}))).toThrow(TypeError);
      expect(bad(() => loop.setExceptionHandler(5 as never))).toThrow(TypeError);
      expect(bad(() => loop.setTaskFactory('f' as never))).toThrow(TypeError);
      expect(bad(() => loop.createTask(5 as never))).toThrow(TypeError);
      expect(bad(() => loop.runUntilComplete(5 as never))).toThrow(TypeError);
      // A TimerHandle shows its deadline, as asyncio's repr does.
      const th = loop.callAt(12345.5, function tick() {});
      expect(String(th)).toBe('<TimerHandle when=12345.5 tick()>');
      th.cancel();
      expect(String(th)).toBe('<TimerHandle when=12345.5 cancelled>');
      // Nothing was scheduled by the failed calls: the loop still runs cleanly.
      loop.callSoon(() => loop.stop());
      await loop.runForever();
    }));
});

describe.each(LOOPS)('$name loop: debug mode', (kind) => {
  it('logs slow callbacks with their duration', () =>
    withLoop(kind, async (loop) => {
      const warned = vi.spyOn(console, 'warn').mockImplementation(() => {});
      loop.setDebug(true);
      expect(loop.getDebug()).toBe(true);
      loop.slowCallbackDuration = 5;
      loop.callSoon(function busyWait() {
        const end = performance.now() + 10;
        while (performance.now() < end);
      });
      loop.callSoon(function quick() {});
      loop.callSoon(() => loop.stop());
      await loop.runForever();
      expect(warned).toHaveBeenCalledTimes(1);
      expect(String(warned.mock.calls[0]![0])).toMatch(/Executing <Handle busyWait\(\)> took \d+\.\d+ ms/);
    }));

  it('logs a slow I/O callback too (a protocol that blocks in dataReceived)', () =>
    withLoop(kind, async (loop) => {
      const warned = vi.spyOn(console, 'warn').mockImplementation(() => {});
      loop.setDebug(true);
      loop.slowCallbackDuration = 100; // the default: nothing else here comes near it
      const got = loop.createFuture<void>();
      const server = await loop.createServer((): Protocol => ({
        dataReceived() {
          const end = performance.now() + 150;
          while (performance.now() < end);
          got.setResult();
        },
      }), '127.0.0.1', 0);
      const port = (server.addresses()[0] as { port: number }).port;
      const [t] = await loop.runUntilComplete(loop.createConnection(() => ({}), '127.0.0.1', port));
      t.write('hi');
      await loop.runUntilComplete(got);
      t.close();
      server.close();
      server.closeClients();
      await loop.runUntilComplete(server.waitClosed());
      const slow = warned.mock.calls.map((c) => String(c[0])).filter((m) => / took \d+\.\d+ ms/.test(m));
      expect(slow).toHaveLength(1);
      expect(slow[0]).toMatch(/^aioloop: Executing <(Handle .*|I\/O data of .*)> took \d+\.\d+ ms$/);
    }));

  it('reports a coroutine that a callback created and nobody ran', () =>
    withLoop(kind, async (loop) => {
      const warned = vi.spyOn(console, 'warn').mockImplementation(() => {});
      loop.setDebug(true);
      function* forgotten() {
        yield;
      }
      loop.callSoon(forgotten);
      loop.callSoon(() => loop.stop());
      await loop.runForever();
      expect(warned).toHaveBeenCalledTimes(1);
      expect(String(warned.mock.calls[0]![0])).toContain('never awaited');
    }));

  it('is silent about slow callbacks outside debug mode', () =>
    withLoop(kind, async (loop) => {
      const warned = vi.spyOn(console, 'warn').mockImplementation(() => {});
      loop.setDebug(false);
      loop.slowCallbackDuration = 0;
      loop.callSoon(() => {});
      loop.callSoon(() => loop.stop());
      await loop.runForever();
      expect(warned).not.toHaveBeenCalled();
      expect(loop.slowCallbackDuration).toBe(0);
    }));
});
