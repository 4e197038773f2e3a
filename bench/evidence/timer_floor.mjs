// Evidence for the timers target: what allocating and keeping 1e6 timer
// handles costs by itself (no timer store, no clock), against
// setTimeout+clearTimeout, for aioloop's TimerHandle (five fields) and for
// the same class with one field more and one field less. Most of a
// callLater+cancel pair is this: 1e6 live handles are garbage-collector work.
// Run (after `npm run build`): node --expose-gc bench/evidence/timer_floor.mjs
import { Handle, TimerHandle } from '../../dist/events.js';

const N = 1e6;
let seed = 1;
const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
const delays = Array.from({ length: N }, () => Math.floor(rnd() * 1001));
const hs = new Array(N);

/** TimerHandle as it was until 2026-11-22 (a `_slot` naming its store). */
class SixFields extends Handle {
  constructor(when, cb, arg) {
    super(cb, arg);
    this._when = when;
    this._slot = null;
    this._prev = null;
  }
}
/** One field less than TimerHandle. */
class FourFields extends Handle {
  constructor(when, cb, arg) {
    super(cb, arg);
    this._when = when;
  }
}

/** Allocate and keep N handles, then "cancel" each by dropping its callback. */
function floor(Class) {
  return () => {
    const cb = () => {};
    const t0 = performance.now();
    const now = performance.now();
    for (let i = 0; i < N; i++) hs[i] = new Class(now + delays[i], cb, undefined);
    for (let i = 0; i < N; i++) hs[i]._callback = null;
    const dt = performance.now() - t0;
    hs.fill(undefined);
    return (dt * 1e6) / N;
  };
}

function node() {
  const cb = () => {};
  const t0 = performance.now();
  for (let i = 0; i < N; i++) hs[i] = setTimeout(cb, delays[i]);
  for (let i = 0; i < N; i++) clearTimeout(hs[i]);
  const dt = performance.now() - t0;
  hs.fill(undefined);
  return (dt * 1e6) / N;
}

const variants = {
  'setTimeout+clearTimeout': node,
  'six fields (alloc+keep)': floor(SixFields),
  'TimerHandle, five fields (alloc+keep)': floor(TimerHandle),
  'four fields (alloc+keep)': floor(FourFields),
};
const samples = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
for (let round = 0; round < 9; round++) {
  for (const [name, run] of Object.entries(variants)) {
    gc();
    samples[name].push(run());
  }
}
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const base = median(samples['setTimeout+clearTimeout']);
for (const [name, xs] of Object.entries(samples)) {
  console.log(`${name.padEnd(40)} ${median(xs).toFixed(0).padStart(5)} ns  setTimeout pair / this: ${(base / median(xs)).toFixed(2)}x`);
}
