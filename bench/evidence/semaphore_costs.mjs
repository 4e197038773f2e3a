// Where the Semaphore row's time goes: `gather(jobs.map(() => createTask(sem.use(job))))`
// keeps a Task and a use() coroutine per job alive until the job runs, plus a
// grant (a Future) per job waiting for a permit, so the cost is mostly the
// garbage collector copying them. This prints (1) the live bytes of each
// piece, measured with a full GC around 1e5 of them, and (2) ns per job of
// each phase (with a full GC before each phase, as bench/run.mjs does before
// each iteration).
// Run: node --expose-gc bench/evidence/semaphore_costs.mjs   (after npm run build:ts)
//      PERMITS=1000000 node --expose-gc bench/evidence/semaphore_costs.mjs   (nobody waits: no grants)
import * as aio from 'aioloop';

const N = 1e5;

function liveBytes(label, make) {
  gc();
  const before = process.memoryUsage().heapUsed;
  const keep = [];
  for (let i = 0; i < N; i++) keep.push(make());
  gc();
  const after = process.memoryUsage().heapUsed;
  console.log(`${label.padEnd(34)} ${((after - before) / N - 8).toFixed(0)} bytes live`); // 8: the array slot
  return keep;
}

const phases = {};
function phase(label, fn) {
  gc();
  const t0 = performance.now();
  const result = fn();
  (phases[label] ??= []).push(((performance.now() - t0) * 1e6) / N);
  return result;
}

const loop = new aio.DefaultLoop();
await loop.runUntilComplete(
  loop.createTask(function* () {
    const sem = new aio.Semaphore(Number(process.env.PERMITS ?? 10));
    function* job() {
      yield* aio.sleep(0);
    }
    liveBytes('a plain Future', () => loop.createFuture());
    liveBytes('sem.use(job) (not started)', () => sem.use(job));
    const tasks = liveBytes('createTask(sem.use(job)), with it', () => aio.createTask(sem.use(job)));
    for (const t of tasks) t.cancel();
    yield* aio.sleep(0);
    for (let round = 0; round < 7; round++) {
      const coros = phase('sem.use(job) x N', () => Array.from({ length: N }, () => sem.use(job)));
      const all = phase('createTask x N', () => coros.map((c) => aio.createTask(c)));
      const gathered = phase('gather(N tasks)', () => aio.gather(all));
      gc();
      const t0 = performance.now();
      yield* gathered;
      (phases['running them all'] ??= []).push(((performance.now() - t0) * 1e6) / N);
    }
  }),
);
loop.close();
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
for (const [label, xs] of Object.entries(phases)) console.log(`${label.padEnd(34)} ${median(xs).toFixed(0)} ns/job (median of ${xs.length})`);
