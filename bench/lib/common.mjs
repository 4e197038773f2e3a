/** Helpers every benchmark file shares. */
import { spawnSync } from 'node:child_process';

/** Fail loudly when a run did less work than it claims (a benchmark that silently does less looks fast). */
export function check(what, actual, expected) {
  if (actual !== expected) throw new Error(`${what}: expected ${expected}, got ${actual}`);
}

/** Run `body(loop)` (an awaitable) on a fresh loop from `create` until complete, then close the loop. */
export async function onFreshLoop(create, body) {
  const loop = create();
  try {
    return await loop.runUntilComplete(body(loop));
  } finally {
    loop.close();
  }
}

/** Run `main` (a coroutine or async function) as a task on a fresh loop, then close the loop. */
export function inTaskOnFreshLoop(create, main) {
  return onFreshLoop(create, (loop) => loop.createTask(main));
}

/**
 * Which of the loops `names` can be constructed here (the native one needs
 * the addon). When `required`, one that cannot is an error; else it is
 * skipped and `log` says why.
 */
export async function constructibleLoops(names, required, log) {
  const aio = await import('../../dist/index.js');
  const make = { default: () => new aio.DefaultLoop(), native: () => new aio.NativeLoop() };
  const loops = [];
  for (const name of names) {
    try {
      make[name]().close();
      loops.push(name);
    } catch (err) {
      if (required) throw new Error(`the ${name} loop cannot run here: ${err.message}`);
      log(`skipping the ${name} loop: ${err.message.split('\n')[0]}`);
    }
  }
  return loops;
}

/** True if `cmd` is on the PATH. */
export function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}
