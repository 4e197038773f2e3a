/**
 * The monotonic clock both loops read: milliseconds with sub-millisecond
 * precision, libuv's uv_hrtime underneath, from an arbitrary fixed point
 * (the machine's boot), as asyncio's `time.monotonic()` is.
 *
 * `process.hrtime()` rather than `performance.now()`, which reads the same
 * clock through the same function and then checks its receiver's brand in
 * JavaScript (`hasOwnProperty`, ~54 instructions) and subtracts the
 * process's time origin. Every `callLater` reads the clock once for its
 * deadline: 1e6 callLater+cancel pairs on the native loop went from
 * 1,588-1,597 to 854-1,299 instructions a pair (`node
 * bench/evidence/instructions.mjs timers native 200000 2 5`) and from a
 * median of 160 to 148.5 ns a pair (eight alternating processes of
 * bench/evidence/timer_pairs.mjs). `hrtime` is taken from `process` once,
 * here: `process` keeps its properties in a dictionary (V8's
 * `%HasFastProperties(process)` is false), and one read alone costs 30.9
 * ns this way against 33.8 through `process.hrtime` and 35.4 for
 * `performance.now()` (bench/evidence/clock_read.mjs).
 * @module
 */
import process from 'node:process';

const hrtime = process.hrtime;

/**
 * Now, in milliseconds (with a fraction) since an arbitrary fixed point.
 * @example
 * ```ts
 * const t0 = monotonicMs();
 * work();
 * console.log(`${(monotonicMs() - t0).toFixed(3)} ms`);
 * ```
 */
export function monotonicMs(): number {
  const t = hrtime(); // [seconds, nanoseconds]
  return t[0] * 1e3 + t[1] / 1e6;
}
