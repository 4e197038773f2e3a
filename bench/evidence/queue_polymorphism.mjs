// Evidence for the megamorphic slow-down: the Queue hot path before and
// after a mix of other primitives (many Future subclasses) has run.
// Run: node bench/evidence/queue_polymorphism.mjs (after npm run build:ts)
import * as aio from 'aioloop';
const items = 300000;
async function q() {
  const loop = new aio.DefaultLoop(); const t0 = performance.now();
  await loop.runUntilComplete(loop.createTask(function* () {
    const q = new aio.Queue(100); let sum = 0;
    const c = aio.createTask(function* () { for (let i = 0; i < items; i++) sum += yield* q.get(); });
    for (let i = 0; i < items; i++) yield* q.put(1);
    yield* c;
  }));
  loop.close(); return (performance.now() - t0) * 1e6 / items;
}
async function pollute() {
  await aio.run(function* () {
    const l = new aio.Lock(); const s = new aio.Semaphore(2); const e = new aio.Event(); const c = new aio.Condition(); const b = new aio.Barrier(2);
    const ts = [];
    for (let i = 0; i < 2000; i++) ts.push(aio.createTask(l.use(function* () { yield* aio.sleep(0); })), aio.createTask(s.use(function* () { yield* aio.sleep(0); })));
    ts.push(aio.createTask(function* () { yield* e.wait(); }), aio.createTask(function* () { yield* b.wait(); }), aio.createTask(function* () { yield* b.wait(); }));
    e.set();
    yield* aio.gather(ts);
    yield* aio.waitFor(aio.sleep(1), 100);
    yield* aio.shield(aio.sleep(1));
    yield* aio.timeout(100, function* () { yield* aio.sleep(1); });
    yield* aio.taskGroup(function* (tg) { tg.createTask(aio.sleep(1)); });
    const pq = new aio.PriorityQueue(); pq.putNowait(1); yield* pq.get();
    const lq = new aio.LifoQueue(); lq.putNowait(1); yield* lq.get();
  });
}
const med = (a) => a.sort((x, y) => x - y)[a.length >> 1];
const before = []; for (let i = 0; i < 5; i++) before.push(await q());
for (let i = 0; i < 3; i++) await pollute();
const after = []; for (let i = 0; i < 5; i++) after.push(await q());
console.log('queue ns/item before pollution', med(before).toFixed(0), 'after', med(after).toFixed(0));
