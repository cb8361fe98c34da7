import { randomBytes } from 'node:crypto';
import { openDb, type Db } from '../../src/kernel/db';
import { migrate } from '../../src/kernel/migrate';
import { tryParsePeriod, tryParseRange } from '../../src/reports/monitoring/period';
import { countMonitoring } from '../../src/reports/monitoring/report-store';
import { statementsOf } from '../helpers/recorded-statements';
import { dropSchema, TEST_DATABASE_URL } from '../helpers/test-runtime';

/**
 * The monitoring report of a municipality with years of figures reads the period's rows, not its whole history:
 * the contact hours the contacts held in the period (both ends), the trajectories open at some time in it those
 * still open and those closed since its start. And it counts the same as before: a contact just before or after the
 * period is not in it, one on its first or last day is.
 */

const schema = `t_report_plans_${randomBytes(5).toString('hex')}`;
let db: Db;

const GM = 'GM0363';
const Q3 = tryParsePeriod('2026-Q3') ?? { start: '', end: '', label: '' };

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  'Recheck Cond'?: string;
  Plans?: PlanNode[];
}

/** Each scan of a reporting table or index in `plan`, as one line: the node, the table, the index, the condition. */
function scansOf(plan: PlanNode): string[] {
  const table = plan['Relation Name'];
  const index = plan['Index Name'];
  const own =
    table?.startsWith('report_') || index?.startsWith('report_')
      ? [
          plan['Node Type'] +
            (table ? ` on ${table}` : '') +
            (index ? ` using ${index}` : '') +
            ` cond ${plan['Index Cond'] ?? plan['Recheck Cond'] ?? ''}`,
        ]
      : [];
  return [...own, ...(plan.Plans ?? []).flatMap(scansOf)];
}

const trajectory = (key: string, start: string, closed: string | null, practice = 'p1') =>
  db.query(
    `INSERT INTO report_trajectory (trajectory_key, municipality, practice, child_pseudonym, age_band, start_date,
       closed_on) VALUES ($1, $2, $3, $1, '4-11', $4, $5)`,
    [key, GM, practice, start, closed],
  );
const contact = (trajectoryKey: string, on: string, minutes: number | null) =>
  db.query(
    `INSERT INTO report_contact (contact_key, trajectory_key, contact_on, age_band, duration_minutes)
     VALUES ($1, $2, $3, '4-11', $4)`,
    [`${trajectoryKey}-${on}`, trajectoryKey, on, minutes],
  );

beforeAll(async () => {
  db = await openDb({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 2, dataDir: '' });
  await migrate(db);
});

afterAll(async () => {
  await db?.close();
  await dropSchema(schema);
});

describe('the monitoring report over years of figures', () => {
  it('counts the contacts held in the period, both ends included, and the trajectories open in it', async () => {
    // Started two years before, still open: contacts before Q3, on its first day, in it, on its last day, after it.
    await trajectory('old-open', '2024-05-01', null);
    await contact('old-open', '2024-06-01', 600);
    await contact('old-open', '2026-06-30', 45);
    await contact('old-open', '2026-07-01', 30);
    await contact('old-open', '2026-08-15', null);
    await contact('old-open', '2026-09-30', 20);
    await contact('old-open', '2026-10-01', 90);
    // Closed on the period's first day (open in it), closed the day before (not), started the day after (not).
    await trajectory('closed-on-first', '2025-01-01', '2026-07-01');
    await contact('closed-on-first', '2026-07-01', 15);
    await trajectory('closed-before', '2025-01-01', '2026-06-30');
    await contact('closed-before', '2026-06-30', 60);
    await trajectory('started-after', '2026-10-01', null);
    await contact('started-after', '2026-10-01', 60);
    // Another practice's, in the period.
    await trajectory('other-practice', '2026-08-01', '2026-12-01', 'p2');
    await contact('other-practice', '2026-08-02', 40);

    const q3 = await countMonitoring(db, { municipality: GM, period: Q3 });
    expect(q3.contactTime).toEqual({
      total: 5,
      byDuration: new Map([
        ['with-duration', 4],
        ['without-duration', 1],
      ]),
      minutes: 30 + 20 + 15 + 40,
    });
    expect(q3.active.total).toBe(3);
    expect(q3.active.children).toBe(3);
    const { contactTime, active } = await countMonitoring(db, { municipality: GM, period: Q3, practice: 'p1' });
    expect([contactTime.total, contactTime.minutes, active.total]).toEqual([4, 65, 2]);
    // One day: its first.
    const firstDay = tryParseRange('2026-07-01', '2026-07-01') ?? Q3;
    const day = await countMonitoring(db, { municipality: GM, period: firstDay });
    expect([day.contactTime.total, day.contactTime.minutes, day.active.total]).toEqual([2, 45, 2]);
  });

  it('reads the period through indexes: contacts by date, open trajectories apart from closed ones', async () => {
    // Ten years of a municipality and of two others: 24,000 trajectories, a twentieth still open, five contacts each.
    await db.query(
      `INSERT INTO report_trajectory (trajectory_key, municipality, practice, child_pseudonym, age_band, start_date,
         closed_on, contact_count)
       SELECT 'bulk-' || n, (ARRAY['GM0363', 'GM0344', 'GM0599'])[n % 3 + 1], 'p' || (n % 10), 'c' || n, '4-11',
         date '2016-10-01' + (n % 3650),
         CASE WHEN n % 20 = 0 THEN NULL ELSE date '2016-10-01' + (n % 3650) + n % 200 END,
         5
       FROM generate_series(1, 24000) AS n`,
    );
    await db.query(
      `INSERT INTO report_contact (contact_key, trajectory_key, contact_on, age_band, duration_minutes)
       SELECT 'bulk-' || n || '-' || k, 'bulk-' || n, date '2016-10-01' + (n % 3650) + k * 20, '4-11', 45
       FROM generate_series(1, 24000) AS n, generate_series(0, 4) AS k`,
    );
    await db.exec('ANALYZE report_trajectory; ANALYZE report_contact');
    const statements = await statementsOf(db, (rec) => countMonitoring(rec, { municipality: GM, period: Q3 }));
    expect(statements).toHaveLength(11);
    const scans: string[] = [];
    for (const { sql, params } of statements) {
      const [row] = await db.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(`EXPLAIN (FORMAT JSON) ${sql}`, params);
      const own = scansOf(row!['QUERY PLAN'][0]!.Plan);
      scans.push(...own);
      if (sql.includes('FROM report_contact')) {
        expect(own).toContainEqual(
          expect.stringMatching(
            /using report_contact_on cond .*contact_on >= '2026-07-01'::date\) AND \(contact_on <= '2026-09-30'::date/,
          ),
        );
      }
      if (sql.includes('closed_on IS NULL OR closed_on >= $2')) {
        expect(own).toContainEqual(expect.stringMatching(/using report_trajectory_open cond/));
        expect(own).toContainEqual(
          expect.stringMatching(/using report_trajectory_closed cond .*closed_on >= '2026-07-01'::date/),
        );
      }
    }
    expect(scans.filter((s) => s.startsWith('Seq Scan'))).toEqual([]);
  });
});
