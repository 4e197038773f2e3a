/**
 * Runs one benchmark's variants side by side with tinybench.
 *
 * Every variant is a tinybench Task whose function performs one whole batch
 * (e.g. 1e6 operations) per call. The machine is shared and noisy, so the
 * variants are interleaved round by round instead of running all iterations
 * of one before the other: one warm-up iteration each (tinybench's warmup),
 * then `iterations` rounds in which each variant runs one measured iteration,
 * the order alternating every round (A B C, C B A, ...). The samples of all
 * rounds are pooled; ns/op comes from their median.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { Bench } from 'tinybench';
import { summarize } from './stats.mjs';

/**
 * A full GC between iterations (outside the timed window, in tinybench's
 * beforeEach hook), so garbage from one variant is not collected on the
 * next variant's clock. Exposed at runtime so a plain `node bench/run.mjs`
 * works without --expose-gc.
 */
export function getGc() {
  if (typeof globalThis.gc === 'function') return globalThis.gc;
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc');
    return typeof gc === 'function' ? gc : null;
  } catch {
    return null;
  }
}

/**
 * What runs before each iteration of variant `v`, outside the timed window: a
 * full GC, then (when the variant has one) a small re-warm run, then a minor
 * GC for the re-warm's garbage.
 *
 * Why the re-warm: a full GC collects the hidden classes (maps) of JS classes
 * that have no live instance at that moment, and at the GC every object of
 * the previous iteration's fresh loop is dead (its Tasks, Futures, Handles).
 * Code optimized for those maps then deoptimizes on first use, so without the
 * re-warm every measured aioloop iteration re-optimized from cold (measured:
 * 7-8 deopts per iteration in the Future ping-pong, 0 without the full GC),
 * while Node's built-in Promise is immune. A long-running program never has
 * zero live Tasks and Handles; the re-warm gives back the warm code it has.
 * A minor GC does not collect maps.
 * @param {{ rewarm?: () => Promise<unknown> }} v
 * @param {((opts?: object) => void) | null} gc
 */
function beforeEachFor(v, gc) {
  if (gc === null) return undefined;
  if (typeof v.rewarm !== 'function') return () => gc();
  return async () => {
    gc();
    await v.rewarm();
    gc({ type: 'minor' });
  };
}

/**
 * @param {object} def the benchmark (see loop.bench.mjs)
 * @param {{ name: string, run: () => Promise<unknown>, rewarm?: () => Promise<unknown> }[]} variants
 * @param {{ iterations: number, gc: (() => void) | null }} opts
 * @returns {Promise<{ name: string, samples: number[], summary: ReturnType<typeof summarize> }[]>}
 */
export async function measure(def, variants, { iterations, gc }) {
  const bench = new Bench({
    name: def.id,
    iterations: 1, // one measured iteration per task.run(): the rounds below interleave the variants
    time: 0,
    warmup: false, // warm-up is done explicitly, once, below
    warmupIterations: 1,
    warmupTime: 0,
    retainSamples: true,
    throws: true,
    timestampProvider: 'hrtimeNow',
  });
  for (const v of variants) bench.add(v.name, v.run, { async: true, beforeEach: beforeEachFor(v, gc) });
  const tasks = variants.map((v) => bench.getTask(v.name));

  for (const task of tasks) {
    await task.warmup();
    if (task.result.state === 'errored') throw task.result.error;
  }

  const samples = variants.map(() => []);
  const forward = variants.map((_, i) => i);
  const backward = [...forward].reverse();
  for (let round = 0; round < iterations; round++) {
    for (const i of round % 2 === 0 ? forward : backward) {
      const task = tasks[i];
      task.reset(false);
      await task.run();
      const result = task.result;
      if (result.state === 'errored') throw result.error;
      if (result.state !== 'completed') throw new Error(`${def.id} / ${variants[i].name}: task ${result.state}`);
      samples[i].push(...result.latency.samples);
    }
  }
  return variants.map((v, i) => ({ name: v.name, samples: samples[i], summary: summarize(samples[i]) }));
}
