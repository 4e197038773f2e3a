/** Plain-text table and number formatting for the benchmark report. */

/** 1234567.8 -> '1,234,568' */
export function formatInt(x) {
  if (!Number.isFinite(x)) return String(x);
  return Math.round(x).toLocaleString('en-US');
}

/** ns with 3 significant digits: 12.3, 123, 1,234 */
export function formatNs(x) {
  if (!Number.isFinite(x)) return String(x);
  if (x >= 100) return formatInt(x);
  if (x >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

export function formatRatio(x) {
  if (x === null || !Number.isFinite(x)) return '';
  return `${x >= 10 ? x.toFixed(1) : x.toFixed(2)}x`;
}

/**
 * Render rows (arrays of strings) under headers; `right` holds the indices of
 * right-aligned columns. A row that is `null` renders as a separator line; a
 * row `{ span: [first, text] }` fills the first column and lets `text` run
 * across the others (a heading that does not widen the columns).
 */
export function renderTable(headers, rows, right = new Set()) {
  const cellRows = rows.filter((r) => Array.isArray(r));
  const widths = headers.map((h, i) => Math.max(h.length, ...cellRows.map((r) => r[i].length)));
  for (const r of rows) if (r !== null && !Array.isArray(r)) widths[0] = Math.max(widths[0], r.span[0].length);
  const line = (cells) =>
    cells.map((c, i) => (right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const render = (r) => (r === null ? rule : Array.isArray(r) ? line(r) : `${r.span[0].padEnd(widths[0])}  ${r.span[1]}`.trimEnd());
  return [line(headers), rule, ...rows.map(render)].join('\n');
}
