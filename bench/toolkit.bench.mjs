/**
 * The concurrency-toolkit benchmarks: aioloop's Lock, Queue and Semaphore on
 * each loop against the npm package people use for the job, in the same
 * run. Each is written once per side and parametrized by loop factory.
 *
 * Both sides hold the lock (or the job slot) across one scheduler hop, the
 * natural "yield once" of each world: `yield* sleep(0)` (one loop
 * iteration) for aioloop, `await null` (one microtask) for promises.
 * Without that hop nobody ever waits and there is no hand-off to measure.
 */
import { Mutex } from 'async-mutex';
import { AsyncQueue } from '@esfx/async-queue';
import pLimit from 'p-limit';
import * as aio from 'aioloop';
import { check, inTaskOnFreshLoop } from './lib/common.mjs';


// -- Lock hand-off: `tasks` tasks, `each` acquire+release each ------------------

function aioLock(create, tasks, each) {
  return inTaskOnFreshLoop(create, function* main() {
    const lock = new aio.Lock();
    let inside = 0;
    let total = 0;
    function* worker() {
      for (let i = 0; i < each; i++) {
        yield* lock.acquire();
        if (++inside !== 1) throw new Error('two holders');
        yield* aio.sleep(0);
        inside--;
        total++;
        lock.release();
      }
    }
    yield* aio.gather(Array.from({ length: tasks }, () => aio.createTask(worker())));
    return total;
  }).then((total) => check('aioloop Lock', total, tasks * each));
}

async function mutexLock(tasks, each) {
  const mutex = new Mutex();
  let inside = 0;
  let total = 0;
  async function worker() {
    for (let i = 0; i < each; i++) {
      const release = await mutex.acquire();
      if (++inside !== 1) throw new Error('two holders');
      await null;
      inside--;
      total++;
      release();
    }
  }
  await Promise.all(Array.from({ length: tasks }, worker));
  check('async-mutex', total, tasks * each);
}

// -- Queue: one producer, one consumer, `items` items, maxsize 100 ----------------

const MAXSIZE = 100;

function aioQueue(create, items) {
  return inTaskOnFreshLoop(create, function* main() {
    const q = new aio.Queue(MAXSIZE);
    let sum = 0;
    const consumer = aio.createTask(function* () {
      for (let i = 0; i < items; i++) sum += yield* q.get();
    });
    for (let i = 0; i < items; i++) yield* q.put(1);
    yield* consumer;
    return sum;
  }).then((sum) => check('aioloop Queue', sum, items));
}

/**
 * @esfx/async-queue is unbounded; the usual way to bound it is a second
 * queue of free-slot tokens, which is what this does.
 */
async function esfxQueue(items) {
  const q = new AsyncQueue();
  const slots = new AsyncQueue();
  for (let i = 0; i < MAXSIZE; i++) slots.put(undefined);
  let sum = 0;
  const consumer = (async () => {
    for (let i = 0; i < items; i++) {
      sum += await q.get();
      slots.put(undefined);
    }
  })();
  for (let i = 0; i < items; i++) {
    await slots.get();
    q.put(1);
  }
  await consumer;
  check('@esfx/async-queue', sum, items);
}

/** The bounded queue people write by hand: arrays of items and of waiting resolvers. */
class PromiseQueue {
  items = [];
  getters = [];
  putters = [];
  constructor(maxsize) {
    this.maxsize = maxsize;
  }
  async put(item) {
    while (this.items.length >= this.maxsize) await new Promise((resolve) => this.putters.push(resolve));
    this.items.push(item);
    this.getters.shift()?.();
  }
  async get() {
    while (this.items.length === 0) await new Promise((resolve) => this.getters.push(resolve));
    const item = this.items.shift();
    this.putters.shift()?.();
    return item;
  }
}

async function promiseQueue(items) {
  const q = new PromiseQueue(MAXSIZE);
  let sum = 0;
  const consumer = (async () => {
    for (let i = 0; i < items; i++) sum += await q.get();
  })();
  for (let i = 0; i < items; i++) await q.put(1);
  await consumer;
  check('Promise queue', sum, items);
}

// -- Semaphore(10) guarding `jobs` short jobs -------------------------------------

const LIMIT = 10;

function aioSemaphore(create, jobs) {
  return inTaskOnFreshLoop(create, function* main() {
    const sem = new aio.Semaphore(LIMIT);
    let running = 0;
    let done = 0;
    function* job() {
      if (++running > LIMIT) throw new Error('limit exceeded');
      yield* aio.sleep(0);
      running--;
      done++;
    }
    yield* aio.gather(Array.from({ length: jobs }, () => aio.createTask(sem.use(job))));
    return done;
  }).then((done) => check('aioloop Semaphore', done, jobs));
}

async function pLimitJobs(jobs) {
  const limit = pLimit(LIMIT);
  let running = 0;
  let done = 0;
  async function job() {
    if (++running > LIMIT) throw new Error('limit exceeded');
    await null;
    running--;
    done++;
  }
  await Promise.all(Array.from({ length: jobs }, () => limit(job)));
  check('p-limit', done, jobs);
}

/**
 * The toolkit benchmarks for batch size `n` (1e6 at full size). Targets: each
 * at least 1.5x its npm peer.
 * @param {number} n
 */
export function toolkitBenchmarks(n) {
  const each = Math.max(1, Math.round(n / 10)); // 1e5 per task at full size
  const items = n;
  const jobs = Math.max(1, Math.round(n / 10));
  return [
    {
      id: 'lock-handoff',
      title: 'Lock hand-off (4 tasks)',
      ops: 4 * each,
      unit: 'acquire',
      target: 1.5,
      node: { kind: 'npm', label: 'async-mutex Mutex', run: () => mutexLock(4, each) },
      aio: { label: 'Lock', run: (create) => aioLock(create, 4, each) },
    },
    {
      id: 'queue-esfx',
      title: 'Queue producer/consumer (maxsize 100)',
      ops: items,
      unit: 'item',
      target: 1.5,
      node: { kind: 'npm', label: '@esfx/async-queue', run: () => esfxQueue(items) },
      aio: { label: 'Queue', run: (create) => aioQueue(create, items) },
    },
    {
      id: 'queue-promise',
      title: 'Queue producer/consumer (maxsize 100)',
      ops: items,
      unit: 'item',
      target: 1.5,
      node: { kind: 'js', label: 'hand-written Promise queue', run: () => promiseQueue(items) },
      aio: { label: 'Queue', run: (create) => aioQueue(create, items) },
    },
    {
      id: 'semaphore-jobs',
      title: 'Semaphore(10) guarding short jobs',
      ops: jobs,
      unit: 'job',
      target: 1.5,
      node: { kind: 'npm', label: 'p-limit(10)', run: () => pLimitJobs(jobs) },
      aio: { label: 'Semaphore(10).use', run: (create) => aioSemaphore(create, jobs) },
    },
  ];
}
