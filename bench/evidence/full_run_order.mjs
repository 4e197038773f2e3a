// The toolkit and ping-pong rows as the full `npm run bench` sees them,
// without the cost of a full run: every benchmark that precedes them in the
// full run is first run once at a small size (enough for V8's inline caches
// to see every Future shape they would see), then the chosen rows are
// measured side by side at full size with the same harness as bench/run.mjs.
// A filtered run (`node bench/run.mjs --filter queue`) measures a fresh
// process instead, which hides the megamorphic slow-down.
// Run (after npm run build:ts):
//   node bench/evidence/full_run_order.mjs [row-id ...]   (default: the four missed rows)
//   POLLUTE=0 node bench/evidence/full_run_order.mjs      (fresh process, like --filter)
import * as aio from 'aioloop';
import { loopBenchmarks } from '../loop.bench.mjs';
import { toolkitBenchmarks } from '../toolkit.bench.mjs';
import { getGc, measure } from '../lib/harness.mjs';

const FULL_N = 1e6;
const POLLUTE_N = 1e4;
const create = () => new aio.DefaultLoop();
/** The full run also runs every row on the native loop (when it builds): it pollutes as well. */
const creates = [create];
try {
  new aio.NativeLoop().close();
  creates.push(() => new aio.NativeLoop());
} catch {}
const wanted = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['future-ping-pong', 'queue-promise', 'semaphore-jobs'];
const iterations = Number(process.env.ITERATIONS ?? 5);

const small = [...loopBenchmarks(POLLUTE_N), ...toolkitBenchmarks(POLLUTE_N)];
const full = [...loopBenchmarks(FULL_N), ...toolkitBenchmarks(FULL_N)];
const gc = getGc();
const lines = [];
for (const [i, def] of full.entries()) {
  if (wanted.includes(def.id)) {
    const variants = [
      { name: 'node', run: def.node.run },
      { name: 'aio', run: () => def.aio.run(create) },
    ];
    const [node, aioResult] = await measure(def, variants, { iterations, gc });
    const nodeNs = (node.summary.p50 * 1e6) / def.ops;
    const aioNs = (aioResult.summary.p50 * 1e6) / def.ops;
    const line = `${def.id}: ${def.node.label} ${nodeNs.toFixed(0)} ns, aioloop default ${aioNs.toFixed(0)} ns (${(nodeNs / aioNs).toFixed(2)}x)`;
    console.log(line);
    lines.push(line);
  } else if (process.env.POLLUTE !== '0') {
    // Everything the full run executes before (and between) the wanted rows, once, small.
    await small[i].node.run();
    for (const c of creates) await small[i].aio.run(c);
  }
  if (wanted.every((id) => lines.some((l) => l.startsWith(`${id}:`)))) break;
}
