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
//
// FIRST=<loop> runs the row once on another loop in the same process before
// the counted batches: `default`, `native`, `subclass` (an empty subclass of
// DefaultLoop) or `full` (every row before it, small, on both loops, as in
// the full run). V8_FLAGS adds V8 flags to the counted process.
// Measured 2026-11-23 (AMD EPYC), lock-handoff at N 1e6, batches 2 and 4,
// instructions an acquire: native 2,826, after default 2,983, after full
// 3,082 and 2,973; default 2,768, after native 3,112, after default 2,827,
// after subclass 3,004 and 3,036, after full 2,935 and 2,999; with
// V8_FLAGS=--max-inlined-bytecode-size-cumulative=3000, default after
// default 2,750 and after subclass 2,735, but with =1000 2,835 and 2,968
// and with =1200 3,077 and 3,430 (bench/MISSES.md: a second loop class in
// one process).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { have } from '../lib/common.mjs';

const [row, side = 'default', nArg = '100000', loArg = '2', hiArg = '5'] = process.argv.slice(2);
if (!['none', 'default', 'native', 'subclass', 'full', undefined].includes(process.env.FIRST)) {
  console.error(`FIRST must be none, default, native, subclass or full, not ${process.env.FIRST}`);
  process.exit(2);
}

if (row === '--run') {
  // Child mode: run the row `reps` times on one side.
  const [, id, s, n, reps] = process.argv.slice(2);
  const aio = await import('aioloop');
  const { loopBenchmarks } = await import('../loop.bench.mjs');
  const { toolkitBenchmarks } = await import('../toolkit.bench.mjs');
  const def = [...loopBenchmarks(Number(n)), ...toolkitBenchmarks(Number(n))].find((d) => d.id === id);
  if (def === undefined) throw new Error(`unknown row ${id}`);
  const creator = (kind) => {
    if (kind === 'native') return () => new aio.NativeLoop();
    if (kind === 'subclass') {
      class SubLoop extends aio.DefaultLoop {}
      return () => new SubLoop();
    }
    return () => new aio.DefaultLoop();
  };
  const create = creator(s);
  const first = process.env.FIRST;
  if (first === 'full') {
    for (const d of [...loopBenchmarks(1e4), ...toolkitBenchmarks(1e4)]) {
      if (d.id === id) break;
      await d.node.run();
      await d.aio.run(creator('default'));
      await d.aio.run(creator('native'));
    }
  } else if (first !== undefined && first !== 'none') {
    await def.aio.run(creator(first));
  }
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
  const v8Flags = (process.env.V8_FLAGS ?? '').split(' ').filter(Boolean);
  const count = (reps) => {
    const r = spawnSync(
      'valgrind',
      ['--tool=cachegrind', '--cache-sim=no', '--cachegrind-out-file=/dev/null', process.execPath, '--single-threaded', ...v8Flags, self, '--run', row, side, nArg, String(reps)],
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
  const after = process.env.FIRST ? `, after ${process.env.FIRST}` : '';
  const flags = v8Flags.length > 0 ? `, ${v8Flags.join(' ')}` : '';
  console.log(`${def.title}, ${side}${after}${flags}: ${perOp.toFixed(0)} instructions per ${def.unit} (${def.ops} ${def.unit}s a batch; batches ${lo} and ${hi})`);
}
