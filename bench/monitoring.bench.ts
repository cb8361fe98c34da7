import { randomBytes } from 'node:crypto';
import { buildRegistry } from '../src/event/registry';
import { openDb } from '../src/kernel/db';
import { migrate } from '../src/kernel/migrate';
import { monitoringReport } from '../src/reports/monitoring/monitoring-report';
import { tryParsePeriod } from '../src/reports/monitoring/period';
import { buildAgreement } from '../tests/helpers/builders';
import { dropSchema, TEST_DATABASE_URL } from '../tests/helpers/test-runtime';
import { runStandalone, type BenchResult } from './result';

/**
 * The monitoring report of a municipality with 10 practices over a year: about 50,000 trajectories (and a
 * referral for one in six) written straight into the reporting tables, with as many again of another
 * municipality beside them so the indexes have to choose. Measures building the whole MeasureReport (every
 * query, suppression, FHIR) for the year and for one quarter: the median of 15 runs after 3 warm-ups.
 */
const TRAJECTORIES = 50_000;
const PRACTICES = 10;
const RUNS = { warmup: 3, measured: 15 } as const;

/** One municipality's year of reporting facts, made by PostgreSQL itself (random but plausible). */
function seedSql(municipality: string, offset: number): string {
  return `
    INSERT INTO report_trajectory (trajectory_key, municipality, practice, child_pseudonym, age_band, start_date,
      closed_on, outcome, referrer_type, referrer_subtype, help_questions, interventions, contact_count,
      first_contact_on)
    SELECT 't' || (i + ${offset}), '${municipality}', lpad((10000000 + i % ${PRACTICES})::text, 8, '0'),
           'c' || (i + ${offset}) / 2,
           (ARRAY['0-3','4-11','12-15','16-17','18+'])[1 + (i * 7) % 5],
           start, CASE WHEN i % 4 <> 0 THEN start + (i % 90) END,
           CASE WHEN i % 4 <> 0 THEN (ARRAY['closed-without-referral','closed-without-referral','escalated','unknown'])[1 + i % 4] END,
           (ARRAY['02','03','06','01'])[1 + i % 4],
           (ARRAY['gp','screener','school-social-work','youth-doctor','self','unknown'])[1 + (i * 3) % 6],
           ARRAY[(ARRAY['parenting','child-factors','emotional','divorce','school','family','trauma'])[1 + i % 7]]
             || CASE WHEN i % 3 = 0 THEN ARRAY['resilience'] ELSE '{}'::text[] END,
           ARRAY[(ARRAY['screening','short-treatment','psycho-education','parenting-support'])[1 + i % 4]],
           1 + i % 11, start + (i % 20)
      FROM (SELECT i, DATE '2026-01-01' + (i % 365) AS start FROM generate_series(1, ${TRAJECTORIES}) AS i) s;
    INSERT INTO report_referral (referral_key, municipality, practice, child_pseudonym, target, status, referred_on,
      care_start_on)
    SELECT 'r' || (i + ${offset}), '${municipality}', lpad((10000000 + i % ${PRACTICES})::text, 8, '0'),
           'c' || (i + ${offset}) / 2, (ARRAY['social-team','youth-care-provider','ggz'])[1 + i % 3],
           CASE WHEN i % 10 = 0 THEN 'revoked' ELSE 'active' END, DATE '2026-01-01' + (i % 365),
           CASE WHEN i % 2 = 0 THEN DATE '2026-01-01' + (i % 365) + (i % 60) END
      FROM generate_series(1, ${Math.floor(TRAJECTORIES / 6)}) AS i;`;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

export async function benchMonitoring(): Promise<BenchResult[]> {
  const schema = `bench_monitoring_${randomBytes(4).toString('hex')}`;
  const db = await openDb({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 10, dataDir: '' });
  try {
    await migrate(db);
    await db.exec(seedSql('GM0226', 0));
    await db.exec(seedSql('GM0344', 1_000_000));
    await db.exec('ANALYZE report_trajectory; ANALYZE report_referral');
    const registry = buildRegistry({
      agreements: Array.from({ length: PRACTICES }, (_, p) =>
        buildAgreement({
          id: `bench-${p}`,
          practice: { agb: `${10_000_000 + p}` },
          monitoring: {
            aggregateWithoutConsent: true,
            q: 9500,
            professionalCost: { amount: 72_000, per: 'year' },
            k: 5,
          },
        }),
      ),
      destinations: [],
    });
    const time = async (label: string): Promise<number> => {
      const period = tryParsePeriod(label);
      if (!period) {
        throw new Error(`bad period ${label}`);
      }
      const times: number[] = [];
      for (let run = 0; run < RUNS.warmup + RUNS.measured; run++) {
        const started = process.hrtime.bigint();
        const report = await monitoringReport({ db, registry }, { municipality: 'GM0226', period });
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        if (report.group?.[0]?.population?.[0]?.count === undefined) {
          throw new Error('the bench report counted no inflow');
        }
        if (run >= RUNS.warmup) {
          times.push(ms);
        }
      }
      return median(times);
    };
    return [
      { name: 'monitoring.report_ms', value: await time('2026'), unit: 'ms' },
      { name: 'monitoring.report_quarter_ms', value: await time('2026-Q3'), unit: 'ms' },
    ];
  } finally {
    await db.close();
    await dropSchema(schema);
  }
}

// `npx tsx bench/monitoring.bench.ts` runs this group on its own.
if (require.main === module) {
  runStandalone(benchMonitoring);
}
