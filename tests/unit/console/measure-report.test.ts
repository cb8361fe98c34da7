import { measureReportHtml } from '../../../src/http/console/measure-report-html';
import { buildMeasureReport } from '../../../src/reports/monitoring/measure-report';
import type { MonitoringCounts } from '../../../src/reports/monitoring/report-store';
import { cellsOfRow, measureSection } from '../../helpers/html-cells';
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

  it('names groups, stratifiers and categories in English on the English page, as the API chart does with lang=en', () => {
    // report-xpolicy L2: only the frame was English; a screen reader read the Dutch names with an English voice.
    const en = page('en');
    expect(en).toContain('<h2>New trajectories</h2>');
    expect(en).toMatch(/<svg[^>]*aria-label="New trajectories: Age band"/);
    expect(cellsOfRow(en, '4-11 years')).toEqual(['20']);
    expect(en).not.toMatch(/Leeftijdsgroep|Instroom nieuwe trajecten|4-11 jaar/);
  });
});

describe('the figures and charts of the report page', () => {
  const report = buildMeasureReport(EXAMPLE_COUNTS, { ...EXAMPLE_REPORT_SETTINGS, professionalCost: 271_950.72 });
  const facts = (html: string, group: string) => {
    const section = measureSection(html, group);
    return [...section.matchAll(/<dt>([^<]*)<\/dt>\s*<dd[^>]*>([^<]*)<\/dd>/g)].map((f) => [f[1], f[2]]);
  };

  // Each section by its heading in the page's language (report-xpolicy L2: the English page had Dutch ones).
  const headings = {
    nl: { contacts: 'Gesprekken per afgesloten traject', saving: 'Geschatte besparing p × q (EUR)' },
    en: { contacts: 'Conversations per closed trajectory', saving: 'Estimated saving p × q (EUR)' },
  };

  it.each([
    ['nl', 'Gemiddeld aantal gesprekken', '4,5', 'Geschatte besparing (EUR)', '-72.450,72'],
    ['en', 'Mean number of contacts', '4.5', 'Estimated saving (EUR)', '-72,450.72'],
  ] as const)('writes numbers the %s way, and calls the mean a mean', (lang, mean, meanValue, saving, savingValue) => {
    const page = measureReportHtml(lang, report).value;
    expect(facts(page, headings[lang].contacts)).toContainEqual([mean, meanValue]);
    expect(facts(page, headings[lang].saving)).toContainEqual([saving, savingValue]);
  });

  it('puts each label on a line of its own above its bar, and shortens a long one to a tooltip', () => {
    const long = 'Een categorie met een naam die veel langer is dan er op één regel van de grafiek past, echt waar';
    const stratum = report.group?.[0]?.stratifier?.[0]?.stratum?.[1];
    const coding = stratum?.value?.coding?.[0];
    if (coding) {
      coding.display = long;
    }
    const chart = /<svg[^>]*aria-label="Instroom nieuwe trajecten: Leeftijdsgroep"[\s\S]*?<\/svg>/.exec(
      measureReportHtml('nl', report).value,
    )?.[0];
    // In document order: each bar comes after its label, starts below it and ends above the next label.
    const drawn = [...(chart ?? '').matchAll(/<text x="0" y="(\d+)" class="bar-label"|<rect x="0" y="(\d+)"/g)];
    expect(drawn.filter((d) => d[1] !== undefined)).toHaveLength(5);
    drawn.forEach((d, i) => {
      if (d[2] !== undefined) {
        const label = Number(drawn[i - 1]?.[1]);
        const next = Number(drawn[i + 1]?.[1] ?? Infinity);
        expect(Number(d[2])).toBeGreaterThan(label);
        expect(Number(d[2]) + 14).toBeLessThan(next - 12);
      }
    });
    expect(chart).toContain(
      `<title>${long}</title>Een categorie met een naam die veel langer is dan er op één regel van…`,
    );
  });
});

// The README says p, q and C are all in the report, so anyone can recompute the saving: the page showed p and the
// saving only.
describe('the saving section of the report page', () => {
  const saving = (lang: 'nl' | 'en', counts: MonitoringCounts) =>
    measureSection(
      measureReportHtml(lang, buildMeasureReport(counts, EXAMPLE_REPORT_SETTINGS)).value,
      lang === 'nl' ? 'Geschatte besparing p × q (EUR)' : 'Estimated saving p × q (EUR)',
    );
  const fact = (section: string, name: string) =>
    new RegExp(`<dt>${name}</dt>\\s*<dd class="([^"]*)">([^<]*)</dd>`).exec(section)?.slice(1);

  it('shows q and the professional cost C beside p and the saving (21 × 9,500 − 18,000)', () => {
    const nl = saving('nl', EXAMPLE_COUNTS);
    expect(fact(nl, 'p: positief afgesloten zonder verwijzing')).toEqual(['score', '21']);
    expect(fact(nl, 'q: gemiddelde kosten specialistisch traject \\(EUR\\)')).toEqual(['score', '9.500,00']);
    expect(fact(nl, 'Kosten praktijkondersteuner in de periode \\(EUR\\)')).toEqual(['score', '18.000,00']);
    expect(fact(nl, 'Geschatte besparing \\(EUR\\)')).toEqual(['score', '181.500,00']);
    expect(fact(saving('en', EXAMPLE_COUNTS), 'q: average cost of a specialised trajectory \\(EUR\\)')).toEqual([
      'score',
      '9,500.00',
    ]);
  });

  it('shows q and C also when p and the saving are withheld: they are settings, not counts', () => {
    const nl = saving('nl', COUNTS);
    expect(fact(nl, 'Geschatte besparing \\(EUR\\)')).toEqual(['score withheld', 'afgeschermd']);
    expect(fact(nl, 'q: gemiddelde kosten specialistisch traject \\(EUR\\)')).toEqual(['score', '9.500,00']);
    expect(fact(nl, 'Kosten praktijkondersteuner in de periode \\(EUR\\)')).toEqual(['score', '18.000,00']);
  });
});
