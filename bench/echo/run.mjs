#!/usr/bin/env node
/**
 * Echo benchmark (issue 5): each echo server in its own process, loaded by a
 * closed-loop C client (bench/echo/c/echo_client.c) in another process,
 * pinned to different cores. Prints progress to stderr, ONE table to stdout,
 * and writes bench/echo/results/latest.json.
 *
 *   node bench/echo/run.mjs [--quick] [--loop default|native] [--sizes 1024,10240,102400] [--seconds N]
 *
 *   --quick        2 s per run and only 1 KiB (unless --sizes/--seconds say otherwise)
 *   --loop NAME    aioloop loop to run (default: every loop that can be constructed here)
 *   --sizes LIST   message sizes in bytes
 *   --seconds N    measured seconds per run (after a short warm-up)
 *   --conns N      connections (default 10)
 *
 * Exit 0 even when a target is missed (the table says MISSED); non-zero on errors.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatInt, formatRatio, renderTable } from '../lib/table.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BUILD = path.join(HERE, 'build');
const HOST = '127.0.0.1';
const WARMUP_SECONDS = 0.5;
const START_TIMEOUT_MS = 10_000;
const KIB = 1024;

const USAGE = 'usage: node bench/echo/run.mjs [--quick] [--loop default|native] [--sizes 1024,10240,102400] [--seconds N] [--conns N]';

/** Every child process we started; killed in `finally` so no server outlives the run. */
const children = new Set();

function log(msg) {
  process.stderr.write(`${msg}\n`);
}

function parseOptions() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      loop: { type: 'string' },
      sizes: { type: 'string' },
      seconds: { type: 'string' },
      conns: { type: 'string', default: '10' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const sizes = (values.sizes ?? (values.quick ? '1024' : '1024,10240,102400')).split(',').map(Number);
  const seconds = Number(values.seconds ?? (values.quick ? 2 : 5));
  const conns = Number(values.conns);
  if (sizes.some((s) => !Number.isInteger(s) || s <= 0)) throw new Error(`bad --sizes\n${USAGE}`);
  if (!(seconds > 0 && seconds <= 60)) throw new Error(`--seconds must be in (0, 60]\n${USAGE}`);
  if (!Number.isInteger(conns) || conns <= 0 || conns > 1000) throw new Error(`bad --conns\n${USAGE}`);
  if (values.loop !== undefined && !['default', 'native'].includes(values.loop)) throw new Error(`--loop must be default or native\n${USAGE}`);
  return { ...values, sizes, seconds, conns };
}

/** The loops that can be constructed here (the native one needs the addon). */
async function availableLoops(wanted) {
  const aio = await import('../../dist/index.js');
  const loops = [];
  for (const [name, make] of [['default', () => new aio.DefaultLoop()], ['native', () => new aio.NativeLoop()]]) {
    if (wanted && wanted !== name) continue;
    try {
      make().close();
      loops.push(name);
    } catch (err) {
      if (wanted) throw new Error(`the ${name} loop cannot run here: ${err.message}`);
      log(`skipping the ${name} loop: ${err.message.split('\n')[0]}`);
    }
  }
  return loops;
}

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
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

function compile(out, src, libs = []) {
  const r = spawnSync('cc', ['-O2', '-Wall', '-o', path.join(BUILD, out), path.join(HERE, 'c', src), ...libs], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cc ${src} failed:\n${r.stderr || r.error}`);
}

/** Build the client (required) and the C server (optional: null + reason when libuv is missing). */
function buildC() {
  if (!have('cc')) throw new Error('a C compiler (cc) is needed for the load generator');
  mkdirSync(BUILD, { recursive: true });
  compile('echo_client', 'echo_client.c');
  if (!ensureLibuv()) return 'libuv1-dev is not installed and could not be installed (needs root and apt-get)';
  try {
    compile('echo_server', 'echo_server.c', ['-luv']);
  } catch (err) {
    return err.message;
  }
  return null;
}

/** `taskset -c CPU` in front of a command when taskset exists and the CPU does. */
function pinned(cpu, argv, pin) {
  return pin ? ['taskset', '-c', String(cpu), ...argv] : argv;
}

/** Start a server and resolve with its port once it prints "LISTENING <port>". */
function startServer(argv) {
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
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
function runClient(argv, seconds) {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + WARMUP_SECONDS + 15) * 1000);
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

async function main() {
  const opts = parseOptions();
  const loops = await availableLoops(opts.loop);
  const cSkip = buildC();
  if (cSkip) log(`skipping the C reference server: ${cSkip}`);
  const pin = have('taskset') && os.cpus().length >= 2;
  if (!pin) log('not pinning (taskset missing or fewer than 2 CPUs): numbers are noisier');

  const node = process.execPath;
  const serverJs = path.join(HERE, 'server.mjs');
  const servers = [];
  if (!cSkip) servers.push({ id: 'c-libuv', title: 'C libuv echo (reference)', argv: [path.join(BUILD, 'echo_server'), '0'] });
  servers.push({ id: 'node-net', title: 'Node net echo', argv: [node, serverJs, 'node-net'] });
  for (const loop of loops) {
    servers.push({ id: `${loop}-protocol`, title: `aioloop ${loop} protocol echo`, argv: [node, serverJs, 'aio-protocol', loop] });
    servers.push({ id: `${loop}-streams`, title: `aioloop ${loop} streams echo`, argv: [node, serverJs, 'aio-streams', loop] });
  }

  const results = [];
  const total = servers.length * opts.sizes.length;
  for (const server of servers) {
    for (const size of opts.sizes) {
      log(`[${results.length + 1}/${total}] ${server.title}, ${sizeLabel(size)}, ${opts.seconds} s...`);
      // A fresh server per run: no state (buffers, JIT, GC heap) carries over between sizes.
      const srv = await startServer(pinned(0, server.argv, pin));
      try {
        const clientArgv = pinned(1, [path.join(BUILD, 'echo_client'), HOST, String(srv.port), String(opts.conns), String(size), String(opts.seconds), String(WARMUP_SECONDS)], pin);
        const r = await runClient(clientArgv, opts.seconds);
        if (srv.child.exitCode !== null) throw new Error(`${server.title} died during the run\n${srv.stderr()}`);
        results.push({ server: server.id, title: server.title, ...r });
        log(`    ${formatInt(r.rps)} req/s, ${r.mibps.toFixed(1)} MiB/s, p50 ${r.p50_us} us, p99 ${r.p99_us} us (client cpu ${r.client_cpu})`);
      } finally {
        await stop(srv.child);
      }
    }
  }

  const find = (id, size) => results.find((r) => r.server === id && r.size === size);
  const ratio = (r, id) => {
    const ref = find(id, r.size);
    return ref ? r.rps / ref.rps : null;
  };

  // The targets: [server, size, against, minimum ratio].
  const targetDefs = [
    ['native-protocol', 1024, 'c-libuv', 0.9],
    ['native-protocol', 10240, 'c-libuv', 0.85],
    ['native-streams', 1024, 'node-net', 1.3],
    ...opts.sizes.map((s) => ['default-protocol', s, 'node-net', 0.9]),
  ];
  const targets = [];
  for (const [id, size, against, min] of targetDefs) {
    const r = find(id, size);
    if (!r) continue;
    const x = ratio(r, against);
    if (x === null) continue;
    targets.push({ server: id, size, against, min, ratio: x, ok: x >= min });
  }
  const targetText = (r) =>
    targets
      .filter((t) => t.server === r.server && t.size === r.size)
      .map((t) => `${t.ok ? 'ok' : 'MISSED'} (>= ${t.min}x ${t.against === 'c-libuv' ? 'C' : 'Node net'})`)
      .join(', ');

  const rows = [];
  for (const size of opts.sizes) {
    if (rows.length) rows.push(null);
    for (const r of results.filter((x) => x.size === size)) {
      rows.push([
        r.title,
        sizeLabel(size),
        formatInt(r.rps),
        r.mibps.toFixed(1),
        `${r.p50_us} us`,
        `${r.p99_us} us`,
        formatRatio(ratio(r, 'c-libuv')),
        formatRatio(ratio(r, 'node-net')),
        targetText(r),
      ]);
    }
  }
  console.log(
    `echo: ${opts.conns} connections, 1 request in flight each, ${opts.seconds} s per run after ${WARMUP_SECONDS} s warm-up; ` +
      `${pin ? 'server on CPU 0, client on CPU 1' : 'unpinned'}; node ${process.version}; ${cpuModel()}`,
  );
  console.log(renderTable(['server', 'size', 'req/s', 'MiB/s', 'p50', 'p99', 'vs C', 'vs Node net', 'target'], rows, new Set([2, 3, 4, 5, 6, 7])));
  if (cSkip) console.log(`(no C reference: ${cSkip})`);
  const maxClientCpu = Math.max(...results.map((r) => r.client_cpu));
  if (maxClientCpu > 0.9) console.log(`note: the client used up to ${Math.round(maxClientCpu * 100)}% of its CPU; the fastest rows may be client-bound`);

  const report = {
    command: ['node', ...process.argv.slice(1).map((a) => path.relative(process.cwd(), a) || a)].join(' '),
    date: new Date().toISOString(),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpu: cpuModel(),
    cpus: os.cpus().length,
    pinned: pin,
    conns: opts.conns,
    seconds: opts.seconds,
    warmupSeconds: WARMUP_SECONDS,
    cReference: cSkip ? { skipped: cSkip } : { libuv: 'system (libuv1-dev)' },
    results,
    targets,
  };
  const dir = path.join(HERE, 'results');
  mkdirSync(dir, { recursive: true });
  // Write then rename: an interrupted run never leaves half a file.
  writeFileSync(path.join(dir, 'latest.json.tmp'), `${JSON.stringify(report, null, 2)}\n`);
  renameSync(path.join(dir, 'latest.json.tmp'), path.join(dir, 'latest.json'));
  log(`wrote ${path.relative(process.cwd(), path.join(dir, 'latest.json'))}`);
}

let exitCode = 0;
try {
  await main();
} catch (err) {
  log(`echo bench: ${err.message}`);
  exitCode = 1;
} finally {
  for (const child of children) child.kill('SIGKILL');
}
process.exitCode = exitCode;
