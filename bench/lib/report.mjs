/**
 * The shared result schema of every benchmark section, and the helpers that
 * read, check, merge and print it.
 *
 * A *section* is what one benchmark program measured (the micro benchmarks
 * `loop`, `toolkit` and `io` of bench/run.mjs, `echo` from
 * bench/echo/run.mjs --json, `servers` from bench/servers/run.mjs --json):
 *
 * @example
 * // bench/servers/run.mjs --json /tmp/servers.json writes:
 * const section = {
 *   section: 'servers',
 *   command: 'node bench/servers/run.mjs --quick',
 *   date: '2026-11-22T04:50:00.000Z',
 *   rows: [
 *     // one measured implementation of one benchmark; loop is null for non-aioloop rows
 *     { bench: 'resp SET -P1', impl: 'aioloop native', loop: 'native', value: 123456, unit: 'req/s', p50Ms: 0.2, p99Ms: 0.5 },
 *     { bench: 'resp SET -P1', impl: 'node:net', loop: null, value: 65000, unit: 'req/s', p50Ms: 0.4, p99Ms: 1.1 },
 *   ],
 *   ratios: [
 *     // higher is better; target null = reported only
 *     { bench: 'resp SET -P1', label: 'native / node:net', loop: 'native', value: 1.9, target: 1.8 },
 *   ],
 * };
 * assertSection(section);                       // throws on a malformed section
 * const report = mergeSections([loopSection], [section]);   // by name, later wins
 * console.log(renderReport(report.sections));   // the combined table
 * console.log(renderRatioTable(report.sections));
 *
 * Required fields: section, command, date (ISO 8601); rows[].bench, impl,
 * loop (string or null), value (finite number), unit; ratios[].bench, label,
 * loop (string or null), value (finite number >= 0), target (number or null).
 * Optional: rows[].p50Ms / p99Ms (request latency, ms; null or absent when
 * not measured), rows[].detail (a short extra column, e.g. '97.4 MiB/s');
 * ratios[].impl and ratios[].against (the rows compared: a ratio of a row
 * against the benchmark's first row, its baseline, is printed on that row;
 * every other ratio gets a line of its own with its label),
 * ratios[].chart (false: left out of the chart). Any other field
 * is kept as it is (raw samples, rounds, machine details).
 */
import { readFileSync } from 'node:fs';
import { formatInt, formatRatio, renderTable } from './table.mjs';

const isStr = (x) => typeof x === 'string' && x.length > 0;
const isNum = (x) => typeof x === 'number' && Number.isFinite(x);
const isLoop = (x) => x === null || x === undefined || typeof x === 'string';
const isOptNum = (x) => x === null || x === undefined || isNum(x);

/**
 * The problems of a section (an empty array when it is well-formed).
 * @param {unknown} s
 * @returns {string[]}
 */
export function validateSection(s) {
  const errors = [];
  if (s === null || typeof s !== 'object' || Array.isArray(s)) return ['a section must be a JSON object'];
  if (!isStr(s.section)) errors.push('section: a non-empty string is required');
  if (!isStr(s.command)) errors.push('command: a non-empty string is required');
  if (!isStr(s.date) || Number.isNaN(Date.parse(s.date))) errors.push('date: an ISO 8601 date string is required');
  if (!Array.isArray(s.rows)) errors.push('rows: an array is required');
  else
    s.rows.forEach((r, i) => {
      const at = `rows[${i}]`;
      if (r === null || typeof r !== 'object') return errors.push(`${at}: an object is required`);
      if (!isStr(r.bench)) errors.push(`${at}.bench: a non-empty string is required`);
      if (!isStr(r.impl)) errors.push(`${at}.impl: a non-empty string is required`);
      if (!isLoop(r.loop)) errors.push(`${at}.loop: a string or null is required`);
      if (!isNum(r.value)) errors.push(`${at}.value: a finite number is required (got ${JSON.stringify(r.value)})`);
      if (!isStr(r.unit)) errors.push(`${at}.unit: a non-empty string is required`);
      if (!isOptNum(r.p50Ms)) errors.push(`${at}.p50Ms: a number or null`);
      if (!isOptNum(r.p99Ms)) errors.push(`${at}.p99Ms: a number or null`);
    });
  if (!Array.isArray(s.ratios)) errors.push('ratios: an array is required');
  else
    s.ratios.forEach((r, i) => {
      const at = `ratios[${i}]`;
      if (r === null || typeof r !== 'object') return errors.push(`${at}: an object is required`);
      if (!isStr(r.bench)) errors.push(`${at}.bench: a non-empty string is required`);
      if (!isStr(r.label)) errors.push(`${at}.label: a non-empty string is required`);
      if (!isLoop(r.loop)) errors.push(`${at}.loop: a string or null is required`);
      if (!isNum(r.value) || r.value < 0) errors.push(`${at}.value: a finite number >= 0 is required (got ${JSON.stringify(r.value)})`);
      if (!isOptNum(r.target)) errors.push(`${at}.target: a number or null is required`);
    });
  return errors;
}

/** Throw one Error listing every problem of a malformed section. */
export function assertSection(s, source = 'section') {
  const errors = validateSection(s);
  if (errors.length > 0) throw new Error(`${source}: not a valid benchmark section:\n  ${errors.slice(0, 20).join('\n  ')}`);
  return s;
}

/** Read and check a section file (as written by `--json FILE`). */
export function readSection(file) {
  let parsed;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: ${e.message}`);
  }
  return assertSection(parsed, file);
}

/**
 * Merge lists of sections into one report `{ sections }`, in first-seen
 * order; a later section with the same name replaces the earlier one (so a
 * partial re-run can update one section of a saved report).
 * @param {...object[]} lists
 */
export function mergeSections(...lists) {
  const byName = new Map();
  for (const list of lists) for (const s of list) byName.set(assertSection(s).section, s);
  return { sections: [...byName.values()] };
}

/** 'ok', 'MISSED', or 'info' (no target). */
export function ratioStatus(r) {
  if (r.target === null || r.target === undefined) return 'info';
  return r.value >= r.target ? 'ok' : 'MISSED';
}

/** Every ratio that missed its target, as { section, ...ratio }. */
export function missedTargets(sections) {
  return sections.flatMap((s) => s.ratios.filter((r) => ratioStatus(r) === 'MISSED').map((r) => ({ section: s.section, ...r })));
}

function formatValue(x) {
  if (!Number.isFinite(x)) return String(x);
  if (Math.abs(x) >= 100) return formatInt(x);
  if (Math.abs(x) >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

function formatMs(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '';
  if (ms >= 100) return `${Math.round(ms)} ms`;
  if (ms >= 1) return `${ms.toFixed(2)} ms`;
  return `${Math.round(ms * 1000)} us`;
}

const targetText = (r) => (r.target === null || r.target === undefined ? '-' : `>= ${r.target}x`);

/** Bench names in first-seen order over rows, then ratios. */
function benchOrder(section) {
  const names = [];
  for (const x of [...section.rows, ...section.ratios]) if (!names.includes(x.bench)) names.push(x.bench);
  return names;
}

/**
 * The combined table: every section, every benchmark, its rows (value, unit,
 * p50/p99 latency, detail) and its ratios (on the row they describe when the
 * ratio names it with `impl`, otherwise on a line of their own).
 * @param {object[]} sections
 * @returns {string}
 */
export function renderReport(sections) {
  const headers = ['section', 'benchmark / implementation', 'value', 'unit', 'p50', 'p99', 'detail', 'ratio', 'target', 'result'];
  const RIGHT = [2, 4, 5, 7, 8];
  const out = [];
  for (const s of sections) {
    if (out.length > 0) out.push(null);
    let first = true;
    const name = () => {
      const n = first ? s.section : '';
      first = false;
      return n;
    };
    for (const bench of benchOrder(s)) {
      const rows = s.rows.filter((r) => r.bench === bench);
      const ratios = s.ratios.filter((r) => r.bench === bench);
      const used = new Set();
      out.push({ span: [name(), bench] });
      for (const row of rows) {
        // On the row: its ratio against the benchmark's baseline (the first row).
        const ratio = ratios.find((r) => !used.has(r) && r.impl === row.impl && r.against === rows[0].impl);
        if (ratio) used.add(ratio);
        out.push([
          name(),
          `  ${row.impl}`,
          formatValue(row.value),
          row.unit,
          formatMs(row.p50Ms),
          formatMs(row.p99Ms),
          row.detail ?? '',
          ratio ? formatRatio(ratio.value) : '',
          ratio ? targetText(ratio) : '',
          ratio ? ratioStatus(ratio) : '',
        ]);
      }
      for (const ratio of ratios.filter((r) => !used.has(r))) {
        out.push([name(), `  ratio ${ratio.label}`, '', '', '', '', '', formatRatio(ratio.value), targetText(ratio), ratioStatus(ratio)]);
      }
    }
  }
  // Leave out the optional columns no row fills (e.g. latency in a micro-only run).
  const keep = headers.map((_, i) => i < 4 || out.some((r) => Array.isArray(r) && r[i] !== ''));
  const pick = (cells) => cells.filter((_, i) => keep[i]);
  const right = new Set(pick(headers.map((_, i) => i)).flatMap((orig, j) => (RIGHT.includes(orig) ? [j] : [])));
  return renderTable(pick(headers), out.map((r) => (Array.isArray(r) ? pick(r) : r)), right);
}

/**
 * Only the ratios, one line each: section, benchmark, comparison, loop,
 * ratio, target, result.
 * @param {object[]} sections
 * @returns {string}
 */
export function renderRatioTable(sections) {
  const out = [];
  for (const s of sections) {
    if (s.ratios.length === 0) continue;
    if (out.length > 0) out.push(null);
    let prevBench = null;
    for (const r of s.ratios) {
      out.push([
        prevBench === null ? s.section : '',
        r.bench === prevBench ? '' : r.bench,
        r.label,
        r.loop ?? '',
        formatRatio(r.value),
        targetText(r),
        ratioStatus(r),
      ]);
      prevBench = r.bench;
    }
  }
  return renderTable(['section', 'benchmark', 'ratio of', 'loop', 'ratio', 'target', 'result'], out, new Set([4, 5]));
}
