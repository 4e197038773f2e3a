/**
 * Hidden-class anchors: one closed loop of each loop class, with a Future, a
 * Task, a Handle and a TimerHandle of its own, kept alive for the life of
 * the process.
 *
 * Why: V8 keeps an object's hidden class (its "map") alive only through the
 * objects that have it; the map tree that leads to it holds it weakly. A
 * full garbage collection that finds no Future, Task or loop alive (between
 * two `run()` calls, or whenever a program has nothing scheduled) collects
 * their maps. The next Future then gets a new map, so every function
 * optimized for the old one (the loop's drain, Task steps, `yield*` on a
 * Future, `setResult`) deoptimizes, and V8 relearns their type feedback and
 * optimizes them again. Measured with the Future ping-pong, a full GC
 * before each run (`bench/evidence/hidden_classes.mjs`): 394 deopts over 30
 * runs and 0.57-0.60x of Node's Promise ping-pong without the anchors; 10
 * deopts (all in the first runs) and 0.81-0.83x with them.
 *
 * The anchors cost a few hundred bytes once per process. Their loop is
 * closed: it holds no timer, no libuv handle and nothing of the caller's.
 */
import type { BaseEventLoop } from './base_loop.js';

/** The anchors themselves: only this array references them. */
const anchors: unknown[] = [];
/** The loop classes anchored so far. */
const anchoredClasses = new Set<Function>();

function noop(): void {}

/**
 * Keep the hidden classes of `loopClass` and of the objects every loop makes
 * alive for good, once per class. Called from each loop constructor;
 * `makeLoop()` constructs the anchor loop (which calls this again and
 * returns at once).
 *
 * @example
 * ```ts
 * constructor() {
 *   super();
 *   anchorHiddenClasses(DefaultLoop, () => new DefaultLoop());
 * }
 * ```
 */
export function anchorHiddenClasses(loopClass: Function, makeLoop: () => BaseEventLoop): void {
  if (anchoredClasses.has(loopClass)) return;
  anchoredClasses.add(loopClass);
  const loop = makeLoop();
  try {
    // The Task runs to completion (one iteration, here and now): a Task left
    // pending among the anchors cost the Future ping-pong ~10% more
    // instructions in a process that never collects its maps (2,562 -> 2,841
    // a round trip, bench/evidence/instructions.mjs), a finished one nothing
    // (2,564). We did not find out which of V8's assumptions it breaks.
    const task = loop.createTask(noop, { name: 'aioloop hidden-class anchor' });
    loop._runIterations(1);
    anchors.push(loop, task, loop.createFuture(), loop.callSoon(noop), loop.callLater(1, noop));
  } finally {
    loop.close();
  }
}
