// Evidence for the Future ping-pong target: the same two-task ping-pong on a
// bare generator scheduler (a Future with a result and one waiter, a Task
// that steps its generator, a linked-list ready queue with the snapshot rule;
// no cancellation, hooks, exception handler, current task or debug mode)
// against two async functions ping-ponging through Promises. It shows the
// cost of the design (generators stepped from a ready queue) apart from
// aioloop's bookkeeping: here the bare scheduler runs about 1.5x the Promise
// version (best of 15; the machine is noisy), aioloop's Task and loop about
// 0.6-0.8x.
// Run: node bench/evidence/pingpong_floor.mjs
const SUS = { value: undefined, done: false }, DONE = { value: undefined, done: true };
let head = null, tail = null;
function enqueue(t) { t._n = null; if (tail) tail._n = t; else head = t; tail = t; }
class F { constructor() { this.s = 0; this.r = undefined; this.cb = null; }
  [Symbol.iterator]() { return this; }
  next() { if (this.s === 0) { SUS.value = this; return SUS; } DONE.value = this.r; return DONE; }
  set(v) { this.s = 1; this.r = v; const t = this.cb; if (t !== null) { this.cb = null; enqueue(t); } } }
class T { constructor(g) { this.g = g; this._n = null; enqueue(this); }
  run() { const r = this.g.next(); if (!r.done) r.value.cb = this; } }
function drain() { while (head !== null) { let item = head; head = tail = null; while (item !== null) { const n = item._n; item._n = null; item.run(); item = n; } } }
const rounds = 500000;
function floor() {
  let toB = new F(), toA = null, received = 0;
  new T((function* () { for (let i = 0; i < rounds; i++) { const v = yield* toB; toB = new F(); toA.set(v); } })());
  new T((function* () { for (let i = 0; i < rounds; i++) { toA = new F(); toB.set(i); received += (yield* toA) === i ? 1 : 0; } })());
  drain(); return received;
}
async function nodePingPong() {
  let resolveB, resolveA; let toB = new Promise((r) => (resolveB = r)); let received = 0;
  const ponger = (async () => { for (let i = 0; i < rounds; i++) { const v = await toB; toB = new Promise((r) => (resolveB = r)); resolveA(v); } })();
  for (let i = 0; i < rounds; i++) { const toA = new Promise((r) => (resolveA = r)); resolveB(i); received += (await toA) === i ? 1 : 0; }
  await ponger;
}
let bf = Infinity, bn = Infinity;
for (let k = 0; k < 15; k++) { let t = performance.now(); floor(); bf = Math.min(bf, (performance.now() - t) * 1e6 / rounds); t = performance.now(); await nodePingPong(); bn = Math.min(bn, (performance.now() - t) * 1e6 / rounds); }
console.log('floor', bf.toFixed(0), 'node', bn.toFixed(0));
