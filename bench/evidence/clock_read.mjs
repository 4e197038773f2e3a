// Evidence for lib/clock.ts: the cost of one clock read, the global
// `performance.now()` (globalThis.performance is an accessor property)
// against `performance` imported from node:perf_hooks, and the alternatives.
// 1e7 reads per round, interleaved, min and median of ROUNDS (default 7).
// Run: node bench/evidence/clock_read.mjs
// Measured 2026-11-22 (ns a read, median of 7): global performance.now()
// 61.7, imported 45.9, Date.now() 53.5 (whole ms only), process.hrtime() 59.9.
// 2026-11-23 (AMD EPYC): global performance.now() 39.6, imported 35.4,
// Date.now() 36.2, process.hrtime() 34.3, the imported process's
// hrtime() in ms 33.8, hrtime taken from process once, in ms (what
// lib/clock.ts does since) 30.9.
import { performance as imported } from 'node:perf_hooks';
import importedProcess from 'node:process';

const hrtime = importedProcess.hrtime;
const N = 1e7;
const ROUNDS = Number(process.env.ROUNDS ?? 7);
const variants = {
  'global performance.now()': () => { let x = 0; for (let i = 0; i < N; i++) x += performance.now(); return x; },
  'imported performance.now()': () => { let x = 0; for (let i = 0; i < N; i++) x += imported.now(); return x; },
  'Date.now()': () => { let x = 0; for (let i = 0; i < N; i++) x += Date.now(); return x; },
  'process.hrtime()': () => { let x = 0; for (let i = 0; i < N; i++) x += process.hrtime()[1]; return x; },
  'imported process.hrtime() ms': () => { let x = 0; for (let i = 0; i < N; i++) { const t = importedProcess.hrtime(); x += t[0] * 1e3 + t[1] / 1e6; } return x; },
  'hrtime taken once, ms (lib/clock.ts)': () => { let x = 0; for (let i = 0; i < N; i++) { const t = hrtime(); x += t[0] * 1e3 + t[1] / 1e6; } return x; },
};
const times = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
for (let r = 0; r < ROUNDS; r++) {
  const names = Object.keys(variants);
  for (const name of r % 2 ? names.reverse() : names) {
    const t0 = process.hrtime.bigint();
    variants[name]();
    times[name].push(Number(process.hrtime.bigint() - t0) / N);
  }
}
for (const [name, xs] of Object.entries(times)) {
  const s = [...xs].sort((a, b) => a - b);
  console.log(`${name.padEnd(38)} min ${s[0].toFixed(1)} ns, median ${s[s.length >> 1].toFixed(1)} ns`);
}
