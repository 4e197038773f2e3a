// Evidence for the Future ping-pong target: the bare generator scheduler of
// pingpong_floor.mjs, then the same with the features aioloop's Task and loop
// must have (a Future of aioloop's size, bursts of 64 iterations per
// microtask, the current task set around each step with try/finally and
// try/catch, the awaited Future kept on the Task), against Node's Promise
// ping-pong and aioloop's default loop, all in one process, interleaved,
// best of ROUNDS (default 21). Each variant is its own module instance (this
// file imported with a query), so their classes do not share inline caches.
// Measured 2026-11-22 (best of 21, ns a round trip): Node 184, bare 109
// (1.69x Node), with the features 144 (1.28x), aioloop 167 (1.10x). The
// benchmark's median of 5 reads 0.58-0.89x on the same code: the gap is as
// much this machine's noise as our bookkeeping.
// Run (after npm run build:ts): node bench/evidence/pingpong_features.mjs
const ROUNDS_PER_RUN = 200000;

export function make(opts) {
  const rounds = ROUNDS_PER_RUN;
  const SUS = { value: undefined, done: false }, DONE = { value: undefined, done: true };
  const loop = { head: null, tail: null, current: null };
  function enqueue(t) { t._n = null; if (loop.tail) loop.tail._n = t; else loop.head = t; loop.tail = t; }
  class F {
    constructor() {
      this.s = 0; this.r = undefined; this.cb = null;
      if (opts.big) { this.flags = 0; this.hooks = null; this.owner = null; this.data = undefined; this.loop = loop; }
    }
    [Symbol.iterator]() { return this; }
    next() { if (this.s === 0) { SUS.value = this; return SUS; } DONE.value = this.r; return DONE; }
    set(v) { this.s = 1; this.r = v; const t = this.cb; if (t !== null) { this.cb = null; enqueue(t); } }
  }
  class T {
    constructor(g) { this.g = g; this._n = null; this.w = null; enqueue(this); }
    run() {
      if (!opts.features) return this.step();
      const prev = loop.current; loop.current = this;
      try { this.step(); } finally { loop.current = prev; }
    }
    step() {
      let r;
      if (opts.features) { try { r = this.g.next(); } catch (e) { throw e; } } else r = this.g.next();
      if (!r.done) { const f = r.value; if (opts.features) this.w = f; f.cb = this; }
    }
  }
  function iterations(max) {
    for (let i = 0; i < max; i++) {
      let item = loop.head; if (item === null) return; loop.head = loop.tail = null;
      while (item !== null) { const n = item._n; item._n = null; if (opts.features) { try { item.run(); } catch (e) { console.error(e); } } else item.run(); item = n; }
    }
  }
  const R = Promise.resolve();
  return async function pingPong() {
    let toB = new F(), toA = null, received = 0;
    new T((function* () { for (let i = 0; i < rounds; i++) { const v = yield* toB; toB = new F(); toA.set(v); } })());
    new T((function* () { for (let i = 0; i < rounds; i++) { toA = new F(); toB.set(i); received += (yield* toA) === i ? 1 : 0; } })());
    if (opts.features) await new Promise((resolve) => { const tick = () => { iterations(64); if (loop.head !== null) R.then(tick); else resolve(); }; R.then(tick); });
    else iterations(Infinity);
    if (received !== rounds) throw new Error('lost a round');
  };
}

export function makeNode() {
  const rounds = ROUNDS_PER_RUN;
  return async function nodePingPong() {
    let resolveB, resolveA; let toB = new Promise((r) => (resolveB = r)); let received = 0;
    const ponger = (async () => { for (let i = 0; i < rounds; i++) { const v = await toB; toB = new Promise((r) => (resolveB = r)); resolveA(v); } })();
    for (let i = 0; i < rounds; i++) { const toA = new Promise((r) => (resolveA = r)); resolveB(i); received += (await toA) === i ? 1 : 0; }
    await ponger;
  };
}

export function makeAio(aio) {
  const rounds = ROUNDS_PER_RUN;
  return function aioPingPong() {
    const loop = new aio.DefaultLoop();
    return loop.runUntilComplete(loop.createTask((function* pinger() {
      let toB = loop.createFuture(); let toA = null; let received = 0;
      const ponger = loop.createTask((function* ponger() {
        for (let i = 0; i < rounds; i++) { const v = yield* toB; toB = loop.createFuture(); toA.setResult(v); }
      })());
      for (let i = 0; i < rounds; i++) { toA = loop.createFuture(); toB.setResult(i); received += (yield* toA) === i ? 1 : 0; }
      yield* ponger; return received;
    })())).finally(() => loop.close());
  };
}

if (!import.meta.url.includes('?')) {
  const self = (name) => import(`${import.meta.url}?${name}`);
  const variants = {
    node: (await self('node')).makeNode(),
    bare: (await self('bare')).make({}),
    features: (await self('features')).make({ big: true, features: true }),
    aioloop: (await self('aioloop')).makeAio(await import('aioloop')),
  };
  const best = Object.fromEntries(Object.keys(variants).map((k) => [k, Infinity]));
  const names = Object.keys(variants);
  for (let k = 0; k < Number(process.env.ROUNDS ?? 21); k++) {
    for (const n of k % 2 ? names : [...names].reverse()) {
      const t = performance.now();
      await variants[n]();
      best[n] = Math.min(best[n], ((performance.now() - t) * 1e6) / ROUNDS_PER_RUN);
    }
  }
  for (const n of names) console.log(`${n.padEnd(9)} ${best[n].toFixed(0).padStart(4)} ns a round trip (best), ${(best.node / best[n]).toFixed(2)}x Node`);
}
