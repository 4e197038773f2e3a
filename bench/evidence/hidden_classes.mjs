// Evidence for lib/hidden_classes.ts: the Future ping-pong of `npm run bench`
// with and without a full GC before each run, against Node's Promise
// ping-pong, interleaved in one process (ROUNDS runs each, min and median).
//
//   gc      what bench/lib/harness.mjs does: a full GC, a run at N/10 (the
//           re-warm), a minor GC, then the measured run. At that full GC no
//           Future, Task or loop is alive: without the anchors V8 collects
//           their hidden classes, and the measured run deoptimizes the loop's
//           code and optimizes it again.
//   nogc    the runs back to back, the garbage collector left alone.
//
// With DEOPTS=1 it counts V8's deopts (node --trace-deopt) per mode instead.
// Run (after npm run build:ts):
//   node --expose-gc bench/evidence/hidden_classes.mjs gc|nogc [N]
//   DEOPTS=1 node bench/evidence/hidden_classes.mjs
//
// Measured 2026-11-22, N 4e5 (2e5 round trips a run), ratio Node/aioloop of
// the median (min) run, one process per line:
//   without the anchors, gc:  0.59 (0.58), 0.57 (0.63), 0.60 (0.60);
//                             DEOPTS=1: gc 394 deopts, nogc 16
//   with the anchors,    gc:  0.81 (0.88), 0.83 (0.86), 0.82 (0.91);
//                        nogc: 0.99 (0.99), 0.90 (0.88), 0.88 (0.86);
//                             DEOPTS=1: gc 10 deopts, nogc 12
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const [mode = 'gc', nArg = '4e5'] = process.argv.slice(2);

if (process.env.DEOPTS === '1') {
  for (const m of ['gc', 'nogc']) {
    const r = spawnSync(process.execPath, ['--expose-gc', '--trace-deopt', fileURLToPath(import.meta.url), m, nArg], {
      encoding: 'utf8',
      env: { ...process.env, DEOPTS: '0' },
      maxBuffer: 1 << 28,
    });
    const deopts = r.stdout.split('\n').filter((l) => /deoptimizing|for deoptimization/.test(l)).length;
    console.log(`${m}: ${deopts} deopts (${r.stdout.split('\n').filter((l) => l.startsWith('ratio')).join(' ')})`);
  }
} else {
  const aio = await import('aioloop');
  const { loopBenchmarks } = await import('../loop.bench.mjs');
  const n = Number(nArg);
  const def = loopBenchmarks(n).find((d) => d.id === 'future-ping-pong');
  const small = loopBenchmarks(n / 10).find((d) => d.id === 'future-ping-pong');
  const create = () => new aio.DefaultLoop();
  const gc = globalThis.gc;
  if (mode === 'gc' && typeof gc !== 'function') throw new Error('run with node --expose-gc');
  const times = { node: [], aio: [] };
  const rounds = Number(process.env.ROUNDS ?? 15);
  for (let k = 0; k < rounds; k++) {
    for (const side of k % 2 ? ['node', 'aio'] : ['aio', 'node']) {
      const run = side === 'node' ? def.node.run : () => def.aio.run(create);
      if (mode === 'gc') {
        gc();
        await (side === 'node' ? small.node.run() : small.aio.run(create));
        gc({ type: 'minor' });
      }
      const t0 = process.hrtime.bigint();
      await run();
      times[side].push(Number(process.hrtime.bigint() - t0) / def.ops);
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const min = (xs) => Math.min(...xs);
  const f = (x) => x.toFixed(0);
  console.log(
    `ratio ${mode}: median ${(median(times.node) / median(times.aio)).toFixed(2)} (min ${(min(times.node) / min(times.aio)).toFixed(2)}); ` +
      `ns a round trip: node ${f(median(times.node))} (${f(min(times.node))}), aioloop ${f(median(times.aio))} (${f(min(times.aio))})`,
  );
}
