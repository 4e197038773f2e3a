#!/usr/bin/env node
// Builds the addon with AddressSanitizer + UndefinedBehaviorSanitizer
// (cmake-js -> build-asan/Release/aioloop.node, AIOLOOP_DEBUG on) and runs the
// native test suite against it:
//
//   node scripts/test-asan.mjs [vitest args...]
//
// Linux + GCC only for now: the sanitized .node needs the ASan runtime loaded
// before anything else in the process, and node itself is not sanitized, so we
// LD_PRELOAD libasan into node (and every process it spawns).
//
// Env overrides: AIOLOOP_ASAN_RUNTIME=<path to libasan.so>,
// AIOLOOP_ASAN_SKIP_BUILD=1 (reuse an existing build-asan).

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = path.join(root, 'build-asan');
const binary = path.join(outDir, 'Release', 'aioloop.node');
const vitestArgs = process.argv.slice(2);

function die(msg) {
  console.error(`aioloop(asan): ${msg}`);
  process.exit(1);
}

function run(cmd, args, opts = {}) {
  console.log(`aioloop(asan): ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  if (r.error) die(`could not run ${cmd}: ${r.error.message}`);
  return r.status ?? 128;
}

if (process.platform !== 'linux') {
  die('only supported on Linux (relies on LD_PRELOAD of the ASan runtime)');
}

// --- build ----------------------------------------------------------------
if (process.env.AIOLOOP_ASAN_SKIP_BUILD !== '1') {
  const cmakeJs = path.join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js');
  if (!existsSync(cmakeJs)) die(`${cmakeJs} not found; run npm install first`);

  const common = ['--directory', root, '--out', outDir];
  const defines = ['--CDAIOLOOP_SANITIZE=ON', '--CDAIOLOOP_DEBUG=ON'];
  // Point CMake at the headers of the node running this script (the one that
  // will load the addon), rather than whichever node is first on PATH.
  const nodeInclude = path.join(path.dirname(path.dirname(process.execPath)), 'include', 'node');
  if (existsSync(path.join(nodeInclude, 'uv.h'))) {
    defines.push(`--CDAIOLOOP_NODE_INCLUDE_DIR=${nodeInclude}`);
  }
  // `configure` every time so the -D options always apply (cmake-js `build`
  // and `compile` skip configuring when a CMakeCache.txt already exists).
  if (run(process.execPath, [cmakeJs, 'configure', ...common, ...defines]) !== 0) {
    die('cmake-js configure failed');
  }
  if (run(process.execPath, [cmakeJs, 'build', ...common]) !== 0) die('cmake-js build failed');
}
if (!existsSync(binary)) die(`${binary} was not produced`);

// --- sanitizer runtime ----------------------------------------------------
// Ask the compiler that built the addon (from the CMake cache) where its
// libasan lives; a different compiler's runtime would not match.
function cmakeCxx() {
  try {
    const cache = readFileSync(path.join(outDir, 'CMakeCache.txt'), 'utf8');
    return cache.match(/^CMAKE_CXX_COMPILER:[A-Z]+=(.+)$/m)?.[1].trim() || 'g++';
  } catch {
    return 'g++';
  }
}

function findAsanRuntime() {
  if (process.env.AIOLOOP_ASAN_RUNTIME) return process.env.AIOLOOP_ASAN_RUNTIME;
  const cxx = cmakeCxx();
  const r = spawnSync(cxx, ['-print-file-name=libasan.so'], { encoding: 'utf8' });
  const p = r.stdout?.trim();
  // GCC echoes the bare name back when it has no such file (e.g. clang).
  if (r.status !== 0 || !p || !path.isAbsolute(p) || !existsSync(p)) {
    die(`could not locate libasan.so via '${cxx} -print-file-name=libasan.so'; set AIOLOOP_ASAN_RUNTIME`);
  }
  return realpathSync(p);
}

const asanRuntime = findAsanRuntime();
const env = {
  ...process.env,
  AIOLOOP_NATIVE_BINARY: binary,
  LD_PRELOAD: [asanRuntime, process.env.LD_PRELOAD].filter(Boolean).join(':'),
  // Leak checking is off: node/V8 intentionally leave heap memory allocated at
  // exit (isolates, code space, static caches) and none of it is ours, so LSan
  // would only report noise. Use-after-free, overflows etc. are still caught.
  // Caller-supplied options come last and win.
  ASAN_OPTIONS: ['detect_leaks=0', process.env.ASAN_OPTIONS].filter(Boolean).join(':'),
  UBSAN_OPTIONS: ['print_stacktrace=1:halt_on_error=1', process.env.UBSAN_OPTIONS]
    .filter(Boolean)
    .join(':'),
};
console.log(`aioloop(asan): LD_PRELOAD=${env.LD_PRELOAD}`);
console.log(`aioloop(asan): AIOLOOP_NATIVE_BINARY=${binary}`);

// --- smoke test -------------------------------------------------------------
// Fails fast with a clear message if the preload/runtime setup is broken,
// instead of every test file failing to import the addon.
const smoke =
  'const m = require(process.env.AIOLOOP_NATIVE_BINARY);' +
  "if (!m.debugBuild) throw new Error('expected a debug (AIOLOOP_DEBUG) build');" +
  "console.log('aioloop(asan): smoke ok', m.version(), 'libuv', m.libuvVersion())";
if (run(process.execPath, ['-e', smoke], { env }) !== 0) {
  die('loading the sanitized addon into node failed (see output above)');
}

// --- tests ----------------------------------------------------------------
// Run vitest's entry with this node directly: the .bin shim's `env node`
// shebang could pick up a different node from PATH.
const vitestBin = path.join(root, 'node_modules', '.bin', 'vitest');
if (!existsSync(vitestBin)) die(`${vitestBin} not found; run npm install first`);
const extra = existsSync(path.join(root, 'test', 'native')) ? [] : ['--passWithNoTests'];
if (extra.length) console.log('aioloop(asan): test/native does not exist yet; passing --passWithNoTests');
process.exit(run(process.execPath, [realpathSync(vitestBin), 'run', 'test/native', ...extra, ...vitestArgs], { env }));
