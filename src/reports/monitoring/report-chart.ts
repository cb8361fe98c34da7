import type { MeasureReport } from '@medplum/fhirtypes';
import { measureWords, REPORT_LANGS, reportRows, rowWords, type ReportLang, type ReportRow } from './report-table';

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

/** A chart's language: Dutch, as the console, unless English is asked for (`lang=en`). */
export const CHART_LANGS = REPORT_LANGS;
export type ChartLang = ReportLang;

/** The chart's own words; the categories' come from the code tables (Dutch displays, English designations). */
const WORDS: Record<ChartLang, { withheld: string; legend: string; to: string; pending: string }> = {
  nl: {
    withheld: 'afgeschermd',
    legend: 'afgeschermd: minder dan k, of afgeschermd zodat een andere cel niet terug te rekenen is',
    to: 't/m',
    pending: 'voorlopig: de periode loopt nog',
  },
  en: {
    withheld: 'withheld',
    legend: 'withheld: fewer than k, or withheld so that another cell cannot be worked out',
    to: 'to',
    pending: 'provisional: the period is still running',
  },
};

function escapeXml(s: string): string {
  return s.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] ?? c,
  );
}

/**
 * The rows a chart of `which` shows, titled in one language: a stratifier's strata ("Instroom nieuwe trajecten:
 * Leeftijdsgroep"), or a group's first stratifier, or the group itself.
 */
function chartRows(
  report: MeasureReport,
  which: string,
  lang: ChartLang,
): { title: string; rows: ReportRow[] } | undefined {
  const all = reportRows(report);
  const byStratifier = all.filter((r) => r.stratifier === which);
  const group = byStratifier.length > 0 ? (byStratifier[0]?.group ?? '') : which;
  const own = all.find((r) => r.group === group && r.stratifier === '');
  if (!own) {
    return undefined;
  }
  const stratifier =
    byStratifier.length > 0 ? which : all.find((r) => r.group === group && r.stratifier !== '')?.stratifier;
  const title = measureWords(group, lang);
  return stratifier
    ? {
        title: `${title}: ${measureWords(stratifier, lang)}`,
        rows: all.filter((r) => r.group === group && r.stratifier === stratifier),
      }
    : { title, rows: [own] };
}

/**
 * The SVG of a chart's rows, all its words in one language; a withheld cell is drawn as a hatched bar marked
 * withheld ("afgeschermd"), never with its value.
 */
export function renderChart(report: MeasureReport, which: string, lang: ChartLang = 'nl'): string | undefined {
  const chart = chartRows(report, which, lang);
  const words = WORDS[lang];
  if (!chart) {
    return undefined;
  }
  const max = Math.max(1, ...chart.rows.map((r) => r.count ?? 0));
  const plot = WIDTH - LABEL - 70;
  const height = TOP + chart.rows.length * (BAR + GAP) + 36;
  const bars = chart.rows.map((r, i) => {
    const y = TOP + i * (BAR + GAP);
    const label = `<text x="${LABEL - 8}" y="${y + BAR * 0.7}" text-anchor="end">${escapeXml(rowWords(r, lang) || r.code)}</text>`;
    if (r.withheld) {
      return (
        `${label}<rect x="${LABEL}" y="${y}" width="${plot * 0.08}" height="${BAR}" fill="url(#withheld)" ` +
        `stroke="#888" data-code="${escapeXml(r.code)}" data-withheld="true"/>` +
        `<text x="${LABEL + plot * 0.08 + 6}" y="${y + BAR * 0.7}" fill="#666">${words.withheld}</text>`
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
  // A running period's figures are provisional (status pending), which the chart says as the console does.
  const period =
    `${report.period.start} ${words.to} ${report.period.end}` +
    (report.status === 'pending' ? ` (${words.pending})` : '');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ` +
      `font-family="sans-serif" font-size="13" role="img" xml:lang="${lang}" aria-label="${escapeXml(chart.title)}">`,
    '<defs><pattern id="withheld" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">' +
      '<rect width="6" height="6" fill="#eee"/><line x1="0" y1="0" x2="0" y2="6" stroke="#999" stroke-width="2"/>' +
      '</pattern></defs>',
    `<text x="12" y="22" font-size="15" font-weight="bold">${escapeXml(chart.title)}</text>`,
    `<text x="12" y="40" fill="#555">${escapeXml(`${report.reporter?.display ?? ''} ${period}`)}</text>`,
    ...bars,
    `<text x="12" y="${height - 12}" fill="#666" font-size="11">${escapeXml(words.legend)}</text>`,
    '</svg>',
    '',
  ].join('\n');
}
