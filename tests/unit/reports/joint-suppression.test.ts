import type { MeasureReport } from '@medplum/fhirtypes';
import { buildRegistry } from '../../../src/event/registry';
import { jointlySuppressedReport } from '../../../src/reports/monitoring/monitoring-report';
import { tryParsePeriod, type ReportPeriod } from '../../../src/reports/monitoring/period';
import type { CountsQuery, MonitoringCounts } from '../../../src/reports/monitoring/report-store';
import { buildAgreement, MUNICIPALITY } from '../../helpers/builders';
import { countsByCode } from '../../helpers/monitoring-counts';
import { prng } from '../../helpers/prng';
import { deriveAcrossPractices, tryToDeriveWithheldCells } from '../../helpers/suppression-check';

/**
 * Suppression across reports (joint-suppression.ts), with counts made up per period and practice: what one report
 * shows must not give back, by subtraction, a cell another report withholds.
 */

const K = 5;
const monitoring = {
  aggregateWithoutConsent: true,
  q: 9500,
  professionalCost: { amount: 0, per: 'year' as const },
  k: K,
};
const PRACTICES = ['01111111', '02222222', '03333333'];
const registry = buildRegistry({
  agreements: PRACTICES.map((agb, i) => buildAgreement({ id: `a${i}`, practice: { agb }, monitoring })),
  destinations: [],
});
const NOW = new Date('2027-06-01T12:00:00Z');

/** Counts with only trajectories started (by age band) and open (by help question). */
function counts(inflow: Record<string, number>, open: { total: number; parenting: number }): MonitoringCounts {
  const total = Object.values(inflow).reduce((a, b) => a + b, 0);
  return {
    inflow: { total, byAgeBand: countsByCode(inflow), byReferrer: countsByCode({ gp: total }) },
    closed: { total: 0, byOutcome: new Map() },
    contacts: { total: 0, contactSum: 0, median: undefined, byBin: new Map() },
    active: {
      total: open.total,
      children: open.total,
      byHelpQuestion: countsByCode({ parenting: open.parenting }),
      byIntervention: new Map(),
    },
    referrals: { total: 0, byTarget: new Map(), byProductCategory: new Map() },
    notCounted: { total: 0 },
    contactTime: { total: 0, byDuration: new Map(), minutes: 0 },
    waiting: {
      startToFirstContact: { n: 0, median: undefined },
      referralToCare: { n: 0, median: undefined },
    },
  };
}

const period = (label: string): ReportPeriod => tryParsePeriod(label) ?? { start: '', end: '', label };

async function reportOf(
  count: (q: CountsQuery) => MonitoringCounts,
  label: string,
  practice?: string,
): Promise<MeasureReport> {
  const r = await jointlySuppressedReport(
    registry,
    (q) => Promise.resolve(count(q)),
    { municipality: MUNICIPALITY, period: period(label), practice },
    NOW,
  );
  tryToDeriveWithheldCells(r, K);
  return r;
}

const cell = (r: MeasureReport, group: string, code?: string): number | undefined => {
  const g = r.group?.find((x) => x.code?.coding?.[0]?.code === group);
  return code === undefined
    ? g?.population?.[0]?.count
    : g?.stratifier?.[0]?.stratum?.find((s) => s.value?.coding?.[0]?.code === code)?.population?.[0]?.count;
};

/** Counts of trajectories started by age band, per practice as given, and the municipality's as their sum. */
function startedByPractice(byPractice: Record<string, Record<string, number>>): (q: CountsQuery) => MonitoringCounts {
  return (q) => {
    const of = q.practice ? [byPractice[q.practice] ?? {}] : Object.values(byPractice);
    const inflow: Record<string, number> = {};
    for (const p of of) {
      for (const [band, n] of Object.entries(p)) {
        inflow[band] = (inflow[band] ?? 0) + n;
      }
    }
    return counts(inflow, { total: 0, parenting: 0 });
  };
}

describe('suppression across practices', () => {
  // 21 started: 10, 10 and 1. Each practice's rest (11) is safe, but the municipality less two practices is one.
  const byPractice: Record<string, Record<string, number>> = {
    [PRACTICES[0] ?? '']: { '4-11': 10 },
    [PRACTICES[1] ?? '']: { '4-11': 10 },
    [PRACTICES[2] ?? '']: { '4-11': 1 },
  };
  const count = startedByPractice(byPractice);

  it('never shows two practices whose sum, subtracted from the municipality, gives the third', async () => {
    const all = await reportOf(count, '2026-Q3');
    expect(cell(all, 'inflow')).toBe(21);
    const [a, b] = [await reportOf(count, '2026-Q3', PRACTICES[0]), await reportOf(count, '2026-Q3', PRACTICES[1])];
    for (const [group, code] of [
      ['inflow', undefined],
      ['inflow', '4-11'],
    ] as const) {
      const shown = [cell(a, group, code), cell(b, group, code)].filter((n) => n !== undefined);
      expect([group, code, shown.length < 2]).toEqual([group, code, true]);
    }
    expect(cell(await reportOf(count, '2026-Q3', PRACTICES[2]), 'inflow')).toBeUndefined();
  });
});

describe('suppression across practices and strata together', () => {
  // Age bands of the trajectories started. B's 2 aged 12-15 withholds A's 12-15 (12 − 10 = 2); A's report then
  // withholds its 4-11 too (else 30 − 10 − 12 gives its 12-15 back). Were B's 4-11 shown beside it, the
  // municipality's 4-11 less B's would give A's 4-11, then A's 12-15, then B's 2.
  const byPractice: Record<string, Record<string, number>> = {
    [PRACTICES[0] ?? '']: { '4-11': 10, '12-15': 10, '16-17': 12 },
    [PRACTICES[1] ?? '']: { '4-11': 20, '12-15': 2, '16-17': 10 },
  };
  const count = startedByPractice(byPractice);

  it('never leaves one practice cell of a shown municipality cell the only one withheld', async () => {
    const all = await reportOf(count, '2026-Q3');
    const each = [await reportOf(count, '2026-Q3', PRACTICES[0]), await reportOf(count, '2026-Q3', PRACTICES[1])];
    for (const band of ['0-3', '4-11', '12-15', '16-17', '18+']) {
      if (cell(all, 'inflow', band) === undefined) {
        continue;
      }
      const withheld = each.filter((r) => cell(r, 'inflow', band) === undefined);
      expect([band, withheld.length]).not.toEqual([band, 1]);
    }
  });
});

describe('one period as one practice × category table (xpolicy H1)', () => {
  const BANDS = ['0-3', '4-11', '12-15', '16-17', '18+'];
  /** Every report of the quarter a municipality key can ask for, and what an exact adversary derives from them. */
  async function attack(byPractice: Record<string, Record<string, number>>) {
    const count = startedByPractice(byPractice);
    const all = await reportOf(count, '2026-Q3');
    const each = new Map<string, MeasureReport>();
    for (const p of PRACTICES) {
      each.set(p, await reportOf(count, '2026-Q3', p));
    }
    return { all, each, ...deriveAcrossPractices(all, each) };
  }

  it("gives back nothing in the tester's 2026-Q4 age bands (10, 6 and 5 started)", async () => {
    const { derived, tried } = await attack({
      [PRACTICES[0] ?? '']: { '0-3': 2, '4-11': 5, '12-15': 3 },
      [PRACTICES[1] ?? '']: { '4-11': 5, '16-17': 1 },
      [PRACTICES[2] ?? '']: { '4-11': 4, '12-15': 1 },
    });
    expect(derived).toEqual([]);
    expect(tried).toBeGreaterThan(0);
  });

  it('gives back nothing for 30 made-up quarters of three practices, many cells small', async () => {
    const random = prng(20261207);
    let withheld = 0;
    for (let round = 0; round < 30; round++) {
      const byPractice: Record<string, Record<string, number>> = {};
      for (const p of PRACTICES) {
        byPractice[p] = Object.fromEntries(
          BANDS.map((b) => [
            b,
            random() < 0.3 ? 0 : random() < 0.5 ? 1 + Math.floor(random() * 4) : Math.floor(random() * 12),
          ]),
        );
      }
      const { derived, all, each } = await attack(byPractice);
      expect([JSON.stringify(byPractice), derived]).toEqual([JSON.stringify(byPractice), []]);
      withheld += [all, ...each.values()].filter((r) => BANDS.some((b) => cell(r, 'inflow', b) === undefined)).length;
    }
    expect(withheld).toBeGreaterThan(30);
  });
});

describe('suppression across periods', () => {
  // 2026-Q3: 10 open, all with parenting; 2026-Q4: 11 (one new); the half-year: 11.
  const open: Record<string, { total: number; parenting: number }> = {
    '2026-07-01': { total: 10, parenting: 10 },
    '2026-10-01': { total: 11, parenting: 11 },
  };
  const count = (q: CountsQuery) => {
    const quarter = open[q.period.start];
    const isHalf = q.period.start === '2026-07-01' && q.period.end === '2026-12-31';
    const active = isHalf
      ? { total: 11, parenting: 11 }
      : q.period.end === '2026-09-30' || q.period.end === '2026-12-31'
        ? quarter
        : undefined;
    const started = q.period.end === '2026-09-30' ? 10 : q.period.start === '2026-10-01' ? 6 : isHalf ? 16 : 0;
    return counts(started ? { '4-11': started } : {}, active ?? { total: 0, parenting: 0 });
  };

  it('withholds an open-trajectory count of the half-year that differs from a quarter by 1 to k − 1', async () => {
    const [h2, q3, q4] = [
      await reportOf(count, '2026-H2'),
      await reportOf(count, '2026-Q3'),
      await reportOf(count, '2026-Q4'),
    ];
    expect([cell(q3, 'help-question'), cell(q4, 'help-question')]).toEqual([10, 11]);
    // H2 − Q3 would be the one trajectory that started in Q4.
    expect(cell(h2, 'help-question')).toBeUndefined();
    expect(cell(h2, 'help-question', 'parenting')).toBeUndefined();
    // Started trajectories add up: 10 + 6 is shown, each quarter shows its own.
    expect([cell(q3, 'inflow'), cell(q4, 'inflow'), cell(h2, 'inflow')]).toEqual([10, 6, 16]);
  });
});

describe("the audit's limits fail closed (rev-late1 2)", () => {
  const count = startedByPractice({
    [PRACTICES[0] ?? '']: { '0-3': 2, '4-11': 5, '12-15': 3 },
    [PRACTICES[1] ?? '']: { '4-11': 5, '16-17': 1 },
    [PRACTICES[2] ?? '']: { '4-11': 4, '12-15': 1 },
  });

  it('withholds started trajectories whole in every report when the rounds run out, and warns', async () => {
    const warned: unknown[] = [];
    for (const practice of [undefined, ...PRACTICES]) {
      const r = await jointlySuppressedReport(
        registry,
        (q) => Promise.resolve(count(q)),
        { municipality: MUNICIPALITY, period: period('2026-Q3'), practice },
        NOW,
        { rounds: 0, warn: (fields) => warned.push(fields) },
      );
      expect([practice, ...[undefined, '0-3', '4-11', '12-15', '16-17'].map((b) => cell(r, 'inflow', b))]).toEqual([
        practice,
        ...[undefined, '0-3', '4-11', '12-15', '16-17'].map(() => undefined),
      ]);
    }
    expect(warned[0]).toEqual({ period: '2026-Q3', groups: ['inflow'], reason: 'rounds' });
  });
});
