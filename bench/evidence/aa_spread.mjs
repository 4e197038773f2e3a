// Evidence for "native at least 1.0x default on every benchmark": how far
// apart two IDENTICAL variants land in the harness of bench/run.mjs. Each
// chosen row runs with three variants, Node's baseline and the default loop
// twice ("A" and "B": the same code, the same factory), interleaved, with the
// full GC and re-warm before each iteration, REPEAT times. It prints A/B per
// repeat: the spread of a ratio between identical code on this machine. Rows
// where the native and default loops run the same TypeScript (everything but
// I/O) differ by no more than this.
// Run (after npm run build:ts):
//   node bench/evidence/aa_spread.mjs [row-id ...]   (default: ping-pong, Lock, Semaphore, timers)
//   REPEAT=5 ITERATIONS=5 node bench/evidence/aa_spread.mjs
import * as aio from 'aioloop';
import { loopBenchmarks } from '../loop.bench.mjs';
import { toolkitBenchmarks } from '../toolkit.bench.mjs';
import { getGc, measure } from '../lib/harness.mjs';

const N = Number(process.env.N ?? 1e6);
const iterations = Number(process.env.ITERATIONS ?? 5);
const repeat = Number(process.env.REPEAT ?? 3);
const wanted = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['timers', 'future-ping-pong', 'lock-handoff', 'semaphore-jobs'];
const create = () => new aio.DefaultLoop();
const full = [...loopBenchmarks(N), ...toolkitBenchmarks(N)];
const small = new Map([...loopBenchmarks(N / 10), ...toolkitBenchmarks(N / 10)].map((d) => [d.id, d]));
const gc = getGc();
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

for (const id of wanted) {
  const def = full.find((d) => d.id === id);
  if (def === undefined) throw new Error(`unknown row ${id}: ${full.map((d) => d.id).join(' ')}`);
  const s = small.get(id);
  const ratios = [];
  for (let r = 0; r < repeat; r++) {
    const variants = [
      { name: 'node', run: def.node.run, rewarm: s.node.run },
      { name: 'A', run: () => def.aio.run(create), rewarm: () => s.aio.run(create) },
      { name: 'B', run: () => def.aio.run(create), rewarm: () => s.aio.run(create) },
    ];
    const [node, a, b] = await measure(def, variants, { iterations, gc });
    const nodeMs = node.summary.p50;
    ratios.push({ aOverB: b.summary.p50 / a.summary.p50, a: nodeMs / a.summary.p50, b: nodeMs / b.summary.p50 });
  }
  const spread = ratios.map((x) => x.aOverB.toFixed(2)).join(' ');
  console.log(
    `${def.title.padEnd(36)} A/B ${spread}  (A vs node ${ratios.map((x) => x.a.toFixed(2)).join(' ')}; B vs node ${ratios.map((x) => x.b.toFixed(2)).join(' ')}); median A/B ${median(ratios.map((x) => x.aOverB)).toFixed(2)}`,
  );
}
