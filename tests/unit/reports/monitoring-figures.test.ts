import type { MeasureReport, MeasureReportGroup } from '@medplum/fhirtypes';
import { assertValidResource } from '../../../src/kernel/fhir/validation';
import { buildMeasureReport, medianKeepsBinsWithheld } from '../../../src/reports/monitoring/measure-report';
import { reportCsv } from '../../../src/reports/monitoring/report-csv';
import type { MonitoringCounts } from '../../../src/reports/monitoring/report-store';
import { countsByCode, EXAMPLE_COUNTS, EXAMPLE_REPORT_SETTINGS } from '../../helpers/monitoring-counts';
import { tryToDeriveWithheldCells } from '../../helpers/suppression-check';

/**
 * The figures the policy officer's test asked for (report-xpolicy M2 to M6, L1): children, completeness, contact
 * hours, contacts bins by the reports' norms and a median contacts per trajectory, all under the same suppression.
 */

const groupOf = (r: MeasureReport, code: string): MeasureReportGroup | undefined =>
  r.group?.find((g) => g.code?.coding?.[0]?.code === code);
const cells = (g: MeasureReportGroup | undefined) =>
  (g?.stratifier?.[0]?.stratum ?? []).map((st) => st.population?.[0]?.count);
const masked = (g: MeasureReportGroup | undefined) => g?.extension?.some((e) => e.valueCode === 'masked') === true;

const build = (counts: Partial<MonitoringCounts>) =>
  buildMeasureReport({ ...EXAMPLE_COUNTS, ...counts }, EXAMPLE_REPORT_SETTINGS);

describe("contacts per trajectory in the reports' norms (at most 3, 3 to 8, at most 5, at most 10)", () => {
  it('bins 1-3, 4-5, 6-8, 9-10 and 11+, each a stratum of the report', () => {
    const r = build({});
    const strata = groupOf(r, 'contacts-per-trajectory')?.stratifier?.[0]?.stratum ?? [];
    expect(strata.map((st) => st.value?.coding?.[0]?.code)).toEqual(['1-3', '4-5', '6-8', '9-10', '11+']);
    expect(strata.map((st) => st.value?.coding?.[0]?.display)).toEqual([
      '1 tot en met 3 gesprekken',
      '4 of 5 gesprekken',
      '6 tot en met 8 gesprekken',
      '9 of 10 gesprekken',
      '11 of meer gesprekken',
    ]);
  });

  it('shows the median in a realistic quarter whose small bins withhold the mean (25 closed, 3 with 9 or more)', () => {
    const r = build({
      contacts: {
        total: 25,
        contactSum: 5 * 9 + 4 * 8 + 7 * 5 + 9 * 2 + 12,
        median: 4,
        byBin: countsByCode({ '1-3': 9, '4-5': 8, '6-8': 5, '9-10': 2, '11+': 1 }),
      },
    });
    const contacts = groupOf(r, 'contacts-per-trajectory');
    expect(cells(contacts)).toEqual([9, 8, 5, undefined, undefined]);
    expect(contacts?.measureScore).toBeUndefined();
    expect(groupOf(r, 'contacts-median')?.measureScore).toEqual({ value: 4, unit: 'contacts' });
    expect(() => tryToDeriveWithheldCells(r, 5)).not.toThrow();
    expect(() => assertValidResource(r)).not.toThrow();
  });

  it('withholds the median where it would tell the withheld bins apart', () => {
    // 13 trajectories: 5 with 1-3 contacts, 5 with 9-10, and 3 in 4-5 and 6-8 (withheld: 1 and 2, or 2 and 1).
    // The 7th trajectory is the middle: in 4-5 when that bin holds 2, in 6-8 when it holds 1. Any median says which.
    const r = build({
      contacts: {
        total: 13,
        contactSum: 5 * 2 + 2 * 4 + 7 + 5 * 9,
        median: 4,
        byBin: countsByCode({ '1-3': 5, '4-5': 2, '6-8': 1, '9-10': 5 }),
      },
    });
    expect(cells(groupOf(r, 'contacts-per-trajectory'))).toEqual([5, undefined, undefined, 5, 0]);
    expect(groupOf(r, 'contacts-median')?.measureScore).toBeUndefined();
    expect(masked(groupOf(r, 'contacts-median'))).toBe(true);
  });

  it.each([
    // [bins, withheld, median, keeps]
    ['a median outside the withheld bins', [9, 8, 5, 2, 1], [false, false, false, true, true], 4, true],
    [
      'a middle that falls in a withheld bin only one way',
      [5, 2, 1, 5, 0],
      [false, true, true, false, false],
      7,
      false,
    ],
    // 12 trajectories (even): the 6th and 7th are the middle. 5 in 1-3, then 4-5 and 6-8 hold 2 and 1 or 1 and 2.
    // A median of 5 can be 5 and 5 (4-5 holds 2) or 4 and 6 (4-5 holds 1): both remain. A median of 4.5 can only
    // be 4 and 5, both in 4-5: it holds 2, and the median is withheld.
    ['an even total whose middles lie either way', [5, 2, 1, 4, 0], [false, true, true, false, false], 5, true],
    ['an even total whose middles lie one way', [5, 2, 1, 4, 0], [false, true, true, false, false], 4.5, false],
    ['nothing withheld', [5, 5, 5, 0, 0], [false, false, false, false, false], 5, true],
  ])('%s: %j withheld %j, median %d keeps them withheld: %s', (_name, bins, withheld, median, keeps) => {
    expect(medianKeepsBinsWithheld(bins, withheld, median)).toBe(keeps);
  });
});

describe('the number of children', () => {
  it('counts the children beside the trajectories open in the period', () => {
    const r = build({});
    expect(groupOf(r, 'children')?.population?.[0]?.count).toBe(52);
    expect(groupOf(r, 'help-question')?.population?.[0]?.count).toBe(60);
  });

  it('withholds the children when 1 to k − 1 trajectories are a second one of a child', () => {
    const r = build({ active: { ...EXAMPLE_COUNTS.active, children: 57 } });
    expect(groupOf(r, 'children')?.population?.[0]?.count).toBeUndefined();
    expect(groupOf(r, 'children')?.population?.[0]?.extension?.[0]?.valueCode).toBe('masked');
    // None a second one: shown, it says nothing more than the trajectories.
    expect(groupOf(build({ active: { ...EXAMPLE_COUNTS.active, children: 60 } }), 'children')?.population).toEqual([
      expect.objectContaining({ count: 60 }),
    ]);
  });

  it('withholds a small number of children', () => {
    const r = build({ active: { ...EXAMPLE_COUNTS.active, total: 3, children: 3 } });
    expect(groupOf(r, 'children')?.population?.[0]?.count).toBeUndefined();
  });
});

describe('completeness (registratiegraad)', () => {
  it('counts the registered trajectories that do not count, with the share that does in percent', () => {
    const r = build({ notCounted: { total: 10 } });
    const g = groupOf(r, 'not-counted');
    expect(g?.population?.[0]?.count).toBe(10);
    // 40 started and counted, 10 not: 80 %.
    expect(g?.measureScore).toMatchObject({ value: 80, unit: '%' });
  });

  it('withholds a small number not counted, and the share with it (it would give the number back)', () => {
    const g = groupOf(build({ notCounted: { total: 1 } }), 'not-counted');
    expect(g?.population?.[0]?.count).toBeUndefined();
    expect(g?.measureScore).toBeUndefined();
    expect(masked(g)).toBe(true);
  });

  it('shows 0 not counted and a completeness of 100 %', () => {
    const g = groupOf(build({ notCounted: { total: 0 } }), 'not-counted');
    expect(g?.population?.[0]?.count).toBe(0);
    expect(g?.measureScore?.value).toBe(100);
  });
});

describe("the professional's contact hours", () => {
  it('gives the hours of the contacts with a duration, and counts those without apart', () => {
    const r = build({});
    const g = groupOf(r, 'contact-time');
    expect(g?.population?.[0]?.count).toBe(150);
    expect(cells(g)).toEqual([144, 6]);
    // 144 contacts of 45 minutes: 108 hours.
    expect(g?.measureScore).toEqual({ value: 108, unit: 'h', system: 'http://unitsofmeasure.org', code: 'h' });
  });

  it('withholds the hours with the with-duration stratum when a few contacts lack a duration', () => {
    const r = build({
      contactTime: {
        total: 150,
        byDuration: countsByCode({ 'with-duration': 147, 'without-duration': 3 }),
        minutes: 147 * 45,
      },
    });
    const g = groupOf(r, 'contact-time');
    expect(g?.population?.[0]?.count).toBe(150);
    expect(cells(g)).toEqual([undefined, undefined]);
    expect(g?.measureScore).toBeUndefined();
    expect(masked(g)).toBe(true);
    expect(() => tryToDeriveWithheldCells(r, 5)).not.toThrow();
  });

  it('has every new figure in the CSV, a withheld score flagged', () => {
    const csv = reportCsv(build({ notCounted: { total: 2 } }));
    expect(csv).toContain('contact-time,,initial-population,Gesprekken en contacturen in de periode,150,false,108,');
    expect(csv).toContain('children,,initial-population,Aantal kinderen,52,false');
    expect(csv).toContain(
      'not-counted,,initial-population,"Geregistreerd, niet geteld (geen toestemming of bezwaar)",,true,,true',
    );
    expect(csv).toContain('contacts-median,,,Gesprekken per afgesloten traject (mediaan),,false,4,false');
  });
});
