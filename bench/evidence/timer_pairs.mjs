// Evidence for the timers target: the harness's timers row (1e6 callLater
// +cancel inside a task, on a fresh loop) and Node's setTimeout+clearTimeout,
// 7 rounds each in one process after a full GC, medians in ns a pair. It
// takes the compiled library's directory, so two builds can be compared in
// alternating processes (the machine drifts too much for one run of each):
//   npx tsc -p tsconfig.build.json --outDir /tmp/old    (on the old commit)
//   for i in 1 2 3 4; do
//     node --expose-gc bench/evidence/timer_pairs.mjs /tmp/old native
//     node --expose-gc bench/evidence/timer_pairs.mjs dist native
//   done
// (A build outside the repository finds the addon through
// AIOLOOP_NATIVE_BINARY=build/Release/aioloop.node.)
// Measured 2026-11-23 (the deadline as two int32 fields instead of a
// HeapNumber): medians of four processes each, default 241 -> 209 ns,
// native 264 -> 228 ns.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [dist = 'dist', loopName = 'native'] = process.argv.slice(2);
if (typeof gc !== 'function') throw new Error('run with node --expose-gc');
const aio = await import(pathToFileURL(path.resolve(dist, 'index.js')).href);
const N = 1e6;
let seed = 0x5eed;
const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
const delays = new Float64Array(N);
for (let i = 0; i < N; i++) delays[i] = Math.floor(rnd() * 1001);
const noop = () => {};

function nodePairs() {
  return new Promise((resolve) =>
    setImmediate(() => {
      const handles = new Array(N);
      const t0 = performance.now();
      for (let i = 0; i < N; i++) handles[i] = setTimeout(noop, delays[i]);
      for (let i = 0; i < N; i++) clearTimeout(handles[i]);
      resolve(((performance.now() - t0) * 1e6) / N);
    }),
  );
}

async function aioPairs() {
  const loop = loopName === 'native' ? new aio.NativeLoop() : new aio.DefaultLoop();
  let ns = 0;
  try {
    await loop.runUntilComplete(
      loop.createTask(
        (function* scheduleAndCancel() {
          const handles = new Array(N);
          const t0 = performance.now();
          for (let i = 0; i < N; i++) handles[i] = loop.callLater(delays[i], noop);
          for (let i = 0; i < N; i++) handles[i].cancel();
          ns = ((performance.now() - t0) * 1e6) / N;
        })(),
      ),
    );
  } finally {
    loop.close();
  }
  return ns;
}

const node = [];
const ours = [];
await aioPairs(); // warm-up
await nodePairs();
for (let round = 0; round < 7; round++) {
  gc();
  node.push(await nodePairs());
  gc();
  ours.push(await aioPairs());
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(
  `${dist} ${loopName}: callLater+cancel ${median(ours).toFixed(0)} ns a pair, setTimeout+clearTimeout ${median(node).toFixed(0)} ns (${(median(node) / median(ours)).toFixed(2)}x)`,
);
