// Evidence for the echo targets: user-space instructions per request of one
// echo server, counted by valgrind (callgrind) under a fixed load. Unlike
// req/s or CPU time, the count barely moves with the machine's noise, so a
// change of a few percent in the server's own work is visible.
//
// The server runs under callgrind with instrumentation off; after a warm-up
// load (JIT compilation done) instrumentation is switched on for a measured
// load, then the count is divided by the requests the client completed.
// With --conns 1 every batch holds one request, so the count is the whole
// cost of one loop iteration with one read and one write; with 10 the
// per-iteration part is shared by the requests of a batch. Kernel work is
// not counted (callgrind sees user space only); under valgrind the server
// is ~50x slower, so its batches hold more requests than in a real run.
// Rows marked `compile` are V8 compiling, not the request path.
//
// Run (after `npm run bench:echo` built bench/echo/build; needs valgrind):
//   node bench/evidence/server_instructions.mjs [--kind aio-protocol|aio-streams|aio-buffered|node-net|c]
//        [--loop native|default] [--size 1024] [--conns 10] [--seconds 10] [--warmup 20] [--top 25]
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ECHO = path.join(HERE, '..', 'echo');
const { values: opts } = parseArgs({
  options: {
    kind: { type: 'string', default: 'aio-protocol' },
    loop: { type: 'string', default: 'native' },
    size: { type: 'string', default: '1024' },
    conns: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '20' },
    top: { type: 'string', default: '25' },
  },
});

for (const tool of ['valgrind', 'callgrind_control', 'callgrind_annotate']) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
    console.error(`${tool} is not installed (apt-get install valgrind)`);
    process.exit(2);
  }
}
const client = path.join(ECHO, 'build', 'echo_client');
if (!existsSync(client)) {
  console.error('bench/echo/build/echo_client is missing: run `npm run bench:echo` once');
  process.exit(2);
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'aioloop-cg-'));
const out = path.join(dir, 'callgrind.out');
const serverArgv =
  opts.kind === 'c'
    ? [path.join(ECHO, 'build', 'echo_server'), '0']
    : // --perf-basic-prof: V8 writes /tmp/perf-PID.map, which names the JIT code below.
      [process.execPath, '--single-threaded', '--perf-basic-prof', path.join(ECHO, 'server.mjs'), opts.kind, opts.loop];
// In the temporary directory: --perf-basic-prof also writes V8's log file to the working directory.
const server = spawn('valgrind', ['--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${out}`, ...serverArgv], {
  stdio: ['ignore', 'pipe', 'ignore'],
  cwd: dir,
});

const port = await new Promise((resolve, reject) => {
  let text = '';
  const timer = setTimeout(() => reject(new Error('the server did not start under valgrind within 120 s')), 120_000);
  server.stdout.on('data', (d) => {
    text += d;
    const m = /LISTENING (\d+)/.exec(text);
    if (m) {
      clearTimeout(timer);
      resolve(Number(m[1]));
    }
  });
});

/** Runs the closed-loop client for `seconds`; returns the requests it completed. */
function load(seconds) {
  const r = spawnSync(client, ['127.0.0.1', String(port), opts.conns, opts.size, String(seconds), '0'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`echo_client failed: ${r.stderr}`);
  return JSON.parse(r.stdout).requests;
}

function control(...args) {
  const r = spawnSync('callgrind_control', [...args, String(server.pid)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`callgrind_control ${args.join(' ')} failed: ${r.stderr}`);
}

let requests;
try {
  load(Number(opts.warmup));
  control('-i', 'on');
  requests = load(Number(opts.seconds));
  control('-i', 'off');
  control('-d');
} finally {
  server.kill('SIGINT');
  await new Promise((resolve) => server.once('exit', resolve));
}

/** Self cost by function, summed over the dumps. */
const costs = new Map();
for (const file of readdirSync(dir).filter((f) => f.startsWith('callgrind.out'))) {
  const text = spawnSync('callgrind_annotate', ['--threshold=100', path.join(dir, file)], { encoding: 'utf8', maxBuffer: 1 << 28 }).stdout;
  for (const line of text.split('\n')) {
    const m = /^\s*([\d,]+)\s+\([^)]*\)\s+(.*)$/.exec(line);
    if (!m || line.includes('PROGRAM TOTALS')) continue;
    costs.set(m[2], (costs.get(m[2]) ?? 0) + Number(m[1].replaceAll(',', '')));
  }
}
rmSync(dir, { recursive: true, force: true });

// JIT code has no symbols in callgrind: name it from V8's perf map.
const perfMap = `/tmp/perf-${server.pid}.map`;
if (existsSync(perfMap)) {
  const ranges = readFileSync(perfMap, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [start, size, ...name] = line.split(' ');
      return { start: parseInt(start, 16), end: parseInt(start, 16) + parseInt(size, 16), name: name.join(' ') };
    });
  for (const [name, n] of [...costs]) {
    const m = /^\?\?\?:0x([0-9a-f]+)/.exec(name);
    if (!m) continue;
    const pc = parseInt(m[1], 16);
    // The last mapping that contains pc (code can be re-created at one address).
    const hit = ranges.findLast((r) => r.start <= pc && pc < r.end);
    if (!hit) continue;
    costs.delete(name);
    const js = `js: ${hit.name}`;
    costs.set(js, (costs.get(js) ?? 0) + n);
  }
  rmSync(perfMap, { force: true });
}

/** A coarse owner for each function, so the table says where the work is. */
function category(name) {
  if (/compiler::|Zone|Scanner|Parser|interpreter::|BytecodeGenerator|maglev|Compiler::|baseline::|SourcePosition/i.test(name)) return 'compile';
  if (/Scaveng|Heap::|MarkCompact|Sweeper|IterateObjectCache|heap::/.test(name)) return 'gc';
  if (name.startsWith('???:0x') || name.startsWith('js: ')) return 'js (jit)';
  if (name.includes('aioloop.node')) return 'addon';
  if (name.includes('libc.so')) return 'libc';
  if (name.includes('/deps/uv/') || /\buv_/.test(name.split('[')[0])) return 'libuv';
  if (/napi|v8impl/.test(name)) return 'napi';
  if (name.includes('Builtins_')) return 'v8 builtins';
  if (name.includes('node::')) return 'node';
  return opts.kind === 'c' ? 'c server' : 'v8';
}
const byCategory = new Map();
for (const [name, n] of costs) byCategory.set(category(name), (byCategory.get(category(name)) ?? 0) + n);
const total = [...costs.values()].reduce((a, b) => a + b, 0);
const compile = byCategory.get('compile') ?? 0;
const per = (n) => Math.round(n / requests).toLocaleString('en-US').padStart(8);

console.log(`${opts.kind}${opts.kind === 'c' ? '' : ` (${opts.loop} loop)`}, ${opts.size} B, ${opts.conns} connection(s): ${requests.toLocaleString('en-US')} requests measured`);
console.log(`user instructions a request: ${per(total - compile).trim()} (${per(compile).trim()} more compiling)`);
for (const [name, n] of [...byCategory].sort((a, b) => b[1] - a[1])) console.log(`  ${per(n)}  ${name}`);
console.log('top functions (instructions a request):');
for (const [name, n] of [...costs].filter(([k]) => category(k) !== 'compile').sort((a, b) => b[1] - a[1]).slice(0, Number(opts.top))) {
  console.log(`  ${per(n)}  ${name.replace(/\s*\[[^\]]*\]$/, '').slice(0, 110)}`);
}
