/**
 * Small statistics helpers over pooled per-iteration samples (milliseconds).
 * tinybench measures each iteration; the runner pools the samples of every
 * round (the variants are interleaved round by round) and summarises them here.
 */

/** Quantile with linear interpolation (the definition tinybench uses). */
export function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** Summary of samples (ms per iteration): p50, min, max, MAD, count. */
export function summarize(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const p50 = quantile(sorted, 0.5);
  const deviations = sorted.map((s) => Math.abs(s - p50)).sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50,
    min: sorted[0],
    max: sorted[sorted.length - 1],
    mad: quantile(deviations, 0.5),
  };
}

/** Median of plain numbers. */
export function median(values) {
  return quantile([...values].sort((a, b) => a - b), 0.5);
}

/** Deterministic PRNG (mulberry32), so every run uses the same "random" delays. */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Run each variant `rounds` times, interleaved (one of each per round, a
 * full GC before each: run under `node --expose-gc`), and return each
 * variant's samples: `{ name: [value, ...] }`. Interleaving spreads the
 * machine's drift over every variant alike.
 * @example
 * const samples = interleaved({ a: () => timeA(), b: () => timeB() }, 9);
 * console.log(median(samples.a), median(samples.b));
 */
export function interleaved(variants, rounds) {
  const samples = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (let round = 0; round < rounds; round++) {
    for (const [name, run] of Object.entries(variants)) {
      globalThis.gc();
      samples[name].push(run());
    }
  }
  return samples;
}
