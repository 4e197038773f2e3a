// Run a child process and read its output line by line as it arrives
// (asyncio.create_subprocess_exec with stdout=PIPE), then wait for its exit.
//
//   node examples/subprocess_lines.mjs [--loop default|native]
import { run, createSubprocessExec } from '../dist/index.js';
import { loopFromArgs } from './_loop.mjs';

// The child: prints four lines, 30 ms apart, then exits with code 3.
const CHILD = `
let i = 0;
const t = setInterval(() => {
  console.log('line ' + ++i);
  if (i === 4) { clearInterval(t); process.exitCode = 3; }
}, 30);
`;

function* main() {
  const proc = yield* createSubprocessExec(process.execPath, ['-e', CHILD], { stdout: 'pipe' });
  const started = performance.now();

  // The readline loop: readline() returns an empty Buffer at EOF.
  // (An async function could write: for await (const line of proc.stdout) ...)
  for (;;) {
    const line = yield* proc.stdout.readline();
    if (line.length === 0) break;
    const ms = Math.round(performance.now() - started);
    console.log(`child says: ${line.toString().trimEnd()}`);
    console.error(`  (after ${ms} ms)`);      // timing to stderr: it varies
  }

  const code = yield* proc.wait();
  console.log(`child exited with code ${code} (returncode ${proc.returncode})`);
}

await run(main, { loop: loopFromArgs() });
