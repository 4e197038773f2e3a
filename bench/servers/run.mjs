#!/usr/bin/env node
/**
 * The example servers under load from clients nobody here wrote:
 *
 * - `redis-benchmark -t set,get -c 50 -n 200000` with `-P 1` and `-P 16`
 *   against examples/resp_server.mjs on each aioloop loop, the same server
 *   on node:net (bench/servers/resp_node.mjs), and a real redis-server
 *   (`--save '' --appendonly no`);
 * - `wrk -t1 -c50 -d5s` against examples/http_server.mjs on each loop and
 *   node:http (bench/servers/http_node.mjs), 1 KiB answers.
 *
 *   node bench/servers/run.mjs [--quick] [--loop default|native[,...]] [--json FILE]
 *
 *   --quick       -n 20000, wrk -d1s, one round (well under 30 s in all)
 *   --loop LIST   the aioloop loops to run (also AIOLOOP_LOOP); default: every loop that works here
 *   --rounds N    interleaved rounds (default 3, --quick 1): values are medians over rounds,
 *                 ratios the median of the per-round ratios
 *   --json FILE   where the results go (default bench/results/servers.json)
 *
 * Each server runs in its own process, started fresh for each measurement,
 * pinned to CPU 0 with `taskset` when there are 2+ CPUs; the load generator
 * runs on CPU 1. Progress goes to stderr, the table to stdout. Missing tools
 * are installed with scripts/ensure-tools.mjs when possible; otherwise the
 * rows that need them are left out and the run still exits 0. Missed targets
 * are reported (MISSED), not fatal; a server that fails is (exit code 1).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { assertSection } from '../lib/report.mjs';
import { constructibleLoops, have } from '../lib/common.mjs';
import { formatInt, formatRatio, renderTable } from '../lib/table.mjs';
import { ensurePackages } from '../../scripts/ensure-tools.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const HOST = '127.0.0.1';
const START_TIMEOUT_MS = 10_000;
const USAGE = 'usage: node bench/servers/run.mjs [--quick] [--loop default|native[,...]] [--rounds N] [--json FILE]';

// The issue's targets.
const TARGET_VS_NODE_RESP = 1.8;   // resp native / node:net
const TARGET_VS_REDIS = 0.6;       // resp native / redis-server
const TARGET_VS_NODE_HTTP = 1.5;   // http native / node:http

/** Every child we started: killed in `finally`, so no server outlives the run. */
const children = new Set();

function log(msg) {
  process.stderr.write(`${msg}\n`);
}

function parseOptions() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        loop: { type: 'string' },
        json: { type: 'string' },
        rounds: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (e) {
    throw new Error(`${e.message}\n${USAGE}`);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const loopText = values.loop ?? process.env.AIOLOOP_LOOP;
  const loops = loopText ? loopText.split(',').map((s) => s.trim()).filter(Boolean) : null;
  for (const l of loops ?? []) if (l !== 'default' && l !== 'native') throw new Error(`unknown loop ${JSON.stringify(l)} (default, native)\n${USAGE}`);
  return {
    quick: values.quick,
    loops,
    requests: values.quick ? 20_000 : 200_000,
    seconds: values.quick ? 1 : 5,
    rounds: rounds(values.rounds ?? (values.quick ? '1' : '3')),
    json: path.resolve(values.json ?? path.join(ROOT, 'bench/results/servers.json')),
  };
}

function rounds(text) {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 20) throw new Error(`--rounds must be an integer in [1, 20]\n${USAGE}`);
  return n;
}

/** The loops asked for (or all that can be constructed here). */
function availableLoops(wanted) {
  const names = ['native', 'default'].filter((name) => !wanted || wanted.includes(name));
  return constructibleLoops(names, Boolean(wanted), log);
}

/** The load generators and redis-server; installs missing ones when it can. Returns what is still missing. */
function ensureTools() {
  const tools = { 'redis-benchmark': 'redis-tools', 'redis-server': 'redis-server', wrk: 'wrk' };
  const missing = () => Object.keys(tools).filter((t) => !have(t));
  let gone = missing();
  if (gone.length > 0) {
    log(`missing ${gone.join(', ')}: trying scripts/ensure-tools.mjs`);
    ensurePackages([...new Set(gone.map((t) => tools[t]))], log); // progress on stderr: stdout is for the table
    gone = missing();
    if (gone.length > 0) log(`still missing ${gone.join(', ')}: those rows are left out`);
  }
  return new Set(gone);
}

const pin = have('taskset') && os.cpus().length >= 2;

/** `taskset -c CPU` in front of a command when pinning. */
function pinned(cpu, argv) {
  return pin ? ['taskset', '-c', String(cpu), ...argv] : argv;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: HOST, port }, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Start a server and resolve once it accepts connections: for our servers
 * the listening line gives the port; for redis-server we choose the port and
 * poll it.
 */
function startServer(argv, fixedPort = null) {
  const child = spawn(argv[0], argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => {
    children.delete(child);
    resolve({ code, signal });
  }));
  const what = argv.join(' ');
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let done = false;
    const finish = (err, port) => {
      if (done) return;
      done = true;
      clearInterval(timer);
      if (err) reject(err);
      else resolve({ child, port, exited, stderr: () => stderr });
    };
    const timer = setInterval(async () => {
      if (Date.now() - started > START_TIMEOUT_MS) return finish(new Error(`${what}: not listening after ${START_TIMEOUT_MS} ms\n${stderr}`));
      if (fixedPort !== null) {
        if (await canConnect(fixedPort)) finish(null, fixedPort);
        return;
      }
      const m = /listening on [^\s]+:(\d+)/.exec(stdout);
      if (m) finish(null, Number(m[1]));
    }, 20);
    exited.then(({ code, signal }) => finish(new Error(`${what} exited (${code ?? signal}) before listening\n${stderr}`)));
    child.on('error', (e) => finish(e));
  });
}

/** SIGTERM, and SIGKILL if it has not exited 3 s later. Resolves with the exit. */
async function stopServer(srv) {
  if (srv.child.exitCode === null && srv.child.signalCode === null) srv.child.kill('SIGTERM');
  const timer = setTimeout(() => srv.child.kill('SIGKILL'), 3000);
  const e = await srv.exited;
  clearTimeout(timer);
  return e;
}

/** Run a client to completion; resolves with its output (rejects on failure). */
function runClient(argv, timeoutMs) {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      if (code !== 0) reject(new Error(`${argv.join(' ')} failed (${code ?? signal}): ${stderr.trim() || stdout.trim()}`));
      else resolve({ stdout, stderr });
    });
  });
}

/** redis-benchmark --csv: {SET: {rps, p50, p99}, GET: {...}}. */
function parseRedisCsv(text) {
  const out = {};
  let header = null;
  for (const line of text.split('\n')) {
    const cells = [...line.matchAll(/"([^"]*)"/g)].map((m) => m[1]);
    if (cells.length < 2) continue;
    if (cells[0] === 'test') {
      header = cells;
      continue;
    }
    const col = (name) => (header ? header.indexOf(name) : -1);
    const num = (name) => (col(name) >= 0 ? Number(cells[col(name)]) : null);
    out[cells[0]] = { rps: Number(cells[1]), p50: num('p50_latency_ms'), p99: num('p99_latency_ms') };
  }
  return out;
}

/** wrk's output with --latency: req/s, p50 and p99 in ms, errors. */
function parseWrk(text) {
  const ms = (value, unit) => Number(value) * ({ us: 0.001, ms: 1, s: 1000, m: 60_000 }[unit] ?? NaN);
  const pct = (p) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(text);
    return m ? ms(m[1], m[2]) : null;
  };
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]);
  const socketErrors = /Socket errors:[^\n]*/.exec(text)?.[0] ?? null;
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? null;
  return { rps, p50: pct(50), p99: pct(99), errors: [socketErrors, non2xx && `${non2xx} non-2xx responses`].filter(Boolean).join('; ') || null };
}

function median(xs) {
  const v = xs.filter((x) => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

const round = (x, digits) => (x === null || !Number.isFinite(x) ? null : Number(x.toFixed(digits)));

async function main() {
  const opts = parseOptions();
  const loops = await availableLoops(opts.loops);
  const missing = ensureTools();
  if (!pin) log('not pinning (taskset missing or fewer than 2 CPUs): numbers are noisier');
  const node = process.execPath;

  const respImpls = loops.map((loop) => ({ impl: `aioloop ${loop}`, loop, argv: [node, 'examples/resp_server.mjs', '--port', '0', '--loop', loop] }));
  respImpls.push({ impl: 'node:net', loop: null, argv: [node, 'bench/servers/resp_node.mjs', '--port', '0'] });
  if (!missing.has('redis-server')) respImpls.push({ impl: 'redis-server', loop: null, redis: true });
  const httpImpls = loops.map((loop) => ({ impl: `aioloop ${loop}`, loop, argv: [node, 'examples/http_server.mjs', '--port', '0', '--loop', loop] }));
  httpImpls.push({ impl: 'node:http', loop: null, argv: [node, 'bench/servers/http_node.mjs', '--port', '0'] });

  const runs = [];
  if (!missing.has('redis-benchmark')) for (const p of [1, 16]) for (const impl of respImpls) runs.push({ kind: 'resp', pipeline: p, ...impl });
  if (!missing.has('wrk')) for (const impl of httpImpls) runs.push({ kind: 'http', ...impl });

  // Interleaved rounds: round 1 runs every server once, then round 2 again
  // (in reverse order), so a drifting machine load hits every side alike.
  const samples = new Map(); // "bench|impl" -> one { rps, p50, p99 } per round
  const meta = new Map();    // "bench|impl" -> { bench, impl, loop }
  const record = (bench, r, round, res) => {
    const key = `${bench}|${r.impl}`;
    if (!samples.has(key)) {
      samples.set(key, []);
      meta.set(key, { bench, impl: r.impl, loop: r.loop });
    }
    samples.get(key)[round] = res;
  };
  const problems = [];
  let step = 0;
  for (let round = 0; round < opts.rounds; round++) {
    for (const r of round % 2 === 0 ? runs : [...runs].reverse()) {
      step++;
      const label = r.kind === 'resp' ? `redis-benchmark -P ${r.pipeline} -n ${opts.requests}` : `wrk -d${opts.seconds}s`;
      log(`[${step}/${runs.length * opts.rounds}] ${r.impl}: ${label}${opts.rounds > 1 ? ` (round ${round + 1}/${opts.rounds})` : ''}...`);
      // A fresh server for every measurement: no heap or JIT state carries over.
      let srv;
      if (r.redis) {
        const port = await freePort();
        srv = await startServer(pinned(0, ['redis-server', '--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', '--daemonize', 'no']), port);
      } else {
        srv = await startServer(pinned(0, r.argv));
      }
      try {
        if (r.kind === 'resp') {
          const args = ['redis-benchmark', '-h', HOST, '-p', String(srv.port), '-t', 'set,get', '-c', '50', '-P', String(r.pipeline)];
          // A short warm-up run first: Node's JIT (and the kernel) get ready before we count.
          await runClient(pinned(1, [...args, '-n', String(Math.min(20_000, opts.requests / 2)), '-q']), 120_000);
          const { stdout } = await runClient(pinned(1, [...args, '-n', String(opts.requests), '--csv']), 600_000);
          const results = parseRedisCsv(stdout);
          for (const test of ['SET', 'GET']) {
            const res = results[test];
            if (!res || !(res.rps > 0)) throw new Error(`${r.impl}: no ${test} result in redis-benchmark's output:\n${stdout}`);
            record(`resp ${test} -P${r.pipeline}`, r, round, res);
            log(`    ${test}: ${formatInt(res.rps)} req/s, p50 ${res.p50} ms, p99 ${res.p99} ms`);
          }
        } else {
          const url = `http://${HOST}:${srv.port}/`;
          await runClient(pinned(1, ['wrk', '-t1', '-c50', '-d1s', url]), 60_000); // warm-up
          const { stdout } = await runClient(pinned(1, ['wrk', '-t1', '-c50', `-d${opts.seconds}s`, '--latency', url]), (opts.seconds + 60) * 1000);
          const res = parseWrk(stdout);
          if (!(res.rps > 0)) throw new Error(`${r.impl}: no Requests/sec in wrk's output:\n${stdout}`);
          if (res.errors) problems.push(`${r.impl} (http): wrk reported ${res.errors}`);
          record('http GET 1KiB', r, round, res);
          log(`    ${formatInt(res.rps)} req/s, p50 ${res.p50} ms, p99 ${res.p99} ms${res.errors ? ` (${res.errors})` : ''}`);
        }
        if (srv.child.exitCode !== null) throw new Error(`${r.impl} died during the run\n${srv.stderr()}`);
      } finally {
        const e = await stopServer(srv);
        if (!r.redis && e.code !== 0) problems.push(`${r.impl} (${r.kind}) did not exit cleanly on SIGTERM (${e.code ?? e.signal})`);
      }
    }
  }

  // Rows: the median over rounds. Baseline first (node:net / node:http), then aioloop, then redis-server.
  const benchOrder = ['resp SET -P1', 'resp GET -P1', 'resp SET -P16', 'resp GET -P16', 'http GET 1KiB'];
  const implOrder = (impl) => ['node:net', 'node:http', 'aioloop native', 'aioloop default', 'redis-server'].indexOf(impl);
  const rows = [];
  for (const [key, list] of samples) {
    const { bench, impl, loop } = meta.get(key);
    const rps = list.map((x) => x.rps);
    const row = { bench, impl, loop, value: Math.round(median(rps)), unit: 'req/s', p50Ms: round(median(list.map((x) => x.p50)), 3), p99Ms: round(median(list.map((x) => x.p99)), 3) };
    if (list.length > 1) {
      row.detail = `${list.length} rounds: ${formatInt(Math.min(...rps))}-${formatInt(Math.max(...rps))}`;
      row.rounds = rps.map((x) => Math.round(x));
    }
    rows.push(row);
  }
  rows.sort((a, b) => benchOrder.indexOf(a.bench) - benchOrder.indexOf(b.bench) || implOrder(a.impl) - implOrder(b.impl));

  // Ratios: the median of the per-round ratios (the two sides measured minutes apart at most).
  const ratios = [];
  const ratio = (row, against, target) => {
    const base = samples.get(`${row.bench}|${against}`);
    if (!base) return;
    const mine = samples.get(`${row.bench}|${row.impl}`);
    const perRound = mine.map((x, i) => x.rps / base[i].rps);
    ratios.push({ bench: row.bench, label: `${row.loop} / ${against}`, loop: row.loop, value: round(median(perRound), 3), target, impl: row.impl, against });
  };
  for (const row of rows.filter((x) => x.loop !== null)) {
    const native = row.loop === 'native';
    if (row.bench.startsWith('resp')) {
      ratio(row, 'node:net', native ? TARGET_VS_NODE_RESP : null);
      ratio(row, 'redis-server', native ? TARGET_VS_REDIS : null);
    } else {
      ratio(row, 'node:http', native ? TARGET_VS_NODE_HTTP : null);
    }
  }

  // The table.
  const ratioOf = (row, against) => ratios.find((x) => x.bench === row.bench && x.label === `${row.loop} / ${against}`) ?? null;
  const verdict = (x) => (x && x.target !== null ? `${x.value >= x.target ? 'ok' : 'MISSED'} (>= ${x.target}x)` : '');
  const lines = [];
  let last = null;
  for (const row of rows) {
    if (last !== null && row.bench !== last) lines.push(null);
    last = row.bench;
    const vsNode = row.loop === null ? null : ratioOf(row, row.bench.startsWith('resp') ? 'node:net' : 'node:http');
    const vsRedis = row.loop === null ? null : ratioOf(row, 'redis-server');
    const ms = (x) => (x === null ? '' : `${x} ms`);
    lines.push([
      row.bench, row.impl, formatInt(row.value), ms(row.p50Ms), ms(row.p99Ms),
      vsNode ? formatRatio(vsNode.value) : '', vsNode ? verdict(vsNode) : '',
      vsRedis ? formatRatio(vsRedis.value) : '', vsRedis ? verdict(vsRedis) : '',
    ]);
  }
  const command = ['node', 'bench/servers/run.mjs', ...process.argv.slice(2)].join(' ');
  console.log(
    `servers: redis-benchmark -t set,get -c 50 -n ${opts.requests} (-P 1, -P 16), wrk -t1 -c50 -d${opts.seconds}s; ` +
      `${pin ? 'server on CPU 0, client on CPU 1' : 'unpinned'}; node ${process.version}; ${os.cpus()[0]?.model?.trim() ?? ''}`,
  );
  console.log(renderTable(['bench', 'impl', 'req/s', 'p50', 'p99', 'vs node', 'target', 'vs redis', 'target'], lines, new Set([2, 3, 4, 5, 7])));
  for (const t of missing) console.log(`(left out: ${t} is not installed; node scripts/ensure-tools.mjs installs it)`);
  for (const p of problems) console.log(`problem: ${p}`);
  const targets = ratios.filter((x) => x.target !== null);
  if (targets.length > 0) {
    const missed = targets.filter((x) => x.value < x.target);
    console.log(`targets: ${targets.length - missed.length} ok, ${missed.length} MISSED${missed.length ? ` (${missed.map((x) => `${x.bench} ${x.label} ${x.value}x < ${x.target}x`).join('; ')})` : ''}`);
  }

  const report = { section: 'servers', command, date: new Date().toISOString(), rows, ratios };
  assertSection(report, 'servers'); // the schema bench/run.mjs reads (bench/README.md)
  mkdirSync(path.dirname(opts.json), { recursive: true });
  writeFileSync(`${opts.json}.tmp`, `${JSON.stringify(report, null, 2)}\n`);
  renameSync(`${opts.json}.tmp`, opts.json); // never half a file
  log(`wrote ${path.relative(process.cwd(), opts.json)}`);
  return problems.some((p) => p.includes('did not exit cleanly')) ? 1 : 0;
}

// Interrupted (bench/run.mjs sends SIGTERM past its time limit): take the servers and clients along.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    for (const child of children) child.kill('SIGKILL');
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}

let exitCode = 0;
try {
  exitCode = await main();
} catch (err) {
  log(`servers bench: ${err.stack ?? err.message}`);
  exitCode = 1;
} finally {
  for (const child of children) child.kill('SIGKILL');
}
process.exitCode = exitCode;
