// Evidence for the timers target: where the time of 1e6 live timers goes,
// and what a smaller TimerHandle would buy.
// One process, variants interleaved, a full GC before each, medians in ns a
// timer (schedule, keep, cancel):
// - setTimeout+clearTimeout (the row's baseline);
// - today's path: TimerHandle (six fields, 72 bytes in Node's V8 without
//   pointer compression) appended to PendingTimers, cancel() unlinks;
// - the same object with five fields (no `_prev`; a singly linked pending
//   list, cancel() only drops the callback), then four (no `_arg` either).
// Run (after `npm run build`): node --expose-gc bench/evidence/timer_layout.mjs
// Add --max-semi-space-size=128 to see the same variants with the copying
// mostly gone (a young generation big enough for 1e6 timers).
// Measured 2026-11-23 (sixth session), three processes: setTimeout
// 429/530/627 ns, today's 187/205/249, five fields 166/175/240, four
// fields 216/226/251 (no better than five). With a young generation big
// enough for 1e6 timers, `node --expose-gc --max-semi-space-size=128
// bench/evidence/timer_pairs.mjs dist native` read our pair at 76 ns
// against 241 ns without the flag, Node's at 707 against 675. So two
// thirds of our pair is the young generation copying kept timers (Node's
// pair is mostly Node's own work), and one field less saves 4-11%, inside
// the row's run-to-run drift. (Pretenuring, the other lever, is in
// bench/MISSES.md: class instances do not get it.)
import { interleaved, median } from '../lib/stats.mjs';
import { Handle, TimerHandle } from '../../dist/events.js';
import { PendingTimers } from '../../dist/pending_timers.js';

if (typeof gc !== 'function') throw new Error('run with node --expose-gc');
const N = 1e6;
let seed = 1;
const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
const delays = Array.from({ length: N }, () => Math.floor(rnd() * 1001));
const cb = () => {};
const hrtime = process.hrtime;
const now = () => {
  const t = hrtime();
  return t[0] * 1e3 + t[1] / 1e6;
};
const deadline = new Float64Array(1);
const words = new Int32Array(deadline.buffer);

/** TimerHandle without `_prev`: five fields. */
class FiveFields extends Handle {
  constructor(when, callback, arg) {
    super(callback, arg);
    deadline[0] = when;
    this._when0 = words[0];
    this._when1 = words[1];
  }
}
/** Four fields: no `_arg` either (arguments would need a closure). */
class FourFields {
  constructor(when, callback) {
    this._callback = callback;
    this._next = null;
    deadline[0] = when;
    this._when0 = words[0];
    this._when1 = words[1];
  }
}
/** A pending list that only appends; a cancelled timer is skipped when drained. */
class AppendOnly {
  head = null;
  tail = null;
  add(h) {
    if (this.tail === null) this.head = h;
    else this.tail._next = h;
    this.tail = h;
  }
}

function timed(body) {
  const hs = new Array(N);
  const t0 = performance.now();
  body(hs);
  return ((performance.now() - t0) * 1e6) / N;
}

const nodePair = () =>
  timed((hs) => {
    for (let i = 0; i < N; i++) hs[i] = setTimeout(cb, delays[i]);
    for (let i = 0; i < N; i++) clearTimeout(hs[i]);
  });
const todays = () => {
  const pending = new PendingTimers();
  const ns = timed((hs) => {
    for (let i = 0; i < N; i++) pending.add((hs[i] = new TimerHandle(now() + delays[i], cb, undefined)));
    for (let i = 0; i < N; i++) hs[i].cancel();
  });
  pending.clear();
  return ns;
};
const appendOnly = (make) => () =>
  timed((hs) => {
    const pending = new AppendOnly();
    for (let i = 0; i < N; i++) pending.add((hs[i] = make(now() + delays[i])));
    for (let i = 0; i < N; i++) hs[i]._callback = null;
  });

const variants = {
  'setTimeout+clearTimeout': nodePair,
  'TimerHandle + PendingTimers (today)': todays,
  'five fields, append-only list': appendOnly((when) => new FiveFields(when, cb, undefined)),
  'four fields, append-only list': appendOnly((when) => new FourFields(when, cb)),
};
const samples = interleaved(variants, 9);
for (const [name, xs] of Object.entries(samples)) {
  const range = `${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)}`;
  console.log(`${name.padEnd(42)} ${median(xs).toFixed(0).padStart(5)} ns  (range ${range})`);
}
