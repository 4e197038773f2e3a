// Offload blocking work so the loop stays responsive:
//  - toThread(fn, ...args): a self-contained function on a worker thread
//    (asyncio.to_thread);
//  - loop.runInExecutor(pool, work, ...args) with a ProcessPoolExecutor and
//    a module export from examples/work.mjs (loop.run_in_executor).
// A ticker task keeps running while the work happens elsewhere.
//
//   node examples/executors.mjs [--loop default|native]
import {
  run, toThread, fromPromise, gather, createTask, sleep, getRunningLoop, ProcessPoolExecutor,
} from '../dist/index.js';
import { loopFromArgs } from './_loop.mjs';

const WORK = new URL('./work.mjs', import.meta.url);   // must be absolute

// Runs in a worker thread: its source is evaluated there, so it may only use
// its arguments and globals (require() works), nothing from this module.
function sumOfSquares(n) {
  let total = 0;
  for (let i = 1; i <= n; i++) total += i * i;
  return total;
}

function sha256(text) {
  return require('node:crypto').createHash('sha256').update(text).digest('hex');
}

function* ticker(counter) {
  for (;;) {
    yield* sleep(5);
    counter.ticks++;
  }
}

function* main() {
  const loop = getRunningLoop();
  const counter = { ticks: 0 };
  const tick = createTask(ticker(counter));

  // Threads: asyncio.to_thread(f, *args).
  const [squares, digest] = yield* gather([
    toThread(sumOfSquares, 100_000),
    toThread(sha256, 'hello aioloop'),
  ]);
  console.log(`thread: sum of squares 1..100000 = ${squares}`);
  console.log(`thread: sha256('hello aioloop') = ${digest.slice(0, 16)}...`);

  // Processes: loop.run_in_executor(pool, f, *args), f named by module export.
  const pool = new ProcessPoolExecutor({ maxWorkers: 2 });
  try {
    const [primes, stretched, workerPid] = yield* gather([
      loop.runInExecutor(pool, { module: WORK, export: 'countPrimes' }, 200_000),
      loop.runInExecutor(pool, { module: WORK, export: 'stretch' }, 'password', 10_000),
      loop.runInExecutor(pool, `${WORK.href}#pid`),     // the 'module#export' form
    ]);
    console.log(`process: primes below 200000 = ${primes}`);
    console.log(`process: sha256 x10000('password') = ${stretched.slice(0, 16)}...`);
    console.log(`process: ran in another process: ${workerPid !== process.pid}`);
  } finally {
    yield* fromPromise(pool.shutdown());      // shutdown() is a Promise
  }

  tick.cancel();
  console.log(`loop stayed responsive: ticker ran ${counter.ticks > 0 ? 'while' : 'NOT while'} the work ran`);
}

await run(main, { loop: loopFromArgs() });
