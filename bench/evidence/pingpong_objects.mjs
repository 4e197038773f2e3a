// Evidence for Future.next() (lib/futures.ts) handing out a fresh done result
// for object and string results: the Future ping-pong of bench/loop.bench.mjs
// with `{ i }` objects as results instead of small integers. Run it REPS
// times in a valgrind-counted process to get instructions per round trip:
//   c() { valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
//         node --single-threaded bench/evidence/pingpong_objects.mjs $1 obj 2>&1 | grep 'I *refs'; }
//   c 2; c 5   # (refs(5) - refs(2)) / (3 * 50000) = instructions per round trip
// ("int" instead of "obj" passes small integers, like the benchmark row.)
// Measured 2026-11-22: object results 2,842 -> 2,692 instructions a round
// trip (the shared DONE result took the young object through the write
// barrier's slow path); integer results 2,588 -> 2,623-2,650 here, and the
// benchmark row itself (bench/evidence/instructions.mjs) 2,575 -> 2,572.
import * as aio from 'aioloop';

const reps = Number(process.argv[2] ?? 1);
const objects = process.argv[3] !== 'int';
const rounds = 50000;

function pingPong() {
  const loop = new aio.DefaultLoop();
  const main = loop.createTask(
    (function* pinger() {
      let toB = loop.createFuture();
      let toA = null;
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
        toB.setResult(objects ? { i } : i);
        const r = yield* toA;
        received += (objects ? r.i : r) === i ? 1 : 0;
      }
      yield* ponger;
      return received;
    })(),
  );
  return loop.runUntilComplete(main).finally(() => loop.close());
}

for (let k = 0; k < reps; k++) {
  const received = await pingPong();
  if (received !== rounds) throw new Error(`expected ${rounds} round trips, got ${received}`);
}
