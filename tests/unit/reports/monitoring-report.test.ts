import { buildRegistry } from '../../../src/event/registry';
import { assertValidResource } from '../../../src/kernel/fhir/validation';
import { buildMeasure, GROUP_CODES, MEASURE_URL } from '../../../src/reports/monitoring/measure';
import { buildMeasureReport } from '../../../src/reports/monitoring/measure-report';
import { reportSettingsOf } from '../../../src/reports/monitoring/monitoring-report';
import { daysIn, tryParsePeriod, tryParseRange } from '../../../src/reports/monitoring/period';
import { renderChart } from '../../../src/reports/monitoring/report-chart';
import { reportCsv } from '../../../src/reports/monitoring/report-csv';
import { boundsOfWithheld, withheldCells } from '../../../src/reports/monitoring/suppression';
import { buildAgreement, OTHER_PRACTICE_AGB, PRACTICE_AGB } from '../../helpers/builders';
import { countsByCode, EXAMPLE_COUNTS, EXAMPLE_REPORT_SETTINGS } from '../../helpers/monitoring-counts';
import { tryToDeriveWithheldCells } from '../../helpers/suppression-check';
import { seededRandom } from '../../helpers/synthetic-practice';

describe('report periods', () => {
  it.each([
    ['2026-Q3', '2026-07-01', '2026-09-30'],
    ['2026-Q1', '2026-01-01', '2026-03-31'],
    ['2024-Q1', '2024-01-01', '2024-03-31'],
    ['2026-H1', '2026-01-01', '2026-06-30'],
    ['2026-H2', '2026-07-01', '2026-12-31'],
    ['2026', '2026-01-01', '2026-12-31'],
  ])('reads %s as %s to %s', (label, start, end) => {
    expect(tryParsePeriod(label)).toEqual({ start, end, label });
  });

  it.each(['2026-Q5', '2026-H3', '26', '2026-07', 'Q3-2026', ''])('refuses %j', (label) => {
    expect(tryParsePeriod(label)).toBeUndefined();
  });

  it('takes a from/to range with both ends included, and refuses a reversed one', () => {
    const p = tryParseRange('2026-02-01', '2026-02-28');
    expect(p && daysIn(p)).toBe(28);
    expect(tryParseRange('2026-03-01', '2026-02-01')).toBeUndefined();
    expect(tryParseRange('2026-02-30', '2026-03-01')).toBeUndefined();
  });
});

describe('small-cell suppression', () => {
  it.each([
    ['shows counts of k and more, and zeros', [0, 5, 9, 12], [false, false, false, false]],
    ['withholds a small cell and the next smallest with it', [3, 5, 9, 12], [true, true, false, false]],
    ['two small cells of 1 together give 2 = n: one more goes', [1, 1, 9, 12], [true, true, true, false]],
    ['two small cells that can be told apart stay two', [2, 3, 9, 12], [true, true, false, false]],
    ['zeros are never withheld to protect a cell', [0, 0, 4, 30], [false, false, true, true]],
  ])('%s', (_name, counts, expected) => {
    expect(withheldCells(counts, 5, { totalShown: true, strata: 'partition' })).toEqual({
      cells: expected,
      totalWithheld: false,
    });
  });

  it('withholds every cell, zeros too, when the total is withheld (the zeros would say what all in it share)', () => {
    expect(withheldCells([0, 3, 1], 5, { totalShown: false, strata: 'partition' }).cells).toEqual([true, true, true]);
    // Closed: withheld, escalated 0, unknown 0 would say that every closure was positive.
    expect(withheldCells([1, 0, 0], 5, { totalShown: false, strata: 'partition' }).cells).toEqual([true, true, true]);
  });

  it('needs no complementary cell where strata need not add up (several help questions per trajectory)', () => {
    expect(withheldCells([3, 5, 9], 5, { totalShown: true, strata: 'overlapping', total: 20 }).cells).toEqual([
      true,
      false,
      false,
    ]);
  });

  it.each([
    // 9 trajectories: 9 − 5 = 4 without the second category, which showing 5 would give away; 9 of 9 leaves 0.
    ['withholds a stratum leaving 1 to k − 1 without it', [3, 5, 9, 0], 9, [true, true, false, false]],
    ['shows a stratum leaving k or more without it', [3, 5, 9, 0], 14, [true, false, false, false]],
  ])('where strata overlap, %s', (_name, counts, total, expected) => {
    expect(withheldCells(counts, 5, { totalShown: true, strata: 'overlapping', total })).toEqual({
      cells: expected,
      totalWithheld: false,
    });
  });

  it.each([
    // Before, the rest (9 − 8 = 1 in no stratum) could be worked out from the total and the shown 8.
    ['withholds a cell when the rest in no stratum is 1 to k − 1', [8, 0, 0], 9, [true, false, false]],
    ['shows every cell when the rest is 0', [8, 0, 0], 8, [false, false, false]],
    ['shows every cell when the rest is k or more', [8, 0, 0], 13, [false, false, false]],
    // The rest is one more unknown: one withheld cell with it can take several values (3 + 6 = 9: 1 to 9).
    ['needs no second cell when the rest hides the first', [3, 9, 12], 30, [true, false, false]],
    ['withholds a second cell when the rest is 0 and would give the first away', [1, 9, 12], 22, [true, true, false]],
  ])('where strata are a part of the total, %s', (_name, counts, total, expected) => {
    expect(withheldCells(counts, 5, { totalShown: true, strata: 'part', total })).toEqual({
      cells: expected,
      totalWithheld: false,
    });
  });

  it('leaves no cell, rest or complement derivable in 5,000 seeded random parts and overlapping stratifiers', () => {
    const next = seededRandom(27);
    let tried = 0;
    for (let run = 0; run < 5000; run++) {
      const k = 2 + Math.floor(next() * 9);
      const counts = Array.from({ length: 1 + Math.floor(next() * 6) }, () =>
        next() < 0.3 ? 0 : Math.floor(next() * (next() < 0.5 ? k : 4 * k)),
      );
      const sum = counts.reduce((a, b) => a + b, 0);
      const small = (n: number) => n > 0 && n < k;
      // A part: the rest, in no stratum, is often small, sometimes 0.
      const total = sum + (next() < 0.3 ? 0 : Math.floor(next() * 2 * k));
      if (total >= k) {
        const { cells, totalWithheld } = withheldCells(counts, k, { totalShown: true, strata: 'part', total });
        if (!totalWithheld) {
          const shown = counts.filter((_, i) => !cells[i]);
          const n = cells.filter(Boolean).length;
          expect(shown.some(small)).toBe(false);
          if (n === 0) {
            expect(small(total - sum)).toBe(false);
          } else {
            tried++;
            const b = boundsOfWithheld(total, shown, n, 'part');
            expect(b.max).toBeGreaterThan(b.min);
          }
        }
      }
      // Overlapping: each stratum at most the total, the strata summing to anything.
      const of = Math.max(k, ...counts) + Math.floor(next() * k);
      const { cells } = withheldCells(counts, k, { totalShown: true, strata: 'overlapping', total: of });
      const shown = counts.filter((_, i) => !cells[i]);
      expect(shown.some((c) => small(c) || small(of - c))).toBe(false);
      tried += cells.filter(Boolean).length > 0 ? 1 : 0;
    }
    expect(tried).toBeGreaterThan(2000);
  });

  it('withholds the total too when the cells could only be ones (five children, five categories)', () => {
    expect(withheldCells([1, 1, 1, 1, 1, 0], 5, { totalShown: true, strata: 'partition' })).toEqual({
      cells: [true, true, true, true, true, false],
      totalWithheld: true,
    });
  });

  it('leaves no withheld cell derivable in 5,000 seeded random stratifiers', () => {
    const next = seededRandom(15);
    let tried = 0;
    for (let run = 0; run < 5000; run++) {
      const k = 2 + Math.floor(next() * 9);
      const counts = Array.from({ length: 2 + Math.floor(next() * 8) }, () =>
        next() < 0.3 ? 0 : Math.floor(next() * (next() < 0.5 ? k : 4 * k)),
      );
      const total = counts.reduce((a, b) => a + b, 0);
      if (total < k) {
        continue;
      }
      const { cells: withheld, totalWithheld } = withheldCells(counts, k, { totalShown: true, strata: 'partition' });
      if (totalWithheld) {
        continue;
      }
      const shown = counts.filter((_, i) => !withheld[i]);
      expect(shown.every((c) => c === 0 || c >= k)).toBe(true);
      const n = withheld.filter(Boolean).length;
      if (n > 0) {
        tried++;
        const b = boundsOfWithheld(total, shown, n);
        expect(b.max).toBeGreaterThan(b.min);
      }
    }
    expect(tried).toBeGreaterThan(1000);
  });
});

const SETTINGS = EXAMPLE_REPORT_SETTINGS;
const COUNTS = EXAMPLE_COUNTS;
const m = countsByCode;

describe('the monitoring MeasureReport', () => {
  const report = buildMeasureReport(COUNTS, SETTINGS);

  it('is valid FHIR R4, and so is the Measure it names', () => {
    expect(() => assertValidResource(report)).not.toThrow();
    const measure = buildMeasure();
    expect(() => assertValidResource(measure)).not.toThrow();
    expect(report.measure).toBe(MEASURE_URL);
    expect(measure.url).toBe(MEASURE_URL);
  });

  it('has one group per figure, in the order of the Measure', () => {
    expect(report.group?.map((g) => g.code?.coding?.[0]?.code)).toEqual([...GROUP_CODES]);
    expect(report).toMatchObject({ status: 'complete', type: 'summary', period: { start: '2026-07-01' } });
  });

  it('withholds small cells with the masked data-absent-reason and leaves nothing derivable', () => {
    const tried = tryToDeriveWithheldCells(report, 5);
    expect(tried.withheld).toBeGreaterThan(5);
    const inflow = report.group?.[0];
    const ages = inflow?.stratifier?.[0]?.stratum ?? [];
    expect(ages.map((s) => s.population?.[0]?.count)).toEqual([undefined, 20, 14, undefined, 0]);
    expect(ages[0]?.population?.[0]?.extension?.[0]).toEqual({
      url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason',
      valueCode: 'masked',
    });
  });

  it('computes p × q − cost from p, q and the cost it shows', () => {
    const saving = report.group?.find((g) => g.code?.coding?.[0]?.code === 'estimated-saving');
    expect(saving?.population?.[0]?.count).toBe(21);
    expect(saving?.measureScore?.value).toBe(21 * 9500 - 18000);
    expect(saving?.extension?.map((e) => e.valueMoney?.value)).toEqual([9500, 18000]);
  });

  it('withholds the saving with p when p is small', () => {
    const few = buildMeasureReport(
      { ...COUNTS, closed: { total: 30, byOutcome: m({ 'closed-without-referral': 3, escalated: 25, unknown: 2 }) } },
      SETTINGS,
    );
    const saving = few.group?.find((g) => g.code?.coding?.[0]?.code === 'estimated-saving');
    expect(saving?.measureScore).toBeUndefined();
    expect(saving?.population?.[0]?.count).toBeUndefined();
    expect(() => tryToDeriveWithheldCells(few, 5)).not.toThrow();
  });

  it('withholds the mean contacts when a bin is withheld: with the total it gives the sum, which can fill the bins', () => {
    // 13 trajectories, 10 with 1 to 3 contacts: the withheld "4-5" and "11+" hold 2 and 1, or 1 and 2. A sum of 30
    // contacts (a mean of 2.31) leaves only 2 and 1: 1 and 2 would need at least 10 + 4 + 2 × 11 = 36.
    const small = buildMeasureReport(
      {
        ...COUNTS,
        contacts: { total: 13, contactSum: 30, median: 1, byBin: countsByCode({ '1-3': 10, '4-5': 2, '11+': 1 }) },
      },
      SETTINGS,
    );
    const contacts = small.group?.find((g) => g.code?.coding?.[0]?.code === 'contacts-per-trajectory');
    expect(contacts?.population?.[0]?.count).toBe(13);
    expect(contacts?.stratifier?.[0]?.stratum?.map((st) => st.population?.[0]?.count)).toEqual([
      10,
      undefined,
      0,
      0,
      undefined,
    ]);
    expect(contacts?.measureScore).toBeUndefined();
    expect(contacts?.extension?.[0]?.valueCode).toBe('masked');
  });

  it('gives the mean contacts and the median waiting days, withholding a median over fewer than k', () => {
    const contacts = report.group?.find((g) => g.code?.coding?.[0]?.code === 'contacts-per-trajectory');
    expect(contacts?.measureScore?.value).toBe(4.5);
    const waiting = report.group?.find((g) => g.code?.coding?.[0]?.code === 'waiting-days');
    expect(waiting?.measureScore?.value).toBe(6);
    const strata = waiting?.stratifier?.[0]?.stratum ?? [];
    expect(strata[0]?.measureScore?.value).toBe(6);
    expect(strata[1]?.measureScore).toBeUndefined();
    expect(strata[1]?.population?.[0]?.count).toBeUndefined();
  });

  /** The counts of one group's first stratifier by code (undefined: withheld), and the group's total. */
  function cellsOf(r: ReturnType<typeof buildMeasureReport>, group: string) {
    const g = r.group?.find((x) => x.code?.coding?.[0]?.code === group);
    const cells = Object.fromEntries(
      (g?.stratifier?.[0]?.stratum ?? []).map((st) => [st.value?.coding?.[0]?.code, st.population?.[0]?.count]),
    );
    return { total: g?.population?.[0]?.count, cells, score: g?.measureScore?.value };
  }

  it('withholds a stratum whose complement is small where strata overlap (9 trajectories, 8 with psycho-education)', () => {
    const counts = {
      ...COUNTS,
      active: {
        total: 9,
        children: 9,
        byHelpQuestion: m({ parenting: 9, school: 5 }),
        byIntervention: m({ 'psycho-education': 8, screening: 9, 'short-treatment': 6 }),
      },
    };
    const r = buildMeasureReport(counts, SETTINGS);
    // Shown, 9 − 8 said that exactly 1 trajectory had no psycho-education: the adversary works that out.
    const before = structuredClone(r);
    const intervention = before.group?.find((g) => g.code?.coding?.[0]?.code === 'intervention');
    const psycho = intervention?.stratifier?.[0]?.stratum?.find(
      (st) => st.value?.coding?.[0]?.code === 'psycho-education',
    );
    psycho!.population = [{ count: 8 }];
    expect(() => tryToDeriveWithheldCells(before, 5)).toThrow('intervention/psycho-education: 1 without it');
    // Now withheld; 9 of 9 (screening) leaves 0 without it, and 9 − 6 = 3 without short treatment: withheld too.
    expect(cellsOf(r, 'intervention')).toMatchObject({
      total: 9,
      cells: { 'psycho-education': undefined, screening: 9, 'short-treatment': undefined, 'gp-consultation': 0 },
    });
    // The same in the other overlapping group: 5 with a school question leaves 4 without one.
    expect(cellsOf(r, 'help-question')).toMatchObject({ total: 9, cells: { parenting: 9, school: undefined } });
    expect(() => tryToDeriveWithheldCells(r, 5)).not.toThrow();
  });

  it('withholds a waiting interval that leaves fewer than k of its population without one', () => {
    const counts = {
      ...COUNTS,
      // 9 trajectories started, 8 with a first contact: 1 without, from the inflow total.
      inflow: { total: 9, byAgeBand: m({ '4-11': 9 }), byReferrer: m({ gp: 9 }) },
      waiting: { startToFirstContact: { n: 8, median: 5 }, referralToCare: { n: 6, median: 30 } },
      // 12 referrals, 6 with a start of care: 6 without, which may be shown.
      referrals: { total: 12, byTarget: m({ 'social-team': 12 }), byProductCategory: m({ '45': 12 }) },
    };
    const r = buildMeasureReport(counts, SETTINGS);
    const before = structuredClone(r);
    const waitingBefore = before.group?.find((g) => g.code?.coding?.[0]?.code === 'waiting-days');
    waitingBefore!.stratifier![0]!.stratum![0]!.population = [{ count: 8 }];
    expect(() => tryToDeriveWithheldCells(before, 5)).toThrow('waiting-days/start-to-first-contact: 1 without it');
    expect(cellsOf(r, 'waiting-days')).toEqual({
      total: undefined,
      cells: { 'start-to-first-contact': undefined, 'referral-to-care': 6 },
      score: undefined,
    });
    expect(() => tryToDeriveWithheldCells(r, 5)).not.toThrow();
    // 10 of 12 with a start of care leaves 2 without: withheld as well.
    const fewWithout = buildMeasureReport(
      { ...counts, waiting: { ...counts.waiting, referralToCare: { n: 10, median: 30 } } },
      SETTINGS,
    );
    expect(cellsOf(fewWithout, 'waiting-days').cells['referral-to-care']).toBeUndefined();
  });

  it('writes the same numbers to CSV and to the chart', () => {
    const csv = reportCsv(report).trim().split('\r\n');
    expect(csv[0]).toBe(
      'period_start,period_end,municipality,group,stratifier,code,display,count,withheld,score,score_withheld,unit,status',
    );
    const row = (code: string) => csv.find((l) => l.includes(`,inflow,age-band,${code},`));
    expect(row('4-11')).toContain(',20,false,');
    expect(row('0-3')).toContain(',,true,');
    const svg = renderChart(report, 'age-band') ?? '';
    expect(svg).toContain('data-code="4-11" data-count="20"');
    expect(svg).toContain('data-code="0-3" data-withheld="true"');
    expect(svg).not.toMatch(/data-count="[1-4]"/);
    expect(renderChart(report, 'no-such-group')).toBeUndefined();
  });

  it('says in the CSV and on the chart when the figures are provisional (a period still running)', () => {
    expect(report.status).toBe('complete');
    const last = (csv: string) => csv.trim().split('\r\n').at(-1)!.split(',').at(-1);
    expect(last(reportCsv(report))).toBe('complete');
    expect(renderChart(report, 'age-band')).not.toContain('voorlopig');
    const running = { ...report, status: 'pending' as const };
    expect(last(reportCsv(running))).toBe('pending');
    expect(renderChart(running, 'age-band')).toContain('(voorlopig: de periode loopt nog)');
    expect(renderChart(running, 'age-band', 'en')).toContain('(provisional: the period is still running)');
  });

  const csvRows = (csv: string, delimiter = ',') =>
    csv
      .replace(/^\uFEFF/, '')
      .trim()
      .split('\r\n')
      .map((l) => l.split(delimiter));
  const cellsOfRow = (rows: string[][], group: string, stratifier: string, code: string) => {
    const header = rows[0] ?? [];
    const row = rows.find((r) => r[3] === group && r[4] === stratifier && r[5] === code);
    return row && Object.fromEntries(header.map((h, i) => [h, row[i]]));
  };

  it('flags a withheld score apart from a shown count in the CSV', () => {
    // 13 closed with contacts, 10 with 1 to 3: the bins 4-5 and 11+ are withheld, and so the mean; the 13 is shown.
    const r = buildMeasureReport(
      { ...COUNTS, contacts: { total: 13, contactSum: 30, median: 1, byBin: m({ '1-3': 10, '4-5': 2, '11+': 1 }) } },
      SETTINGS,
    );
    const rows = csvRows(reportCsv(r));
    expect(rows[0]).toEqual([
      'period_start',
      'period_end',
      'municipality',
      'group',
      'stratifier',
      'code',
      'display',
      'count',
      'withheld',
      'score',
      'score_withheld',
      'unit',
      'status',
    ]);
    expect(cellsOfRow(rows, 'contacts-per-trajectory', '', 'initial-population')).toMatchObject({
      count: '13',
      withheld: 'false',
      score: '',
      score_withheld: 'true',
    });
    expect(cellsOfRow(rows, 'contacts-per-trajectory', 'contacts', '4-5')).toMatchObject({
      count: '',
      withheld: 'true',
    });
    // Shown both: the report's own mean of 126 contacts over 28.
    expect(cellsOfRow(csvRows(reportCsv(report)), 'contacts-per-trajectory', '', 'initial-population')).toMatchObject({
      count: '28',
      withheld: 'false',
      score: '4.5',
      score_withheld: 'false',
    });
  });

  it('has q and the professional cost in the CSV, so p × q − C can be recomputed from it alone', () => {
    const rows = csvRows(reportCsv(report));
    const saving = cellsOfRow(rows, 'estimated-saving', '', 'p');
    const q = cellsOfRow(rows, 'estimated-saving', '', 'q');
    const cost = cellsOfRow(rows, 'estimated-saving', '', 'professional-cost');
    expect(q).toMatchObject({ score: '9500', unit: 'EUR', withheld: 'false', score_withheld: 'false' });
    expect(cost).toMatchObject({ score: '18000', unit: 'EUR', withheld: 'false', score_withheld: 'false' });
    expect(Number(saving?.count) * Number(q?.score) - Number(cost?.score)).toBe(Number(saving?.score));
  });

  it('writes CSV for a Dutch spreadsheet on request: semicolons, decimal commas, a byte order mark', () => {
    const plain = reportCsv(report);
    expect(plain.startsWith('period_start,')).toBe(true);
    const dutch = reportCsv(report, { delimiter: 'semicolon', bom: true });
    expect(dutch.startsWith('\uFEFFperiod_start;period_end;')).toBe(true);
    const rows = csvRows(dutch, ';');
    expect(cellsOfRow(rows, 'contacts-per-trajectory', '', 'initial-population')).toMatchObject({ score: '4,5' });
    expect(reportCsv(report, { delimiter: 'semicolon' })).not.toContain('\uFEFF');
    expect(plain.split('\r\n').length).toBe(dutch.split('\r\n').length);
  });

  it('writes codes that Excel reads as dates as text formulas in the semicolon CSV only (report-xpolicy L1)', () => {
    // Dutch Excel turned the age band 4-11 into 4 November and the contact bin 1-3 into 1 March.
    const codes = (rows: string[][], stratifier: string) => rows.filter((r) => r[4] === stratifier).map((r) => r[5]);
    const plain = csvRows(reportCsv(report));
    const dutch = csvRows(reportCsv(report, { delimiter: 'semicolon', bom: true }), ';');
    expect(codes(plain, 'age-band')).toEqual(['0-3', '4-11', '12-15', '16-17', '18+']);
    expect(codes(dutch, 'age-band')).toEqual(['"=""0-3"""', '"=""4-11"""', '"=""12-15"""', '"=""16-17"""', '18+']);
    expect(codes(dutch, 'contacts')).toContain('"=""1-3"""');
    // Codes that are words stay as they are, and so does the display beside them.
    expect(cellsOfRow(dutch, 'contacts-per-trajectory', '', 'initial-population')).toBeDefined();
    expect(dutch.find((r) => r[5] === '"=""4-11"""')?.[6]).toBe('4-11 jaar');
  });

  it('writes the display column in English with lang en, the codes unchanged (report-xpolicy L3)', () => {
    const en = csvRows(reportCsv(report, { lang: 'en' }));
    const nl = csvRows(reportCsv(report));
    expect(en.map((r) => r[5])).toEqual(nl.map((r) => r[5]));
    expect(en.find((r) => r[4] === 'age-band' && r[5] === '4-11')?.[6]).toBe('4-11 years');
    expect(cellsOfRow(en, 'estimated-saving', '', 'q')?.display).toBe(
      'q: average cost of a specialised trajectory (EUR)',
    );
    expect(en.map((r) => r[6]).join()).not.toMatch(/jaar|Instroom/);
  });
});

describe('the report settings from the agreements', () => {
  const section = (q: number, amount: number, per: 'month' | 'quarter' | 'year', k: number) => ({
    aggregateWithoutConsent: false,
    q,
    professionalCost: { amount, per },
    k,
  });
  const q3 = { start: '2026-07-01', end: '2026-09-30', label: '2026-Q3' };

  it('adds up the professionals, each pro-rated to the days its agreement runs in the period', () => {
    const registry = buildRegistry({
      agreements: [
        buildAgreement({ monitoring: section(9500, 6000, 'month', 5) }),
        // Ends on 15 August: 46 days of the quarter's 92.
        buildAgreement({
          id: 'other',
          practice: { agb: OTHER_PRACTICE_AGB },
          validTo: '2026-08-15',
          monitoring: section(8000, 18_000, 'quarter', 10),
        }),
      ],
      destinations: [],
    });
    const s = reportSettingsOf(registry, 'GM0226', q3, undefined, new Date('2026-10-01T00:00:00Z'));
    expect(s.professionalCost).toBeCloseTo((6000 * 92) / (365.25 / 12) + (18_000 * 46) / (365.25 / 4), 6);
    // The cautious choices: the smallest q, the largest k.
    expect([s.q, s.k]).toEqual([8000, 10]);
    expect(s.municipality).toEqual({ code: 'GM0226', name: 'Overbetuwe' });
  });

  it('uses k 5 and no cost figures when no agreement has a monitoring section, and one practice on request', () => {
    const registry = buildRegistry({
      agreements: [
        buildAgreement(),
        buildAgreement({ id: 'other', practice: { agb: OTHER_PRACTICE_AGB }, monitoring: section(1, 1, 'year', 7) }),
      ],
      destinations: [],
    });
    const s = reportSettingsOf(registry, 'GM0226', q3, PRACTICE_AGB, new Date());
    expect([s.k, s.q, s.professionalCost]).toEqual([5, 0, 0]);
  });
});
