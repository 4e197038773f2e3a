/**
 * The programs in examples/ run as a user would run them (`node
 * examples/X.mjs --loop NAME`, against dist/), on every loop of
 * test/loops.ts, and must print what they promise and exit 0 by themselves.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LOOPS } from './loops.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function runExample(
  name: string,
  args: string[],
  env: Record<string, string | undefined> = {},
  timeoutMs = 10_000,
): Promise<Result> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const [k, v] of Object.entries(childEnv)) if (v === undefined) delete childEnv[k];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`examples/${name}.mjs`, ...args], {
      cwd: ROOT,
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    // A program that does not exit by itself is killed and fails the test.
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Expected stdout, line by line: a string must match exactly, a RegExp must match the line. */
const EXPECTED: Record<string, (string | RegExp)[]> = {
  producer_consumer: [
    'processed 15 items with 2 consumers, 45 ms of work; 2 consumers cancelled; queue empty: true',
  ],
  fetch_urls: [
    '/delay/10/fast       ok: hello from fast',
    '/delay/50/medium     ok: hello from medium',
    '/delay/100/slower    ok: hello from slower',
    '/delay/5000/slowest  timed out after 1000 ms',
    'waitFor(/delay/5000/waitfor, 100 ms) -> TimeoutError',
    'server saw 2 aborted requests; main task signal aborted: false',
  ],
  subprocess_lines: [
    'child says: line 1',
    'child says: line 2',
    'child says: line 3',
    'child says: line 4',
    'child exited with code 3 (returncode 3)',
  ],
  executors: [
    'thread: sum of squares 1..100000 = 333338333350000',
    /^thread: sha256\('hello aioloop'\) = [0-9a-f]{16}\.\.\.$/,
    'process: primes below 200000 = 17984',
    /^process: sha256 x10000\('password'\) = [0-9a-f]{16}\.\.\.$/,
    'process: ran in another process: true',
    'loop stayed responsive: ticker ran while the work ran',
  ],
};

function expectOutput(name: string, r: Result): void {
  const context = `${name}: signal ${r.signal}, stderr:\n${r.stderr}`;
  expect(r.code, context).toBe(0);
  const lines = r.stdout.split('\n');
  expect(lines.pop(), context).toBe('');            // ends with a newline
  const want = EXPECTED[name]!;
  expect(lines.length, `${context}\nstdout:\n${r.stdout}`).toBe(want.length);
  want.forEach((w, i) => {
    if (typeof w === 'string') expect(lines[i], context).toBe(w);
    else expect(lines[i], context).toMatch(w);
  });
}

describe.concurrent('examples', () => {
  for (const kind of LOOPS) {
    for (const name of Object.keys(EXPECTED)) {
      it(`${name} --loop ${kind.name}`, async () => {
        // A bogus AIOLOOP_LOOP proves the flag, not the policy, picked the loop.
        expectOutput(name, await runExample(name, ['--loop', kind.name], { AIOLOOP_LOOP: 'bogus' }));
      });
    }
  }

  it('without --loop the policy decides (AIOLOOP_LOOP)', async () => {
    const ok = await runExample('producer_consumer', [], { AIOLOOP_LOOP: LOOPS.at(-1)!.name });
    expectOutput('producer_consumer', ok);
    const bad = await runExample('producer_consumer', [], { AIOLOOP_LOOP: 'bogus' });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/bogus/);
  });

  it('an unknown --loop is a usage error', async () => {
    const r = await runExample('producer_consumer', ['--loop', 'uvloop']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/usage: .*--loop default\|native/);
  });
});
