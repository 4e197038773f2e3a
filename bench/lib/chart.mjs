/**
 * The benchmark chart: every ratio of every section (see report.mjs) as a
 * horizontal bar from the 1.0x line (parity with the baseline: Node's own
 * primitive, the npm package for the job, node:net, or the named reference),
 * grouped by benchmark, coloured by loop, on a log2 axis so 0.5x and 2x are
 * the same distance from parity. A target is a diamond on the bar's line and
 * a verdict in the right-hand column. Hand-written SVG: no dependency, and a
 * white background so it reads the same on GitHub's light and dark themes.
 *
 *   node bench/lib/chart.mjs [bench/results/latest.json] [bench/results/chart.svg]
 *
 * re-renders the chart from a saved report without running anything.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ratioStatus } from './report.mjs';

const LOOP_COLORS = { default: '#2f6db3', native: '#e07b00' };
const OTHER_COLOR = '#7a7a7a';
const OK_COLOR = '#1a7f37';
const MISSED_COLOR = '#c62828';
const TEXT = '#1f2328';
const MUTED = '#57606a';
const GRID = '#d0d7de';

const WIDTH = 1000;
const LABEL_X = 16; // left edge of the labels
const PLOT_X0 = 380; // plot area
const PLOT_X1 = 815;
const VERDICT_X = 866; // target column
const BAR_H = 12;
const ROW_H = 18;
const BENCH_H = 20;
const SECTION_H = 28;

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

function fmt(x) {
  return `${x >= 10 ? x.toFixed(1) : x.toFixed(2)}x`;
}

/** Shorten a label to about `max` characters (SVG text does not wrap). */
function clip(s, max) {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/**
 * @param {object[]} sections report sections (report.mjs schema)
 * @param {{ title?: string, subtitle?: string, footer?: string }} [opts]
 * @returns {string} the SVG document
 */
export function renderChart(sections, opts = {}) {
  const groups = []; // { section, bench, ratios }
  for (const s of sections) {
    const ratios = s.ratios.filter((r) => r.chart !== false && Number.isFinite(r.value) && r.value > 0);
    const benches = [];
    for (const r of ratios) if (!benches.includes(r.bench)) benches.push(r.bench);
    for (const bench of benches) groups.push({ section: s.section, bench, ratios: ratios.filter((r) => r.bench === bench) });
  }
  const all = groups.flatMap((g) => g.ratios);
  const values = all.flatMap((r) => [r.value, ...(Number.isFinite(r.target) ? [r.target] : [])]);
  // log2 domain: whole powers of two around every value and target, at least [0.5, 2], at most [1/16, 64].
  const lo = Math.max(-4, Math.min(-1, Math.floor(Math.log2(Math.min(1, ...values)))));
  const hi = Math.min(6, Math.max(1, Math.ceil(Math.log2(Math.max(1, ...values)))));
  const x = (v) => {
    const l = Math.min(hi, Math.max(lo, Math.log2(v)));
    return PLOT_X0 + ((l - lo) / (hi - lo)) * (PLOT_X1 - PLOT_X0);
  };
  const x1 = x(1);

  const body = [];
  let y = 0;
  const header = [];
  header.push(`<text x="${LABEL_X}" y="26" font-size="17" font-weight="bold">${esc(opts.title ?? 'aioloop benchmarks: ratio to the baseline (higher is better)')}</text>`);
  if (opts.subtitle) header.push(`<text x="${LABEL_X}" y="46" font-size="12" fill="${MUTED}">${esc(opts.subtitle)}</text>`);
  // Legend.
  let lx = LABEL_X;
  const ly = 68;
  const loops = [...new Set(all.map((r) => r.loop ?? null))];
  for (const loop of loops) {
    const color = LOOP_COLORS[loop] ?? OTHER_COLOR;
    header.push(`<rect x="${lx}" y="${ly - 10}" width="14" height="10" fill="${color}"/>`);
    const text = loop === null ? 'no aioloop loop' : loop in LOOP_COLORS ? `aioloop ${loop} loop` : String(loop);
    header.push(`<text x="${lx + 20}" y="${ly}" font-size="12">${esc(text)}</text>`);
    lx += 28 + text.length * 6.6;
  }
  header.push(`<path d="M${lx + 6} ${ly - 5} l5 -5 l5 5 l-5 5 z" fill="#fff" stroke="${TEXT}" stroke-width="1.5"/>`);
  header.push(`<text x="${lx + 22}" y="${ly}" font-size="12">target</text>`);
  lx += 80;
  header.push(`<line x1="${lx}" y1="${ly - 11}" x2="${lx}" y2="${ly + 1}" stroke="${TEXT}" stroke-width="2"/>`);
  header.push(`<text x="${lx + 6}" y="${ly}" font-size="12">1.0x = as fast as the baseline; log scale</text>`);
  y = 92;

  const axisTop = y;
  y += 18; // tick labels
  let prevSection = null;
  for (const g of groups) {
    if (g.section !== prevSection) {
      y += SECTION_H;
      body.push(`<text x="${LABEL_X}" y="${y - 8}" font-size="14" font-weight="bold">${esc(g.section)}</text>`);
      body.push(`<line x1="${LABEL_X}" y1="${y - 3}" x2="${WIDTH - 16}" y2="${y - 3}" stroke="${GRID}"/>`);
      prevSection = g.section;
    }
    y += BENCH_H;
    body.push(`<text x="${LABEL_X + 8}" y="${y - 5}" font-size="12.5" font-weight="bold">${esc(clip(g.bench, 48))}</text>`);
    for (const r of g.ratios) {
      y += ROW_H;
      const cy = y - ROW_H / 2;
      const color = LOOP_COLORS[r.loop] ?? OTHER_COLOR;
      const xv = x(r.value);
      const left = Math.min(xv, x1);
      const width = Math.max(1, Math.abs(xv - x1));
      const status = ratioStatus(r);
      body.push(`<text x="${LABEL_X + 20}" y="${cy + 4}" font-size="12">${esc(clip(r.label, 52))}</text>`);
      body.push(`<rect x="${left.toFixed(1)}" y="${(cy - BAR_H / 2).toFixed(1)}" width="${width.toFixed(1)}" height="${BAR_H}" fill="${color}"><title>${esc(`${g.bench}: ${r.label} = ${fmt(r.value)}${status === 'info' ? '' : ` (target ${r.target}x: ${status})`}`)}</title></rect>`);
      const clipped = r.value > 2 ** hi || r.value < 2 ** lo ? ' (off scale)' : '';
      // The value after the bar's end (or the 1.0x line), and after the target's diamond when it is in the way.
      let tx = Math.max(xv, x1) + 5;
      if (status !== 'info' && x(r.target) + 7 > tx && x(r.target) - 7 < tx + 34) tx = x(r.target) + 10;
      body.push(`<text x="${tx.toFixed(1)}" y="${cy + 4}" font-size="11.5" fill="${TEXT}">${fmt(r.value)}${clipped}</text>`);
      if (status !== 'info') {
        const xt = x(r.target);
        body.push(`<path d="M${xt.toFixed(1)} ${cy - 6} l6 6 l-6 6 l-6 -6 z" fill="#fff" fill-opacity="0.85" stroke="${TEXT}" stroke-width="1.5"/>`);
        const ok = status === 'ok';
        body.push(`<text x="${VERDICT_X}" y="${cy + 4}" font-size="11.5" fill="${ok ? OK_COLOR : MISSED_COLOR}" font-weight="bold">${ok ? '✓' : '✗'} ≥ ${r.target}x ${ok ? 'ok' : 'missed'}</text>`);
      }
    }
  }
  if (groups.length === 0) {
    y += 30;
    body.push(`<text x="${LABEL_X}" y="${y}" font-size="13" fill="${MUTED}">no ratios in this report</text>`);
  }
  const axisBottom = y + 6;

  // Grid and axis: a line per power of two, the 1.0x line on top of the bars.
  const grid = [];
  for (let e = lo; e <= hi; e++) {
    const gx = x(2 ** e).toFixed(1);
    grid.push(`<line x1="${gx}" y1="${axisTop + 20}" x2="${gx}" y2="${axisBottom}" stroke="${GRID}" stroke-width="1"/>`);
    const label = e < 0 ? `1/${2 ** -e}x` : `${2 ** e}x`;
    grid.push(`<text x="${gx}" y="${axisTop + 12}" font-size="11" fill="${MUTED}" text-anchor="middle">${label}</text>`);
  }
  grid.push(`<text x="${VERDICT_X}" y="${axisTop + 12}" font-size="11" fill="${MUTED}">target</text>`);
  const parity = `<line x1="${x1.toFixed(1)}" y1="${axisTop + 16}" x2="${x1.toFixed(1)}" y2="${axisBottom}" stroke="${TEXT}" stroke-width="2"/>`;

  let height = axisBottom + 16;
  const footer = [];
  if (opts.footer) {
    for (const [i, line] of String(opts.footer).split('\n').entries()) {
      footer.push(`<text x="${LABEL_X}" y="${height + 6 + i * 15}" font-size="11" fill="${MUTED}">${esc(line)}</text>`);
    }
    height += 12 + 15 * String(opts.footer).split('\n').length;
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" fill="${TEXT}">`,
    `<rect x="0" y="0" width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    ...header,
    ...grid,
    ...body,
    parity,
    ...footer,
    '</svg>',
    '',
  ].join('\n');
}

/** Render `report` ({ sections, command, date, node, cpu }) to `file`, atomically. */
export function writeChart(report, file) {
  const subtitle = [report.command ? `\`${report.command}\`` : null, report.date ? report.date.replace(/\.\d+Z$/, 'Z') : null]
    .filter(Boolean)
    .join(', ');
  const footer = [
    `node ${report.node ?? process.version}, ${report.cpu ?? 'unknown CPU'} x${report.cpus ?? '?'}${report.quick ? ', --quick (short runs: noisier)' : ''}.`,
    'Micro benchmarks (loop, toolkit, io): medians of interleaved iterations; echo and servers: medians of interleaved rounds. Both sides of a ratio ran in the same run.',
    'Regenerated by every `npm run bench` (bench/run.mjs); the numbers behind it are in bench/results/latest.json.',
  ].join('\n');
  const svg = renderChart(report.sections, { subtitle, footer });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, svg);
  renameSync(tmp, file);
  return file;
}

// CLI: re-render a saved report.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const input = process.argv[2] ?? path.join(here, '..', 'results', 'latest.json');
  const output = process.argv[3] ?? path.join(here, '..', 'results', 'chart.svg');
  const report = JSON.parse(readFileSync(input, 'utf8'));
  if (!Array.isArray(report.sections)) {
    console.error(`${input}: no "sections" array (not a report written by bench/run.mjs)`);
    process.exit(1);
  }
  writeChart(report, output);
  console.error(`wrote ${output}`);
}
