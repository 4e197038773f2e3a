#!/usr/bin/env node
/**
 * `npm run bench`: every aioloop benchmark, one report.
 *
 *   node bench/run.mjs [--quick] [--loop default|native[,...]] [--section NAMES] [--filter TEXT]
 *
 * Sections, in order (see bench/README.md for what each measures):
 *   loop, toolkit, io  micro benchmarks, in this process: each aioloop loop
 *                      against its Node (or npm) equivalent, side by side with
 *                      tinybench (bench/*.bench.mjs, bench/lib/harness.mjs)
 *   echo               bench/echo/run.mjs in a child process (echo servers and
 *                      a C load generator, each in its own process)
 *   servers            bench/servers/run.mjs in a child process (the example
 *                      servers against redis-server, node:net, node:http);
 *                      skipped with a note while that file does not exist
 *
 *   --quick          short runs (CI): micro N / 10 and 2 iterations, echo 1 KiB only
 *                    in 2 rounds of 0.5 s, servers with its own --quick
 *   --loop NAMES     aioloop loop(s) to run (also env AIOLOOP_LOOP), passed on to
 *                    the child benchmarks; default: every loop that can be constructed here
 *   --section NAMES  only these sections (comma-separated: loop,toolkit,io,echo,servers)
 *   --filter TEXT    only micro benchmarks whose id or title contains TEXT (and,
 *                    unless --section names them, no echo/servers sections)
 *
 * Progress goes to stderr; the combined table to stdout; bench/results/latest.json
 * gets every section (bench/lib/report.mjs schema) and bench/results/chart.svg
 * the ratios. Exit code 0 even when a target is missed (the table says MISSED);
 * non-zero on errors (a failed section still leaves the others in the report).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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
import { formatInt, formatNs, formatRatio } from './lib/table.mjs';
import { assertSection, missedTargets, readSection, renderReport } from './lib/report.mjs';
import { writeChart } from './lib/chart.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const RESULTS = path.join(HERE, 'results');
const FULL_N = 1e6;
const FULL_ITERATIONS = 5;
/** The re-warm run after each full GC is this many times smaller than a measured iteration. */
const REWARM_DIVISOR = 10;
const QUICK_ITERATIONS = 2;
/** A child benchmark that runs longer than this is killed (with its whole process group). */
const CHILD_TIMEOUT_S = { quick: 180, full: 900 };

/** Every aioloop loop, by name. A loop that cannot be constructed here is skipped (or an error when asked for). */
const LOOP_FACTORIES = {
  default: () => new aio.DefaultLoop(),
  native: () => new aio.NativeLoop(),
};

/** The sections, in running order. */
const SECTIONS = [
  { name: 'loop', kind: 'micro', title: 'loop primitives', defs: loopBenchmarks },
  { name: 'toolkit', kind: 'micro', title: 'concurrency toolkit', defs: toolkitBenchmarks },
  { name: 'io', kind: 'micro', title: 'UDP and spawn', defs: ioBenchmarks },
  { name: 'echo', kind: 'child', title: 'echo servers', script: path.join(HERE, 'echo', 'run.mjs') },
  { name: 'servers', kind: 'child', title: 'example servers', script: path.join(HERE, 'servers', 'run.mjs') },
];

const USAGE = 'usage: node bench/run.mjs [--quick] [--loop default|native[,...]] [--section loop,toolkit,io,echo,servers] [--filter substring]';

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
        section: { type: 'string' },
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
  let sections = null; // null: all (or the micro ones under --filter)
  if (values.section !== undefined) {
    sections = [...new Set(values.section.split(',').map((s) => s.trim()).filter(Boolean))];
    const known = SECTIONS.map((s) => s.name);
    for (const name of sections) {
      if (!known.includes(name)) throw new UsageError(`--section: unknown section '${name}'; accepted: ${known.join(', ')}`);
    }
  }
  return { quick: values.quick, loops, sections, filter: values.filter ?? null, help: values.help };
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

/** How this run was started, as the user typed it (npm run bench -- ... when npm started it). */
function commandLine() {
  const args = process.argv.slice(2);
  if (process.env.npm_lifecycle_event === 'bench') return ['npm run bench', ...(args.length ? ['--', ...args] : [])].join(' ');
  const script = path.relative(process.cwd(), process.argv[1]) || process.argv[1];
  return ['node', ...process.execArgv, script, ...args].join(' ');
}

function writeAtomically(file, text) {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
  return file;
}

const started = performance.now();

function clock() {
  const s = Math.round((performance.now() - started) / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/** Progress (stderr): `[section i/N name | elapsed] message`. */
function progress(tag, msg) {
  process.stderr.write(`[${tag} | ${clock()}] ${msg}\n`);
}

// -- micro benchmarks (in this process) ----------------------------------------------

/** Bench names: the title, or the title and its baseline when two benchmarks share a title. */
function benchNames(defs) {
  const counts = new Map();
  for (const d of defs) counts.set(d.title, (counts.get(d.title) ?? 0) + 1);
  return new Map(defs.map((d) => [d, counts.get(d.title) > 1 ? `${d.title} vs ${d.node.label}` : d.title]));
}

/**
 * Run micro benchmark definitions (see loop.bench.mjs) on every loop, each
 * against its baseline, interleaved; return a section in the shared schema.
 */
async function runMicro(section, defs, loops, ctx) {
  const names = benchNames(defs);
  const rows = [];
  const ratios = [];
  const t0 = performance.now();
  for (const [index, def] of defs.entries()) {
    const bench = names.get(def);
    const kind = def.node.kind ?? 'node';
    const small = def.small;
    const variants = [
      { name: kind, label: def.node.label, loop: null, run: def.node.run, rewarm: small && small.node.run },
      ...loops.map((l) => ({
        name: `aioloop ${l.name}`,
        label: def.aio.label,
        loop: l.name,
        run: () => def.aio.run(l.create),
        rewarm: small && (() => small.aio.run(l.create)),
      })),
    ];
    progress(ctx.tag, `[${index + 1}/${defs.length}] ${bench}: ${formatInt(def.ops)} ${def.unit}s per iteration, ${variants.map((v) => v.name).join(' vs ')} ...`);
    const t1 = performance.now();
    let measured;
    try {
      measured = await measure(def, variants, { iterations: ctx.iterations, gc: ctx.gc });
    } catch (e) {
      // One broken benchmark does not cost the others their results; the run still fails.
      const error = `${bench}: ${e instanceof Error ? e.message : String(e)}`;
      ctx.failed.push({ section, error });
      progress(ctx.tag, `FAILED: ${error}`);
      continue;
    }
    const base = measured[0];
    const baseNs = (base.summary.p50 * 1e6) / def.ops;
    const parts = [];
    for (const [i, m] of measured.entries()) {
      const v = variants[i];
      const impl = `${v.name}: ${v.label}`;
      const nsPerOp = (m.summary.p50 * 1e6) / def.ops;
      rows.push({
        bench,
        impl,
        loop: v.loop,
        value: def.ops / (m.summary.p50 / 1000),
        unit: `${def.unit}s/s`,
        p50Ms: null, // a batch of def.ops operations, not a request: see nsPerOp and iterationMs
        p99Ms: null,
        detail: `${formatNs(nsPerOp)} ns/${def.unit}`,
        id: def.id,
        ops: def.ops,
        nsPerOp,
        iterationMs: m.summary,
        samplesMs: m.samples,
      });
      if (v.loop !== null) {
        const ratio = baseNs / nsPerOp;
        ratios.push({
          bench,
          label: `${v.loop} / ${def.node.label}`,
          loop: v.loop,
          value: ratio,
          // A number for every loop, or per loop ({ default: 2, native: 3 }).
          target: def.target !== null && typeof def.target === 'object' ? (def.target[v.loop] ?? null) : def.target,
          impl,
          against: `${kind}: ${def.node.label}`,
          // Per-round ratios (same round, back to back): a check on the ratio of medians.
          pairedRatio: median(m.samples.map((s, r) => base.samples[r] / s)),
        });
      }
      parts.push(`${v.name} ${formatNs(nsPerOp)} ns/${def.unit}${v.loop === null ? '' : ` (${formatRatio(baseNs / nsPerOp)})`}`);
    }
    progress(ctx.tag, `      ${parts.join(', ')}; ${((performance.now() - t1) / 1000).toFixed(1)} s`);
  }
  return assertSection(
    {
      section,
      command: ctx.command,
      date: new Date().toISOString(),
      rows,
      ratios,
      harness: 'tinybench',
      n: ctx.n,
      iterations: ctx.iterations,
      warmupIterations: 1,
      gcBetweenIterations: ctx.gc !== null,
      loops: loops.map((l) => l.name),
      durationS: (performance.now() - t0) / 1000,
    },
    section,
  );
}

// -- child benchmarks (echo, servers) --------------------------------------------------

/** Every child process group we started; killed if we are interrupted. */
const childGroups = new Set();

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/**
 * Run `node script args --json FILE` in its own process group, its stderr
 * forwarded line by line under our progress tag, its stdout kept for the
 * error message. Resolves with the section it wrote.
 */
function runChild(spec, args, ctx) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `aioloop-bench-${spec.name}-`));
  const file = path.join(dir, `${spec.name}.json`);
  const argv = [spec.script, ...args, '--json', file];
  progress(ctx.tag, `node ${path.relative(process.cwd(), spec.script)} ${[...args, '--json', file].join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    childGroups.add(child.pid);
    let stdout = '';
    let partial = '';
    child.stdout.on('data', (d) => (stdout = (stdout + d).slice(-20000)));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => {
      const lines = (partial + d).split('\n');
      partial = lines.pop();
      for (const line of lines) if (line.trim()) progress(ctx.tag, line);
    });
    const limit = ctx.quick ? CHILD_TIMEOUT_S.quick : CHILD_TIMEOUT_S.full;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid, 'SIGTERM');
      setTimeout(() => killGroup(child.pid, 'SIGKILL'), 5000).unref();
    }, limit * 1000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      childGroups.delete(child.pid);
      killGroup(child.pid, 'SIGKILL'); // anything it left behind in its group
      if (partial.trim()) progress(ctx.tag, partial);
      try {
        if (timedOut) throw new Error(`killed after ${limit} s (the time limit of one section)`);
        if (code !== 0) {
          for (const line of stdout.trim().split('\n').slice(-30)) if (line.trim()) progress(ctx.tag, `stdout: ${line}`);
          throw new Error(`exited with ${code ?? signal}`);
        }
        if (!existsSync(file)) throw new Error(`exited 0 but wrote no ${file}`);
        const section = readSection(file);
        if (section.section !== spec.name) throw new Error(`wrote section '${section.section}', expected '${spec.name}'`);
        resolve(section);
      } catch (e) {
        reject(e);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

/** The arguments a child benchmark gets: --quick, and --loop LIST when loops were chosen (both take a list). */
function childArgs(spec, opts, loops) {
  const args = [];
  if (opts.quick) args.push('--quick');
  if (opts.loops !== null) args.push('--loop', loops.map((l) => l.name).join(','));
  return args;
}

// -- the run ---------------------------------------------------------------------------

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  if (opts.help) {
    console.log(USAGE);
    return 0;
  }
  const command = commandLine();
  const n = opts.quick ? FULL_N / 10 : FULL_N;
  const iterations = opts.quick ? QUICK_ITERATIONS : FULL_ITERATIONS;

  const { selected: loops, skipped: skippedLoops } = selectLoops(opts.loops);
  for (const s of skippedLoops) console.error(`aioloop ${s.name} loop skipped: ${s.reason}`);
  if (loops.length === 0) throw new SetupError('no aioloop loop can be constructed here');

  // The plan: which sections, and for micro sections which benchmarks.
  const skipped = []; // { section, reason }
  const plan = [];
  for (const spec of SECTIONS) {
    if (opts.sections !== null && !opts.sections.includes(spec.name)) continue;
    if (spec.kind === 'micro') {
      let defs = spec.defs(n);
      if (opts.filter !== null) {
        const f = opts.filter.toLowerCase();
        defs = defs.filter((b) => b.id.toLowerCase().includes(f) || b.title.toLowerCase().includes(f));
        if (defs.length === 0) continue;
      }
      // The same benchmarks at a tenth of the size: each variant runs one
      // right after the full GC before each measured iteration (lib/harness.mjs).
      const small = new Map(spec.defs(Math.max(1, Math.round(n / REWARM_DIVISOR))).map((d) => [d.id, d]));
      plan.push({ ...spec, benchmarks: defs.map((d) => ({ ...d, small: small.get(d.id) })) });
    } else {
      if (opts.filter !== null && opts.sections === null) {
        skipped.push({ section: spec.name, reason: `--filter selects micro benchmarks only (add --section ${spec.name} to run it)` });
        continue;
      }
      if (!existsSync(spec.script)) {
        skipped.push({ section: spec.name, reason: `${path.relative(process.cwd(), spec.script)} does not exist yet` });
        continue;
      }
      plan.push(spec);
    }
  }
  if (plan.length === 0) throw new UsageError(`nothing to run${opts.filter !== null ? `: --filter '${opts.filter}' matches no benchmark` : ''}`);

  const gc = getGc();
  if (gc === null && plan.some((s) => s.kind === 'micro')) console.error("note: no gc() available; garbage is collected on the benchmarks' clock");
  console.error(
    `aioloop bench: node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'} x${os.cpus().length}; ` +
      `loops: ${loops.map((l) => l.name).join(', ')}; sections: ${plan.map((s) => s.name).join(', ')}` +
      `${opts.quick ? ' (--quick)' : ''}; micro: 1 warm-up + ${iterations} measured iterations, interleaved`,
  );
  for (const s of skipped) console.error(`${s.section}: skipped: ${s.reason}`);

  const sections = [];
  const failed = []; // { section, error }
  for (const [i, spec] of plan.entries()) {
    const tag = `${i + 1}/${plan.length} ${spec.name}`;
    const t0 = performance.now();
    progress(tag, `${spec.title}...`);
    try {
      let section;
      if (spec.kind === 'micro') {
        section = await runMicro(spec.name, spec.benchmarks, loops, { tag, iterations, gc, n, command, failed });
      } else {
        section = await runChild(spec, childArgs(spec, opts, loops), { tag, quick: opts.quick });
        section.durationS ??= (performance.now() - t0) / 1000;
      }
      sections.push(section);
      progress(tag, `done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      failed.push({ section: spec.name, error });
      progress(tag, `FAILED: ${error}`);
    }
  }

  const durationS = (performance.now() - started) / 1000;
  const cpu = os.cpus()[0]?.model?.trim() ?? 'unknown CPU';
  const table = renderReport(sections);
  const missed = missedTargets(sections);
  const out = [];
  out.push(`aioloop benchmarks: \`${command}\` (${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}, node ${process.version}, ${cpu} x${os.cpus().length}, ${Math.round(durationS)} s)`);
  out.push('');
  out.push(table);
  out.push('');
  out.push('How to read it: value is the median throughput (higher is better). The first row of each benchmark is its baseline (Node\'s own');
  out.push('primitive, the npm package for the job, node:net or node:http); the ratio on a row is that row against the baseline, and a');
  out.push('"ratio A / B" line compares another pair (against the C echo server, redis-server). Both sides ran in the same run;');
  out.push('> 1.00x means faster. target: the issue\'s goal for the ratio; result: ok, MISSED, or info (no target).');
  if (opts.quick) out.push('--quick: short runs, for checking that every benchmark still runs; compare loops and targets with a full run.');
  if (sections.some((s) => ['loop', 'toolkit', 'io'].includes(s.section))) {
    out.push(
      `Micro (loop, toolkit, io): median of ${iterations} interleaved iterations after 1 warm-up, full GC and a re-warm at a tenth of the size before each iteration` +
        `${gc === null ? ' (not available here)' : ''}; ${opts.quick ? 'N/10 (--quick); ' : ''}detail: ns per operation.`,
    );
  }
  if (sections.some((s) => s.section === 'echo')) out.push('Echo: req/s and p50/p99 latency are medians over interleaved rounds; ratios are medians of per-round ratios; detail: MiB/s and the range over rounds.');
  for (const s of skipped) out.push(`${s.section}: skipped: ${s.reason}`);
  for (const s of skippedLoops) out.push(`aioloop ${s.name} loop skipped: ${s.reason}`);
  for (const f of failed) out.push(`${f.section}: FAILED: ${f.error.split('\n')[0]}`);
  if (missed.length > 0) {
    out.push(`MISSED targets (${missed.length}):`);
    for (const r of missed) out.push(`  ${r.section} / ${r.bench}: ${r.label} ${formatRatio(r.value)} < ${r.target}x`);
  }
  console.log(out.join('\n'));

  const report = {
    command,
    date: new Date().toISOString(),
    node: process.version,
    v8: process.versions.v8,
    platform: `${process.platform} ${process.arch}`,
    cpu,
    cpus: os.cpus().length,
    quick: opts.quick,
    loops: loops.map((l) => l.name),
    filter: opts.filter,
    durationS,
    skipped,
    skippedLoops,
    failed,
    sections,
    table,
  };
  const file = writeAtomically(path.join(RESULTS, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  const chart = writeChart(report, path.join(RESULTS, 'chart.svg'));
  console.error(`results: ${path.relative(process.cwd(), file)}, chart: ${path.relative(process.cwd(), chart)}; ${clock()} in all`);
  return failed.length > 0 ? 1 : 0;
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const pid of childGroups) killGroup(pid, 'SIGTERM');
    process.exit(sig === 'SIGINT' ? 130 : 143);
  });
}

try {
  process.exitCode = await main();
} catch (e) {
  const brief = e instanceof UsageError || e instanceof SetupError;
  console.error(brief ? `bench: ${e.message}` : e);
  process.exitCode = brief ? e.exitCode : 1;
}
