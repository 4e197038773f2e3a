/** Run a small ES module program in a child Node process (env selection, exit behaviour, GC). */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url));
export const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** `code` may use `aio` (the built package) directly. */
export function runChild(
  code: string,
  opts: { env?: Record<string, string | undefined>; nodeArgs?: string[]; timeoutMs?: number; cwd?: string } = {},
): Promise<ChildResult> {
  const program = `import * as aio from ${JSON.stringify(DIST)};\n${code}`;
  const env = { ...process.env, ...opts.env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), '--input-type=module', '-e', program], {
      cwd: opts.cwd ?? ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 10_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - started });
    });
  });
}
