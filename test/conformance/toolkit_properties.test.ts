/**
 * Property tests of the concurrency toolkit under random cancellation, on
 * every loop: tasks that take and give back a BoundedSemaphore (or Lock)
 * and producers and consumers of a bounded Queue, with tasks cancelled at
 * random points (while waiting, or while holding). asyncio's guarantees
 * that must survive any such schedule:
 * - a semaphore never has more holders than permits, and ends with exactly
 *   its permits free (none lost to a cancelled waiter, none made up);
 * - every task not cancelled finishes (no lost wake-up);
 * - an item whose put() completed is got exactly once, an item whose put()
 *   was cancelled never (a cancelled get() loses no item).
 *
 * fast-check prints the seed and the shrunk schedule of a failure; replay
 * one with `fc.assert(..., { seed, path })` in this file.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createTask, gather, sleep, type Coroutine, type EventLoop, type Task } from '../../lib/index.js';
import { BoundedSemaphore, Lock } from '../../lib/locks.js';
import { Queue } from '../../lib/queues.js';
import { LOOPS, withLoop } from '../loops.js';

/** Give up `n` loop iterations (or, with `ms`, sleep that long). */
function* pause(n: number, ms: boolean): Coroutine<void> {
  if (ms) {
    yield* sleep(1);
    return;
  }
  for (let i = 0; i < n; i++) yield* sleep(0);
}

const step = fc.record({ before: fc.nat(3), hold: fc.nat(3), ms: fc.boolean() });
/** Cancel task `task` (modulo the task count) after `tick` iterations of the driver. */
const cancellation = fc.record({ task: fc.nat(), tick: fc.nat(12) });

const semaphoreCase = fc.record({
  permits: fc.integer({ min: 1, max: 3 }),
  lock: fc.boolean(), // with one permit: a Lock instead of BoundedSemaphore(1)
  workers: fc.array(fc.array(step, { minLength: 1, maxLength: 4 }), { minLength: 2, maxLength: 8 }),
  cancels: fc.array(cancellation, { maxLength: 4 }),
});
type SemaphoreCase = typeof semaphoreCase extends fc.Arbitrary<infer T> ? T : never;

/** Run `tasks` while cancelling them on schedule; return which ones were cancelled. */
function* drive(tasks: Task<unknown>[], cancels: { task: number; tick: number }[]): Coroutine<Set<number>> {
  const byTick = [...cancels].sort((a, b) => a.tick - b.tick);
  const cancelled = new Set<number>();
  for (let tick = 0; byTick.length > 0; tick++) {
    while (byTick.length > 0 && byTick[0]!.tick <= tick) {
      const i = byTick.shift()!.task % tasks.length;
      if (tasks[i]!.cancel()) cancelled.add(i);
    }
    yield* sleep(0);
  }
  yield* gather(tasks, { returnExceptions: true });
  return cancelled;
}

function* semaphoreRun(c: SemaphoreCase): Coroutine<void> {
  const useLock = c.lock && c.permits === 1;
  const sem = useLock ? new Lock() : new BoundedSemaphore(c.permits);
  let holders = 0;
  let most = 0;
  const finished: boolean[] = c.workers.map(() => false);
  const tasks = c.workers.map((steps, w) =>
    createTask(
      (function* worker(): Coroutine<void> {
        for (const s of steps) {
          yield* pause(s.before, false);
          yield* sem.acquire();
          try {
            holders++;
            most = Math.max(most, holders);
            yield* pause(s.hold, s.ms);
          } finally {
            holders--;
            sem.release();
          }
        }
        finished[w] = true;
      })(),
    ),
  );
  const cancelled = yield* drive(tasks, c.cancels);
  expect(most).toBeLessThanOrEqual(c.permits);
  expect(holders).toBe(0);
  // Every task that was not cancelled (or was cancelled only after it finished) ran all its steps.
  tasks.forEach((t, i) => {
    if (!cancelled.has(i)) expect(finished[i], `worker ${i}`).toBe(true);
    if (!t.cancelled()) expect(t.exception()).toBeNull();
  });
  // Exactly `permits` are free: each acquire completes at once, one more would wait.
  const takes = Array.from({ length: c.permits }, () => sem.acquire());
  expect(takes.map((f) => f.done())).toEqual(takes.map(() => true));
  const extra = sem.acquire();
  expect(extra.done()).toBe(false);
  extra.cancel();
  for (let i = 0; i < c.permits; i++) sem.release();
  if (!useLock) expect(() => sem.release()).toThrow(); // BoundedSemaphore: no permit was made up
}

const queueCase = fc.record({
  maxsize: fc.integer({ min: 1, max: 4 }),
  producers: fc.array(fc.array(fc.nat(2), { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 4 }),
  consumers: fc.array(fc.nat(2), { minLength: 1, maxLength: 4 }),
  cancels: fc.array(cancellation, { maxLength: 5 }),
});
type QueueCase = typeof queueCase extends fc.Arbitrary<infer T> ? T : never;

function* queueRun(c: QueueCase): Coroutine<void> {
  const q = new Queue<number>(c.maxsize);
  const put = new Set<number>(); // puts that completed
  const got: number[] = [];
  let nextItem = 0;
  const producers = c.producers.map((delays) =>
    createTask(
      (function* producer(): Coroutine<void> {
        for (const d of delays) {
          const item = nextItem++;
          yield* pause(d, false);
          yield* q.put(item);
          put.add(item);
        }
      })(),
    ),
  );
  const consumers = c.consumers.map((d) =>
    createTask(
      (function* consumer(): Coroutine<void> {
        for (;;) {
          got.push(yield* q.get());
          yield* pause(d, false);
        }
      })(),
    ),
  );
  // Cancellations hit producers and consumers alike (indexes over both).
  const all = [...producers, ...consumers] as Task<unknown>[];
  const byTick = [...c.cancels].sort((a, b) => a.tick - b.tick);
  for (let tick = 0; byTick.length > 0; tick++) {
    while (byTick.length > 0 && byTick[0]!.tick <= tick) all[byTick.shift()!.task % all.length]!.cancel();
    yield* sleep(0);
  }
  // One more consumer, so producers never wait on a full queue whose consumers were all cancelled.
  const drainer = createTask(
    (function* drainer(): Coroutine<void> {
      for (;;) got.push(yield* q.get());
    })(),
  );
  yield* gather(producers, { returnExceptions: true });
  // Let the consumers take what they can, then stop them and drain the rest.
  yield* pause(3, false);
  for (const t of consumers) t.cancel();
  drainer.cancel();
  yield* gather([...consumers, drainer], { returnExceptions: true });
  while (!q.empty()) got.push(q.getNowait());
  expect([...got].sort((a, b) => a - b)).toEqual([...put].sort((a, b) => a - b));
  for (const t of producers) if (!t.cancelled()) expect(t.exception()).toBeNull();
  for (const t of consumers) expect(t.cancelled()).toBe(true);
  expect(drainer.cancelled()).toBe(true);
}

/** Check `numRuns` random cases of `cases`, each run to completion on the test's loop. */
function checkOnLoop<C>(kind: (typeof LOOPS)[number], cases: fc.Arbitrary<C>, body: (c: C) => Coroutine<void>, numRuns: number): Promise<void> {
  return withLoop(kind, async (loop: EventLoop) => {
    await fc.assert(
      fc.asyncProperty(cases, async (c) => {
        await loop.runUntilComplete(body(c));
      }),
      { numRuns, endOnFailure: true },
    );
  });
}

describe.each(LOOPS)('$name loop: toolkit properties under cancellation', (kind) => {
  it('a semaphore or lock keeps its count under random holders and cancellations', () => checkOnLoop(kind, semaphoreCase, semaphoreRun, 150), 60_000);

  it('a bounded queue loses and duplicates no item under random cancellations of producers and consumers', () =>
    checkOnLoop(kind, queueCase, queueRun, 200), 60_000);
});
