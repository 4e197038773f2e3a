// Evidence for the timers target: allocating and keeping 1e6 timer-sized
// objects (no timer store, no clock) against setTimeout+clearTimeout.
// Run: node --expose-gc bench/evidence/timer_floor.mjs
const N = 1e6; let seed = 1; const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
const delays = Array.from({ length: N }, () => Math.floor(rnd() * 1001));
const hs = new Array(N);
class T { constructor(when, cb) { this._callback = cb; this._arg = undefined; this._next = null; this._when = when; this._slot = null; this._prev = null; } }
function floorT() { // allocate + keep handles, no store at all, then "cancel" by nulling a field
  const cb = () => {}; const t0 = performance.now(); const now = performance.now();
  for (let i = 0; i < N; i++) hs[i] = new T(now + delays[i], cb);
  for (let i = 0; i < N; i++) hs[i]._callback = null;
  const dt = performance.now() - t0; hs.fill(undefined); return dt * 1e6 / N; }
function nodeT() {
  const cb = () => {}; const t0 = performance.now();
  for (let i = 0; i < N; i++) hs[i] = setTimeout(cb, delays[i]);
  for (let i = 0; i < N; i++) clearTimeout(hs[i]);
  const dt = performance.now() - t0; hs.fill(undefined); return dt * 1e6 / N; }
const med = (a) => a.sort((x, y) => x - y)[a.length >> 1];
const A = [], B = [];
for (let i = 0; i < 7; i++) { gc(); A.push(nodeT()); gc(); B.push(floorT()); }
console.log('node', med(A).toFixed(0), 'floor (alloc+keep 1e6 6-field objects, no timer store)', med(B).toFixed(0), 'max ratio', (med(A) / med(B)).toFixed(2));
