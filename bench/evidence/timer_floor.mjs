// Evidence for the timers target: what allocating and keeping 1e6 timer
// handles costs by itself (no timer store, no clock), against
// setTimeout+clearTimeout. Most of a callLater+cancel pair is this: 1e6 live
// handles are garbage-collector work. Variants: aioloop's TimerHandle (six
// fields; the deadline as the two int32 halves of its float64), the
// five-field handle it replaced (the deadline in a double field, which V8
// keeps in a HeapNumber of its own: two objects a timer), and that handle
// with its link field removed.
// Run (after `npm run build`): node --expose-gc bench/evidence/timer_floor.mjs
import { interleaved, median } from '../lib/stats.mjs';
import { Handle, TimerHandle } from '../../dist/events.js';

const N = 1e6;
let seed = 1;
const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
const delays = Array.from({ length: N }, () => Math.floor(rnd() * 1001));
const hs = new Array(N);

/** TimerHandle until 2026-11-23: five fields, the deadline a double (a HeapNumber per timer). */
class FiveFieldsDouble extends Handle {
  constructor(when, cb, arg) {
    super(cb, arg);
    this._prev = null;
    this._when = when;
  }
}
/** The same with four fields (no link): still a HeapNumber per timer. */
class FourFieldsDouble extends Handle {
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
  'five fields, double deadline (alloc+keep)': floor(FiveFieldsDouble),
  'four fields, double deadline (alloc+keep)': floor(FourFieldsDouble),
  'TimerHandle, six fields, int32 halves (alloc+keep)': floor(TimerHandle),
};
const samples = interleaved(variants, 9);
const base = median(samples['setTimeout+clearTimeout']);
for (const [name, xs] of Object.entries(samples)) {
  console.log(`${name.padEnd(52)} ${median(xs).toFixed(0).padStart(5)} ns  setTimeout pair / this: ${(base / median(xs)).toFixed(2)}x`);
}
