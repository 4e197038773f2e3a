/** Synchronisation primitives (asyncio's test_locks), on every loop. */
import { describe, expect, it } from 'vitest';
import {
  BrokenBarrierError,
  CancelledError,
  Future,
  createTask,
  sleep,
  type Coroutine,
  type EventLoop,
  type Task,
} from '../../lib/index.js';
import { Barrier, BoundedSemaphore, Condition, Event, Lock, Semaphore } from '../../lib/locks.js';
import { LOOPS, withLoop } from '../loops.js';

const run = <T>(loop: EventLoop, main: () => Coroutine<T>) => loop.runUntilComplete(main());

/** Give up `n` loop iterations. */
function* ticks(n: number): Coroutine<void> {
  for (let i = 0; i < n; i++) yield* sleep(0);
}

/** The result of `aw`, or the error it throws. */
function* outcome<T>(aw: Future<T>): Coroutine<T | unknown> {
  try {
    return yield* aw;
  } catch (e) {
    return e;
  }
}

function isCancel(e: unknown): boolean {
  return e instanceof CancelledError;
}

describe.each(LOOPS)('$name loop: Lock', (kind) => {
  it('takes a free lock without suspending, and serves waiters in arrival order', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<void> {
        const lock = new Lock();
        expect(lock.locked()).toBe(false);
        const mine = lock.acquire();
        expect(mine.done()).toBe(true); // fast path: yield* does not suspend
        expect(yield* mine).toBe(true);
        expect(lock.locked()).toBe(true);

        // Tasks reach acquire() in the order of their rank, not of creation.
        const ranks = [3, 1, 4, 0, 2];
        const order: number[] = [];
        const tasks = ranks.map((rank, i) =>
          createTask(function* () {
            yield* ticks(rank);
            yield* lock.acquire();
            order.push(i);
            yield* sleep(0); // hold it across a suspension
            lock.release();
          }),
        );
        yield* ticks(6);
        expect(String(lock)).toBe('<Lock [locked, waiters:5]>');
        lock.release();
        // Handed straight to the first waiter: still locked, and a newcomer queues.
        expect(lock.locked()).toBe(true);
        const late = lock.acquire();
        expect(late.done()).toBe(false);
        for (const t of tasks) yield* t;
        yield* late;
        expect(order).toEqual([3, 1, 4, 0, 2]);
        lock.release();
        expect(lock.locked()).toBe(false);
        expect(String(lock)).toBe('<Lock [unlocked]>');
      }
      await run(loop, main);
    }));

  it('excludes 4 contending tasks (2 coroutines, 2 async functions); without it they overlap', () =>
    withLoop(kind, async (loop) => {
      async function contend(lock: Lock | null): Promise<{ maxInside: number; total: number }> {
        let inside = 0;
        let maxInside = 0;
        let total = 0;
        const enter = () => {
          inside++;
          maxInside = Math.max(maxInside, inside);
          return total; // read ...
        };
        const leave = (seen: number) => {
          total = seen + 1; // ... modify, write: lost updates if two overlap
          inside--;
        };
        function* coWorker(id: number): Coroutine<void> {
          for (let i = 0; i < 20; i++) {
            const body = function* (): Coroutine<void> {
              const seen = enter();
              yield* ticks((id + i) % 3);
              leave(seen);
            };
            if (lock) yield* lock.use(body);
            else yield* body();
          }
        }
        async function asyncWorker(id: number): Promise<void> {
          for (let i = 0; i < 20; i++) {
            if (lock) await lock.acquire();
            try {
              const seen = enter();
              for (let k = 0; k < (id + i) % 3; k++) await sleep(0);
              leave(seen);
            } finally {
              lock?.release();
            }
          }
        }
        const workers: Task<void>[] = [
          loop.createTask(coWorker(0)),
          loop.createTask(() => asyncWorker(1)),
          loop.createTask(coWorker(2)),
          loop.createTask(() => asyncWorker(3)),
        ];
        await loop.runUntilComplete(
          loop.createTask(function* () {
            for (const w of workers) yield* w;
          }),
        );
        return { maxInside, total };
      }
      expect(await contend(new Lock())).toEqual({ maxInside: 1, total: 80 });
      // The control: the same workload unguarded overlaps and loses updates,
      // so the assertion above can fail.
      const unguarded = await contend(null);
      expect(unguarded.maxInside).toBeGreaterThan(1);
      expect(unguarded.total).toBeLessThan(80);
    }));

  it('throws when releasing an unlocked lock', () =>
    withLoop(kind, async (loop) => {
      const lock = new Lock();
      expect(() => lock.release()).toThrow('Lock is not acquired');
      await run(loop, function* () {
        yield* lock.acquire();
        lock.release();
      });
      expect(() => lock.release()).toThrow(Error);
    }));

  it('skips a waiter cancelled while waiting, leaking nothing', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const lock = new Lock();
        const got: string[] = [];
        yield* lock.acquire();
        const waiter = (name: string) =>
          createTask(function* () {
            yield* lock.acquire();
            got.push(name);
            lock.release();
          });
        const [a, b, c] = [waiter('a'), waiter('b'), waiter('c')];
        yield* sleep(0);
        b.cancel();
        expect(String(lock)).toBe('<Lock [locked, waiters:2]>'); // out of the line at once
        lock.release();
        yield* a;
        yield* c;
        return [got, yield* outcome(b), lock.locked()];
      }
      const [got, bOutcome, locked] = (await run(loop, main)) as [string[], unknown, boolean];
      expect(got).toEqual(['a', 'c']);
      expect(isCancel(bOutcome)).toBe(true);
      expect(locked).toBe(false);
    }));

  it('passes the lock on when a waiter is cancelled in the iteration it is granted', () =>
    withLoop(kind, async (loop) => {
      // asyncio's test_finished_waiter_cancelled: release() grants b, then b's
      // task is cancelled before it resumes; c must get the lock.
      function* main(): Coroutine<unknown> {
        const lock = new Lock();
        const got: string[] = [];
        yield* lock.acquire();
        const b = createTask(function* () {
          yield* lock.acquire();
          got.push('b');
          lock.release();
        });
        const hold = new Event();
        const c = createTask(function* () {
          yield* lock.acquire();
          got.push('c');
          yield* hold.wait();
          lock.release();
        });
        yield* sleep(0);
        lock.release(); // b is granted ...
        expect(b.cancel()).toBe(true); // ... and cancelled before it runs
        expect(lock.locked()).toBe(true);
        yield* ticks(3);
        const state = [b.cancelled(), got.slice(), lock.locked()];
        hold.set();
        yield* c;
        return [state, got, lock.locked(), String(lock)];
      }
      expect(await run(loop, main)).toEqual([
        [true, ['c'], true], // c holds it, b never did
        ['c'],
        false,
        '<Lock [unlocked]>',
      ]);
    }));

  it('passes the lock on when the granted waiter is inside use()', () =>
    withLoop(kind, async (loop) => {
      // The CancelledError reaches the grant through two yield* delegations.
      function* main(): Coroutine<unknown> {
        const lock = new Lock();
        const ran: string[] = [];
        yield* lock.acquire();
        const b = createTask(function* () {
          yield* lock.use(function* () {
            ran.push('b');
          });
        });
        const c = createTask(function* () {
          return yield* lock.use(() => {
            ran.push('c');
            return 'c done';
          });
        });
        yield* sleep(0);
        lock.release();
        b.cancel();
        return [yield* outcome(b), yield* c, ran, lock.locked()];
      }
      const [bOut, cOut, ran, locked] = (await run(loop, main)) as unknown[];
      expect(isCancel(bOut)).toBe(true);
      expect([cOut, ran, locked]).toEqual(['c done', ['c'], false]);
    }));

  it('gives the lock to exactly one task when release and cancel race', () =>
    withLoop(kind, async (loop) => {
      // asyncio's test_cancel_race / test_cancel_release_race, in both orders.
      for (const releaseFirst of [false, true]) {
        function* main(): Coroutine<unknown> {
          const lock = new Lock();
          let holders = 0;
          yield* lock.acquire();
          const lockit = () =>
            createTask(function* () {
              yield* lock.acquire();
              holders++;
            });
          const [t1, t2, t3] = [lockit(), lockit(), lockit()];
          yield* sleep(0);
          loop.callSoon(() => {
            if (releaseFirst) lock.release();
            t1.cancel();
            if (!releaseFirst) lock.release();
          });
          const t1Out = yield* outcome(t1);
          yield* ticks(3);
          const state = [isCancel(t1Out), holders, t2.done() && !t2.cancelled(), t3.done(), lock.locked()];
          t3.cancel();
          yield* outcome(t3);
          lock.release(); // t2's
          return [...state, t3.cancelled(), lock.locked()];
        }
        expect(await run(loop, main)).toEqual([true, 1, true, false, true, true, false]);
      }
    }));

  it('use() runs generator, async and plain bodies, returns their value, releases on error', () =>
    withLoop(kind, async (loop) => {
      const lock = new Lock();
      function* main(): Coroutine<unknown[]> {
        const results: unknown[] = [];
        results.push(
          yield* lock.use(function* () {
            yield* sleep(1);
            return ['generator', lock.locked()];
          }),
        );
        results.push(yield* lock.use(async () => ['async', lock.locked()]));
        results.push(yield* lock.use(() => ['plain', lock.locked()]));
        results.push(yield* lock.use(() => sleep(1, ['future', lock.locked()])));
        try {
          yield* lock.use(function* () {
            yield* sleep(0);
            throw new Error('body failed');
          });
        } catch (e) {
          results.push([(e as Error).message, lock.locked()]);
        }
        try {
          yield* lock.use(async () => {
            throw new Error('async body failed');
          });
        } catch (e) {
          results.push([(e as Error).message, lock.locked()]);
        }
        return results;
      }
      expect(await run(loop, main)).toEqual([
        ['generator', true],
        ['async', true],
        ['plain', true],
        ['future', true],
        ['body failed', false],
        ['async body failed', false],
      ]);
    }));

  it('use() releases when cancelled inside a generator body', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const lock = new Lock();
        const t = createTask(lock.use(function* () {
          yield* sleep(10_000);
        }));
        yield* ticks(2);
        const lockedWhileRunning = lock.locked();
        t.cancel();
        const out = yield* outcome(t);
        return [lockedWhileRunning, isCancel(out), lock.locked()];
      }
      expect(await run(loop, main)).toEqual([true, true, false]);
    }));

  it('use() keeps the lock until an async body settles, then raises the cancellation', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const lock = new Lock();
        const log: string[] = [];
        let finish!: () => void;
        const t = createTask(
          lock.use(async () => {
            await new Promise<void>((resolve) => (finish = resolve));
            log.push('body settled');
          }),
        );
        yield* ticks(2);
        t.cancel();
        yield* sleep(5); // real time: the body is still running
        log.push(`after cancel: done=${t.done()} locked=${lock.locked()}`);
        t.cancel(); // a second cancellation is absorbed the same way
        finish();
        const out = yield* outcome(t);
        log.push(`task: ${isCancel(out) ? 'cancelled' : String(out)}, locked=${lock.locked()}`);
        return log;
      }
      expect(await run(loop, main)).toEqual([
        'after cancel: done=false locked=true',
        'body settled',
        'task: cancelled, locked=false',
      ]);
    }));

  it('fails an acquire at once for an aborted signal, carrying the reason', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const lock = new Lock();
        const reason = new Error('user left');
        const fut = lock.acquire({ signal: AbortSignal.abort(reason) });
        const err = (yield* outcome(fut)) as CancelledError;
        // Not acquired, even though the lock was free.
        return [fut.cancelled(), isCancel(err), err.message, err.cause === reason, lock.locked()];
      }
      expect(await run(loop, main)).toEqual([true, true, 'aborted: user left', true, false]);
    }));

  it('cancels a waiting acquire when its signal aborts (coroutine and async function)', () =>
    withLoop(kind, async (loop) => {
      const lock = new Lock();
      const ac1 = new AbortController();
      const ac2 = new AbortController();
      let co!: Task<void>;
      let fromAsync!: Task<void>;
      function* main(): Coroutine<unknown> {
        yield* lock.acquire();
        co = createTask(function* () {
          yield* lock.acquire({ signal: ac1.signal });
        });
        fromAsync = createTask(async () => {
          await lock.acquire({ signal: ac2.signal });
        });
        yield* sleep(0);
        const waiting = String(lock);
        ac1.abort('first reason');
        ac2.abort(new Error('second reason'));
        const e1 = (yield* outcome(co)) as CancelledError;
        const e2 = (yield* outcome(fromAsync)) as CancelledError;
        const afterAbort = String(lock);
        lock.release();
        return [waiting, afterAbort, e1.message, e1.cause, e2.message, lock.locked()];
      }
      expect(await run(loop, main)).toEqual([
        '<Lock [locked, waiters:2]>',
        '<Lock [locked]>',
        'aborted: first reason',
        'first reason',
        'aborted: second reason',
        false,
      ]);
      expect(co.cancelled() && fromAsync.cancelled()).toBe(true);
    }));

  it('lets a granted async waiter keep the lock when its signal aborts later', () =>
    withLoop(kind, async (loop) => {
      const lock = new Lock();
      const ac = new AbortController();
      function* main(): Coroutine<unknown> {
        yield* lock.acquire();
        const waiter = loop.createTask(async () => {
          await lock.acquire({ signal: ac.signal });
          const held = lock.locked();
          lock.release();
          return held;
        });
        yield* sleep(0);
        lock.release(); // granted ...
        ac.abort(); // ... too late to cancel
        return [yield* waiter, lock.locked()];
      }
      expect(await run(loop, main)).toEqual([true, false]);
    }));

  it('binds to the loop of its first wait', () =>
    withLoop(kind, async (loop) => {
      const lock = new Lock();
      const first = kind.create();
      try {
        await first.runUntilComplete(
          first.createTask(function* () {
            yield* lock.acquire();
            const t = createTask(function* () {
              yield* lock.acquire(); // waits: binds the lock to `first`
              lock.release();
            });
            yield* sleep(0);
            lock.release();
            yield* t;
          }),
        );
      } finally {
        first.close();
      }
      function* main(): Coroutine<string> {
        yield* lock.acquire(); // uncontended: allowed on any loop, as in asyncio
        try {
          lock.acquire();
          return 'no error';
        } catch (e) {
          return (e as Error).message;
        } finally {
          lock.release();
        }
      }
      expect(await run(loop, main)).toBe('<Lock [locked]> is bound to a different event loop');
    }));
});

describe.each(LOOPS)('$name loop: Semaphore and BoundedSemaphore', (kind) => {
  it('counts permits and serves waiters in order', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown[]> {
        const sem = new Semaphore(2);
        const states: unknown[] = [sem.value, sem.locked()];
        expect((yield* sem.acquire()) && (yield* sem.acquire())).toBe(true);
        states.push(sem.value, sem.locked(), String(sem));
        const order: number[] = [];
        const tasks = [0, 1, 2].map((i) =>
          createTask(function* () {
            yield* ticks(i);
            yield* sem.acquire();
            order.push(i);
          }),
        );
        yield* ticks(4);
        states.push(String(sem));
        sem.release(); // straight to task 0: the count stays 0
        states.push(sem.value);
        sem.release();
        sem.release();
        for (const t of tasks) yield* t;
        states.push(order, sem.value);
        for (let i = 0; i < 4; i++) sem.release(); // a plain Semaphore may go above its start
        states.push(sem.value, String(sem));
        return states;
      }
      expect(await run(loop, main)).toEqual([
        2,
        false,
        0,
        true,
        '<Semaphore [locked]>',
        '<Semaphore [locked, waiters:3]>',
        0,
        [0, 1, 2],
        0,
        4,
        '<Semaphore [unlocked, value:4]>',
      ]);
    }));

  it('limits async functions and coroutines to its count', () =>
    withLoop(kind, async (loop) => {
      const sem = new Semaphore(2);
      let running = 0;
      let peak = 0;
      const step = () => {
        running++;
        peak = Math.max(peak, running);
      };
      const tasks: Task<unknown>[] = [];
      for (let i = 0; i < 4; i++) {
        tasks.push(
          loop.createTask(async () => {
            await sem.acquire();
            try {
              step();
              await sleep(1);
            } finally {
              running--;
              sem.release();
            }
          }),
        );
        tasks.push(
          loop.createTask(
            sem.use(function* () {
              step();
              yield* sleep(1);
              running--;
            }),
          ),
        );
      }
      await loop.runUntilComplete(
        loop.createTask(function* () {
          for (const t of tasks) yield* t;
        }),
      );
      expect(peak).toBe(2);
      expect(sem.value).toBe(2);
    }));

  it('passes a permit on when its waiter is cancelled after the grant', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const sem = new Semaphore(1);
        yield* sem.acquire();
        const got: string[] = [];
        const b = createTask(function* () {
          yield* sem.acquire();
          got.push('b');
        });
        const c = createTask(function* () {
          yield* sem.acquire();
          got.push('c');
        });
        yield* sleep(0);
        sem.release(); // b granted
        b.cancel(); // cancelled before it resumes
        yield* c;
        const state = [isCancel(yield* outcome(b)), got, sem.value, sem.locked()];
        sem.release(); // c's permit
        return [...state, sem.value];
      }
      expect(await run(loop, main)).toEqual([true, ['c'], 0, true, 1]);
    }));

  it('leaks no permit under random cancellations', () =>
    withLoop(kind, async (loop) => {
      let seed = 12345;
      const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      function* main(): Coroutine<unknown> {
        const sem = new Semaphore(3);
        const lock = new Lock();
        let inside = 0;
        let peak = 0;
        const tasks: Task<void>[] = [];
        for (let i = 0; i < 60; i++) {
          tasks.push(
            createTask(function* () {
              yield* ticks(Math.floor(rand() * 5));
              yield* sem.use(function* () {
                inside++;
                peak = Math.max(peak, inside);
                try {
                  yield* lock.use(function* () {
                    yield* ticks(Math.floor(rand() * 3));
                  });
                } finally {
                  inside--;
                }
              });
            }),
          );
        }
        let cancelled = 0;
        while (tasks.some((t) => !t.done())) {
          // Cancel at random points: while waiting, just granted, or holding.
          for (const t of tasks) if (!t.done() && rand() < 0.08 && t.cancel()) cancelled++;
          yield* sleep(0);
        }
        return [peak <= 3, cancelled > 5, sem.value, sem.locked(), lock.locked(), String(lock)];
      }
      expect(await run(loop, main)).toEqual([true, true, 3, false, false, '<Lock [unlocked]>']);
    }));

  it('rejects a BoundedSemaphore release above its start', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const sem = new BoundedSemaphore(2);
        expect(() => sem.release()).toThrow(RangeError);
        yield* sem.acquire();
        sem.release();
        let message = '';
        try {
          sem.release();
        } catch (e) {
          message = `${(e as Error).name}: ${(e as Error).message}`;
        }
        return [message, sem.value, String(sem)];
      }
      expect(await run(loop, main)).toEqual([
        'RangeError: BoundedSemaphore released too many times',
        2,
        '<BoundedSemaphore [unlocked, value:2]>',
      ]);
    }));

  it('cancels a waiting acquire on signal abort', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const sem = new Semaphore(0);
        const ac = new AbortController();
        const fut = sem.acquire({ signal: ac.signal });
        yield* sleep(0);
        ac.abort(new Error('timeout'));
        const err = (yield* outcome(fut)) as CancelledError;
        sem.release();
        return [err.message, sem.value, sem.locked()];
      }
      expect(await run(loop, main)).toEqual(['aborted: timeout', 1, false]);
    }));
});

describe.each(LOOPS)('$name loop: Event', (kind) => {
  it('wakes every waiter, coroutine and async function, on set()', () =>
    withLoop(kind, async (loop) => {
      const ev = new Event();
      const woken: string[] = [];
      const a = loop.createTask(function* () {
        woken.push(`a:${yield* ev.wait()}`);
      });
      const b = loop.createTask(async () => {
        woken.push(`b:${await ev.wait()}`);
      });
      function* main(): Coroutine<unknown[]> {
        yield* ticks(2);
        const before = [ev.isSet(), woken.length, String(ev)];
        ev.set();
        ev.set(); // no effect
        yield* a;
        yield* b;
        const now = ev.wait();
        const after = [ev.isSet(), now.done(), yield* now, String(ev)];
        ev.clear();
        const blocked = ev.wait();
        yield* ticks(2);
        const afterClear = [ev.isSet(), blocked.done()];
        ev.set();
        return [before, after, afterClear, yield* blocked];
      }
      expect(await run(loop, main)).toEqual([
        [false, 0, '<Event [unset, waiters:2]>'],
        [true, true, true, '<Event [set]>'],
        [false, false],
        true,
      ]);
      expect(woken.sort()).toEqual(['a:true', 'b:true']);
    }));

  it('still wakes waiters when clear() follows set() before they run', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const ev = new Event();
        const t = createTask(function* () {
          return yield* ev.wait();
        });
        yield* sleep(0);
        ev.set();
        ev.clear();
        return [yield* t, ev.isSet()];
      }
      expect(await run(loop, main)).toEqual([true, false]);
    }));

  it('drops a cancelled or aborted waiter from the line', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const ev = new Event();
        const ac = new AbortController();
        const t1 = createTask(function* () {
          yield* ev.wait();
        });
        const t2 = createTask(function* () {
          yield* ev.wait({ signal: ac.signal });
        });
        const t3 = createTask(function* () {
          return yield* ev.wait();
        });
        yield* sleep(0);
        t1.cancel();
        ac.abort('gone');
        const line = String(ev);
        const e2 = (yield* outcome(t2)) as CancelledError;
        ev.set();
        const pre = ev.wait({ signal: AbortSignal.abort('pre') });
        return [line, isCancel(yield* outcome(t1)), e2.message, yield* t3, pre.cancelled()];
      }
      expect(await run(loop, main)).toEqual(['<Event [unset, waiters:1]>', true, 'aborted: gone', true, true]);
    }));
});

describe.each(LOOPS)('$name loop: Condition', (kind) => {
  // The traces asyncio 3.13 prints for the same programs (a ticker task
  // gives the iterations their names).
  it('resumes a notified waiter in the next iteration, as asyncio does', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<string[]> {
        const trace: string[] = [];
        const cond = new Condition();
        const ticker = createTask(function* () {
          for (let i = 0; i < 4; i++) {
            trace.push(`t${i}`);
            yield* sleep(0);
          }
        });
        const waiter = createTask(
          cond.use(function* () {
            yield* cond.wait();
            trace.push('waiter resumed');
          }),
        );
        yield* sleep(0);
        yield* cond.use(() => {
          trace.push('notify');
          cond.notify();
        });
        yield* ticker;
        yield* waiter;
        return trace;
      }
      expect(await run(loop, main)).toEqual(['t0', 'notify', 't1', 'waiter resumed', 't2', 't3']);
    }));

  it('resumes a waiter granted the lock back in the iteration after the release, before the waiters it notified', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<string[]> {
        const trace: string[] = [];
        const cond = new Condition();
        const w1 = createTask(
          cond.use(function* () {
            try {
              yield* cond.wait();
              trace.push('w1 woke');
            } catch (e) {
              trace.push(`w1 ${isCancel(e) ? 'cancelled' : e}, holding ${cond.locked()}`);
              throw e;
            }
          }),
        );
        const w2 = createTask(
          cond.use(function* () {
            yield* cond.wait();
            trace.push('w2 woke');
          }),
        );
        yield* sleep(0);
        yield* cond.acquire();
        cond.notify(1); // w1 must wait for the lock we hold
        yield* sleep(10);
        w1.cancel();
        yield* sleep(10);
        trace.push(`w1 done while the lock is held: ${w1.done()}`);
        cond.release(); // w1 takes it, raises, passes the notification on to w2
        try {
          yield* w1;
        } catch {
          trace.push('main saw w1 cancelled');
        }
        yield* w2;
        return trace;
      }
      expect(await run(loop, main)).toEqual([
        'w1 done while the lock is held: false',
        'w1 cancelled, holding true',
        'w2 woke',
        'main saw w1 cancelled',
      ]);
    }));

  it('notifies waiters in FIFO order; each resumes holding the lock', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const cond = new Condition();
        const log: string[] = [];
        const waiter = (name: string, rank: number) =>
          createTask(
            cond.use(function* () {
              yield* ticks(0);
              const r = yield* cond.wait();
              log.push(`${name}:${r}:${cond.locked()}`);
              yield* sleep(0); // keep the lock a while: the next one must wait for it
              log.push(`${name} out`);
            }),
            { name: `rank${rank}` },
          );
        const tasks = [waiter('a', 0)];
        yield* sleep(0);
        tasks.push(waiter('b', 1));
        yield* sleep(0);
        tasks.push(waiter('c', 2));
        yield* ticks(2);
        const line = String(cond);
        yield* cond.use(() => cond.notify(1));
        yield* ticks(4);
        log.push('notify 2');
        yield* cond.acquire();
        cond.notifyAll();
        cond.release();
        for (const t of tasks) yield* t;
        return [line, log, String(cond)];
      }
      expect(await run(loop, main)).toEqual([
        '<Condition [unlocked, waiters:3]>',
        ['a:true:true', 'a out', 'notify 2', 'b:true:true', 'b out', 'c:true:true', 'c out'],
        '<Condition [unlocked]>',
      ]);
    }));

  it('lets a woken waiter ask for the lock only when it runs, as in asyncio', () =>
    withLoop(kind, async (loop) => {
      // asyncio: notify() only schedules the waiter; a task that takes the
      // lock in the same step gets it first, and the waiter waits for it.
      function* main(): Coroutine<unknown> {
        const cond = new Condition();
        const log: string[] = [];
        const w = createTask(
          cond.use(function* () {
            yield* cond.wait();
            log.push('waiter resumed');
          }),
        );
        yield* sleep(0);
        yield* cond.acquire();
        cond.notify();
        cond.release();
        const again = cond.acquire();
        log.push(`re-acquired at once: ${again.done()}`);
        yield* ticks(3);
        log.push(`waiter done while held: ${w.done()}`);
        cond.release();
        yield* w;
        return log;
      }
      expect(await run(loop, main)).toEqual([
        're-acquired at once: true',
        'waiter done while held: false',
        'waiter resumed',
      ]);
    }));

  it('requires the lock for wait() and notify()', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<string[]> {
        const cond = new Condition();
        const messages: string[] = [];
        for (const f of [() => cond.wait(), () => cond.waitFor(() => false), () => cond.notify(), () => cond.notifyAll()]) {
          try {
            f();
          } catch (e) {
            messages.push((e as Error).message);
          }
        }
        yield* sleep(0);
        return messages;
      }
      expect(await run(loop, main)).toEqual([
        'cannot wait on un-acquired lock',
        'cannot wait on un-acquired lock',
        'cannot notify on un-acquired lock',
        'cannot notify on un-acquired lock',
      ]);
    }));

  it('waitFor() re-checks the predicate, holding the lock, and returns its value', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const cond = new Condition();
        let value = 0;
        const checks: boolean[] = [];
        const t = createTask(
          cond.use(function* () {
            return yield* cond.waitFor(() => {
              checks.push(cond.locked());
              return value >= 2 && `value ${value}`;
            });
          }),
        );
        for (let i = 0; i < 3; i++) {
          yield* ticks(2);
          yield* cond.use(() => {
            value++;
            cond.notify();
          });
        }
        const result = yield* t;
        // Already true: no wait at all.
        yield* cond.acquire();
        const immediate = cond.waitFor(() => 'now');
        cond.release();
        return [result, checks.length, checks.every(Boolean), immediate.done(), yield* immediate];
      }
      // Checked on entry, then after the notifies at value 1 and 2.
      expect(await run(loop, main)).toEqual(['value 2', 3, true, true, 'now']);
    }));

  it('raises a predicate error from waitFor() with the lock held', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const cond = new Condition();
        let armed = false;
        const t = createTask(
          cond.use(function* () {
            try {
              yield* cond.waitFor(() => {
                if (armed) throw new Error('predicate broke');
                return false;
              });
            } catch (e) {
              return [(e as Error).message, cond.locked()];
            }
          }),
        );
        yield* ticks(2);
        armed = true;
        yield* cond.use(() => cond.notify());
        return [yield* t, cond.locked()];
      }
      expect(await run(loop, main)).toEqual([['predicate broke', true], false]);
    }));

  it('re-acquires the lock before raising when a waiting wait() is cancelled', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<string[]> {
        const cond = new Condition();
        const log: string[] = [];
        const w = createTask(function* () {
          yield* cond.acquire();
          try {
            yield* cond.wait();
          } catch (e) {
            log.push(`waiter: ${isCancel(e) ? 'cancelled' : e}, holds lock: ${cond.locked()}`);
          } finally {
            cond.release(); // throws if the lock were not held
          }
        });
        yield* sleep(0);
        yield* cond.acquire(); // someone else holds the lock now
        w.cancel('stop');
        yield* ticks(3);
        log.push(`holder still holds it, waiter done: ${w.done()}`);
        cond.release();
        yield* w;
        log.push(`lock free: ${!cond.locked()}`);
        return log;
      }
      expect(await run(loop, main)).toEqual([
        'holder still holds it, waiter done: false',
        'waiter: cancelled, holds lock: true',
        'lock free: true',
      ]);
    }));

  it('passes a notification on when the notified waiter is cancelled', () =>
    withLoop(kind, async (loop) => {
      // Both windows: cancelled while re-acquiring, and cancelled after its
      // wait() was done (lock held) but before its task resumed. That second
      // window exists only when the task is not the wait's only waiter (a
      // lone task finishes the wait in its own turn and resumes at once),
      // hence the extra done callback.
      for (const late of [false, true]) {
        function* main(): Coroutine<unknown> {
          const cond = new Condition();
          const log: string[] = [];
          let w1Wait: Future<true> | null = null;
          let w1Resumed = false;
          const w1 = createTask(function* () {
            yield* cond.acquire();
            try {
              w1Wait = cond.wait();
              if (late) w1Wait.addDoneCallback(() => {});
              yield* w1Wait;
              w1Resumed = true;
            } catch (e) {
              log.push(`w1 ${isCancel(e) ? 'cancelled' : e} holding ${cond.locked()}`);
            } finally {
              cond.release();
            }
          });
          const w2 = createTask(function* () {
            yield* sleep(0);
            yield* cond.use(function* () {
              yield* cond.wait();
              log.push('w2 woken');
            });
          });
          yield* ticks(3);
          yield* cond.acquire();
          cond.notify(1); // only w1
          cond.release();
          if (late) {
            while (!w1Wait!.done()) yield* sleep(0);
            log.push(`w1 wait done, resumed: ${w1Resumed}`);
          }
          w1.cancel();
          yield* ticks(6);
          return [log, w2.done()];
        }
        expect(await run(loop, main)).toEqual([
          [...(late ? ['w1 wait done, resumed: false'] : []), 'w1 cancelled holding true', 'w2 woken'],
          true,
        ]);
      }
    }));

  it('works from async functions, and aborts a wait by signal after re-acquiring', () =>
    withLoop(kind, async (loop) => {
      const cond = new Condition();
      const ac = new AbortController();
      const log: string[] = [];
      const consumer = loop.createTask(async () => {
        await cond.acquire();
        try {
          await cond.wait();
          log.push(`consumer woken, holding ${cond.locked()}`);
        } finally {
          cond.release();
        }
      });
      const aborted = loop.createTask(async () => {
        await cond.acquire();
        try {
          await cond.wait({ signal: ac.signal });
        } catch (e) {
          log.push(`${(e as Error).message}, holding ${cond.locked()}`);
        } finally {
          cond.release();
        }
      });
      function* main(): Coroutine<void> {
        yield* sleep(2);
        yield* cond.acquire();
        ac.abort(new Error('bye')); // must wait for the lock, held here
        yield* sleep(2);
        log.push('producer notifies');
        cond.notify(); // the aborted waiter passed its spurious wakeup on already
        cond.release();
        yield* consumer;
        yield* aborted;
      }
      await run(loop, main);
      expect(log).toEqual(['producer notifies', 'aborted: bye, holding true', 'consumer woken, holding true']);
    }));

  it('shares a Lock between Conditions', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const lock = new Lock();
        const c1 = new Condition(lock);
        const c2 = new Condition(lock);
        yield* c1.acquire();
        const state = [c2.locked(), lock.locked()];
        c2.release();
        return [...state, c1.locked()];
      }
      expect(await run(loop, main)).toEqual([true, true, false]);
    }));
});

describe.each(LOOPS)('$name loop: Barrier', (kind) => {
  it('lets its parties go in the iteration after it trips, as asyncio does', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown[]> {
        const barrier = new Barrier(2);
        const t0 = createTask(function* () {
          return yield* barrier.wait();
        });
        const t1 = createTask(function* () {
          return yield* barrier.wait();
        });
        yield* sleep(0); // both arrive: t1 trips it
        yield* sleep(0); // t0 has resumed with its index
        t0.cancel();
        const results: unknown[] = [];
        for (const t of [t0, t1]) results.push(yield* outcome(t));
        return results;
      }
      expect(await run(loop, main)).toEqual([0, 1]);
    }));

  it('releases all parties together, each with its arrival index, round after round', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const barrier = new Barrier(3);
        const rounds: unknown[] = [];
        for (let round = 0; round < 2; round++) {
          const waits = [2, 0, 1].map((rank) =>
            createTask(function* () {
              yield* ticks(rank);
              return yield* barrier.wait();
            }),
          );
          yield* ticks(2);
          const filling = [barrier.nWaiting, waits.map((t) => t.done()), String(barrier)];
          const results: number[] = [];
          for (const t of waits) results.push(yield* t);
          rounds.push([filling, results, barrier.nWaiting]);
        }
        return rounds;
      }
      const round = [[2, [false, false, false], '<Barrier [filling, waiters:2/3]>'], [2, 0, 1], 0];
      expect(await run(loop, main)).toEqual([round, round]);
    }));

  it('lets the last party through without suspending; parties of 1 never wait', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const one = new Barrier(1);
        const a = one.wait();
        const b = one.wait();
        const two = new Barrier(2);
        const first = two.wait();
        const last = two.wait();
        return [a.done(), yield* a, yield* b, last.done(), yield* last, yield* first];
      }
      expect(await run(loop, main)).toEqual([true, 0, 0, true, 1, 0]);
    }));

  it('works with async functions and coroutines together', () =>
    withLoop(kind, async (loop) => {
      const barrier = new Barrier(2);
      const a = loop.createTask(async () => barrier.wait());
      const b = loop.createTask(function* () {
        yield* sleep(1);
        return yield* barrier.wait();
      });
      expect(await loop.runUntilComplete(a)).toBe(0);
      expect(await loop.runUntilComplete(b)).toBe(1);
    }));

  it('holds newcomers back until the tripped round has drained', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const barrier = new Barrier(2);
        const a = barrier.wait();
        yield* sleep(0);
        const b = barrier.wait(); // trips
        const c = barrier.wait(); // arrives while a has not left yet
        const draining = String(barrier);
        yield* ticks(2);
        const d = barrier.wait();
        return [draining, yield* a, yield* b, yield* c, yield* d, String(barrier)];
      }
      expect(await run(loop, main)).toEqual([
        '<Barrier [draining, waiters:0/2]>',
        0,
        1,
        0, // c is the first of the next round
        1,
        '<Barrier [filling, waiters:0/2]>',
      ]);
    }));

  it('lets a cancelled waiter leave without breaking the barrier (asyncio indices)', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const barrier = new Barrier(3);
        const arrive = (rank: number) =>
          createTask(function* () {
            yield* ticks(rank);
            return yield* barrier.wait();
          });
        const a = arrive(0);
        const b = arrive(1);
        yield* ticks(3);
        const before = barrier.nWaiting;
        a.cancel();
        yield* sleep(0);
        const after = [barrier.nWaiting, barrier.broken];
        const c = arrive(0);
        const d = arrive(1);
        const aOut = yield* outcome(a);
        return [before, after, isCancel(aOut), yield* b, yield* c, yield* d];
      }
      // asyncio's index is the count at arrival: c reuses index 1 after a left.
      expect(await run(loop, main)).toEqual([2, [1, false], true, 1, 1, 2]);
    }));

  it('breaks waiters on abort() until reset(), and on reset()', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const barrier = new Barrier(3);
        const w1 = createTask(function* () {
          return yield* barrier.wait();
        });
        yield* sleep(0);
        barrier.abort();
        const e1 = yield* outcome(w1);
        const e2 = yield* outcome(barrier.wait()); // broken: fails at once
        const brokenState = [barrier.broken, String(barrier)];
        barrier.reset();
        const resetState = [barrier.broken, String(barrier)];
        // reset() while tasks wait breaks them, and leaves a usable barrier.
        const w2 = barrier.wait();
        const w3 = barrier.wait();
        yield* sleep(0);
        barrier.reset();
        const e3 = yield* outcome(w2);
        const e4 = yield* outcome(w3);
        const again = [barrier.wait(), barrier.wait(), barrier.wait()];
        const indexes: number[] = [];
        for (const w of again) indexes.push(yield* w);
        return [
          [e1, e2, e3, e4].map((e) => (e instanceof BrokenBarrierError ? (e as Error).message : String(e))),
          brokenState,
          resetState,
          indexes,
        ];
      }
      expect(await run(loop, main)).toEqual([
        ['Abort or reset of barrier', 'Barrier aborted', 'Abort or reset of barrier', 'Abort or reset of barrier'],
        [true, '<Barrier [broken]>'],
        [false, '<Barrier [filling, waiters:0/3]>'],
        [0, 1, 2],
      ]);
    }));

  it('cancels a wait on signal abort, with the reason', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const barrier = new Barrier(2);
        const ac = new AbortController();
        const w = barrier.wait({ signal: ac.signal });
        const before = barrier.nWaiting;
        ac.abort(new Error('late'));
        const err = (yield* outcome(w)) as CancelledError;
        const pre = barrier.wait({ signal: AbortSignal.abort() });
        return [before, barrier.nWaiting, err.message, (err.cause as Error).message, pre.cancelled(), barrier.nWaiting];
      }
      expect(await run(loop, main)).toEqual([1, 0, 'aborted: late', 'late', true, 0]);
    }));
});

describe.each(LOOPS)('$name loop: bad input', (kind) => {
  it('throws TypeError for wrong types and RangeError for bad numbers', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<string[]> {
        const lock = new Lock();
        const cond = new Condition();
        yield* cond.acquire();
        const cases: [string, () => unknown][] = [
          ['Semaphore(-1)', () => new Semaphore(-1)],
          ['Semaphore(1.5)', () => new Semaphore(1.5)],
          ['Semaphore(NaN)', () => new Semaphore(NaN)],
          ["Semaphore('2')", () => new Semaphore('2' as never)],
          ['BoundedSemaphore(-2)', () => new BoundedSemaphore(-2)],
          ['Barrier(0)', () => new Barrier(0)],
          ['Barrier(2.5)', () => new Barrier(2.5)],
          ['Barrier()', () => new (Barrier as unknown as new () => Barrier)()],
          ['Condition({})', () => new Condition({} as never)],
          ['acquire(5)', () => lock.acquire(5 as never)],
          ['acquire({signal: 1})', () => lock.acquire({ signal: 1 as never })],
          ['use(5)', () => lock.use(5 as never)],
          ['use(fn, null)', () => lock.use(() => 1, null as never)],
          ['waitFor(5)', () => cond.waitFor(5 as never)],
          ["notify('1')", () => cond.notify('1' as never)],
          ['notify(-1)', () => cond.notify(-1)],
          ['notify(0.5)', () => cond.notify(0.5)],
          ['Event.wait(null)', () => new Event().wait(null as never)],
          ['Barrier.wait("x")', () => new Barrier(2).wait('x' as never)],
        ];
        const out: string[] = [];
        for (const [name, f] of cases) {
          try {
            f();
            out.push(`${name}: no error`);
          } catch (e) {
            out.push(`${name}: ${(e as Error).name}`);
          }
        }
        cond.release();
        return out;
      }
      expect(await run(loop, main)).toEqual([
        'Semaphore(-1): RangeError',
        'Semaphore(1.5): RangeError',
        'Semaphore(NaN): RangeError',
        "Semaphore('2'): TypeError",
        'BoundedSemaphore(-2): RangeError',
        'Barrier(0): RangeError',
        'Barrier(2.5): RangeError',
        'Barrier(): TypeError',
        'Condition({}): TypeError',
        'acquire(5): TypeError',
        'acquire({signal: 1}): TypeError',
        'use(5): TypeError',
        'use(fn, null): TypeError',
        'waitFor(5): TypeError',
        "notify('1'): TypeError",
        'notify(-1): RangeError',
        'notify(0.5): RangeError',
        'Event.wait(null): TypeError',
        'Barrier.wait("x"): TypeError',
      ]);
      expect(new Semaphore().value).toBe(1);
      expect(new Semaphore(0).locked()).toBe(true);
    }));
});
