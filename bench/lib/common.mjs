/** Helpers every benchmark file shares. */

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
