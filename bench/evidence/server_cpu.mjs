// Evidence for the echo and RESP targets: how much server CPU one request
// costs, measured from /proc/PID/stat (utime + stime) around a fixed load,
// with the server pinned to CPU 0 and the load generator to CPU 1. Unlike
// req/s, this does not depend on whether the load generator keeps up, so it
// separates "the server is slower" from "the client is the limit".
//
// Run (after `npm run bench` built bench/echo/build, and with redis-tools and
// redis-server installed by scripts/ensure-tools.mjs):
//   node bench/evidence/server_cpu.mjs echo [SIZE ...]     (default 1024 10240)
//   node bench/evidence/server_cpu.mjs resp [PIPELINE ...] (default 1 16)
//   node bench/evidence/server_cpu.mjs cold [SIZE ...]     (default 1024 10240)
// `cold` asks what reading into memory a protocol may keep costs by itself:
// the C server reads into its connection's buffer (always in the cache), and
// again into a ring of 32 MiB (ECHO_RING_MB, c/echo_core.h), the distance at
// which a plain Protocol's slab memory comes back (V8 frees young
// ArrayBuffers at a scavenge, and forces one when they reach 32 MiB: run the
// native echo with --trace-gc), both as its own process and as the addon
// inside Node, beside aioloop's plain and buffered protocol. The last C row
// is what any Node server whose protocol keeps its bytes could reach with
// no JavaScript at all. (Build first: `npm run bench:echo -- --quick`.)
// Each server runs ROUNDS times (env, default 3), interleaved; the table shows
// the median µs of server CPU per request, of it the user time (the rest is
// the kernel's), and req/s.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ECHO = path.join(ROOT, 'bench/echo');
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const TICK_US = 1e6 / Number(spawnSync('getconf', ['CLK_TCK']).stdout.toString().trim() || 100);

const SERVERS = {
  echo: [
    ['C libuv (reference)', [path.join(ECHO, 'build/echo_server')]],
    ['node:net', [process.execPath, path.join(ECHO, 'server.mjs'), 'node-net']],
    ['aioloop native protocol', [process.execPath, path.join(ECHO, 'server.mjs'), 'aio-protocol', 'native']],
    ['aioloop native buffered protocol', [process.execPath, path.join(ECHO, 'server.mjs'), 'aio-buffered', 'native']],
    ['aioloop native streams', [process.execPath, path.join(ECHO, 'server.mjs'), 'aio-streams', 'native']],
    ['aioloop default protocol', [process.execPath, path.join(ECHO, 'server.mjs'), 'aio-protocol', 'default']],
  ],
  cold: [
    ['C libuv (reference)', [path.join(ECHO, 'build/echo_server')]],
    ['C libuv, reads into 32 MiB ring', ['env', 'ECHO_RING_MB=32', path.join(ECHO, 'build/echo_server')]],
    ['C inside Node', [process.execPath, path.join(ECHO, 'server.mjs'), 'c-in-node', path.join(ECHO, 'build/echo_addon.node')]],
    ['C inside Node, 32 MiB ring', ['env', 'ECHO_RING_MB=32', process.execPath, path.join(ECHO, 'server.mjs'), 'c-in-node', path.join(ECHO, 'build/echo_addon.node')]],
    ['aioloop native protocol', [process.execPath, path.join(ECHO, 'server.mjs'), 'aio-protocol', 'native']],
    ['aioloop native buffered protocol', [process.execPath, path.join(ECHO, 'server.mjs'), 'aio-buffered', 'native']],
  ],
  resp: [
    ['redis-server', ['redis-server', '--port', 'PORT', '--save', '', '--appendonly', 'no']],
    ['node:net', [process.execPath, path.join(ROOT, 'bench/servers/resp_node.mjs'), '--port', 'PORT']],
    ['aioloop native', [process.execPath, path.join(ROOT, 'examples/resp_server.mjs'), '--loop', 'native', '--port', 'PORT']],
  ],
};

/** utime and stime of `pid`, in µs. */
function cpuUs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return { user: Number(fields[11]) * TICK_US, sys: Number(fields[12]) * TICK_US }; // fields 14 and 15 of stat(5)
}

let nextPort = 16390;

/** Start a server pinned to CPU 0; resolves with its process and port once it listens. */
function startServer(argv) {
  const port = nextPort++;
  const args = argv.map((a) => (a === 'PORT' ? String(port) : a));
  const child = spawn('taskset', ['-c', '0', ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')}: did not start`)), 10_000);
    const check = () => {
      const m = /LISTENING (\d+)/.exec(out);
      if (m || /istening|Ready to accept/.test(out)) {
        clearTimeout(timer);
        resolve({ child, port: m ? Number(m[1]) : port });
      }
    };
    child.stdout.on('data', (d) => {
      out += d;
      check();
    });
    // redis-server logs to stdout; give servers that print nothing a moment.
    setTimeout(() => {
      out += ' Ready to accept';
      check();
    }, 1500);
  });
}

function client(argv) {
  const r = spawnSync('taskset', ['-c', '1', ...argv], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** One measured run: returns { rps, cpuPerReq } (µs of server CPU per request). */
async function measure(kind, argv, param) {
  const { child, port } = await startServer(argv);
  try {
    let requests;
    let rps;
    const load = () => {
      if (kind !== 'resp') {
        const r = JSON.parse(client([path.join(ECHO, 'build/echo_client'), '127.0.0.1', String(port), '10', String(param), '3', '0']));
        requests = r.requests;
        rps = r.rps;
      } else {
        const n = param === 1 ? 200_000 : 2_000_000;
        const out = client(['redis-benchmark', '-p', String(port), '-t', 'set', '-c', '50', '-n', String(n), '-P', String(param), '--csv']);
        const row = out.split('\n').find((l) => l.startsWith('"SET"'));
        rps = Number(row.split(',')[1].replaceAll('"', ''));
        requests = n;
      }
    };
    if (kind !== 'resp') client([path.join(ECHO, 'build/echo_client'), '127.0.0.1', String(port), '10', String(param), '1', '0']); // warm-up
    else client(['redis-benchmark', '-p', String(port), '-t', 'set', '-c', '50', '-n', '20000', '-P', String(param), '-q']);
    const t0 = cpuUs(child.pid);
    load();
    const t1 = cpuUs(child.pid);
    const user = t1.user - t0.user;
    return { rps, cpuPerReq: (user + t1.sys - t0.sys) / requests, userPerReq: user / requests };
  } finally {
    child.kill('SIGKILL');
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

const kind = process.argv[2];
if (!SERVERS[kind]) {
  console.error('usage: node bench/evidence/server_cpu.mjs echo|cold|resp [SIZE|PIPELINE ...]');
  process.exit(2);
}
const params = process.argv.slice(3).map(Number);
if (params.length === 0) params.push(...(kind !== 'resp' ? [1024, 10240] : [1, 16]));
for (const param of params) {
  const results = SERVERS[kind].map(() => ({ rps: [], cpu: [], user: [] }));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, [, argv]] of SERVERS[kind].entries()) {
      const { rps, cpuPerReq, userPerReq } = await measure(kind, argv, param);
      results[i].rps.push(rps);
      results[i].cpu.push(cpuPerReq);
      results[i].user.push(userPerReq);
    }
  }
  console.log(`\n${kind} ${kind !== 'resp' ? `${param} B, 10 connections` : `redis-benchmark -t set -c 50 -P ${param}`}; median of ${ROUNDS} interleaved rounds`);
  // The yardstick: node:net, or for `cold` the C server reading into its own buffer.
  const b = kind === 'cold' ? 0 : 1;
  const base = median(results[b].cpu);
  const baseRps = median(results[b].rps);
  const baseName = kind === 'cold' ? 'C' : 'node:net';
  for (const [i, [name]] of SERVERS[kind].entries()) {
    const cpu = median(results[i].cpu);
    const rps = median(results[i].rps);
    console.log(
      `  ${name.padEnd(32)} ${cpu.toFixed(2).padStart(6)} µs CPU/request (user ${median(results[i].user).toFixed(2).padStart(5)})  ${Math.round(rps).toLocaleString('en-US').padStart(10)} req/s  ${baseName} CPU / this: ${(base / cpu).toFixed(2)}x  req/s / ${baseName}: ${(rps / baseRps).toFixed(2)}x`,
    );
  }
}
