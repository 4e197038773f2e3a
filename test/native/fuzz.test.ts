/**
 * Random calls into every method of the native Loop (test/fixtures/native_fuzz.mjs),
 * in a child process: a crash or a libuv assertion is a signal there, not a
 * lost test worker. A new seed every run; a failure prints the seed, and
 * `node test/fixtures/native_fuzz.mjs RUNS SEED` replays it (under
 * `npm run test:asan` the child loads the sanitized build too).
 *
 * Found on its first runs, and fixed: uv_write, uv_shutdown and
 * uv_read_start reached on a signal watcher or a child process through a
 * stream id (libuv asserts), uv_udp_connect on a closing endpoint (bound a
 * new socket; libuv asserted in the close), and popDue(Infinity) on an
 * empty heap (read past the end).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { addonPath, loadAddon } from '../../lib/loops/native/addon.js';

const FUZZER = fileURLToPath(new URL('../fixtures/native_fuzz.mjs', import.meta.url));
const RUNS = 300;

/** Methods that reach past argument checks into real work in every campaign this size (so the fuzzer is not just hitting TypeErrors). */
const MUST_SUCCEED = [
  'addTimer', 'cancelTimer', 'applyOps', 'popDue', 'setRunning', 'setReady', 'outbound', 'flush', 'batch',
  'tcpListen', 'tcpConnect', 'udpBind', 'pipeListen', 'pipeConnect', 'signalStart', 'spawn', 'write',
  'readStart', 'readStop', 'closeStream', 'fileno', 'getaddrinfo', 'getnameinfo',
];

function runFuzzer(runs: number, seed: number): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // Its own process group: a timeout kills the fuzzer and any child it spawned.
    const child = spawn(process.execPath, [FUZZER, String(runs), String(seed)], {
      env: { ...process.env, AIOLOOP_NATIVE_BINARY: addonPath() },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const killGroup = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // the group is gone already
      }
    };
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(killGroup, 100_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      killGroup(); // children a closed loop let go of (still running) go too
      resolve({ code, signal, stdout, stderr });
    });
  });
}

describe.runIf(loadAddon() !== null)('native addon: random calls', () => {
  it(`survives ${RUNS} random call sequences, every error a JS Error, every handle released`, async () => {
    const seed = (Date.now() ^ (Math.random() * 2 ** 31)) >>> 0;
    const r = await runFuzzer(RUNS, seed);
    const replay = `replay: AIOLOOP_NATIVE_BINARY=${addonPath()} node test/fixtures/native_fuzz.mjs ${RUNS} ${seed}`;
    expect({ code: r.code, signal: r.signal, stderr: r.code === 0 ? '' : r.stderr.slice(-4000) }, replay).toEqual({ code: 0, signal: null, stderr: '' });
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { seed: number; runs: number; calls: number; ok: Record<string, number> };
    expect(summary.seed).toBe(seed);
    expect(summary.runs).toBe(RUNS);
    expect(summary.calls).toBeGreaterThan(RUNS * 10);
    const neverSucceeded = MUST_SUCCEED.filter((m) => !(summary.ok[m]! > 0));
    expect(neverSucceeded, replay).toEqual([]);
  }, 120_000);
});
