import type { MeasureReport, MeasureReportGroup } from '@medplum/fhirtypes';
import pg from 'pg';
import { buildRegistry } from '../../src/event/registry';
import { amsterdamDay } from '../../src/kernel/dutch-time';
import { buildAgreement, MUNICIPALITY, OTHER_PRACTICE_AGB, PRACTICE_AGB } from '../helpers/builders';
import { tryToDeriveWithheldCells } from '../helpers/suppression-check';
import { cleanupTestEnv, startTestApp, TEST_DATABASE_URL, type KeyName, type TestApp } from '../helpers/test-runtime';

/**
 * What a municipality can learn by subtracting one report from another (xpolicy H3) and the reports of periods that
 * have not ended (xpolicy M1). The facts are written into the reporting tables directly, so each case is exactly the
 * tester's: a village practice (De Linde) with 3 new trajectories in a quarter beside one with 14, one closure in a
 * quarter beside 11 in the one before.
 */

const K = 5;
const COST_PER_YEAR = 72_000;
const monitoring = {
  aggregateWithoutConsent: true,
  q: 9500,
  professionalCost: { amount: COST_PER_YEAR, per: 'year' as const },
  k: K,
};
/** The big practice (Het Dorp) and the small one (De Linde). */
const BIG = PRACTICE_AGB;
const SMALL = OTHER_PRACTICE_AGB;
/** Groups whose counts of a half-year are the sums of its quarters' counts. */
const ADDITIVE = ['inflow', 'closed', 'contacts-per-trajectory', 'referral-target'];

let app: TestApp;
let client: pg.Client;

interface Trajectory {
  practice: string;
  ageBand: string;
  start: string;
  closedOn?: string;
  outcome?: string;
  contacts?: number;
  helpQuestions?: string[];
}

async function insertTrajectory(n: number, t: Trajectory): Promise<void> {
  await client.query(
    `INSERT INTO report_trajectory (trajectory_key, municipality, practice, child_pseudonym, age_band, start_date,
       closed_on, outcome, referrer_subtype, help_questions, contact_count, first_contact_on)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'gp', $9, $10, $6)`,
    [
      `t${n}`,
      MUNICIPALITY,
      t.practice,
      `c${n}`,
      t.ageBand,
      t.start,
      t.closedOn ?? null,
      t.outcome ?? null,
      t.helpQuestions ?? ['parenting'],
      t.contacts ?? 2,
    ],
  );
}

const groupOf = (r: MeasureReport, code: string): MeasureReportGroup | undefined =>
  r.group?.find((g) => g.code?.coding?.[0]?.code === code);

/** Every count cell of a group: its total and each stratum, by name; undefined when withheld. */
function cellsOf(r: MeasureReport, code: string): Map<string, number | undefined> {
  const g = groupOf(r, code);
  const cells = new Map<string, number | undefined>([['total', g?.population?.[0]?.count]]);
  (g?.stratifier ?? []).forEach((s, i) =>
    (s.stratum ?? []).forEach((st) =>
      cells.set(`${i}/${st.value?.coding?.[0]?.code ?? ''}`, st.population?.[0]?.count),
    ),
  );
  return cells;
}

async function report(query: string, key: KeyName = 'municipality'): Promise<MeasureReport> {
  const res = await app.request(`/municipality/v1/monitoring?${query}`, { key });
  expect([query, res.status]).toEqual([query, 200]);
  const r = (await res.json()) as MeasureReport;
  tryToDeriveWithheldCells(r, K);
  return r;
}

async function refusal(query: string, key: KeyName = 'municipality', method = 'GET') {
  const path = method === 'POST' ? '/municipality/v1/monitoring/$push' : '/municipality/v1/monitoring';
  const res = await app.request(`${path}?${query}`, { key, method });
  const body = (await res.json()) as { issue?: { expression?: string[]; details?: { text?: string } }[] };
  return { status: res.status, expression: body.issue?.[0]?.expression, text: body.issue?.[0]?.details?.text ?? '' };
}

/** The quarter today is in (Amsterdam calendar), its first day, and the next year. */
function calendarNow() {
  const today = amsterdamDay(new Date());
  const [year = 0, month = 1] = today.split('-').map(Number);
  const quarter = Math.floor((month - 1) / 3) + 1;
  const start = `${year}-${String((quarter - 1) * 3 + 1).padStart(2, '0')}-01`;
  return { today, quarter: `${year}-Q${quarter}`, start, nextYear: String(year + 1) };
}

beforeAll(async () => {
  const registry = buildRegistry({
    agreements: [
      buildAgreement({ monitoring }),
      buildAgreement({ id: 'test-agreement-small', practice: { agb: SMALL }, monitoring }),
    ],
    destinations: [],
  });
  app = await startTestApp({ registry });
  client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  await client.query(`SET search_path TO ${app.testEnv.schema}`);
  let n = 0;
  // 2026-Q3: the big practice starts 14 trajectories (6 aged 12-15), the small one 3 (1 aged 12-15).
  for (let i = 0; i < 14; i++) {
    await insertTrajectory(n++, {
      practice: BIG,
      ageBand: i < 6 ? '12-15' : '4-11',
      start: `2026-07-${String(10 + i).padStart(2, '0')}`,
    });
  }
  for (let i = 0; i < 3; i++) {
    await insertTrajectory(n++, { practice: SMALL, ageBand: i === 0 ? '12-15' : '4-11', start: '2026-08-03' });
  }
  // Closed in 2026-Q3: 6 positively, 5 escalated; in 2026-Q4: one, positively, after one contact.
  for (let i = 0; i < 11; i++) {
    await insertTrajectory(n++, {
      practice: BIG,
      ageBand: '4-11',
      start: '2026-04-01',
      closedOn: '2026-09-01',
      outcome: i < 6 ? 'closed-without-referral' : 'escalated',
      contacts: 3,
    });
  }
  await insertTrajectory(n, {
    practice: BIG,
    ageBand: '4-11',
    start: '2026-04-01',
    closedOn: '2026-10-15',
    outcome: 'closed-without-referral',
    contacts: 1,
  });
}, 60_000);

afterAll(async () => {
  await client?.end();
  await app?.close();
  if (app) {
    await cleanupTestEnv(app.testEnv);
  }
});

describe('differencing between reports (xpolicy H3)', () => {
  it('refuses a municipality key a range that is no whole quarter, half-year or year (422 naming from)', async () => {
    expect(await refusal('from=2026-07-01&to=2026-09-29')).toMatchObject({ status: 422, expression: ['from'] });
    // The console's and a spreadsheet's way to ask for a quarter: the dates of one.
    expect((await report('from=2026-07-01&to=2026-09-30')).period).toEqual({ start: '2026-07-01', end: '2026-09-30' });
    // Auditors and operators keep ranges (their reads are audited, and they answer for them).
    await report(`from=2026-07-01&to=2026-09-29&municipality=${MUNICIPALITY}`, 'auditor');
  });

  it('gives back no quarter cell by subtracting a quarter from the half-year', async () => {
    const [h2, q3, q4] = [
      await report('period=2026-H2'),
      await report('period=2026-Q3'),
      await report('period=2026-Q4'),
    ];
    for (const code of ADDITIVE) {
      const [half, first, second] = [cellsOf(h2, code), cellsOf(q3, code), cellsOf(q4, code)];
      for (const [cell, value] of second) {
        if (value === undefined) {
          // Q4 withholds it: H2 and Q3 must not both show it.
          expect([code, cell, half.get(cell) !== undefined && first.get(cell) !== undefined]).toEqual([
            code,
            cell,
            false,
          ]);
        }
      }
    }
    // The tester's case: H2 closed 12, Q3 closed 11.
    expect(groupOf(h2, 'closed')?.population?.[0]?.count).toBeUndefined();
  });

  it("withholds a withheld total's strata, zeros too: they would say what everyone in it has in common", async () => {
    const closed = cellsOf(await report('period=2026-Q4'), 'closed');
    expect([...closed.values()].every((v) => v === undefined)).toBe(true);
    const contacts = cellsOf(await report('period=2026-Q4'), 'contacts-per-trajectory');
    expect([...contacts.values()].every((v) => v === undefined)).toBe(true);
  });

  it('shows a practice only the cells the other practices together can be shown in too', async () => {
    const all = await report('period=2026-Q3');
    for (const practice of [BIG, SMALL]) {
      const one = await report(`period=2026-Q3&practice=${practice}`);
      for (const code of ADDITIVE) {
        const whole = cellsOf(all, code);
        for (const [cell, value] of cellsOf(one, code)) {
          const rest = whole.get(cell) === undefined || value === undefined ? 0 : (whole.get(cell) ?? 0) - value;
          expect([practice, code, cell, rest > 0 && rest < K]).toEqual([practice, code, cell, false]);
        }
      }
    }
    // The tester's case: 17 in all, 8 aged 12-15; Het Dorp's 14 and 7 would give De Linde's 3 and 1.
    expect(cellsOf(all, 'inflow').get('total')).toBe(17);
    expect(cellsOf(await report(`period=2026-Q3&practice=${BIG}`), 'inflow').get('total')).toBeUndefined();
  });
});

describe('periods that have not ended (xpolicy M1)', () => {
  it('refuses a period that has not started (422 naming period, or from for a range)', async () => {
    const { nextYear } = calendarNow();
    expect(await refusal(`period=${nextYear}-Q4`)).toMatchObject({ status: 422, expression: ['period'] });
    expect(
      await refusal(`from=${nextYear}-01-01&to=${nextYear}-01-31&municipality=${MUNICIPALITY}`, 'auditor'),
    ).toMatchObject({
      status: 422,
      expression: ['from'],
    });
  });

  it('marks the running quarter pending, with the professional cost of the days so far', async () => {
    const { quarter, start, today } = calendarNow();
    const r = await report(`period=${quarter}`);
    expect(r.status).toBe('pending');
    const days = (Date.parse(`${today}T00:00:00Z`) - Date.parse(`${start}T00:00:00Z`)) / 86_400_000 + 1;
    const cost = groupOf(r, 'estimated-saving')?.extension?.find((e) => e.url.endsWith('monitoring-professional-cost'))
      ?.valueMoney?.value;
    expect(cost).toBe(Math.round(((2 * COST_PER_YEAR * days) / 365.25) * 100) / 100);
    expect((await report('period=2026-Q3')).status).toBe('complete');
  });

  it('refuses to push a period that has not ended (422 naming period)', async () => {
    const { quarter } = calendarNow();
    for (const key of ['municipality', 'operator'] as const) {
      const query = key === 'operator' ? `period=${quarter}&municipality=${MUNICIPALITY}` : `period=${quarter}`;
      expect(await refusal(query, key, 'POST')).toMatchObject({ status: 422, expression: ['period'] });
    }
  });
});
