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
 * right-aligned columns. A row that is `null` renders as a separator line.
 */
export function renderTable(headers, rows, right = new Set()) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.filter(Boolean).map((r) => r[i].length)));
  const line = (cells) =>
    cells.map((c, i) => (right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(headers), rule, ...rows.map((r) => (r === null ? rule : line(r)))].join('\n');
}
