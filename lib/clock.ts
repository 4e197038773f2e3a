/**
 * The monotonic clock both loops read: milliseconds with sub-millisecond
 * precision (`performance.now()`, libuv's uv_hrtime underneath).
 *
 * `performance` is imported from node:perf_hooks rather than read from the
 * global: `globalThis.performance` is an accessor property, which optimized
 * code reads through an inline-cache call every time. The import saves
 * ~10-15 ns a read (bench/evidence/clock_read.mjs), and a callLater reads
 * the clock once for its deadline.
 * @module
 */
import { performance } from 'node:perf_hooks';

/**
 * Now, in milliseconds since the process started.
 * @example
 * ```ts
 * const t0 = monotonicMs();
 * work();
 * console.log(`${(monotonicMs() - t0).toFixed(3)} ms`);
 * ```
 */
export function monotonicMs(): number {
  return performance.now();
}
