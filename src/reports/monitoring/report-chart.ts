import type { MeasureReport } from '@medplum/fhirtypes';
import { reportRows, type ReportRow } from './report-table';

/**
 * A bar chart of one group (or one stratifier) of a MeasureReport as SVG, for the console and a policy officer's
 * slides. Written by hand rather than with a charting library: the chart libraries for Node either need a DOM
 * (d3 with jsdom) or a headless renderer (vega with canvas, chart.js with node-canvas, a native build), all far
 * heavier than a few dozen lines of deterministic SVG text, and the product must not download a browser.
 */

const WIDTH = 640;
const BAR = 22;
const GAP = 8;
const LABEL = 230;
const TOP = 48;

function escapeXml(s: string): string {
  return s.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] ?? c,
  );
}

/** The rows a chart of `which` shows: a stratifier's strata, or a group's first stratifier, or the group itself. */
function chartRows(report: MeasureReport, which: string): { title: string; rows: ReportRow[] } | undefined {
  const all = reportRows(report);
  const byStratifier = all.filter((r) => r.stratifier === which);
  if (byStratifier.length > 0) {
    const own = all.find((r) => r.group === byStratifier[0]?.group && r.stratifier === '');
    return { title: `${own?.display ?? ''} (${which})`, rows: byStratifier };
  }
  const group = all.filter((r) => r.group === which);
  const own = group[0];
  if (!own) {
    return undefined;
  }
  const first = group.find((r) => r.stratifier !== '')?.stratifier;
  const rows = first ? group.filter((r) => r.stratifier === first) : [own];
  return { title: first ? `${own.display} (${first})` : own.display, rows };
}

/** The SVG of a chart's rows; a withheld cell is drawn as a hatched bar marked "withheld", never with its value. */
export function renderChart(report: MeasureReport, which: string): string | undefined {
  const chart = chartRows(report, which);
  if (!chart) {
    return undefined;
  }
  const max = Math.max(1, ...chart.rows.map((r) => r.count ?? 0));
  const plot = WIDTH - LABEL - 70;
  const height = TOP + chart.rows.length * (BAR + GAP) + 36;
  const bars = chart.rows.map((r, i) => {
    const y = TOP + i * (BAR + GAP);
    const label = `<text x="${LABEL - 8}" y="${y + BAR * 0.7}" text-anchor="end">${escapeXml(r.display || r.code)}</text>`;
    if (r.withheld) {
      return (
        `${label}<rect x="${LABEL}" y="${y}" width="${plot * 0.08}" height="${BAR}" fill="url(#withheld)" ` +
        `stroke="#888" data-code="${escapeXml(r.code)}" data-withheld="true"/>` +
        `<text x="${LABEL + plot * 0.08 + 6}" y="${y + BAR * 0.7}" fill="#666">withheld</text>`
      );
    }
    const value = r.count ?? r.score ?? 0;
    const w = r.count === undefined ? 0 : (plot * value) / max;
    return (
      `${label}<rect x="${LABEL}" y="${y}" width="${w.toFixed(1)}" height="${BAR}" fill="#2b6cb0" ` +
      `data-code="${escapeXml(r.code)}" data-count="${value}"/>` +
      `<text x="${(LABEL + w + 6).toFixed(1)}" y="${y + BAR * 0.7}">${value}</text>`
    );
  });
  const period = `${report.period.start} – ${report.period.end}`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ` +
      `font-family="sans-serif" font-size="13" role="img" aria-label="${escapeXml(chart.title)}">`,
    '<defs><pattern id="withheld" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">' +
      '<rect width="6" height="6" fill="#eee"/><line x1="0" y1="0" x2="0" y2="6" stroke="#999" stroke-width="2"/>' +
      '</pattern></defs>',
    `<text x="12" y="22" font-size="15" font-weight="bold">${escapeXml(chart.title)}</text>`,
    `<text x="12" y="40" fill="#555">${escapeXml(`${report.reporter?.display ?? ''} ${period}`)}</text>`,
    ...bars,
    `<text x="12" y="${height - 12}" fill="#666" font-size="11">withheld: fewer than k, or withheld so that ` +
      'another cell cannot be worked out</text>',
    '</svg>',
    '',
  ].join('\n');
}
