import type { MeasureReport } from '@medplum/fhirtypes';
import pg from 'pg';
import { buildRegistry } from '../../src/event/registry';
import { buildAgreement, MUNICIPALITY } from '../helpers/builders';
import { cellsByName, deriveAcrossPractices, tryToDeriveWithheldCells } from '../helpers/suppression-check';
import { cleanupTestEnv, startTestApp, TEST_DATABASE_URL, type TestApp } from '../helpers/test-runtime';

/**
 * One period's reports read together (xpolicy H1): the municipality's report and one per practice are one practice
 * × category table with the municipality's report as its margin. The tester's 2026-Q4 figures, written into the
 * reporting tables directly: three practices (10, 6 and 5 new trajectories) whose withheld age bands and referrers
 * came back from the four reports of the quarter, although each report, and each row and column, was safe alone.
 */

const K = 5;
const monitoring = {
  aggregateWithoutConsent: true,
  q: 9500,
  professionalCost: { amount: 72_000, per: 'year' as const },
  k: K,
};
const PRACTICES = ['01234567', '02345678', '03456780'];

/** Per practice, its trajectories started in 2026-Q4: [age band, referrer] of each. */
const Q4: Record<string, [string, string][]> = {
  '01234567': [
    ...Array.from({ length: 2 }, (): [string, string] => ['0-3', 'gp']),
    ...Array.from({ length: 5 }, (): [string, string] => ['4-11', 'gp']),
    ...Array.from({ length: 3 }, (): [string, string] => ['12-15', 'gp']),
  ],
  '02345678': [
    ['4-11', 'municipality'],
    ...Array.from({ length: 4 }, (): [string, string] => ['4-11', 'gp']),
    ['16-17', 'self'],
  ],
  '03456780': [
    ['4-11', 'municipality'],
    ...Array.from({ length: 3 }, (): [string, string] => ['4-11', 'gp']),
    ['12-15', 'gp'],
  ],
};

/** 2026-Q3, the quarter before: [age band, referrer, how many]. */
const Q3: Record<string, [string, string, number][]> = {
  '01234567': [
    ['0-3', 'gp', 1],
    ['4-11', 'gp', 8],
    ['12-15', 'self', 4],
  ],
  '02345678': [
    ['4-11', 'gp', 6],
    ['12-15', 'gp', 2],
    ['16-17', 'self', 3],
  ],
  '03456780': [
    ['0-3', 'municipality', 3],
    ['4-11', 'gp', 7],
  ],
};
/** Groups whose counts of a half-year are the sums of its quarters' counts. */
const ADDITIVE = ['inflow', 'closed', 'contacts-per-trajectory', 'referral-target'];

let app: TestApp;
let client: pg.Client;

beforeAll(async () => {
  const registry = buildRegistry({
    agreements: PRACTICES.map((agb, i) => buildAgreement({ id: `agreement-${i}`, practice: { agb }, monitoring })),
    destinations: [],
  });
  app = await startTestApp({ registry });
  client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  await client.query(`SET search_path TO ${app.testEnv.schema}`);
  let n = 0;
  const started = (practice: string, ageBand: string, referrer: string, on: string) => {
    n++;
    return client.query(
      `INSERT INTO report_trajectory (trajectory_key, municipality, practice, child_pseudonym, age_band, start_date,
         referrer_subtype, help_questions, contact_count, first_contact_on)
       VALUES ($1, $2, $3, $4, $5, $6, $7, '{parenting}', 2, $6)`,
      [`t${n}`, MUNICIPALITY, practice, `c${n}`, ageBand, on, referrer],
    );
  };
  for (const [practice, trajectories] of Object.entries(Q4)) {
    for (const [ageBand, referrer] of trajectories) {
      await started(practice, ageBand, referrer, '2026-11-02');
    }
  }
  for (const [practice, trajectories] of Object.entries(Q3)) {
    for (const [ageBand, referrer, times] of trajectories) {
      for (let i = 0; i < times; i++) {
        await started(practice, ageBand, referrer, '2026-08-03');
      }
    }
  }
}, 60_000);

afterAll(async () => {
  await client?.end();
  await app?.close();
  if (app) {
    await cleanupTestEnv(app.testEnv);
  }
});

/** A report as the municipality's key asks for it; each one safe on its own. */
async function report(query: string): Promise<MeasureReport> {
  const res = await app.request(`/municipality/v1/monitoring?${query}`, { key: 'municipality' });
  expect([query, res.status]).toEqual([query, 200]);
  const r = (await res.json()) as MeasureReport;
  tryToDeriveWithheldCells(r, K);
  return r;
}

/** The municipality's report of the period and each practice's. */
async function reportsOf(period: string): Promise<{ all: MeasureReport; each: Map<string, MeasureReport> }> {
  const all = await report(`period=${period}`);
  const each = new Map<string, MeasureReport>();
  for (const agb of PRACTICES) {
    each.set(agb, await report(`period=${period}&practice=${agb}`));
  }
  return { all, each };
}

describe('one period, all practices (xpolicy H1)', () => {
  it("gives back no withheld cell from the municipality's report and every practice's report together", async () => {
    const { all, each } = await reportsOf('2026-Q4');
    const { derived, tried } = deriveAcrossPractices(all, each);
    expect(derived).toEqual([]);
    expect(tried).toBeGreaterThan(0);
  });

  it('gives back nothing from a quarter, the one after it and their half-year, of every practice', async () => {
    const [q3, q4, h2] = [await reportsOf('2026-Q3'), await reportsOf('2026-Q4'), await reportsOf('2026-H2')];
    for (const { all, each } of [q3, q4, h2]) {
      expect(deriveAcrossPractices(all, each).derived).toEqual([]);
    }
    // The half-year's report of each row shows a count only where both quarters' reports of that row show it: every
    // count it shows is then the sum of two shown ones, and the three tables together tell what the quarters do.
    for (const row of ['all', ...PRACTICES]) {
      const of = (p: typeof q3) => (row === 'all' ? p.all : p.each.get(row)) ?? p.all;
      for (const code of ADDITIVE) {
        const [half, first, second] = [cellsByName(of(h2), code), cellsByName(of(q3), code), cellsByName(of(q4), code)];
        for (const [cell, value] of half) {
          const parts = [first.get(cell), second.get(cell)];
          if (value !== undefined) {
            expect([row, code, cell, parts.includes(undefined)]).toEqual([row, code, cell, false]);
            expect([row, code, cell, value]).toEqual([row, code, cell, (parts[0] ?? 0) + (parts[1] ?? 0)]);
          }
        }
      }
    }
    // Something is shown: the half-year's totals, the municipality's (34 + 21) and the first practice's (13 + 10).
    expect(cellsByName(h2.all, 'inflow').get('total')).toBe(55);
    expect(cellsByName(h2.each.get(PRACTICES[0] ?? '') ?? h2.all, 'inflow').get('total')).toBe(23);
  });
});
