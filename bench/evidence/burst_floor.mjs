// Evidence for the callSoon-burst target: the cost of allocating 1e6 small
// handles into a linked list and calling each (no loop at all), against 1e6
// setImmediate, with a full GC before each run as bench/run.mjs does.
// Run: node --expose-gc bench/evidence/burst_floor.mjs
class H { constructor(cb, arg) { this._callback = cb; this._arg = arg; this._next = null; } }
class H2 { constructor(cb) { this._callback = cb; this._next = null; } }
const N = 1e6;
function linked(C) { let head = null, tail = null; let n = 0; const cb = () => { n++ };
  const t0 = performance.now();
  for (let i = 0; i < N; i++) { const h = new C(cb, undefined); if (tail) tail._next = h; else head = h; tail = h; }
  for (let h = head; h; h = h._next) h._callback();
  return (performance.now() - t0) * 1e6 / N; }
function arr() { const a = []; let n = 0; const cb = () => { n++ };
  const t0 = performance.now();
  for (let i = 0; i < N; i++) a.push(new H(cb, undefined));
  for (let i = 0; i < a.length; i++) a[i]._callback();
  return (performance.now() - t0) * 1e6 / N; }
async function node() { let n = 0; let res; const p = new Promise(r => res = r); const cb = () => { if (++n === N) res() };
  const t0 = performance.now(); for (let i = 0; i < N; i++) setImmediate(cb); await p; return (performance.now() - t0) * 1e6 / N; }
const med = (a) => a.sort((x, y) => x - y)[a.length >> 1];
const r = { l3: [], l2: [], arr: [], node: [] };
for (let i = 0; i < 7; i++) { gc(); r.l3.push(linked(H)); gc(); r.l2.push(linked(H2)); gc(); r.arr.push(arr()); gc(); r.node.push(await node()); }
for (const k in r) console.log(k, med(r[k]).toFixed(0));
