/**
 * The event-loop benchmarks: each written once, for Node's own primitive and
 * for an aioloop loop given by its factory (`create()` returns a new loop),
 * so a new loop (the native one) joins by adding a factory in run.mjs.
 *
 * Each `run` performs one whole batch of `ops` operations and checks that it
 * did all of them (a benchmark that silently does less would look fast).
 */
import { setImmediate as setImmediatePromise } from 'node:timers/promises';
import * as aio from 'aioloop';
import { check, onFreshLoop } from './lib/common.mjs';
import { mulberry32 } from './lib/stats.mjs';

function noop() {}


// -- 1. callSoon chain ---------------------------------------------------------

function aioChain(create, n) {
  return onFreshLoop(create, (loop) => {
    const done = loop.createFuture();
    let left = n;
    const hop = () => {
      if (--left === 0) done.setResult(left);
      else loop.callSoon(hop);
    };
    loop.callSoon(hop);
    return done;
  }).then((left) => check('callSoon chain', left, 0));
}

function nodeChain(n) {
  return new Promise((resolve) => {
    let left = n;
    const hop = () => {
      if (--left === 0) resolve(left);
      else setImmediate(hop);
    };
    setImmediate(hop);
  }).then((left) => check('setImmediate chain', left, 0));
}

// -- 2. callSoon burst ---------------------------------------------------------

function aioBurst(create, n) {
  return onFreshLoop(create, (loop) => {
    const done = loop.createFuture();
    let ran = 0;
    const cb = () => {
      if (++ran === n) done.setResult(ran);
    };
    for (let i = 0; i < n; i++) loop.callSoon(cb);
    return done;
  }).then((ran) => check('callSoon burst', ran, n));
}

function nodeBurst(n) {
  return new Promise((resolve) => {
    let ran = 0;
    const cb = () => {
      if (++ran === n) resolve(ran);
    };
    for (let i = 0; i < n; i++) setImmediate(cb);
  }).then((ran) => check('setImmediate burst', ran, n));
}

// -- 3. Timers: schedule N, then cancel them all ---------------------------------

/** Whole milliseconds 0..1000 (Node keys its timer lists by the exact delay). */
function makeDelays(n) {
  const random = mulberry32(0x5eed);
  const delays = new Float64Array(n);
  for (let i = 0; i < n; i++) delays[i] = Math.floor(random() * 1001);
  return delays;
}

function aioTimers(create, delays) {
  return onFreshLoop(create, (loop) =>
    // Inside a running task, as real code schedules its timers.
    loop.createTask(
      (function* scheduleAndCancel() {
        const n = delays.length;
        const handles = new Array(n);
        for (let i = 0; i < n; i++) handles[i] = loop.callLater(delays[i], noop);
        for (let i = 0; i < n; i++) handles[i].cancel();
        return handles[n - 1].cancelled();
      })(),
    ),
  ).then((cancelled) => check('callLater/cancel', cancelled, true));
}

function nodeTimers(delays) {
  return new Promise((resolve, reject) => {
    // Inside a Node callback, for symmetry with the aioloop task.
    setImmediate(() => {
      try {
        const n = delays.length;
        const handles = new Array(n);
        for (let i = 0; i < n; i++) handles[i] = setTimeout(noop, delays[i]);
        for (let i = 0; i < n; i++) clearTimeout(handles[i]);
        resolve(handles[n - 1]._destroyed);
      } catch (e) {
        reject(e);
      }
    });
  }).then((destroyed) => check('setTimeout/clearTimeout', destroyed, true));
}

// -- 3b. Timers that reach the timer store ------------------------------------------

/**
 * As above, but the loop iterates between scheduling and cancelling, so
 * every timer reaches the loop's store (the native loop's C++ heap, the
 * default loop's millisecond buckets) and every cancel leaves it; the time
 * ends once the loop has taken the cancellations in.
 */
function aioStoredTimers(create, delays) {
  return onFreshLoop(create, (loop) =>
    loop.createTask(
      (function* scheduleIterateCancel() {
        const n = delays.length;
        const handles = new Array(n);
        for (let i = 0; i < n; i++) handles[i] = loop.callLater(delays[i], noop);
        yield* aio.sleep(0); // an iteration: the timers join the store
        for (let i = 0; i < n; i++) handles[i].cancel();
        yield* aio.sleep(0); // and the cancellations reach it
        return handles[n - 1].cancelled();
      })(),
    ),
  ).then((cancelled) => check('callLater, iterate, cancel', cancelled, true));
}

function nodeStoredTimers(delays) {
  return new Promise((resolve, reject) => {
    setImmediate(() => {
      const n = delays.length;
      const handles = new Array(n);
      for (let i = 0; i < n; i++) handles[i] = setTimeout(noop, delays[i]);
      // A turn of Node's loop (its timers phase sees the lists), then cancel.
      setImmediate(() => {
        try {
          for (let i = 0; i < n; i++) clearTimeout(handles[i]);
          setImmediate(() => resolve(handles[n - 1]._destroyed));
        } catch (e) {
          reject(e);
        }
      });
    });
  }).then((destroyed) => check('setTimeout, turn, clearTimeout', destroyed, true));
}

// -- 4. Future ping-pong between two tasks -------------------------------------

function aioPingPong(create, rounds) {
  return onFreshLoop(create, (loop) =>
    loop.createTask(
      (function* pinger() {
        let toB = loop.createFuture(); // B waits on it
        let toA = null; // A (this task) waits on it
        let received = 0;
        const ponger = loop.createTask(
          (function* ponger() {
            for (let i = 0; i < rounds; i++) {
              const v = yield* toB;
              toB = loop.createFuture();
              toA.setResult(v);
            }
          })(),
        );
        for (let i = 0; i < rounds; i++) {
          toA = loop.createFuture();
          toB.setResult(i);
          received += (yield* toA) === i ? 1 : 0;
        }
        yield* ponger;
        return received;
      })(),
    ),
  ).then((received) => check('Future ping-pong', received, rounds));
}

async function nodePingPong(rounds) {
  let resolveB;
  let resolveA;
  let toB = new Promise((r) => (resolveB = r));
  let received = 0;
  const ponger = (async () => {
    for (let i = 0; i < rounds; i++) {
      const v = await toB;
      toB = new Promise((r) => (resolveB = r));
      resolveA(v);
    }
  })();
  for (let i = 0; i < rounds; i++) {
    const toA = new Promise((r) => (resolveA = r));
    resolveB(i);
    received += (await toA) === i ? 1 : 0;
  }
  await ponger;
  check('Promise ping-pong', received, rounds);
}

// -- 5. sleep(0) ------------------------------------------------------------------

function aioSleep0(create, m) {
  return onFreshLoop(create, (loop) =>
    loop.createTask(
      (function* sleeper() {
        let n = 0;
        for (let i = 0; i < m; i++) {
          yield* aio.sleep(0);
          n++;
        }
        return n;
      })(),
    ),
  ).then((n) => check('sleep(0)', n, m));
}

async function nodeSleep0(m) {
  let n = 0;
  for (let i = 0; i < m; i++) {
    await setImmediatePromise();
    n++;
  }
  check('await setImmediate()', n, m);
}

// -- The list ------------------------------------------------------------------------

/**
 * The benchmarks for batch size `n`.
 * `target`: the minimum aioloop-vs-Node speed ratio (null: report only), or
 * one per loop (`{ default: 2, native: 3 }`).
 * @param {number} n
 */
export function loopBenchmarks(n) {
  const delays = makeDelays(n);
  // 1e6 hops (two per round trip) at full size: ~1 s an iteration for aioloop today.
  const rounds = Math.max(1, Math.round(n / 2));
  const sleeps = Math.max(1, Math.round(n / 5));
  return [
    {
      id: 'callSoon-chain',
      title: 'callSoon chain',
      ops: n,
      unit: 'hop',
      target: 5,
      node: { label: 'setImmediate chain', run: () => nodeChain(n) },
      aio: { label: 'callSoon chain', run: (create) => aioChain(create, n) },
    },
    {
      id: 'callSoon-burst',
      title: 'callSoon burst',
      ops: n,
      unit: 'callback',
      target: 2,
      node: { label: 'setImmediate burst', run: () => nodeBurst(n) },
      aio: { label: 'callSoon burst', run: (create) => aioBurst(create, n) },
    },
    {
      id: 'timers',
      title: 'timers schedule+cancel',
      ops: n,
      unit: 'pair',
      target: { default: 2, native: 3 }, // issue 2 (default loop), issue 4 (native loop)
      node: { label: 'setTimeout+clearTimeout', run: () => nodeTimers(delays) },
      aio: { label: 'callLater+cancel', run: (create) => aioTimers(create, delays) },
    },
    {
      id: 'timers-stored',
      title: 'timers through the store',
      ops: n,
      unit: 'timer',
      target: null,
      node: { label: 'setTimeout, turn, clearTimeout', run: () => nodeStoredTimers(delays) },
      aio: { label: 'callLater, iterate, cancel', run: (create) => aioStoredTimers(create, delays) },
    },
    {
      id: 'future-ping-pong',
      title: 'Future ping-pong',
      ops: rounds,
      unit: 'round trip',
      target: 1,
      node: { label: 'Promise ping-pong', run: () => nodePingPong(rounds) },
      aio: { label: 'Future ping-pong', run: (create) => aioPingPong(create, rounds) },
    },
    {
      id: 'sleep0',
      title: 'sleep(0)',
      ops: sleeps,
      unit: 'sleep',
      target: null,
      node: { label: 'await setImmediate()', run: () => nodeSleep0(sleeps) },
      aio: { label: 'yield* sleep(0)', run: (create) => aioSleep0(create, sleeps) },
    },
  ];
}
