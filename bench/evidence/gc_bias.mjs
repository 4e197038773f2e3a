// Evidence for bench/README.md ("the peers are not slowed by the full GC"):
// each chosen row measured with the harness of bench/run.mjs twice per
// repeat, once with its full GC (and re-warm) before every iteration and once
// with no forced GC at all, the npm peer (or Node baseline) and aioloop's
// default loop interleaved in both. If the forced GC hurt the peer (its
// hidden classes collected, as ours were before lib/hidden_classes.ts), the
// "gc" columns would show the peer slower than the "nogc" ones.
// Run (after npm run build:ts):
//   node bench/evidence/gc_bias.mjs [row-id ...]   (default: semaphore-jobs lock-handoff)
// Measured 2026-11-22 (ns per op, median of 5, gc / nogc / gc / nogc):
//   semaphore-jobs: p-limit 3323 / 3455 / 3475 / 3429, aioloop 1427 / 1501 / 1410 / 1301
//   lock-handoff:   async-mutex 2040 / 2353 / 2180 / 2999, aioloop 294 / 272 / 289 / 362
import * as aio from 'aioloop';
import { loopBenchmarks } from '../loop.bench.mjs';
import { toolkitBenchmarks } from '../toolkit.bench.mjs';
import { getGc, measure } from '../lib/harness.mjs';

const N = 1e6;
const create = () => new aio.DefaultLoop();
const full = [...loopBenchmarks(N), ...toolkitBenchmarks(N)];
const small = new Map([...loopBenchmarks(N / 10), ...toolkitBenchmarks(N / 10)].map((d) => [d.id, d]));
const realGc = getGc();
const wanted = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['semaphore-jobs', 'lock-handoff'];
for (const id of wanted) {
  const def = full.find((d) => d.id === id);
  if (def === undefined) throw new Error(`unknown row ${id}: ${full.map((d) => d.id).join(' ')}`);
  const s = small.get(id);
  const out = [];
  for (const mode of ['gc', 'nogc', 'gc', 'nogc']) {
    const variants = [
      { name: 'peer', run: def.node.run, rewarm: s.node.run },
      { name: 'aio', run: () => def.aio.run(create), rewarm: () => s.aio.run(create) },
    ];
    const [p, a] = await measure(def, variants, { iterations: 5, gc: mode === 'gc' ? realGc : null });
    const pn = (p.summary.p50 * 1e6) / def.ops;
    const an = (a.summary.p50 * 1e6) / def.ops;
    out.push(`${mode}: ${def.node.label} ${pn.toFixed(0)}, aioloop ${an.toFixed(0)} (${(pn / an).toFixed(2)}x)`);
  }
  console.log(`${id} | ${out.join(' | ')}`);
}
