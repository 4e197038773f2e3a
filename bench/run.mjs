#!/usr/bin/env node
/**
 * aioloop benchmarks: each aioloop loop against its Node equivalent, measured
 * side by side (interleaved) with tinybench. Prints one table to stdout,
 * progress to stderr, and writes bench/results/latest.json.
 *
 *   node bench/run.mjs [--quick] [--loop default|native[,...]] [--filter substring]
 *
 *   --quick          N / 10 and 3 measured iterations (CI)
 *   --loop NAMES     aioloop loop(s) to run (also env AIOLOOP_LOOP); default:
 *                    every loop that can be constructed here
 *   --filter TEXT    only benchmarks whose id or title contains TEXT
 *
 * Exit code 0 even when a target is missed (the table says MISSED);
 * non-zero only on errors.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as aio from 'aioloop';
import { loopBenchmarks } from './loop.bench.mjs';
import { toolkitBenchmarks } from './toolkit.bench.mjs';
import { ioBenchmarks } from './io.bench.mjs';
import { getGc, measure } from './lib/harness.mjs';
import { median } from './lib/stats.mjs';
import { formatInt, formatNs, formatRatio, renderTable } from './lib/table.mjs';

const FULL_N = 1e6;
const FULL_ITERATIONS = 5;
const QUICK_ITERATIONS = 3;

/** Every aioloop loop, by name. A loop that cannot be constructed here is skipped (or an error when asked for). */
const LOOP_FACTORIES = {
  default: () => new aio.DefaultLoop(),
  native: () => new aio.NativeLoop(),
};

const USAGE = 'usage: node bench/run.mjs [--quick] [--loop default|native[,...]] [--filter substring]';

/** An error worth one line, not a stack trace: bad usage (exit 2) or a loop that cannot run here (exit 1). */
class UsageError extends Error {
  exitCode = 2;
}
class SetupError extends Error {
  exitCode = 1;
}

function parseOptions(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        quick: { type: 'boolean', default: false },
        loop: { type: 'string' },
        filter: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (e) {
    throw new UsageError(`${e.message}\n${USAGE}`);
  }
  const { values } = parsed;
  const loopSpec = values.loop ?? process.env.AIOLOOP_LOOP ?? '';
  let loops = null; // null: every loop that can be constructed
  if (loopSpec !== '') {
    loops = [...new Set(loopSpec.split(',').map((s) => s.trim()).filter(Boolean))];
    const known = Object.keys(LOOP_FACTORIES);
    for (const name of loops) {
      if (!known.includes(name)) {
        const source = values.loop !== undefined ? '--loop' : 'AIOLOOP_LOOP';
        throw new UsageError(`${source}: unknown loop '${name}'; accepted: ${known.join(', ')}`);
      }
    }
  }
  return { quick: values.quick, loops, filter: values.filter ?? null, help: values.help };
}

/** The loops to run: [{ name, create }], and the ones skipped with the reason. */
function selectLoops(requested) {
  const names = requested ?? Object.keys(LOOP_FACTORIES);
  const selected = [];
  const skipped = [];
  for (const name of names) {
    const create = LOOP_FACTORIES[name];
    try {
      create().close();
      selected.push({ name, create });
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      if (requested !== null) throw new SetupError(`the ${name} loop was requested but cannot be constructed: ${reason}`);
      skipped.push({ name, reason });
    }
  }
  return { selected, skipped };
}

function commandLine() {
  const script = path.relative(process.cwd(), process.argv[1]) || process.argv[1];
  return ['node', ...process.execArgv, script, ...process.argv.slice(2)].join(' ');
}

function writeResults(report) {
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'latest.json');
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(report, null, 2)}\n`);
  renameSync(tmp, file);
  return file;
}

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  if (opts.help) {
    console.log(USAGE);
    return;
  }
  const n = opts.quick ? FULL_N / 10 : FULL_N;
  const iterations = opts.quick ? QUICK_ITERATIONS : FULL_ITERATIONS;

  const { selected: loops, skipped } = selectLoops(opts.loops);
  for (const s of skipped) console.error(`aioloop ${s.name} loop skipped: ${s.reason}`);
  if (loops.length === 0) throw new SetupError('no aioloop loop can be constructed here');

  let benchmarks = [...loopBenchmarks(n), ...toolkitBenchmarks(n), ...ioBenchmarks(n)];
  if (opts.filter !== null) {
    const f = opts.filter.toLowerCase();
    benchmarks = benchmarks.filter((b) => b.id.toLowerCase().includes(f) || b.title.toLowerCase().includes(f));
    if (benchmarks.length === 0) throw new UsageError(`--filter '${opts.filter}' matches no benchmark`);
  }

  const gc = getGc();
  if (gc === null) console.error('note: no gc() available; garbage is collected on the benchmarks\' clock');
  console.error(
    `aioloop bench: node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'} x${os.cpus().length}; ` +
      `loops: ${loops.map((l) => l.name).join(', ')}; 1 warm-up + ${iterations} measured iterations, interleaved`,
  );

  const rows = [];
  const started = performance.now();
  for (const [index, def] of benchmarks.entries()) {
    const variants = [
      { name: def.node.kind ?? 'node', label: def.node.label, loop: null, run: def.node.run },
      ...loops.map((l) => ({
        name: `aioloop ${l.name}`,
        label: def.aio.label,
        loop: l.name,
        run: () => def.aio.run(l.create),
      })),
    ];
    console.error(
      `[${index + 1}/${benchmarks.length}] ${def.title}: ${formatInt(def.ops)} ${def.unit}s per iteration, ` +
        `${variants.map((v) => v.name).join(' vs ')} ...`,
    );
    const t0 = performance.now();
    const measured = await measure(def, variants, { iterations, gc });
    const nodeResult = measured[0];
    const nodeNs = (nodeResult.summary.p50 * 1e6) / def.ops;
    const parts = [];
    for (const [i, m] of measured.entries()) {
      const v = variants[i];
      const nsPerOp = (m.summary.p50 * 1e6) / def.ops;
      const isNode = v.loop === null;
      const ratio = isNode ? 1 : nodeNs / nsPerOp;
      // Per-round ratios (same round, back to back): more robust to drifting load.
      const pairedRatio = isNode ? 1 : median(m.samples.map((s, r) => nodeResult.samples[r] / s));
      const status = isNode ? '' : def.target === null ? 'info' : ratio >= def.target ? 'ok' : 'MISSED';
      rows.push({
        benchmark: def.title,
        id: def.id,
        variant: v.name,
        label: v.label,
        loop: v.loop,
        ops: def.ops,
        unit: def.unit,
        opsPerSec: def.ops / (m.summary.p50 / 1000),
        nsPerOp,
        ratio,
        pairedRatio,
        target: isNode ? null : def.target,
        status,
        p50Ms: m.summary.p50,
        minMs: m.summary.min,
        maxMs: m.summary.max,
        madMs: m.summary.mad,
        samplesMs: m.samples,
      });
      parts.push(`${v.name} ${formatNs(nsPerOp)} ns/${def.unit}${isNode ? '' : ` (${formatRatio(ratio)})`}`);
    }
    console.error(`      ${parts.join(', ')}; ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }

  const headers = ['benchmark', 'variant', 'ops/s', 'ns/op', 'vs baseline', 'target', 'result'];
  const tableRows = [];
  let previous = null;
  for (const r of rows) {
    if (previous !== null && previous !== r.id) tableRows.push(null);
    previous = r.id;
    tableRows.push([
      r.loop === null ? `${r.benchmark} (${formatInt(r.ops)} ${r.unit}s)` : '',
      `${r.variant}: ${r.label}`,
      formatInt(r.opsPerSec),
      formatNs(r.nsPerOp),
      formatRatio(r.ratio),
      r.target === null ? (r.loop === null ? '' : '-') : `>= ${r.target}x`,
      r.status,
    ]);
  }
  const table = renderTable(headers, tableRows, new Set([2, 3, 4, 5]));
  console.log(table);
  console.log(
    `\nns/op: median of ${iterations} interleaved iterations (after 1 warm-up) / ops per iteration; ` +
      `vs baseline: the first row's ns/op / aioloop ns/op (higher is faster; the baseline is Node's own primitive, or the npm package for the job). ${opts.quick ? '--quick: N/10. ' : ''}` +
      `node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'}.`,
  );
  for (const s of skipped) console.log(`aioloop ${s.name} loop skipped: ${s.reason}`);
  const missed = rows.filter((r) => r.status === 'MISSED');
  if (missed.length > 0) console.log(`MISSED targets: ${missed.map((r) => `${r.benchmark} (${r.variant}, ${formatRatio(r.ratio)} < ${r.target}x)`).join('; ')}`);

  const file = writeResults({
    command: commandLine(),
    node: process.version,
    v8: process.versions.v8,
    platform: `${process.platform} ${process.arch}`,
    date: new Date().toISOString(),
    cpu: os.cpus()[0]?.model ?? null,
    cpus: os.cpus().length,
    quick: opts.quick,
    n,
    iterations,
    warmupIterations: 1,
    harness: 'tinybench',
    gcBetweenIterations: gc !== null,
    loops: loops.map((l) => l.name),
    skipped,
    filter: opts.filter,
    durationS: (performance.now() - started) / 1000,
    rows,
    table,
  });
  console.error(`results: ${path.relative(process.cwd(), file)}`);
}

try {
  await main();
} catch (e) {
  const brief = e instanceof UsageError || e instanceof SetupError;
  console.error(brief ? `bench: ${e.message}` : e);
  process.exitCode = brief ? e.exitCode : 1;
}
