/** Queue conformance (asyncio's test_queues, 3.13 shutdown included), on every loop. */
import { describe, expect, it } from 'vitest';
import {
  CancelledError,
  QueueEmpty,
  QueueFull,
  QueueShutDown,
  TimeoutError,
  createTask,
  fromPromise,
  gather,
  sleep,
  waitFor,
  type Coroutine,
  type EventLoop,
  type Task,
} from '../../lib/index.js';
import { LifoQueue, PriorityQueue, Queue } from '../../lib/queues.js';
import { LOOPS, withLoop } from '../loops.js';

const run = <T>(loop: EventLoop, main: () => Coroutine<T>) => loop.runUntilComplete(main());

/** Let every ready task run until it waits again (a few loop iterations). */
function* settle(): Coroutine<void> {
  for (let i = 0; i < 3; i++) yield* sleep(0);
}

/** Wait for a task and return what it ended with: its result, its error, or 'cancelled'. */
function* outcome(t: Task<unknown>): Coroutine<unknown> {
  try {
    return yield* t;
  } catch (e) {
    return e instanceof CancelledError ? 'cancelled' : e;
  }
}

/** A task that gets one item from `q` (`yield* q.get()`). */
function getter<T>(q: Queue<T>): Task<T> {
  return createTask(
    (function* () {
      return yield* q.get();
    })(),
  );
}

/** A task that puts `item` into `q` (`yield* q.put(item)`). */
function putter<T>(q: Queue<T>, item: T): Task<void> {
  return createTask(
    (function* () {
      yield* q.put(item);
    })(),
  );
}

function drain<T>(q: Queue<T>): T[] {
  const out: T[] = [];
  while (!q.empty()) out.push(q.getNowait());
  return out;
}

/** A deterministic pseudo-random sequence (tests must be reproducible). */
function lcg(seed: number): () => number {
  let x = seed;
  return () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32;
}

describe.each(LOOPS)('$name loop: Queue basics', (kind) => {
  it('is FIFO, counts its items and fails nowait calls with QueueEmpty / QueueFull', () =>
    withLoop(kind, async () => {
      const q = new Queue<number>(3);
      expect([q.maxsize, q.qsize(), q.empty(), q.full()]).toEqual([3, 0, true, false]);
      expect(() => q.getNowait()).toThrow(QueueEmpty);
      q.putNowait(1);
      q.putNowait(2);
      q.putNowait(3);
      expect([q.qsize(), q.empty(), q.full()]).toEqual([3, false, true]);
      expect(() => q.putNowait(4)).toThrow(QueueFull);
      expect(q.qsize()).toBe(3);
      expect(String(q)).toBe('<Queue maxsize=3 qsize=3 tasks=3>');
      expect(drain(q)).toEqual([1, 2, 3]);
      expect(() => q.getNowait()).toThrow(QueueEmpty);
    }));

  it('is unbounded with maxsize 0 and keeps order across buffer growth and wrap-around', () =>
    withLoop(kind, async () => {
      const q = new Queue<number>();
      expect(q.maxsize).toBe(0);
      const out: number[] = [];
      let next = 0;
      // Uneven put/get bursts move the ring's head around and make it grow while wrapped.
      for (let round = 0; round < 200; round++) {
        for (let i = 0; i < (round % 7) + 3; i++) q.putNowait(next++);
        for (let i = 0; i < (round % 5) + 1 && !q.empty(); i++) out.push(q.getNowait());
      }
      expect(q.full()).toBe(false);
      out.push(...drain(q));
      expect(out).toEqual(Array.from({ length: next }, (_, i) => i));
    }));

  it('gets from a LifoQueue in last in, first out order', () =>
    withLoop(kind, async () => {
      const q = new LifoQueue<string>(2);
      q.putNowait('a');
      q.putNowait('b');
      expect(() => q.putNowait('c')).toThrow(QueueFull);
      expect(q.getNowait()).toBe('b');
      q.putNowait('c');
      expect(drain(q)).toEqual(['c', 'a']);
      expect(q).toBeInstanceOf(Queue);
    }));

  it('gets from a PriorityQueue smallest first, numbers and strings in natural order', () =>
    withLoop(kind, async () => {
      const nums = new PriorityQueue<number>();
      for (const n of [5, 1, 4, 1, 5, 9, 2, 6, 5, 3, -7, 0.5]) nums.putNowait(n);
      expect(drain(nums)).toEqual([-7, 0.5, 1, 1, 2, 3, 4, 5, 5, 5, 6, 9]);
      const words = new PriorityQueue<string>(0);
      for (const w of ['pear', 'apple', 'fig']) words.putNowait(w);
      expect(drain(words)).toEqual(['apple', 'fig', 'pear']);
    }));

  it('keeps PriorityQueue items of equal priority in FIFO order, with a compare option', () =>
    withLoop(kind, async () => {
      type Job = { prio: number; id: number };
      const rand = lcg(42);
      const q = new PriorityQueue<Job>({ compare: (a, b) => a.prio - b.prio });
      // Reference model: the smallest priority, the earliest put among equals.
      const present: Job[] = [];
      const expectNext = () => {
        const best = present.reduce((m, j) => (j.prio < m.prio || (j.prio === m.prio && j.id < m.id) ? j : m));
        present.splice(present.indexOf(best), 1);
        return best;
      };
      for (let id = 0; id < 600; id++) {
        const job = { prio: Math.floor(rand() * 5), id };
        q.putNowait(job);
        present.push(job);
        // Interleaved gets exercise sift-down on heaps of every shape.
        while (present.length > 0 && rand() < 0.4) expect(q.getNowait()).toBe(expectNext());
      }
      while (present.length > 0) expect(q.getNowait()).toBe(expectNext());
      expect(q.empty()).toBe(true);
      // A compare option can reverse the order; equal items still come out FIFO.
      const maxFirst = new PriorityQueue<Job>(0, { compare: (a, b) => b.prio - a.prio });
      const jobs = Array.from({ length: 50 }, (_, id) => ({ prio: id % 3, id }));
      for (const j of jobs) maxFirst.putNowait(j);
      expect(drain(maxFirst)).toEqual([...jobs].sort((a, b) => b.prio - a.prio || a.id - b.id));
      expect(new PriorityQueue<number>({ maxsize: 2 }).maxsize).toBe(2);
    }));

  it('treats a maxsize of 0 or less as unbounded, as asyncio does', () =>
    withLoop(kind, async () => {
      for (const q of [new Queue<number>(-1), new LifoQueue<number>(-5), new PriorityQueue<number>({ maxsize: -1 })]) {
        for (let i = 0; i < 1000; i++) q.putNowait(i);
        expect([q.qsize(), q.full(), q.maxsize < 0]).toEqual([1000, false, true]);
      }
    }));

  it('rejects bad arguments with TypeError / RangeError', () =>
    withLoop(kind, async () => {
      for (const bad of [1.5, NaN, Infinity, -Infinity]) {
        expect(() => new Queue(bad)).toThrow(RangeError);
        expect(() => new LifoQueue(bad)).toThrow(RangeError);
        expect(() => new PriorityQueue(bad)).toThrow(RangeError);
      }
      expect(() => new Queue('5' as never)).toThrow(TypeError);
      expect(() => new Queue(null as never)).toThrow(TypeError);
      expect(() => new PriorityQueue({ compare: 'desc' as never })).toThrow(TypeError);
      expect(() => new PriorityQueue(1, 5 as never)).toThrow(TypeError);
      expect(() => new PriorityQueue({ maxsize: -2.5 })).toThrow(RangeError);
      const q = new Queue<number>(1);
      expect(() => q.put(1, 5 as never)).toThrow(TypeError);
      expect(() => q.get({ signal: 'stop' as never })).toThrow(TypeError);
      expect(() => q.join(null as never)).toThrow(TypeError);
      expect(() => q.shutdown('yes' as never)).toThrow(TypeError);
      expect(() => q.forEach(5 as never)).toThrow(TypeError);
      expect(() => q.taskDone()).toThrow(RangeError);
      expect(q.qsize()).toBe(0); // nothing happened
    }));
});

describe.each(LOOPS)('$name loop: Queue waiting', (kind) => {
  it('wakes waiting getters in FIFO order, each with its own item', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const q = new Queue<string>();
        const getters = [getter(q), getter(q), getter(q)];
        yield* settle();
        expect(String(q)).toBe('<Queue maxsize=0 qsize=0 getters=3>');
        yield* q.put('a');
        q.putNowait('b');
        q.putNowait('c');
        return yield* gather(getters);
      }
      expect(await run(loop, main)).toEqual(['a', 'b', 'c']);
    }));

  it('returns a done Future when an item is there, and yield* of it does not suspend', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const q = new Queue<number>();
        q.putNowait(7);
        const f = q.get();
        const done = f.done();
        let ran = false;
        loop.callSoon(() => (ran = true));
        const v = yield* f;
        return [done, v, ran, q.join().done(), q.put(8).done()];
      }
      expect(await run(loop, main)).toEqual([true, 7, false, false, true]);
    }));

  it('blocks putters on a full queue and wakes them in FIFO order as slots free', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const q = new Queue<string>(2);
        const log: string[] = [];
        q.putNowait('a');
        q.putNowait('b');
        const producers = ['p0', 'p1', 'p2', 'p3'].map((item) =>
          createTask(
            (function* () {
              yield* q.put(item);
              log.push(`put ${item}`);
            })(),
          ),
        );
        yield* settle();
        expect(log).toEqual([]);
        expect(String(q)).toBe('<Queue maxsize=2 qsize=2 putters=4 tasks=2>');
        const got: string[] = [];
        const sizes: number[] = [];
        while (got.length < 6) {
          got.push(yield* q.get());
          log.push(`got ${got[got.length - 1]}`);
          yield* settle();
          sizes.push(q.qsize());
        }
        yield* gather(producers);
        return [got, log, Math.max(...sizes)];
      }
      const [got, log, maxSize] = (await run(loop, main)) as [string[], string[], number];
      expect(got).toEqual(['a', 'b', 'p0', 'p1', 'p2', 'p3']);
      expect(log.filter((l) => l.startsWith('put'))).toEqual(['put p0', 'put p1', 'put p2', 'put p3']);
      // Each get frees one slot, which wakes exactly one producer.
      expect(log.slice(0, 4)).toEqual(['got a', 'put p0', 'got b', 'put p1']);
      expect(maxSize).toBeLessThanOrEqual(2);
    }));

  it('reserves a freed slot for the woken putter: no later put overtakes it', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const q = new Queue<string>(1);
        q.putNowait('a');
        const p = putter(q, 'b');
        yield* settle();
        expect(q.getNowait()).toBe('a');
        // The slot is promised to p until it resumes.
        const seen = [q.qsize(), q.full()];
        expect(() => q.putNowait('intruder')).toThrow(QueueFull);
        yield* p;
        return [seen, drain(q)];
      }
      expect(await run(loop, main)).toEqual([[0, true], ['b']]);
    }));

  it('moves an awaiting async function putter item in as soon as a slot frees', () =>
    withLoop(kind, async (loop) => {
      const q = new Queue<string>(1);
      q.putNowait('a');
      const producer = loop.createTask(async () => {
        await q.put('b');
        return 'put b';
      });
      function* main(): Coroutine<unknown> {
        yield* settle();
        const first = q.getNowait();
        const now = [q.qsize(), q.full()]; // 'b' is in already
        const second = q.getNowait();
        return [first, now, second, yield* producer];
      }
      expect(await run(loop, main)).toEqual(['a', [1, true], 'b', 'put b']);
    }));

  it('counts unfinished items for join() and taskDone()', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const q = new Queue<number>();
        expect(q.join().done()).toBe(true); // nothing put yet
        for (const i of [1, 2, 3]) q.putNowait(i);
        let joined = 0;
        const joiners = [0, 1].map(() =>
          createTask(
            (function* () {
              yield* q.join();
              joined++;
            })(),
          ),
        );
        const states: unknown[] = [];
        for (let i = 0; i < 3; i++) {
          q.getNowait();
          yield* settle();
          states.push([q.empty(), joined]); // got is not done
          q.taskDone();
          yield* settle();
        }
        states.push(joined);
        expect(() => q.taskDone()).toThrow(RangeError);
        yield* gather(joiners);
        q.putNowait(4);
        states.push(q.join().done());
        return states;
      }
      expect(await run(loop, main)).toEqual([[false, 0], [false, 0], [true, 0], 2, false]);
    }));

  it('keeps other joiners waiting when one join() is cancelled', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const q = new Queue<number>();
        q.putNowait(1);
        const a = createTask(
          (function* () {
            yield* q.join();
            return 'a joined';
          })(),
        );
        const b = createTask(
          (function* () {
            yield* q.join();
            return 'b joined';
          })(),
        );
        yield* settle();
        a.cancel();
        yield* settle();
        const bDoneEarly = b.done();
        q.getNowait();
        q.taskDone();
        return [yield* outcome(a), bDoneEarly, yield* outcome(b)];
      }
      expect(await run(loop, main)).toEqual(['cancelled', false, 'b joined']);
    }));

  it('runs producers and several consumers: every item processed once, by all consumers', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const q = new Queue<number>(5);
        const rand = lcg(7);
        const processed: number[] = [];
        const perConsumer = [0, 0, 0];
        function* consumer(id: number): Coroutine<void> {
          for (;;) {
            const item = yield* q.get();
            yield* sleep(rand() * 3);
            processed.push(item);
            perConsumer[id]!++;
            q.taskDone();
          }
        }
        function* producer(from: number): Coroutine<void> {
          for (let i = from; i < from + 30; i++) {
            yield* q.put(i);
            if (i % 4 === 0) yield* sleep(1);
          }
        }
        const consumers = [0, 1, 2].map((id) => createTask(consumer(id)));
        yield* gather([createTask(producer(0)), createTask(producer(100))]);
        yield* q.join();
        for (const c of consumers) c.cancel();
        const ends = yield* gather(consumers, { returnExceptions: true });
        return [processed.sort((a, b) => a - b), perConsumer, ends, q.qsize()];
      }
      const [processed, perConsumer, ends, size] = (await run(loop, main)) as [number[], number[], unknown[], number];
      const expected = [...Array.from({ length: 30 }, (_, i) => i), ...Array.from({ length: 30 }, (_, i) => 100 + i)];
      expect(processed).toEqual(expected);
      for (const n of perConsumer) expect(n).toBeGreaterThan(0);
      for (const e of ends) expect(e).toBeInstanceOf(CancelledError);
      expect(size).toBe(0);
    }));

  it('works from async functions with await', () =>
    withLoop(kind, async (loop) => {
      const q = new Queue<number>(2);
      const producer = loop.createTask(async () => {
        for (let i = 0; i < 20; i++) await q.put(i);
        q.shutdown();
      });
      const consumer = loop.createTask(async () => {
        const got: number[] = [];
        for (;;) {
          try {
            got.push(await q.get());
          } catch (e) {
            if (e instanceof QueueShutDown) return got;
            throw e;
          }
          q.taskDone();
        }
      });
      const got = await loop.runUntilComplete(consumer);
      await loop.runUntilComplete(producer);
      expect(got).toEqual(Array.from({ length: 20 }, (_, i) => i));
    }));

  it('binds to the running loop on first wait and refuses to wait on another loop', () =>
    withLoop(kind, async (loop) => {
      const q = new Queue<number>(); // no loop needed to create or use without waiting
      q.putNowait(1);
      expect(q.getNowait()).toBe(1);
      function* waitOnce(): Coroutine<number> {
        const t = getter(q);
        yield* settle();
        q.putNowait(2);
        return yield* t;
      }
      expect(await run(loop, waitOnce)).toBe(2);
      const other = kind.create();
      try {
        const err = await other.runUntilComplete(
          (function* () {
            try {
              q.get();
            } catch (e) {
              return e;
            }
          })(),
        );
        expect(err).toBeInstanceOf(Error);
        expect(String(err)).toMatch(/bound to a different event loop/);
        // Calls that do not wait still work there.
        q.putNowait(3);
        expect(q.getNowait()).toBe(3);
      } finally {
        other.close();
      }
    }));
});

describe.each(LOOPS)('$name loop: Queue cancellation', (kind) => {
  it('drops a getter cancelled while waiting: the next item goes to the next getter', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const q = new Queue<string>();
        const t1 = getter(q);
        const t2 = getter(q);
        yield* settle();
        t1.cancel();
        yield* settle();
        const desc = String(q);
        yield* q.put('a');
        return [desc, yield* outcome(t1), yield* outcome(t2), q.qsize()];
      }
      // asyncio's test_get_cancelled_race.
      expect(await run(loop, main)).toEqual(['<Queue maxsize=0 qsize=0 getters=1>', 'cancelled', 'a', 0]);
    }));

  it('leaves no getter behind when waitFor(get) times out', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const q = new Queue<string>(5);
        let err: unknown;
        try {
          yield* waitFor(q.get(), 5);
        } catch (e) {
          err = e;
        }
        q.putNowait('kept');
        return [err instanceof TimeoutError, String(q)];
      }
      // asyncio's test_cancelled_getters_not_being_held_in_self_getters.
      expect(await run(loop, main)).toEqual([true, '<Queue maxsize=5 qsize=1 tasks=1>']);
    }));

  it('keeps the item of a getter cancelled in the same iteration it is handed the item', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const q = new Queue<string>();
        const t = getter(q);
        yield* settle();
        q.putNowait('a'); // handed to t, which resumes next iteration...
        t.cancel(); // ...with a CancelledError instead
        const inFlight = q.qsize();
        const end = yield* outcome(t);
        return [inFlight, end, drain(q)];
      }
      expect(await run(loop, main)).toEqual([0, 'cancelled', ['a']]);
    }));

  it('passes the item of a cancelled woken getter to the next getter', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const q = new Queue<number>();
        const [r1, r2, r3] = [getter(q), getter(q), getter(q)];
        yield* settle();
        q.putNowait(1);
        q.putNowait(2);
        r1.cancel();
        return [yield* outcome(r1), yield* outcome(r2), yield* outcome(r3), q.qsize()];
      }
      // asyncio's test_get_cancel_drop_one_pending_reader: r3 gets r1's item.
      expect(await run(loop, main)).toEqual(['cancelled', 2, 1, 0]);
    }));

  it('puts the items of several cancelled woken getters back in order, ahead of later items', () =>
    withLoop(kind, async (loop) => {
      function* scenario<Q extends Queue<string>>(q: Q): Coroutine<string[]> {
        const readers = [getter(q), getter(q), getter(q)];
        yield* settle();
        for (const item of ['a', 'b', 'c']) q.putNowait(item); // one to each reader
        q.putNowait('d'); // no reader left: buffered
        for (const r of [...readers].reverse()) r.cancel();
        for (const r of readers) expect(yield* outcome(r)).toBe('cancelled');
        return drain(q);
      }
      function* main(): Coroutine<unknown> {
        return [
          yield* scenario(new Queue<string>()),
          yield* scenario(new LifoQueue<string>()),
          yield* scenario(new PriorityQueue<string>({ compare: () => 0 })), // all equal: FIFO
          yield* scenario(new PriorityQueue<string>()),
        ];
      }
      // Where asyncio (which leaves the items queued until readers resume) has them.
      expect(await run(loop, main)).toEqual([
        ['a', 'b', 'c', 'd'],
        ['d', 'c', 'b', 'a'],
        ['a', 'b', 'c', 'd'],
        ['a', 'b', 'c', 'd'],
      ]);
    }));

  it('gives a cancelled woken getter item back to the task itself if it gets again', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const q = new Queue<string>();
        const t = createTask(
          (function* () {
            try {
              return yield* q.get();
            } catch (e) {
              if (!(e instanceof CancelledError)) throw e;
              return `retried: ${yield* q.get()}`;
            }
          })(),
        );
        yield* settle();
        q.putNowait('only');
        t.cancel();
        return yield* t;
      }
      expect(await run(loop, main)).toBe('retried: only');
    }));

  it('delivers the item to an awaiting async function even if its signal aborts right after', () =>
    withLoop(kind, async (loop) => {
      const q = new Queue<string>();
      const ac = new AbortController();
      const consumer = loop.createTask(async () => await q.get({ signal: ac.signal }));
      function* main(): Coroutine<unknown> {
        yield* settle();
        q.putNowait('a');
        ac.abort(); // too late: the promise reaction is committed
        return [yield* consumer, q.qsize()];
      }
      expect(await run(loop, main)).toEqual(['a', 0]);
    }));

  it('does not give back an item a promise already received from the same getter', () =>
    withLoop(kind, async (loop) => {
      const q = new Queue<string>();
      function* main(): Coroutine<unknown> {
        const shared = q.get();
        const viaPromise = fromPromise(shared.then((v) => v));
        const viaYield = createTask(
          (function* () {
            return yield* shared;
          })(),
        );
        yield* settle();
        q.putNowait('a');
        viaYield.cancel(); // its task never sees 'a', but the promise does
        return [yield* viaPromise, yield* outcome(viaYield), q.qsize()];
      }
      expect(await run(loop, main)).toEqual(['a', 'cancelled', 0]);
    }));

  it('withdraws the get or put of a coroutine closed while it waits', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const q = new Queue<string>(1);
        const reader = (function* () {
          return yield* q.get();
        })();
        reader.next(); // suspended in yield* q.get()
        reader.return(undefined as never);
        q.putNowait('a'); // stays: nobody waits for it any more
        const writer = (function* () {
          yield* q.put('b');
        })();
        writer.next(); // suspended: the queue is full
        const waiting = String(q);
        writer.return();
        return [waiting, String(q), q.getNowait(), q.qsize()];
      }
      expect(await run(loop, main)).toEqual([
        '<Queue maxsize=1 qsize=1 putters=1 tasks=1>',
        '<Queue maxsize=1 qsize=1 tasks=1>',
        'a',
        0,
      ]);
    }));

  it('puts the item of a put() nobody awaits once a slot frees', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const q = new Queue<number>(1);
        q.putNowait(1);
        const fut = q.put(2); // fire and forget
        const pending = fut.done();
        const first = q.getNowait();
        return [pending, first, fut.done(), q.qsize(), q.getNowait()];
      }
      expect(await run(loop, main)).toEqual([false, 1, true, 1, 2]);
    }));

  it('drops a putter cancelled while waiting: its item is never put', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const q = new Queue<string>(1);
        q.putNowait('x');
        const p1 = putter(q, 'a');
        const p2 = putter(q, 'b');
        yield* settle();
        p1.cancel();
        yield* settle();
        const desc = String(q);
        q.getNowait();
        yield* p2;
        return [desc, yield* outcome(p1), drain(q)];
      }
      expect(await run(loop, main)).toEqual(['<Queue maxsize=1 qsize=1 putters=1 tasks=1>', 'cancelled', ['b']]);
    }));

  it('does not put the item of a putter cancelled after it was woken, and wakes the next', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const q = new Queue<number>(1);
        q.putNowait(1);
        let writer = putter(q, 2);
        const other = putter(q, 3);
        yield* settle();
        const v1 = q.getNowait(); // wakes writer
        writer.cancel(); // before it resumes
        const first = yield* outcome(writer);
        yield* other; // the slot went on to the next putter
        const v2 = q.getNowait();
        // asyncio's test_put_cancel_drop: try again, and the item is there once.
        writer = putter(q, 2);
        yield* writer;
        return [v1, first, v2, q.getNowait(), q.qsize()];
      }
      expect(await run(loop, main)).toEqual([1, 'cancelled', 3, 2, 0]);
    }));

  it('cancels waiting get, put and join calls when their signal aborts', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const q = new Queue<string>(1);
        const ac = new AbortController();
        const g = q.get({ signal: ac.signal });
        ac.abort(new Error('user left'));
        let err: unknown;
        try {
          yield* g;
        } catch (e) {
          err = e;
        }
        q.putNowait('x'); // not taken by the aborted get
        const ac2 = new AbortController();
        const p = q.put('y', { signal: ac2.signal });
        const j = q.join({ signal: ac2.signal });
        loop.callLater(2, () => ac2.abort());
        const ends = yield* gather([p, j], { returnExceptions: true });
        return [err, ends, String(q), drain(q)];
      }
      const [err, ends, desc, rest] = (await run(loop, main)) as [Error, unknown[], string, string[]];
      expect(err).toBeInstanceOf(CancelledError);
      expect(err.message).toBe('aborted: user left');
      expect((err.cause as Error).message).toBe('user left');
      for (const e of ends) expect(e).toBeInstanceOf(CancelledError);
      expect(desc).toBe('<Queue maxsize=1 qsize=1 tasks=1>');
      expect(rest).toEqual(['x']);
    }));

  it('does nothing for a call whose signal is already aborted', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const q = new Queue<string>();
        q.putNowait('x');
        const signal = AbortSignal.abort();
        const calls = [q.get({ signal }), q.put('y', { signal }), q.join({ signal })];
        return [calls.map((f) => f.cancelled()), drain(q)];
      }
      expect(await run(loop, main)).toEqual([[true, true, true], ['x']]);
    }));
});

describe.each(LOOPS)('$name loop: Queue shutdown', (kind) => {
  it('shutdown(): putters fail, items can still be got, then gets fail', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const q = new Queue<number>(2);
        q.putNowait(1);
        q.putNowait(2);
        const blocked = putter(q, 3);
        const joiner = createTask(q.join());
        yield* settle();
        q.shutdown();
        const errors: unknown[] = [yield* outcome(blocked)];
        try {
          q.putNowait(4);
        } catch (e) {
          errors.push(e);
        }
        errors.push(yield* outcome(createTask(q.put(5))));
        const got = [q.getNowait(), yield* q.get()];
        errors.push(yield* outcome(getter(q)));
        try {
          q.getNowait();
        } catch (e) {
          errors.push(e);
        }
        const joinedEarly = joiner.done();
        q.taskDone();
        q.taskDone();
        yield* joiner;
        return [errors.map((e) => (e as Error).name), got, joinedEarly, String(q)];
      }
      expect(await run(loop, main)).toEqual([
        Array(5).fill('QueueShutDown'),
        [1, 2],
        false,
        '<Queue maxsize=2 qsize=0 shutdown>',
      ]);
    }));

  it('shutdown(): getters waiting on the empty queue fail', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const q = new Queue<number>();
        const gs = [getter(q), getter(q)];
        yield* settle();
        q.shutdown();
        const ends: unknown[] = [];
        for (const g of gs) ends.push(yield* outcome(g));
        return ends.map((e) => e instanceof QueueShutDown);
      }
      expect(await run(loop, main)).toEqual([true, true]);
    }));

  it('shutdown(true): drops the items, counts them done, fails getters and putters', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const q = new Queue<number>(3);
        for (const i of [1, 2, 3]) q.putNowait(i);
        const held = q.getNowait(); // got, not done yet
        q.putNowait(4);
        const blocked = putter(q, 5);
        let joined = false;
        const joiner = createTask(
          (function* () {
            yield* q.join();
            joined = true;
          })(),
        );
        yield* settle();
        q.shutdown(true);
        yield* settle();
        const after = [q.qsize(), joined, (yield* outcome(blocked)) instanceof QueueShutDown];
        const g = yield* outcome(getter(q));
        q.taskDone(); // the held item: now every item is done
        yield* joiner;
        q.shutdown(); // stays immediate
        return [held, after, g instanceof QueueShutDown, joined, String(q)];
      }
      expect(await run(loop, main)).toEqual([
        1,
        [0, false, true],
        true,
        true,
        '<Queue maxsize=3 qsize=0 shutdown-immediate>',
      ]);
    }));

  it('shutdown(true): releases join() when no item is held, and waiting getters fail', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const q = new Queue<number>();
        q.putNowait(1);
        q.putNowait(2);
        const joiner = createTask(q.join());
        yield* settle();
        q.shutdown(true);
        yield* joiner;
        const empty = new Queue<number>();
        const g = getter(empty);
        yield* settle();
        empty.shutdown(true);
        return [q.qsize(), (yield* outcome(g)) instanceof QueueShutDown];
      }
      expect(await run(loop, main)).toEqual([0, true]);
    }));

  it('fails a woken putter that resumes after shutdown, without putting its item', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const q = new Queue<string>(1);
        q.putNowait('a');
        const p = putter(q, 'b');
        yield* settle();
        q.getNowait(); // wakes p
        q.shutdown(); // before p resumes: asyncio's put_nowait then raises
        const end = yield* outcome(p);
        return [end instanceof QueueShutDown, q.qsize()];
      }
      expect(await run(loop, main)).toEqual([true, 0]);
    }));

  it('after shutdown(true), an item given back by a cancelled getter counts as done', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const q = new Queue<string>();
        const t = getter(q);
        yield* settle();
        q.putNowait('a'); // handed to t
        t.cancel();
        q.shutdown(true);
        const end = yield* outcome(t);
        return [end, q.qsize(), q.join().done()];
      }
      expect(await run(loop, main)).toEqual(['cancelled', 0, true]);
    }));

  it('an item handed to a getter before shutdown(true) still reaches it', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const q = new Queue<string>();
        const t = getter(q);
        yield* settle();
        q.putNowait('a');
        q.shutdown(true);
        return yield* outcome(t);
      }
      expect(await run(loop, main)).toBe('a');
    }));
});

describe.each(LOOPS)('$name loop: Queue iteration', (kind) => {
  it('for await gets items until the queue is shut down and drained', () =>
    withLoop(kind, async (loop) => {
      const q = new Queue<number>(2);
      const consumer = loop.createTask(async () => {
        const got: number[] = [];
        for await (const item of q) {
          got.push(item);
          q.taskDone();
        }
        return got;
      });
      function* producer(): Coroutine<number[]> {
        for (let i = 0; i < 6; i++) {
          yield* q.put(i);
          if (i % 2) yield* sleep(1);
        }
        yield* q.put(6);
        q.shutdown(); // 6 is still delivered
        return yield* consumer;
      }
      expect(await run(loop, producer)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    }));

  it('leaves the rest in the queue when a for await loop breaks', () =>
    withLoop(kind, async (loop) => {
      const q = new Queue<number>();
      for (const i of [1, 2, 3, 4]) q.putNowait(i);
      const consumer = loop.createTask(async () => {
        for await (const item of q) if (item === 2) return item;
        return -1;
      });
      expect(await loop.runUntilComplete(consumer)).toBe(2);
      expect(drain(q)).toEqual([3, 4]);
    }));

  it('iter({ signal }) ends the loop with a CancelledError when the signal aborts', () =>
    withLoop(kind, async (loop) => {
      const q = new Queue<number>();
      const ac = new AbortController();
      const consumer = loop.createTask(async () => {
        const got: number[] = [];
        try {
          for await (const item of q.iter({ signal: ac.signal })) got.push(item);
        } catch (e) {
          return [got, (e as Error).name];
        }
        return [got, 'ended'];
      });
      function* main(): Coroutine<unknown> {
        q.putNowait(1);
        yield* settle();
        ac.abort();
        const end = yield* consumer;
        q.putNowait(2); // nobody takes it any more
        return [end, q.qsize()];
      }
      expect(() => q.iter(7 as never)).toThrow(TypeError);
      expect(await run(loop, main)).toEqual([[[1], 'CancelledError'], 1]);
    }));

  it('forEach runs a generator, plain or async body per item until shutdown', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const q = new Queue<number>();
        const seen: string[] = [];
        const bodies = [
          createTask(
            q.forEach(function* (item) {
              yield* sleep(1);
              seen.push(`gen ${item}`);
              q.taskDone();
            }),
          ),
          createTask(
            q.forEach((item) => {
              seen.push(`plain ${item}`);
              q.taskDone();
            }),
          ),
          createTask(
            q.forEach(async (item) => {
              await new Promise((r) => setTimeout(r, 1));
              seen.push(`async ${item}`);
              q.taskDone();
            }),
          ),
        ];
        yield* settle();
        for (let i = 0; i < 9; i++) yield* q.put(i);
        yield* q.join();
        q.shutdown();
        yield* gather(bodies);
        return seen;
      }
      const seen = (await run(loop, main)) as string[];
      expect(seen.map((s) => Number(s.split(' ')[1])).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
      for (const kindOfBody of ['gen', 'plain', 'async']) {
        expect(seen.some((s) => s.startsWith(kindOfBody))).toBe(true);
      }
    }));

  it('forEach is awaitable from async code', () =>
    withLoop(kind, async (loop) => {
      const q = new Queue<string>();
      for (const s of ['x', 'y']) q.putNowait(s);
      q.shutdown();
      const got: string[] = [];
      await loop.runUntilComplete(
        loop.createTask(async () => {
          await q.forEach((s) => void got.push(s));
        }),
      );
      expect(got).toEqual(['x', 'y']);
    }));
});

describe.each(LOOPS)('$name loop: Queue programs in asyncio style', (kind) => {
  it('producer and consumers with join(), one consumer cancelled the moment it is handed an item', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const q = new Queue<number>(3);
        const processed: [string, number][] = [];
        function* worker(name: string): Coroutine<void> {
          for (;;) {
            const item = yield* q.get();
            try {
              yield* sleep(1);
              processed.push([name, item]);
            } finally {
              q.taskDone();
            }
          }
        }
        const workers = ['w0', 'w1', 'w2'].map((n) => createTask(worker(n), { name: n }));
        yield* settle();
        q.putNowait(0);
        q.putNowait(1); // handed to w1...
        workers[1]!.cancel(); // ...which is cancelled before it resumes
        q.putNowait(2);
        for (let i = 3; i < 20; i++) yield* q.put(i);
        yield* q.join();
        for (const w of workers) w.cancel();
        const ends = yield* gather(workers, { returnExceptions: true });
        return [processed, ends.map((e) => e instanceof CancelledError)];
      }
      const [processed, ends] = (await run(loop, main)) as [[string, number][], boolean[]];
      expect(processed.map(([, i]) => i).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      expect(processed.some(([w]) => w === 'w1')).toBe(false);
      expect(ends).toEqual([true, true, true]);
    }));

  it("the asyncio docs' workers: random work, join, cancel, gather", () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const q = new Queue<number>();
        const rand = lcg(3);
        let total = 0;
        for (let i = 0; i < 20; i++) {
          const ms = 1 + Math.floor(rand() * 4);
          total += ms;
          q.putNowait(ms);
        }
        let slept = 0;
        function* worker(): Coroutine<void> {
          for (;;) {
            const ms = yield* q.get();
            yield* sleep(ms);
            slept += ms;
            q.taskDone();
          }
        }
        const tasks = [0, 1, 2].map(() => createTask(worker()));
        const t0 = loop.time();
        yield* q.join();
        const took = loop.time() - t0;
        for (const t of tasks) t.cancel();
        const ends = yield* gather(tasks, { returnExceptions: true });
        return [slept === total, took < total, ends.every((e) => e instanceof CancelledError)];
      }
      // Three workers in parallel take less wall time than the total sleep.
      expect(await run(loop, main)).toEqual([true, true, true]);
    }));

  it('producer and consumer on Queue(1) both make progress (test_why_are_getters_waiting)', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const q = new Queue<number>(1);
        const got: number[] = [];
        const consumer = createTask(
          (function* () {
            for (let i = 0; i < 5; i++) got.push(yield* q.get());
          })(),
        );
        const producer = createTask(
          (function* () {
            for (let i = 0; i < 5; i++) yield* q.put(i);
          })(),
        );
        yield* gather([producer, consumer]);
        return got;
      }
      expect(await run(loop, main)).toEqual([0, 1, 2, 3, 4]);
    }));
});
