// Instructions per operation of one micro benchmark, counted by valgrind
// (cachegrind, no cache simulation): a measure this noisy machine cannot
// blur, for comparing two versions of the code. Wall time here drifts by
// ±15-25% from minute to minute; this count repeats within ~1.5% for the
// Future ping-pong (less well for rows the garbage collector dominates,
// such as the callSoon burst, whose collections depend on timing).
//
// It runs the row's batch `lo` times and `hi` times (default 2 and 5) in a
// fresh `node --single-threaded` (so compilation happens on the main thread,
// in the same place each run) and divides the difference by the extra ops,
// which cancels start-up and warm-up.
//
// Run (after npm run build:ts; needs valgrind):
//   node bench/evidence/instructions.mjs ROW [node|default|native] [N] [lo] [hi]
//   node bench/evidence/instructions.mjs future-ping-pong default 100000
// Measured 2026-11-22 with this script, future-ping-pong at N 1e5: Node's
// Promise version 2,102 instructions per round trip, aioloop default 2,728;
// in session 6, 2,656 -> 2,440-2,462 after the WAITING protocol, the
// smaller _waitOn and the step without try/finally (native 2,382; Node
// 2,026-2,095 in the same hour: repeat runs differ by up to ~3%).
// (Over that session, with an equivalent standalone harness: 3,439 at its
// start, 2,977 after the 64-iteration bursts, 2,772 after the builtin
// generator resume.)
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { have } from '../lib/common.mjs';

const [row, side = 'default', nArg = '100000', loArg = '2', hiArg = '5'] = process.argv.slice(2);

if (row === '--run') {
  // Child mode: run the row `reps` times on one side.
  const [, id, s, n, reps] = process.argv.slice(2);
  const aio = await import('aioloop');
  const { loopBenchmarks } = await import('../loop.bench.mjs');
  const { toolkitBenchmarks } = await import('../toolkit.bench.mjs');
  const def = [...loopBenchmarks(Number(n)), ...toolkitBenchmarks(Number(n))].find((d) => d.id === id);
  if (def === undefined) throw new Error(`unknown row ${id}`);
  const create = s === 'native' ? () => new aio.NativeLoop() : () => new aio.DefaultLoop();
  for (let k = 0; k < Number(reps); k++) await (s === 'node' ? def.node.run() : def.aio.run(create));
} else {
  if (row === undefined) {
    console.error('usage: node bench/evidence/instructions.mjs ROW [node|default|native] [N] [lo] [hi]');
    process.exit(2);
  }
  if (!have('valgrind')) {
    console.error('valgrind is not installed (apt-get install valgrind)');
    process.exit(2);
  }
  const self = fileURLToPath(import.meta.url);
  const count = (reps) => {
    const r = spawnSync(
      'valgrind',
      ['--tool=cachegrind', '--cache-sim=no', '--cachegrind-out-file=/dev/null', process.execPath, '--single-threaded', self, '--run', row, side, nArg, String(reps)],
      { encoding: 'utf8' },
    );
    const m = /I\s+refs:\s+([\d,]+)/.exec(r.stderr);
    if (r.status !== 0 || m === null) throw new Error(`valgrind run failed: ${r.stderr.slice(-500)}`);
    return Number(m[1].replaceAll(',', ''));
  };
  const { loopBenchmarks } = await import('../loop.bench.mjs');
  const { toolkitBenchmarks } = await import('../toolkit.bench.mjs');
  const def = [...loopBenchmarks(Number(nArg)), ...toolkitBenchmarks(Number(nArg))].find((d) => d.id === row);
  if (def === undefined) throw new Error(`unknown row ${row}`);
  const lo = Number(loArg);
  const hi = Number(hiArg);
  const perOp = (count(hi) - count(lo)) / ((hi - lo) * def.ops);
  console.log(`${def.title}, ${side}: ${perOp.toFixed(0)} instructions per ${def.unit} (${def.ops} ${def.unit}s a batch; batches ${lo} and ${hi})`);
}
