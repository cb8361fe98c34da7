import { measureReportHtml } from '../../../src/http/console/measure-report-html';
import { buildMeasureReport } from '../../../src/reports/monitoring/measure-report';
import type { MonitoringCounts } from '../../../src/reports/monitoring/report-store';
import { cellsOfRow } from '../../helpers/html-cells';
import { countsByCode, EXAMPLE_COUNTS, EXAMPLE_REPORT_SETTINGS } from '../../helpers/monitoring-counts';

// p (closed without referral: 3) is small, and so withheld with the saving; no referral has reached care yet.
const COUNTS: MonitoringCounts = {
  ...EXAMPLE_COUNTS,
  closed: { total: 30, byOutcome: countsByCode({ 'closed-without-referral': 3, escalated: 25, unknown: 2 }) },
  waiting: { ...EXAMPLE_COUNTS.waiting, referralToCare: { n: 0, median: undefined } },
};

const page = (lang: 'nl' | 'en') => measureReportHtml(lang, buildMeasureReport(COUNTS, EXAMPLE_REPORT_SETTINGS)).value;

describe('the municipality report page of a monitoring MeasureReport', () => {
  it.each([
    ['a small count', '0-3 jaar', ['afgeschermd']],
    ['a real zero', '18\\+ jaar', ['0']],
    ['a count', '4-11 jaar', ['20']],
    ['a count withheld with a small one', 'Positief afgesloten zonder verwijzing', ['afgeschermd']],
    ['a median over intervals', 'Van start traject tot eerste gesprek', ['40', '6']],
    ['a median over none: no figure, not 0', 'Van verwijzing tot start zorg', ['0', '–']],
  ])('shows %s as such', (_what, header, cells) => {
    expect(cellsOfRow(page('nl'), header)).toEqual(cells);
  });

  it('marks withheld cells, in the table and the chart (no bar), and explains them once', () => {
    const nl = page('nl');
    expect(nl).toContain('<td class="withheld">afgeschermd</td>');
    expect(nl.match(/Afgeschermd: een aantal van 1 tot en met 4 wordt niet getoond/g)).toHaveLength(1);
    // The age chart: bars for 20, 14 and 0; none for the two withheld bands, which say so instead.
    const ages = /<svg[^>]*aria-label="Instroom nieuwe trajecten: Leeftijdsgroep"[\s\S]*?<\/svg>/.exec(nl)?.[0] ?? '';
    expect(ages.match(/<rect /g)).toHaveLength(3);
    expect(ages.match(/data-withheld="true"[^>]*>afgeschermd</g)).toHaveLength(2);
    // The saving and its p, withheld with the stratum p is.
    expect(nl.match(/<dd class="score withheld">afgeschermd<\/dd>/g)).toHaveLength(2);
    expect(page('en')).toContain('<td class="withheld">withheld</td>');
    expect(nl).not.toMatch(/\sstyle=/);
  });
});
