#!/usr/bin/env node
/**
 * Echo benchmark (issue 5): aioloop's protocol and streams echo on each
 * loop, a BufferedProtocol echo on the native loop, node:net, a C libuv
 * server, and the same C echo inside a Node process (an addon on Node's
 * loop, no JavaScript: the floor of any Node server), each in its own
 * process pinned to CPU 0, loaded by a closed-loop C client
 * (bench/echo/c/echo_client.c) pinned to CPU 1. Every server is started
 * once and stays up; the runs are interleaved round by round (round 1: A B
 * C D at every size, round 2: D C B A, ...), so a burst of load from
 * elsewhere on the machine hits one round of
 * every server instead of all rounds of one. Reported: the median over rounds
 * of req/s, MiB/s and the client's p50/p99 latency, and each ratio as the
 * median of its per-round ratios (both sides measured seconds apart).
 * Progress goes to stderr, ONE table to stdout.
 *
 *   node bench/echo/run.mjs [--quick] [--loop default|native[,...]] [--sizes 1024,10240,102400]
 *                           [--seconds N] [--rounds N] [--conns N] [--json FILE]
 *
 *   --quick        1 KiB only, 2 rounds of 0.5 s (unless --sizes/--seconds/--rounds say otherwise)
 *   --loop NAMES   aioloop loop(s) to run (also env AIOLOOP_LOOP); default: every
 *                  loop that can be constructed here. Node net and C always run.
 *   --sizes LIST   message sizes in bytes (default 1 KiB, 10 KiB, 100 KiB)
 *   --seconds N    measured seconds per run, after a warm-up (default 2)
 *   --rounds N     interleaved rounds (default 5; odd rounds in order, even ones reversed)
 *   --conns N      connections (default 10), one request in flight each
 *   --json FILE    write the result as a benchmark section (bench/lib/report.mjs
 *                  schema) to FILE instead of bench/echo/results/latest.json
 *
 * Exit 0 even when a target is missed (the table says MISSED); non-zero on errors.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from '../lib/stats.mjs';
import { formatInt, formatRatio, renderTable } from '../lib/table.mjs';
import { assertSection } from '../lib/report.mjs';
import { constructibleLoops, have } from '../lib/common.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BUILD = path.join(HERE, 'build');
const HOST = '127.0.0.1';
const START_TIMEOUT_MS = 10_000;
const KIB = 1024;
const LOOPS = ['default', 'native'];

const USAGE =
  'usage: node bench/echo/run.mjs [--quick] [--loop default|native[,...]] [--sizes 1024,10240,102400] ' +
  '[--seconds N] [--rounds N] [--conns N] [--json FILE]';

/**
 * The issue-5 targets: [server, size (null: every size), reference, minimum ratio].
 * A ratio of `server` to `reference` at `size` (median of per-round ratios).
 */
const TARGETS = [
  ['native-protocol', 1024, 'c-libuv', 0.9],
  ['native-protocol', 10240, 'c-libuv', 0.85],
  ['native-streams', 1024, 'node-net', 1.3],
  ['default-protocol', null, 'node-net', 0.9],
];

/** Every child process we started; killed on exit (also on SIGINT/SIGTERM) so no server outlives the run. */
const children = new Set();

function log(msg) {
  process.stderr.write(`${msg}\n`);
}

class UsageError extends Error {}

function parseOptions() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        loop: { type: 'string' },
        sizes: { type: 'string' },
        seconds: { type: 'string' },
        rounds: { type: 'string' },
        conns: { type: 'string', default: '10' },
        json: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (e) {
    throw new UsageError(e.message);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const sizes = (values.sizes ?? (values.quick ? '1024' : '1024,10240,102400')).split(',').map(Number);
  const seconds = Number(values.seconds ?? (values.quick ? 0.5 : 2));
  const rounds = Number(values.rounds ?? (values.quick ? 2 : 5));
  const warmup = values.quick ? 0.25 : 0.5;
  const conns = Number(values.conns);
  if (sizes.some((s) => !Number.isInteger(s) || s <= 0)) throw new UsageError('bad --sizes');
  if (!(seconds > 0 && seconds <= 60)) throw new UsageError('--seconds must be in (0, 60]');
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50) throw new UsageError('--rounds must be an integer in [1, 50]');
  if (!Number.isInteger(conns) || conns <= 0 || conns > 1000) throw new UsageError('bad --conns');
  const loopSpec = values.loop ?? process.env.AIOLOOP_LOOP ?? '';
  let loops = null; // null: every loop that can be constructed
  if (loopSpec !== '') {
    loops = [...new Set(loopSpec.split(',').map((s) => s.trim()).filter(Boolean))];
    for (const name of loops) {
      if (!LOOPS.includes(name)) {
        throw new UsageError(`${values.loop !== undefined ? '--loop' : 'AIOLOOP_LOOP'}: unknown loop '${name}'; accepted: ${LOOPS.join(', ')}`);
      }
    }
  }
  return { quick: values.quick, loops, sizes, seconds, rounds, warmup, conns, json: values.json ?? null };
}

/** The loops that can be constructed here (the native one needs the addon); a requested one that cannot is an error. */
function availableLoops(wanted) {
  return constructibleLoops(wanted ?? LOOPS, Boolean(wanted), log);
}

/** libuv's headers (Debian libuv1-dev), installed when missing and we are root; false if they cannot be had. */
function ensureLibuv() {
  const installed = () => spawnSync('dpkg', ['-s', 'libuv1-dev'], { stdio: 'ignore' }).status === 0;
  if (!have('dpkg')) return existsSync('/usr/include/uv.h');
  if (installed()) return true;
  if (process.getuid?.() !== 0) return false;
  log('installing libuv1-dev (apt-get) for the C reference server...');
  const apt = (args) => spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 }).status === 0;
  // apt-get update only when the first try fails: it is slow and usually not needed.
  if (!apt(['install', '-y', 'libuv1-dev'])) {
    apt(['update']);
    apt(['install', '-y', 'libuv1-dev']);
  }
  return installed();
}

/**
 * Compile `src` unless the binary is newer than it, than the shared echo
 * (echo_core.h) and than this script, which holds the flags.
 */
function compile(out, src, flags = []) {
  const bin = path.join(BUILD, out);
  const inputs = [path.join(HERE, 'c', src), path.join(HERE, 'c', 'echo_core.h'), fileURLToPath(import.meta.url)];
  const mtime = (f) => (existsSync(f) ? statSync(f).mtimeMs : 0);
  if (mtime(bin) > Math.max(...inputs.map(mtime))) return;
  const r = spawnSync('cc', ['-O2', '-Wall', '-o', bin, inputs[0], ...flags], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cc ${src} failed:\n${r.stderr || r.error}`);
}

/** Where this Node keeps its own headers (node_api.h, and the uv.h of the libuv inside node). */
const NODE_INCLUDE = path.join(path.dirname(process.execPath), '..', 'include', 'node');

/**
 * Build the client (required), the C server and the C-in-Node addon
 * (optional: each missing one comes back as the reason it cannot be built).
 */
function buildC() {
  if (!have('cc')) throw new Error('a C compiler (cc) is needed for the load generator');
  mkdirSync(BUILD, { recursive: true });
  compile('echo_client', 'echo_client.c');
  const skipped = { server: null, addon: null };
  if (!ensureLibuv()) {
    skipped.server = 'libuv1-dev is not installed and could not be installed (needs root and apt-get)';
  } else {
    try {
      compile('echo_server', 'echo_server.c', ['-luv']);
    } catch (err) {
      skipped.server = err.message;
    }
  }
  if (!existsSync(path.join(NODE_INCLUDE, 'node_api.h')) || !existsSync(path.join(NODE_INCLUDE, 'uv.h'))) {
    skipped.addon = `Node's headers (node_api.h, uv.h) are not under ${NODE_INCLUDE}`;
  } else {
    try {
      // -I first: Node's uv.h, not Debian's, since the addon runs on the libuv inside node.
      compile('echo_addon.node', 'echo_addon.c', ['-shared', '-fPIC', `-I${NODE_INCLUDE}`]);
    } catch (err) {
      skipped.addon = err.message;
    }
  }
  return skipped;
}

/** `taskset -c CPU` in front of a command when pinning. */
function pinned(cpu, argv, pin) {
  return pin ? ['taskset', '-c', String(cpu), ...argv] : argv;
}

/** Start a server and resolve with its port once it prints "LISTENING <port>". */
function startServer(argv) {
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${argv.join(' ')}: not listening after ${START_TIMEOUT_MS} ms\n${stderr}`)), START_TIMEOUT_MS);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /LISTENING (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), stderr: () => stderr });
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${argv.join(' ')} exited (${code ?? signal}) before listening\n${stderr}`));
    });
    child.on('error', reject);
  });
}

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', resolve);
    child.kill('SIGKILL');
  });
}

/** Run the client once; resolves with its JSON line. Bounded by a timeout well past its own duration. */
function runClient(argv, seconds, warmup) {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + warmup + 15) * 1000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      if (code !== 0) return reject(new Error(`echo_client failed (${code ?? signal}): ${err.trim()}`));
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`echo_client printed no JSON: ${out}`));
      }
    });
  });
}

function sizeLabel(bytes) {
  return bytes % KIB === 0 ? `${bytes / KIB} KiB` : `${bytes} B`;
}

function cpuModel() {
  return os.cpus()[0]?.model?.trim() ?? 'unknown';
}

function elapsed(t0) {
  const s = Math.round((performance.now() - t0) / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

function writeAtomically(file, text) {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

async function main() {
  const opts = parseOptions();
  const started = performance.now();
  const loops = await availableLoops(opts.loops);
  const { server: cSkip, addon: addonSkip } = buildC();
  if (cSkip) log(`skipping the C reference server: ${cSkip}`);
  if (addonSkip) log(`skipping the C echo inside Node: ${addonSkip}`);
  const pin = have('taskset') && os.cpus().length >= 2;
  if (!pin) log('not pinning (taskset missing or fewer than 2 CPUs): numbers are noisier');

  const node = process.execPath;
  const serverJs = path.join(HERE, 'server.mjs');
  /** The servers, in the order of every round; `impl` is the row name in the shared schema. */
  const servers = [];
  if (!cSkip) servers.push({ id: 'c-libuv', impl: 'C libuv (reference)', short: 'C libuv', loop: null, argv: [path.join(BUILD, 'echo_server'), '0'] });
  // The same C echo on Node's own loop, no JavaScript: what running inside a Node process costs by itself.
  if (!addonSkip) servers.push({ id: 'c-node', impl: 'C libuv inside Node', short: 'C in Node', loop: null, argv: [node, serverJs, 'c-in-node', path.join(BUILD, 'echo_addon.node')] });
  servers.push({ id: 'node-net', impl: 'node:net', short: 'node:net', loop: null, argv: [node, serverJs, 'node-net'] });
  for (const loop of loops) {
    // The native loop also runs a BufferedProtocol echo: its zero-copy path (reads land in the
    // protocol's own buffer), against the plain Protocol, which gets fresh memory it may keep.
    // On the default loop node:net hands every read over in its own Buffer either way.
    const apis = loop === 'native' ? ['protocol', 'buffered', 'streams'] : ['protocol', 'streams'];
    for (const api of apis) {
      servers.push({ id: `${loop}-${api}`, impl: `aioloop ${loop} ${api}`, short: `${loop} ${api}`, loop, argv: [node, serverJs, `aio-${api}`, loop] });
    }
  }

  // Start every server once (idle servers cost nothing); each round visits them all.
  log(`echo: starting ${servers.length} servers (${servers.map((s) => s.impl).join(', ')})...`);
  await Promise.all(servers.map(async (server) => (server.proc = await startServer(pinned(0, server.argv, pin)))));

  /** runs[serverId][size] = client results, one per round. */
  const runs = Object.fromEntries(servers.map((s) => [s.id, Object.fromEntries(opts.sizes.map((z) => [z, []]))]));
  const total = opts.rounds * opts.sizes.length * servers.length;
  const restarts = [];
  let done = 0;
  try {
    for (let round = 1; round <= opts.rounds; round++) {
      for (const size of opts.sizes) {
        // Odd rounds run the servers in order, even rounds in reverse: a burst of load from elsewhere
        // that lasts a few runs then slows different servers in different rounds, and the median of
        // the per-round ratios sets it aside (one full run had every native server ~20% slow in
        // rounds 1 and 2 of 3, and C and node:net, run first, not).
        for (const server of round % 2 === 1 ? servers : [...servers].reverse()) {
          done++;
          const head = `[${done}/${total}] round ${round}/${opts.rounds}, ${sizeLabel(size)}, ${server.impl}`;
          const clientArgv = pinned(1, [path.join(BUILD, 'echo_client'), HOST, String(server.proc.port), String(opts.conns), String(size), String(opts.seconds), String(opts.warmup)], pin);
          const r = await runClient(clientArgv, opts.seconds, opts.warmup);
          runs[server.id][size].push(r);
          // A server that died as the client hung up (its run is complete) is restarted for the next
          // run, and the report says so: a crash is a bug worth seeing, not a reason to lose the run.
          await new Promise((resolve) => setTimeout(resolve, 50));
          const { exitCode, signalCode } = server.proc.child;
          if (exitCode !== null || signalCode !== null) {
            const why = `${server.impl} exited (${signalCode ?? `code ${exitCode}`}) at the end of run ${done}${server.proc.stderr() ? `: ${server.proc.stderr().trim().split('\n').pop()}` : ''}`;
            log(`WARNING: ${why}; restarting it`);
            restarts.push(why);
            server.proc = await startServer(pinned(0, server.argv, pin));
          }
          log(`${head}: ${formatInt(r.rps)} req/s, p50 ${r.p50_us} us, p99 ${r.p99_us} us (client cpu ${r.client_cpu}); ${elapsed(started)}`);
        }
      }
    }
  } finally {
    await Promise.all(servers.map((s) => s.proc && stop(s.proc.child)));
  }

  // Medians over rounds; ratios as the median of per-round ratios.
  const rows = [];
  // Rows: node:net first, the baseline of the ratios the combined table prints on the rows.
  const rowOrder = [...servers].sort((a, b) => (b.id === 'node-net') - (a.id === 'node-net'));
  for (const size of opts.sizes) {
    for (const server of rowOrder) {
      const rs = runs[server.id][size];
      const rps = rs.map((r) => r.rps);
      const value = median(rps);
      const mibps = median(rs.map((r) => r.mibps));
      rows.push({
        bench: `echo ${sizeLabel(size)}`,
        impl: server.impl,
        loop: server.loop,
        value,
        unit: 'req/s',
        p50Ms: median(rs.map((r) => r.p50_us)) / 1000,
        p99Ms: median(rs.map((r) => r.p99_us)) / 1000,
        detail: `${mibps.toFixed(1)} MiB/s, rounds ${formatInt(Math.min(...rps))}..${formatInt(Math.max(...rps))}`,
        server: server.id,
        size,
        mibps,
        roundsRps: rps,
        clientCpuMax: Math.max(...rs.map((r) => r.client_cpu)),
      });
    }
  }
  const ratios = [];
  const pairedRatio = (id, ref, size) => median(runs[id][size].map((r, i) => r.rps / runs[ref][size][i].rps));
  const targetFor = (id, size, ref) => TARGETS.find(([s, z, against]) => s === id && (z === null || z === size) && against === ref)?.[3] ?? null;
  for (const size of opts.sizes) {
    const bench = `echo ${sizeLabel(size)}`;
    for (const server of servers) {
      // The native loop is also compared with the C echo inside Node: the same process kind, so
      // that ratio is what the loop and JavaScript cost, without the price of being in Node at all.
      for (const ref of ['node-net', 'c-libuv', 'c-node']) {
        const refServer = servers.find((s) => s.id === ref);
        if (!refServer || server.id === ref || (ref === 'node-net' && server.loop === null) || (ref === 'c-node' && server.loop !== 'native')) continue;
        const target = targetFor(server.id, size, ref);
        ratios.push({
          bench,
          label: `${server.short} / ${refServer.short}`,
          loop: server.loop,
          value: pairedRatio(server.id, ref, size),
          target,
          impl: server.impl,
          against: refServer.impl,
          // The chart shows ratios against Node, plus the targets against C.
          chart: ref === 'node-net' || target !== null,
        });
      }
    }
  }

  // The table: one line per server and size.
  const ratioOf = (impl, bench, against) => ratios.find((r) => r.impl === impl && r.bench === bench && r.against === against);
  const tableRows = [];
  for (const size of opts.sizes) {
    if (tableRows.length) tableRows.push(null);
    for (const row of rows.filter((r) => r.size === size)) {
      const vsC = ratioOf(row.impl, row.bench, 'C libuv (reference)');
      const vsNet = ratioOf(row.impl, row.bench, 'node:net');
      const vsCNode = ratioOf(row.impl, row.bench, 'C libuv inside Node');
      const verdicts = [vsC, vsNet]
        .filter((r) => r && r.target !== null)
        .map((r) => `${r.value >= r.target ? 'ok' : 'MISSED'} (>= ${r.target}x ${r.against === 'node:net' ? 'Node net' : 'C'})`);
      tableRows.push([
        row.impl,
        sizeLabel(size),
        formatInt(row.value),
        row.mibps.toFixed(1),
        `${Math.round(row.p50Ms * 1000)} us`,
        `${Math.round(row.p99Ms * 1000)} us`,
        `${formatInt(Math.min(...row.roundsRps))}..${formatInt(Math.max(...row.roundsRps))}`,
        vsC ? formatRatio(vsC.value) : row.server === 'c-libuv' ? '1.00x' : '',
        vsNet ? formatRatio(vsNet.value) : row.server === 'node-net' ? '1.00x' : '',
        vsCNode ? formatRatio(vsCNode.value) : row.server === 'c-node' ? '1.00x' : '',
        verdicts.join(', '),
      ]);
    }
  }
  console.log(
    `echo: ${opts.conns} connections, 1 request in flight each; ${opts.rounds} interleaved round${opts.rounds === 1 ? '' : 's'} of ${opts.seconds} s (after ${opts.warmup} s warm-up) per server and size; ` +
      `medians over rounds; ${pin ? 'server on CPU 0, client on CPU 1' : 'unpinned'}; node ${process.version}; ${cpuModel()}`,
  );
  console.log(renderTable(['server', 'size', 'req/s', 'MiB/s', 'p50', 'p99', 'req/s over rounds', 'vs C', 'vs Node net', 'vs C in Node', 'target'], tableRows, new Set([2, 3, 4, 5, 6, 7, 8, 9])));
  if (cSkip) console.log(`(no C reference: ${cSkip})`);
  for (const why of restarts) console.log(`WARNING: ${why}; it was restarted`);
  const maxClientCpu = Math.max(...rows.map((r) => r.clientCpuMax));
  if (maxClientCpu > 0.9) console.log(`note: the client used up to ${Math.round(maxClientCpu * 100)}% of its CPU; the fastest rows may be client-bound`);

  const section = assertSection(
    {
      section: 'echo',
      command: ['node', ...process.argv.slice(1).map((a) => path.relative(process.cwd(), a) || a)].join(' '),
      date: new Date().toISOString(),
      rows,
      ratios,
      node: process.version,
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
      cpu: cpuModel(),
      cpus: os.cpus().length,
      pinned: pin,
      conns: opts.conns,
      seconds: opts.seconds,
      rounds: opts.rounds,
      warmupSeconds: opts.warmup,
      loops,
      cReference: cSkip ? { skipped: cSkip } : { libuv: 'system (libuv1-dev)' },
      cInNode: addonSkip ? { skipped: addonSkip } : { libuv: `node's own (${process.versions.uv})` },
      restarts,
      durationS: (performance.now() - started) / 1000,
    },
    'echo',
  );
  const file = opts.json ?? path.join(HERE, 'results', 'latest.json');
  writeAtomically(file, `${JSON.stringify(section, null, 2)}\n`);
  log(`wrote ${path.relative(process.cwd(), file)} (${elapsed(started)})`);
}

function killChildren() {
  for (const child of children) child.kill('SIGKILL');
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killChildren();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  });
}

let exitCode = 0;
try {
  await main();
} catch (err) {
  log(`echo bench: ${err.message}${err instanceof UsageError ? `\n${USAGE}` : ''}`);
  exitCode = err instanceof UsageError ? 2 : 1;
} finally {
  killChildren();
}
process.exitCode = exitCode;
